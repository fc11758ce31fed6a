"""scripts/recompute_metrics.py given hostile input: a missing folder or test.csv, a bad --k, a csv
that is not a recommendations file, malformed rows. Each is one line on stderr naming the file or
the option and a non-zero exit (a stray csv: a one-line note, and the real models still scored);
never a traceback, never a silent exit 0."""
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "recompute_metrics.py"

# Three test events; u1 has a training history, u2 has none. By hand, at k=2:
# u1 lists a (hit), x: precision 1/2, recall 1/2;  u2 lists y, c (hit): precision 1/2, recall 1.
GOOD_FILES = {"test.csv": "user,item\nu1,a\nu1,b\nu2,c\n",
              "users.csv": "user,train_events\nu1,3\nu2,0\n",
              "popularity.csv": "user,item,rank\nu1,a,1\nu1,x,2\nu2,y,1\nu2,c,2\n"}


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=60)


def folder(tmp_path, **changes):
    """A --save-recommendations folder: GOOD_FILES with `changes` ({"name_csv": text or None})."""
    out = tmp_path / "recs"
    out.mkdir()
    files = {**GOOD_FILES, **{name.replace("_csv", ".csv"): text for name, text in changes.items()}}
    for name, text in files.items():
        if text is not None:
            (out / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return out


def assert_one_line_error(result, *names, code=1):
    """Exit `code`, nothing on stdout, and one stderr line naming each of `names`, no traceback."""
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for name in names:
        assert str(name) in lines[0], (name, lines[0])


def test_a_good_folder_is_scored_per_segment_with_users_csv_read_as_segments(tmp_path):
    result = run(folder(tmp_path), "--k", 2)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    lines = {tuple(line.split()[:2]): line for line in result.stdout.splitlines()}
    assert sorted(lines) == [("popularity", "all"), ("popularity", "with_history"), ("popularity", "without_history")]
    assert "precision@2 0.5000  recall@2 0.7500" in lines["popularity", "all"]
    assert "hitrate@2 0.6667" in lines["popularity", "all"]
    assert "recall@2 0.5000" in lines["popularity", "with_history"]
    assert "recall@2 1.0000" in lines["popularity", "without_history"]


def test_a_missing_folder(tmp_path):
    assert_one_line_error(run(tmp_path / "nowhere"), tmp_path / "nowhere", "no such folder")


def test_a_file_instead_of_a_folder(tmp_path):
    (tmp_path / "recs.txt").write_text("hello")
    assert_one_line_error(run(tmp_path / "recs.txt"), tmp_path / "recs.txt", "not a folder")


@pytest.mark.parametrize("k", ["0", "-3", "ten"])
def test_a_k_that_is_not_a_whole_number_from_1_is_refused_by_argparse(tmp_path, k):
    assert_one_line_error(run(folder(tmp_path), "--k", k), "argument --k", repr(k), code=2)


def test_a_missing_test_csv(tmp_path):
    recs = folder(tmp_path, test_csv=None)
    assert_one_line_error(run(recs), recs / "test.csv", "missing")


def test_a_test_csv_without_events_is_an_error_not_a_silent_success(tmp_path):
    recs = folder(tmp_path, test_csv="user,item\n")
    assert_one_line_error(run(recs), recs / "test.csv", "no test events")


def test_an_unrelated_csv_is_skipped_with_a_one_line_note(tmp_path):
    recs = folder(tmp_path, notes_csv="date,remark\n2024-01-01,first run\n")
    result = run(recs, "--k", 2)
    assert result.returncode == 0, result.stderr
    notes = result.stderr.splitlines()
    assert len(notes) == 1 and str(recs / "notes.csv") in notes[0] and "skipping" in notes[0]
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["popularity"] * 3


def test_a_folder_without_any_recommendations_file(tmp_path):
    recs = folder(tmp_path, popularity_csv=None, notes_csv="date,remark\n")
    result = run(recs)
    assert result.returncode == 1 and result.stdout == "" and "Traceback" not in result.stderr
    note, error = result.stderr.splitlines()  # the skipped file's note, then the error
    assert "notes.csv" in note and str(recs) in error and "no recommendations file" in error


MALFORMED = {
    "a rank that is not a number": ("popularity_csv", "user,item,rank\nu1,a,first\n", "popularity.csv, line 2"),
    "a rank of 0": ("popularity_csv", "user,item,rank\nu1,a,0\n", "popularity.csv, line 2"),
    "a short row": ("popularity_csv", "user,item,rank\nu1,a,1\nu2,c\n", "popularity.csv, line 3"),
    "a rank given twice": ("popularity_csv", "user,item,rank\nu1,a,1\nu1,b,1\n", "popularity.csv, line 3"),
    "an item given twice": ("popularity_csv", "user,item,rank\nu1,a,1\nu1,a,2\n", "popularity.csv, line 3"),
    "not UTF-8": ("popularity_csv", "user,item,rank\nu1,caf\u00e9,1\n".encode("latin-1"), "popularity.csv"),
    "an empty item in test.csv": ("test_csv", "user,item\nu1,a\nu2,\n", "test.csv, line 3"),
    "a test.csv without an item column": ("test_csv", "user,thing\nu1,a\n", "test.csv"),
    "train_events that are not a number": ("users_csv", "user,train_events\nu1,many\n", "users.csv, line 2"),
    "a users.csv with other columns": ("users_csv", "user,age\nu1,30\n", "users.csv"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_file_is_one_line_naming_the_file_and_line(tmp_path, case):
    name, text, where = MALFORMED[case]
    recs = folder(tmp_path, **{name: text})
    assert_one_line_error(run(recs), recs / where)
