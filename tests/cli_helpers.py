"""Helpers the hostile-input tests share (a helper module, not a test module): run the command line
in process and read its one-line refusals."""
import hashlib
from pathlib import Path

from harness.cli import main


def digest(path: Path) -> str:
    """SHA-256 of a file's bytes: an input that must not change."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run(argv, capsys):
    """(exit status, stdout, stderr lines) of the command line, in process."""
    capsys.readouterr()
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err.strip().splitlines()


def refused(status, err, *words):
    """Exit status 2 with one line on stderr holding every word, and no traceback."""
    assert status == 2, err
    assert len(err) == 1, err
    for word in words:
        assert word in err[0], err
    assert "Traceback" not in err[0]
