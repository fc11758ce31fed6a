"""Never lose data, round two: the output side (issue 18's findings 1-3, 5, 6, 8-10 and 14's small ones).

Each test starts from the situation the second round of hostile probes found, and checks that
the input data and anything that is not a regular file are intact afterwards. Special files are
FIFOs and symlinks made in a temporary folder: never a real device file (as root, replacing
/dev/null breaks the machine).
"""
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import digest, refused, run
from harness.cli import main
from lineage.outputs import OutputError, check_output, json_text, write_atomic, write_files_atomic, write_text_atomic

WORLD = ["leaderboard", "--dataset", "world", "--world-size", "tiny", "--models", "popularity"]


def write_log(path: Path, n_rows: int = 500, n_users: int = 30, n_items: int = 20) -> Path:
    rng = np.random.default_rng(0)
    lines = ["user,item,time"] + [f"u{rng.integers(n_users)},i{rng.integers(n_items)},{1_700_000_000 + 60 * r}"
                                  for r in range(n_rows)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path








@pytest.fixture()
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---- 1. an empty output path ---------------------------------------------------------------------

def test_1_an_empty_output_path_is_refused_and_the_input_is_untouched(here, capsys):
    folder = here / "e"
    data = write_log(folder / "test.csv")
    (folder / "users.csv").write_text("mine\n")
    before, users_before = digest(data), digest(folder / "users.csv")
    os.chdir(folder)
    status, _, err = run(["leaderboard", "--dataset", "csv", "--interactions", "test.csv", "--protocol", "random",
                          "--models", "popularity", "--save-recommendations", ""], capsys)
    refused(status, err, "--save-recommendations", "empty")
    assert digest(data) == before and digest(folder / "users.csv") == users_before
    assert sorted(p.name for p in folder.iterdir()) == ["test.csv", "users.csv"]
    status, _, err = run([*WORLD, "--json", ""], capsys)
    refused(status, err, "--json", "empty")


def test_1_the_ddp_launcher_refuses_an_empty_checkpoint_path(here, capsys):
    from harness import distributed

    status = distributed.main(["--dataset", "world", "--world-size", "tiny", "--epochs", "1", "--out", "r.json",
                               "--checkpoint", ""])
    refused(status, capsys.readouterr().err.strip().splitlines(), "--checkpoint", "empty")
    assert list(here.iterdir()) == []


# ---- 2. special files and symlinks, even with --overwrite ---------------------------------------

def test_2_a_fifo_output_stays_a_fifo_even_with_overwrite(here, capsys):
    os.mkfifo("p.json")
    status, _, err = run([*WORLD, "--json", "p.json", "--overwrite"], capsys)
    refused(status, err, "--json", "FIFO", "never replaced")
    assert stat.S_ISFIFO(os.lstat("p.json").st_mode)


def test_2_a_symlink_output_is_refused_and_its_target_untouched(here, capsys):
    target = write_log(here / "data.csv")
    before = digest(target)
    os.symlink("data.csv", "out.json")
    os.symlink("missing.json", "dangling.json")
    for link in ("out.json", "dangling.json"):
        status, _, err = run([*WORLD, "--json", link, "--overwrite"], capsys)
        refused(status, err, "--json", "symbolic link")
        assert os.path.islink(link)
    assert digest(target) == before and not (here / "missing.json").exists()
    os.symlink(here, "linked-folder")
    status, _, err = run([*WORLD, "--save-recommendations", "linked-folder"], capsys)
    refused(status, err, "--save-recommendations", "symbolic link")


def test_2_a_special_file_swapped_in_during_the_run_is_not_replaced(here):
    def write_then_swap(temporary: str) -> None:
        Path(temporary).write_text("{}")
        os.remove("out.json")
        os.mkfifo("out.json")  # the path became a FIFO while the work ran

    Path("out.json").write_text("old")
    with pytest.raises(OutputError, match="FIFO"):
        write_atomic("out.json", write_then_swap, overwrite=True, option="--json")
    assert stat.S_ISFIFO(os.lstat("out.json").st_mode)
    assert [p.name for p in here.iterdir()] == ["out.json"]  # no temporary file left


# ---- 3. options that do not apply ---------------------------------------------------------------

@pytest.mark.parametrize("argv, words", [
    (["leaderboard", "--interactions", "d.csv"], ("--interactions", "--dataset world", "--dataset csv")),
    (["train", "--interactions", "x.csv", "--out", "m.safetensors"], ("--interactions", "--dataset world")),
    (["leaderboard", "--data-dir", "ml"], ("--data-dir", "--dataset world")),
    (["leaderboard", "--dataset", "csv", "--interactions", "d.csv", "--world-seed", "3"], ("--world-seed", "csv")),
    (["leaderboard", "--dataset", "ml-100k", "--sep", ";"], ("--sep", "--dataset ml-100k")),
    (["leaderboard", "--dataset", "csv", "--interactions", "d.csv", "--data-dir", "d"], ("--data-dir", "not both")),
    (["leaderboard", "--world-size", "tiny", "--protocol", "leave-last-out", "--test-fraction", "0.3"],
     ("--test-fraction", "leave-last-out")),
])
def test_3_options_that_do_not_apply_are_refused(here, capsys, argv, words):
    write_log(here / "d.csv")
    status, _, err = run(argv, capsys)
    refused(status, err, *words)
    assert not (here / "m.safetensors").exists()


# ---- 5. --data-dir and --interactions for csv and world checkpoints -----------------------------

@pytest.fixture(scope="module")
def csv_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("csvckpt")
    write_log(folder / "d3" / "inter.csv", n_rows=600)
    assert main(["train", "--dataset", "csv", "--interactions", str(folder / "d3" / "inter.csv"),
                 "--out", str(folder / "a.safetensors"), "--epochs", "1", "--no-progress"]) == 0
    return folder


def test_5_data_dir_finds_moved_csv_files_and_is_refused_for_the_world(csv_checkpoint, here, capsys):
    model = csv_checkpoint / "a.safetensors"
    status, original, err = run(["evaluate", "--checkpoint", model], capsys)
    assert status == 0, err
    moved = here / "moved"
    moved.mkdir()
    (moved / "interactions.csv").write_bytes((csv_checkpoint / "d3" / "inter.csv").read_bytes())
    status, out, err = run(["evaluate", "--checkpoint", model, "--data-dir", moved], capsys)
    assert status == 0 and out == original, err
    status, _, err = run(["evaluate", "--checkpoint", model, "--data-dir", here / "nowhere"], capsys)
    refused(status, err, "--data-dir", "not a folder")
    os.remove(moved / "interactions.csv")
    status, _, err = run(["evaluate", "--checkpoint", model, "--data-dir", moved], capsys)
    refused(status, err, "--data-dir", "inter.csv", "interactions.csv")


def test_5_world_checkpoints_refuse_data_options(here, capsys):
    assert main(["train", "--world-size", "tiny", "--epochs", "1", "--no-progress", "--out", "w.safetensors"]) == 0
    for option in ("--data-dir", "--interactions"):
        status, _, err = run(["evaluate", "--checkpoint", "w.safetensors", option, "x"], capsys)
        refused(status, err, option, "synthetic world")


# ---- 6. the check-then-write race -----------------------------------------------------------------

def test_6_a_file_that_appears_during_the_run_is_not_replaced(here):
    def write_while_another_program_creates_it(temporary: str) -> None:
        Path(temporary).write_text('{"mine": 1}')
        Path("r.json").write_text("{}")  # appears after check_output passed, before publication

    check_output("r.json", "--json")
    with pytest.raises(OutputError, match="appeared while the run was working"):
        write_atomic("r.json", write_while_another_program_creates_it, option="--json")
    assert Path("r.json").read_text() == "{}"
    assert [p.name for p in here.iterdir()] == ["r.json"]


def test_6_two_runs_writing_one_output_the_second_fails(here, capsys):
    assert run([*WORLD, "--json", "r.json"], capsys)[0] == 0
    first = digest(here / "r.json")
    status, _, err = run([*WORLD, "--seed", "7", "--json", "r.json"], capsys)
    refused(status, err, "file exists")
    assert digest(here / "r.json") == first


# ---- 7/8. a full disk, a size limit, SIGTERM ----------------------------------------------------

def _python(code: str, cwd: Path, limit_kb: int | None = None) -> subprocess.CompletedProcess:
    prefix = f"ulimit -f {limit_kb}; " if limit_kb else ""
    return subprocess.run(["bash", "-c", f"{prefix}exec {sys.executable} -c \"$0\"", code], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_8_a_size_limit_is_one_line_naming_the_path_and_leaves_nothing_half_written(here):
    code = textwrap.dedent("""
        import sys
        from harness.cli import main
        sys.exit(main(["train", "--world-size", "tiny", "--epochs", "1", "--no-progress", "--out", "w.safetensors"]))
    """)
    done = _python(code, here, limit_kb=16)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "w.safetensors" in lines[-1] and "file-size limit" in lines[-1] and "kept" in lines[-1], lines
    assert list(here.iterdir()) == []  # no half file, no hidden temporary


def test_8_a_full_disk_keeps_a_recovery_copy_and_says_where(here, monkeypatch):
    import errno

    import lineage.outputs as outputs

    original = outputs._stage

    def full_disk(path, write):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs, "_stage", full_disk)
    with pytest.raises(OutputError) as refusal:
        write_text_atomic("result.json", '{"ndcg@10": 0.5}\n', option="--json")
    monkeypatch.setattr(outputs, "_stage", original)
    message = str(refusal.value)
    assert "\n" not in message and "--json result.json" in message and "No space left" in message
    kept = Path(message.split("kept in ")[1]) / "result.json"
    assert kept.read_text() == '{"ndcg@10": 0.5}\n'
    assert list(here.iterdir()) == []


def test_8_sigterm_during_a_save_leaves_no_temporary_file(here):
    code = textwrap.dedent("""
        import os, signal, time
        from lineage.outputs import write_atomic
        def slow(temporary):
            open(temporary, "w").write("partial")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        write_atomic("out.json", slow, option="--json")
    """)
    done = _python(code, here)
    assert done.returncode == 128 + signal.SIGTERM
    assert list(here.iterdir()) == []


def test_8_save_recommendations_is_all_or_nothing(here):
    def fails(temporary):
        raise OSError(5, "Input/output error")

    files = {"recs/test.csv": ("--save-recommendations", lambda t: Path(t).write_text("a\n")),
             "recs/users.csv": ("--save-recommendations", fails)}
    with pytest.raises(OutputError, match="users.csv"):
        write_files_atomic(files)
    assert list(here.iterdir()) == []  # not even the folder
    Path("recs").mkdir()
    Path("recs/users.csv").write_text("someone else's\n")  # the second publication fails: it exists
    files["recs/users.csv"] = ("--save-recommendations", lambda t: Path(t).write_text("b\n"))
    with pytest.raises(OutputError, match="appeared"):
        write_files_atomic(files)
    assert sorted(p.name for p in (here / "recs").iterdir()) == ["users.csv"]  # test.csv taken back
    Path("recs/test.csv").write_text("old test\n")
    write_files_atomic(files, overwrite=True)
    assert Path("recs/test.csv").read_text() == "a\n" and Path("recs/users.csv").read_text() == "b\n"


# ---- 9. modes -------------------------------------------------------------------------------------

def test_9_new_files_follow_the_umask_and_replaced_files_keep_their_mode(here):
    previous = os.umask(0o022)
    try:
        write_text_atomic("new.json", "{}\n")
        assert stat.S_IMODE(os.stat("new.json").st_mode) == 0o644
        os.umask(0o077)
        write_text_atomic("private.json", "{}\n")
        assert stat.S_IMODE(os.stat("private.json").st_mode) == 0o600
        os.umask(0o022)
        os.chmod("new.json", 0o640)
        write_text_atomic("new.json", "[]\n", overwrite=True)
        assert stat.S_IMODE(os.stat("new.json").st_mode) == 0o640
    finally:
        os.umask(previous)


# ---- 10. strict JSON ------------------------------------------------------------------------------

def test_10_nan_is_written_as_null(here, capsys):
    lines = ["user,item,time"] + [f"u{r},i{r},{1_700_000_000 + r}" for r in range(50)]  # one event per item
    Path("one.csv").write_text("\n".join(lines) + "\n")
    status, _, err = run(["leaderboard", "--dataset", "csv", "--interactions", "one.csv", "--protocol", "random",
                          "--models", "popularity", "--json", "r.json"], capsys)
    assert status == 0, err
    text = Path("r.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    parsed = json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name} in the JSON"))
    assert parsed["models"]["popularity"]["recall@10/warm-items"] is None
    assert json_text({"a": float("nan"), "b": [float("inf"), np.float64(1.5)]}) == \
        '{\n  "a": null,\n  "b": [\n    null,\n    1.5\n  ]\n}\n'


# ---- 14. the small ones ---------------------------------------------------------------------------

def test_14_a_model_named_twice_is_refused(capsys):
    status, _, err = run([*WORLD[:-1], "popularity,popularity"], capsys)
    refused(status, err, "--models", "named twice")


def test_14_bench_approximate_without_faiss_is_refused_before_the_exact_timing(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss raises ImportError
    status, out, err = run(["bench", "retrieval", "--items", "1000", "--users", "10", "--approximate"], capsys)
    refused(status, err, "faiss")
    assert out == ""  # nothing was timed
