"""JupyterLab as learners use it: the README's command, token authentication on, a notebook run
through the server's own kernel.

The test starts the server with the README's own command, `make lab`, on this environment
(`VENV=sys.prefix`), adding only headless options through `LAB_ARGS` (--no-browser, a free
localhost port, a token it chooses). The Makefile adds `--allow-root` exactly when run as root,
so this also proves the README's command works as root (CI containers) and as a normal user. The
test then talks to the server over the REST API and the kernel websocket like JupyterLab's front
end does. Authentication is never disabled. The server is always stopped in a `finally` block,
and every wait is bounded.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from lab_helpers import stop_server

ROOT = Path(__file__).resolve().parents[1]
JUPYTER = Path(sys.executable).parent / "jupyter"
FIRST_WALKTHROUGH = "notebooks/00_content_app_and_evaluation.ipynb"  # the argument of `make lab`
EXERCISE = "01_neighbours_ex_01.ipynb"  # a short exercise notebook, run cell by cell through the server
BUDGET_SECONDS = 60  # the whole test: start, list, run the notebook, stop (typically 15-25 s)

websocket = pytest.importorskip("websocket", reason="websocket-client comes with jupyter_server")
# No proxy for localhost, whatever the environment says.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(base: str, path: str, token: str | None, method: str = "GET", body: dict | None = None):
    """(status, parsed JSON or None) of one API call; the token goes in the Authorization header."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"token {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with OPENER.open(req, timeout=20) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as error:
        return error.code, None


def wait_until_up(process: subprocess.Popen, base: str, token: str, log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"jupyter lab exited with code {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            status, _ = request(base, "/api/status", token)
            if status == 200:
                return
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            pass
        time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer within the test's {BUDGET_SECONDS} s:\n{log.read_text()[-3000:]}")


def execute(ws, session: str, code: str, deadline: float) -> tuple[str, str]:
    """Run one cell on the kernel; returns (status of the execute_reply, everything it printed)."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": session,
                   "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    printed, status, idle = [], None, False
    while (status is None or not idle) and time.monotonic() < deadline:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            message = json.loads(ws.recv())
        except websocket.WebSocketTimeoutException:
            break
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = message["header"]["msg_type"]
        if kind == "stream":
            printed.append(message["content"]["text"])
        elif kind == "error":
            printed.append(f"{message['content']['ename']}: {message['content']['evalue']}")
        elif kind == "execute_reply":
            status = message["content"]["status"]
        elif kind == "status" and message["content"]["execution_state"] == "idle":
            idle = True
    assert status is not None, f"no reply within the test's {BUDGET_SECONDS} s to:\n{code}"
    return status, "".join(printed)


@pytest.mark.slow
def test_jupyterlab_serves_and_runs_the_notebooks_with_token_auth(tmp_path):
    assert JUPYTER.exists(), f"no jupyter command next to {sys.executable}"
    if not (Path(sys.prefix) / ".installed").exists():
        pytest.skip("this environment was not built by the Makefile (no .installed stamp): `make lab` would rebuild it")
    deadline = time.monotonic() + BUDGET_SECONDS
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    headless = ["--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"]
    stamp = Path(sys.prefix) / ".installed"  # -o: use the environment as it is, never rebuild it here
    command = ["make", "--no-print-directory", "-o", str(stamp), "lab", f"VENV={sys.prefix}",
               "LAB_ARGS=" + " ".join(headless)]
    env = {**os.environ,  # keep the learner's own Jupyter settings and runtime files out of the way
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"), "IPYTHONDIR": str(tmp_path / "ipython"),
           "MPLBACKEND": "Agg"}
    log = tmp_path / "jupyter.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        wait_until_up(process, base, token, log, deadline)

        # Given a notebook, JupyterLab serves that notebook's folder: the file browser opens on
        # notebooks/, walkthroughs and the exercises folder side by side. They are listed through
        # the API with the token ...
        status, listing = request(base, "/api/contents", token)
        assert status == 200, status
        names = {entry["name"] for entry in listing["content"]}
        walkthroughs = {path.name for path in (ROOT / "notebooks").glob("*.ipynb")}
        assert walkthroughs <= names and "exercises" in names, names
        status, exercises = request(base, "/api/contents/exercises", token)
        exercise_names = {entry["name"] for entry in exercises["content"]}
        assert EXERCISE in exercise_names and EXERCISE.replace("_ex_", "_sol_") in exercise_names

        # ... and refused without it, or with a wrong one.
        assert request(base, "/api/contents", None)[0] == 403
        assert request(base, "/api/contents", "not-the-token")[0] == 403

        # Open a notebook the way JupyterLab does (a session starts a kernel in the notebook's
        # folder), then run its cells one by one over the kernel websocket.
        path = f"exercises/{EXERCISE}"
        status, notebook = request(base, f"/api/contents/{path}", token)
        assert status == 200
        status, session = request(base, "/api/sessions", token, "POST",
                                  {"path": path, "name": EXERCISE, "type": "notebook", "kernel": {"name": "python3"}})
        assert status == 201, status
        kernel_id, session_id = session["kernel"]["id"], uuid.uuid4().hex
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels?session_id={session_id}",
            header=[f"Authorization: token {token}"], timeout=max(1.0, deadline - time.monotonic()))
        try:
            printed = []
            for cell in notebook["content"]["cells"]:
                if cell["cell_type"] != "code":
                    continue
                status, text = execute(ws, session_id, cell["source"], deadline)
                assert status == "ok", f"cell failed through the server's kernel:\n{cell['source']}\n{text}"
                printed.append(text)
            _, where = execute(ws, session_id, "import os, sys; print(os.getcwd()); print(sys.prefix)", deadline)
        finally:
            ws.close()
        output = "".join(printed)
        assert "[ .. ] not answered yet" in output, output  # the stub ran, and the later cells still ran
        cwd, prefix = where.splitlines()[:2]
        assert Path(cwd).resolve() == (ROOT / "notebooks" / "exercises").resolve()
        assert Path(prefix).resolve() == Path(sys.prefix).resolve(), "the kernel must run in this environment"
        assert request(base, f"/api/sessions/{session['id']}", token, "DELETE")[0] == 204
    finally:
        stop_server(process, lambda: request(base, "/api/shutdown", token, "POST"))
    # the server is really gone: nothing answers on its port any more
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, f"the server still answers on port {port}"
    log_text = log.read_text(errors="replace")
    assert f"127.0.0.1:{port}/lab" in log_text and f"token={token}" in log_text, \
        f"`make lab` did not print the server URL with its token:\n{log_text[-2000:]}"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        assert "--allow-root" in log_text.splitlines()[0], "as root, `make lab` must add --allow-root"
