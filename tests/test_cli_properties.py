"""A property of the whole command line, checked on random runs (hypothesis).

Whatever the subcommand, dataset, options and output paths, a run ends with exit 0, or with a
non-zero exit and one `error:` line; never a traceback. No input file changes (SHA-256 before and
after), nothing that is not a regular file is replaced, and nothing exists afterwards that was not
asked for. Output paths are drawn from: absent, an existing file, the input file, a folder, a FIFO,
a symlink, empty, and a path under a regular file. Special files are made in a temporary folder.
"""
import contextlib
import hashlib
import io
import os
import stat
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main

PATH_KINDS = ("absent", "existing", "input", "folder", "fifo", "symlink", "empty", "under-a-file")
# options that belong to one dataset or protocol: given to the wrong one, they must be refused
STRAY_OPTIONS = (("--interactions", "in.csv"), ("--data-dir", "."), ("--world-seed", "1"), ("--sep", ";"),
                 ("--world-size", "tiny"), ("--items", "plain"), ("--test-fraction", "0.3"))


def _make_fixtures(root: Path) -> None:
    rng = np.random.default_rng(0)
    rows = [f"u{rng.integers(40)},i{rng.integers(25)},{1_700_000_000 + 60 * r}" for r in range(400)]
    (root / "in.csv").write_text("user,item,time\n" + "\n".join(rows) + "\n")
    (root / "existing").write_text("keep me\n")
    (root / "plain").write_text("a regular file\n")
    (root / "folder").mkdir()
    os.mkfifo(root / "fifo")
    os.symlink("plain", root / "symlink")


def _path(kind: str) -> str:
    return {"absent": "new-out", "existing": "existing", "input": "in.csv", "folder": "folder", "fifo": "fifo",
            "symlink": "symlink", "empty": "", "under-a-file": "plain/out"}[kind]


def _snapshot(root: Path) -> dict:
    """Every path under root: its kind and, for regular files, the SHA-256 of its content."""
    state = {}
    for path in sorted(root.rglob("*")):
        mode = os.lstat(path).st_mode
        content = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(mode) else None
        state[str(path.relative_to(root))] = (stat.S_IFMT(mode), content)
    return state


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(["leaderboard", "train"]))
    dataset = draw(st.sampled_from(["world", "csv"]))
    argv = [command, "--dataset", dataset]
    if dataset == "world":
        argv += ["--world-size", "tiny"]
    else:
        argv += ["--interactions", "in.csv"]
    argv += ["--protocol", draw(st.sampled_from(["temporal", "random", "leave-last-out"]))]
    for option, value in draw(st.lists(st.sampled_from(STRAY_OPTIONS), max_size=2, unique=True)):
        if option not in argv:
            argv += [option, value]
    outputs = {}
    if command == "train":
        outputs["--out"] = _path(draw(st.sampled_from(PATH_KINDS)))
        argv += ["--epochs", "1", "--no-progress"]
    else:
        argv += ["--models", "popularity"]
        if draw(st.booleans()):
            outputs["--json"] = _path(draw(st.sampled_from(PATH_KINDS)))
        if draw(st.booleans()):
            outputs["--save-recommendations"] = _path(draw(st.sampled_from(PATH_KINDS)))
    for option, path in outputs.items():
        argv += [option, path]
    if draw(st.booleans()):
        argv.append("--overwrite")
    return argv, outputs


def _asked_for(outputs: dict, root: Path) -> set[str]:
    """The paths a successful run may create or change: each output, and the files inside a folder output."""
    allowed = set()
    for option, path in outputs.items():
        allowed.add(os.path.normpath(path))
        if option == "--save-recommendations":
            allowed |= {os.path.join(os.path.normpath(path), name)
                        for name in ("test.csv", "users.csv", "popularity.csv")}
    return allowed


@settings(max_examples=45, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command_lines())
def test_every_run_ends_cleanly_and_never_harms_a_file(case):
    argv, outputs = case
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        _make_fixtures(root)
        before = _snapshot(root)
        here = os.getcwd()
        err, out = io.StringIO(), io.StringIO()
        os.chdir(root)
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                status = main(argv)
        finally:
            os.chdir(here)
        lines = err.getvalue().strip().splitlines()
        assert "Traceback" not in err.getvalue()
        if status != 0:
            assert status == 2 and lines and lines[-1].startswith("error: "), (argv, lines)
            assert sum(line.startswith("error:") for line in lines) == 1, (argv, lines)
        after = _snapshot(root)
        changed = {path for path in set(before) | set(after) if before.get(path) != after.get(path)}
        allowed = _asked_for(outputs, root) if status == 0 else set()
        assert changed <= allowed, (argv, status, lines[-1:], sorted(changed - allowed))
        if "csv" in argv:  # in.csv is this run's input: never changed, whatever the outputs
            assert after["in.csv"] == before["in.csv"], argv
        assert after["plain"] == before["plain"]
        for special in ("fifo", "symlink", "folder"):
            assert after[special][0] == before[special][0], (argv, special)
