"""nbval runs every notebook under notebooks/ (walkthroughs and exercises) in `make test` and
`make notebooks`. With --nbval-lax it checks that every cell runs, not what it prints; this hook
adds one rule: a cell must print nothing to stderr, and no warning anywhere. (It lives here, at the
root, rather than in notebooks/, so the file browser learners see in JupyterLab stays clean; it
only touches nbval's notebook cells, never the unit tests.)

In a notebook, stderr is what a learner sees in a red box: a Python warning (the warnings module
writes to stderr in a kernel), a library's log line, a text progress bar. Each one is either a bug
to fix or noise to remove at its source; hiding it with a warnings filter in the notebook is not a
fix. The check costs nothing: it reads the outputs nbval has already collected for the cell
(`item.test_outputs`, set by nbval's IPyNbCell.runtest). tests/test_notebook_stderr.py checks that
this hook fails such cells and passes clean ones.
"""
from __future__ import annotations

import re

import pytest

# The warnings module's own format, "file.py:12: UserWarning: message", in case a warning reaches
# stdout (a redirected stream, a logging handler).
WARNING_TEXT = re.compile(r"\b[A-Z]\w*Warning: ")


def stderr_and_warnings(outputs) -> list[str]:
    """The texts of the stream outputs a learner would see as stderr or a warning."""
    found = []
    for output in outputs or []:
        if output.get("output_type") != "stream":
            continue
        text = output.get("text", "")
        if output.get("name") == "stderr" or WARNING_TEXT.search(text):
            found.append(text)
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield  # nbval runs the cell (and fails it on an error) first
    found = stderr_and_warnings(getattr(item, "test_outputs", None))
    if found:
        source = getattr(getattr(item, "cell", None), "source", "")
        pytest.fail(f"{item.nodeid} printed to stderr or warned (a learner sees this in a red box); fix it at "
                    f"its source rather than filtering it in the notebook.\n--- output:\n{''.join(found)[:3000]}"
                    f"\n--- cell:\n{source[:1500]}", pytrace=False)
    return result
