"""The first walkthrough in a real browser, as a learner sees it.

The test starts JupyterLab with the README's command, `make lab` (the same way as
tests/test_jupyterlab.py: this environment, headless options through `LAB_ARGS`, a token it
chooses, authentication on), opens walkthrough 00 in headless Chromium driven by Selenium, runs
every cell from the Run menu (Run > Run All Cells), waits until every code cell has an execution
count and the kernel is idle, then checks what the page shows: no traceback or other stderr output
in any cell, and at least one plot drawn as an image. A screenshot is saved under the test's tmp
folder, and also to the path in TT_BROWSER_SCREENSHOT when that variable is set.

It needs Selenium (a dev extra) and a Chromium with its chromedriver (Debian: `apt-get install
chromium chromium-driver`; .ci/run installs them); without them it skips, with the reason. Nothing is
ever downloaded at run time: Selenium Manager is bypassed (the driver's path is given) and offline.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from lab_helpers import stop_server

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "00_content_app_and_evaluation.ipynb"  # the argument of `make lab`; the server's root is notebooks/
BUDGET_SECONDS = 240  # the whole test; typically 25-45 s on 2 cores (the notebook alone: 10-25 s)
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy for localhost


def find_browser() -> tuple[str | None, str | None]:
    """Paths of a Chromium and its chromedriver (TT_CHROMIUM / TT_CHROMEDRIVER override the search)."""
    browser = os.environ.get("TT_CHROMIUM") or next(
        (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None)
    driver = os.environ.get("TT_CHROMEDRIVER") or shutil.which("chromedriver")
    return (browser if browser and os.path.isfile(browser) else None,
            driver if driver and os.path.isfile(driver) else None)


# ---- small helpers, as in tests/test_jupyterlab.py (copied: no test module imports another) ------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api_status(base: str, path: str, token: str, method: str = "GET") -> int:
    req = urllib.request.Request(base + path, method=method, headers={"Authorization": f"token {token}"})
    try:
        with OPENER.open(req, timeout=20) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def wait_until_up(process: subprocess.Popen, base: str, token: str, log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"jupyter lab exited with code {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if api_status(base, "/api/status", token) == 200:
                return
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            pass
        time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer within the test's {BUDGET_SECONDS} s:\n{log.read_text()[-3000:]}")


def write_settings(settings_dir: Path) -> None:
    """JupyterLab settings for this run only: no autosave (the walkthrough stays on disk as it is,
    without outputs), every cell attached to the page (no windowing), no news toast over the notebook."""
    for plugin, values in {"@jupyterlab/docmanager-extension/plugin": {"autosave": False},
                           "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
                           "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"}}.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


# ---- reading the page -----------------------------------------------------------------------------
# One script returns everything the test needs about the notebook panel, in a single round trip.
PAGE_STATE = """
const dialog = document.querySelector('.jp-Dialog');
if (dialog) { return {dialog: dialog.textContent.slice(0, 3000)}; }
const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
if (!panel) { return null; }
const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
const prompts = Array.from(panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'))
    .map(p => p.textContent.trim());
const stderr = Array.from(panel.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"],' +
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]'))
    .map(o => o.textContent.slice(0, 2000));
const images = Array.from(panel.querySelectorAll('.jp-OutputArea-output img'))
    .filter(img => img.complete && img.naturalWidth > 0).length;
return {kernel: indicator ? indicator.getAttribute('data-status') : null,
        prompts: prompts, stderr: stderr, images: images};
"""


@pytest.mark.slow
def test_walkthrough_00_runs_in_jupyterlab_in_a_real_browser(tmp_path, monkeypatch):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (a dev extra)")
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser, driver_path = find_browser()
    if not browser or not driver_path:
        pytest.skip("no Chromium and chromedriver found (apt-get install chromium chromium-driver)")
    jupyter = Path(sys.executable).parent / "jupyter"
    assert jupyter.exists(), f"no jupyter command next to {sys.executable}"
    stamp = Path(sys.prefix) / ".installed"
    if not stamp.exists():
        pytest.skip("this environment was not built by the Makefile (no .installed stamp): `make lab` would rebuild it")
    stored = (ROOT / "notebooks" / NOTEBOOK).read_bytes()  # must be the same after the test: nothing saved
    code_cells = sum(cell["cell_type"] == "code" for cell in json.loads(stored)["cells"])

    deadline = time.monotonic() + BUDGET_SECONDS
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    headless = ["--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"]
    command = ["make", "--no-print-directory", "-o", str(stamp), "lab", f"VENV={sys.prefix}",
               "LAB_ARGS=" + " ".join(headless)]
    # The learner's own Jupyter settings and runtime files stay out of the way. The kernel keeps
    # its usual inline plots: MPLBACKEND is removed, not set, so the page shows real images.
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    env.update({"JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
                "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
                "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"), "IPYTHONDIR": str(tmp_path / "ipython")})
    write_settings(tmp_path / "settings")
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never download a browser or driver

    screenshot = tmp_path / "walkthrough_00.png"
    log = tmp_path / "jupyter.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    driver = None
    try:
        wait_until_up(process, base, token, log, deadline)
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--window-size=1400,1000", "--no-first-run", "--disable-extensions"):
            options.add_argument(argument)
        try:
            driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=options)
        except WebDriverException as error:
            pytest.fail(f"Chromium ({browser}) did not start through {driver_path}: {error.msg}")
        driver.set_page_load_timeout(60)
        driver.set_script_timeout(30)

        def wait_for(what: str, condition, poll: float = 0.5):
            """Poll `condition()` until it returns something truthy; fail with `what` at the deadline."""
            while time.monotonic() < deadline:
                try:
                    dialog = (driver.execute_script(PAGE_STATE) or {}).get("dialog")
                    value = None if dialog else condition()
                except WebDriverException:
                    dialog, value = None, None
                if dialog:  # e.g. the notebook could not be opened, or the kernel died
                    driver.save_screenshot(str(screenshot))
                    pytest.fail(f"JupyterLab shows a dialog while waiting for {what}: {dialog} "
                                f"(screenshot: {screenshot})\n{log.read_text(errors='replace')[-2000:]}")
                if value:
                    return value
                time.sleep(poll)
            driver.save_screenshot(str(screenshot))
            state = driver.execute_script(PAGE_STATE)
            pytest.fail(f"{what}: not within the test's {BUDGET_SECONDS} s. Page state: {state}; "
                        f"screenshot: {screenshot}\n{log.read_text(errors='replace')[-2000:]}")

        def state():
            return driver.execute_script(PAGE_STATE)

        # The token in the URL logs the browser in (JupyterLab then keeps it in a cookie).
        driver.get(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
        wait_for("the notebook opened with its kernel idle",
                 lambda: (s := state()) and s.get("kernel") == "idle" and len(s["prompts"]) == code_cells)

        # Run > Run All Cells, through the menus as a learner would. The command acts on the current
        # notebook: the notebook's tab is clicked first, and the click is retried (at most three
        # times) when no cell has started within 15 s.
        started_or_done = re.compile(r"^\[(\*|\d+)\]:$")
        started = time.monotonic()
        for tries in range(1, 4):
            driver.find_element(By.CSS_SELECTOR, "#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current").click()
            wait_for("the Run menu", lambda: next(
                (item for item in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item")
                 if item.text.strip() == "Run"), None)).click()
            run_all = wait_for("Run All Cells in the Run menu", lambda: driver.find_elements(
                By.CSS_SELECTOR, '.lm-Menu-item[data-command="runmenu:run-all"]'))[0]
            if "lm-mod-disabled" not in (run_all.get_attribute("class") or ""):
                run_all.click()
                until = min(deadline, time.monotonic() + 15)
                while time.monotonic() < until:
                    if any(started_or_done.match(p) for p in (state() or {}).get("prompts", [])):
                        break
                    time.sleep(0.5)
                else:
                    continue
                break
            driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)  # close the menu, try again
            time.sleep(1)
        else:
            driver.save_screenshot(str(screenshot))
            pytest.fail(f"Run > Run All Cells did not start the notebook in 3 tries (screenshot: {screenshot})")

        # Done when every code cell has an execution count and the kernel is idle, or earlier when
        # a cell failed (JupyterLab then aborts the cells after it: they never get a count).
        executed = re.compile(r"^\[\d+\]:$")
        final = wait_for("every code cell run and the kernel idle again",
                         lambda: (s := state()) and s.get("kernel") == "idle" and (
                             all(executed.match(p) for p in s["prompts"]) or any("Traceback" in e for e in s["stderr"])
                         ) and s, poll=1.0)
        print(f"walkthrough 00 ran in the browser in {time.monotonic() - started:.1f} s (Run All Cells: try {tries})")

        # Show a plot in the screenshot: scroll the first image into view.
        driver.execute_script("const img = document.querySelector('.jp-NotebookPanel .jp-OutputArea-output img');"
                              "if (img) { img.scrollIntoView({block: 'center'}); }")
        time.sleep(0.5)
        driver.save_screenshot(str(screenshot))

        tracebacks = [text for text in final["stderr"] if "Traceback" in text or "Error" in text]
        assert not tracebacks, f"a cell shows an error in the browser (screenshot: {screenshot}):\n" + \
            "\n---\n".join(tracebacks)
        assert not final["stderr"], f"a cell shows stderr output, e.g. a warning (screenshot: {screenshot}):\n" + \
            "\n---\n".join(final["stderr"])
        assert final["images"] >= 1, f"no plot rendered as an image (screenshot: {screenshot})"
    finally:
        if driver is not None:
            try:
                if not screenshot.exists():
                    driver.save_screenshot(str(screenshot))  # whatever the page showed when it failed
                if os.environ.get("TT_BROWSER_SCREENSHOT") and screenshot.exists():
                    shutil.copyfile(screenshot, os.environ["TT_BROWSER_SCREENSHOT"])
            finally:
                driver.quit()
        stop_server(process, lambda: api_status(base, "/api/shutdown", token, "POST"))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, f"the server still answers on port {port}"
    assert (ROOT / "notebooks" / NOTEBOOK).read_bytes() == stored, f"the test changed notebooks/{NOTEBOOK} on disk"
