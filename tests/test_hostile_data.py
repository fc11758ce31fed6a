"""Hostile but realistic data, tried as a new user would ("never lose data", round two).

One test per finding of the second review: splits that leave a part empty (finding 7), the DDP
launcher's unchecked numbers and outputs (finding 12), and the small holes of the CSV loader
(finding 14). Every refusal is one line on stderr, exit status 2, naming the file, line, option or
protocol; nothing is trained or written on data that cannot give a meaningful result.
"""
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from harness import distributed
from cli_helpers import refused, run
from lineage.data import DataError, Interactions
from lineage.datasets import load_csv
from lineage.splits import split, validation_split
from twotower_mini.config import FeatureConfig, TrainConfig, TwoTowerConfig
from twotower_mini.recommender import TwoTowerRecommender


def write_csv(path: Path, rows, header: str = "user,item,time") -> Path:
    """A small CSV file: the header, then one line per row."""
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def one_event_per_user(n: int = 6, n_items: int = 3) -> list[str]:
    """n users with one event each, at distinct times (no user ever has a history)."""
    return [f"u{k},i{k % n_items},{1000 + k}" for k in range(n)]






def leaderboard(path, *options):
    return ["leaderboard", "--dataset", "csv", "--interactions", path, "--models", "popularity", *options]


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """Every test runs in its own folder (relative outputs land there), and puts torch's global
    generator back after (fitting seeds it), so later tests see what they would alone."""
    monkeypatch.chdir(tmp_path)
    state = torch.get_rng_state()
    yield
    torch.set_rng_state(state)


# ---- 7. degenerate splits ------------------------------------------------------------------------

def test_7a_a_header_only_csv_is_a_one_line_error_naming_the_file(tmp_path, capsys):
    path = write_csv(tmp_path / "header_only.csv", [])
    with pytest.raises(DataError, match="no data rows"):
        load_csv(path)
    status, _, err = run(leaderboard(path), capsys)
    refused(status, err, "header_only.csv", "no data rows")


@pytest.mark.parametrize("rows,protocol,fraction,counts", [
    (one_event_per_user(2), "random", "0.2", "2 events, 2 users"),  # 0.2 x 2 events rounds to 0
    (one_event_per_user(6), "per-user", "0.2", "6 events, 6 users"),  # a user's only event stays in train
    (one_event_per_user(6), "leave-last-out", None, "6 events, 6 users"),
    ([f"u{k % 5},i{k % 7},{k}" for k in range(40)], "random", "1e-300", "40 events, 5 users"),
    ([f"u{k % 5},i{k % 7},{k}" for k in range(40)], "per-user", "1e-300", "40 events, 5 users"),
])
def test_7b_an_empty_test_part_is_refused_naming_protocol_fraction_and_counts(tmp_path, capsys, rows, protocol,
                                                                              fraction, counts):
    path = write_csv(tmp_path / "small.csv", rows)
    options = ["--protocol", protocol] + (["--test-fraction", fraction] if fraction else [])
    status, _, err = run(leaderboard(path, *options), capsys)
    refused(status, err, f"--protocol {protocol}", "the test part is empty", counts)
    if fraction is not None:
        assert f"--test-fraction {fraction}" in err[0]


@pytest.mark.parametrize("rows,protocol,fraction", [
    ([f"u{k},i{k % 3},500" for k in range(8)], "temporal", "0.2"),  # every event at one moment: all at the cut
    ([f"u{k % 5},i{k % 7},{k}" for k in range(40)], "random", "0.999"),  # rounds to every event
])
def test_7c_an_empty_train_part_is_refused_and_train_saves_nothing(tmp_path, capsys, rows, protocol, fraction):
    path = write_csv(tmp_path / "small.csv", rows)
    options = ["--protocol", protocol, "--test-fraction", fraction]
    status, _, err = run(leaderboard(path, *options), capsys)
    refused(status, err, f"--protocol {protocol} --test-fraction {fraction}", "the train part is empty")
    status, _, err = run(["train", "--dataset", "csv", "--interactions", path, *options, "--out", "model.pt"],
                         capsys)
    refused(status, err, f"--protocol {protocol}", "the train part is empty")
    assert not Path("model.pt").exists()


def test_7d_every_caller_of_the_splits_gets_the_check_validation_included():
    log = Interactions(users=np.arange(6), items=np.arange(6) % 3, times=np.arange(6.0), values=np.ones(6),
                       user_ids=np.array([f"u{k}" for k in range(6)]), item_ids=np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match=r"--protocol per-user --test-fraction 0.2: the test part is empty "
                                         r"\(6 events, 6 users, 3 items\)"):
        split(log, "per-user", 0.2)
    with pytest.raises(ValueError, match="validation split .* the validation part is empty"):
        validation_split(log, "leave-last-out", 0.1)
    assert len(split(log, "temporal", 0.2).test) == 2  # a split with both parts goes through


@pytest.mark.parametrize("features,training", [
    (FeatureConfig(), TrainConfig(epochs=1, progress=False, history_dropout=0.2)),  # bags cut to no column
    (FeatureConfig(history_length=0), TrainConfig(epochs=1, progress=False)),  # no history input at all
])
def test_7e_the_two_tower_trains_on_examples_without_history(features, training):
    data = load_csv(write_csv(Path("one_each.csv"), one_event_per_user(6)))
    model = TwoTowerRecommender(TwoTowerConfig(features=features, training=training))
    model.fit(data)  # used to stop with "step must be nonzero" (an empty history bag)
    lists = model.recommend(np.arange(data.n_users), 2)
    assert lists.shape == (6, 2) and np.isfinite(model.item_vectors_).all()


# ---- 12. the DDP launcher's options and outputs ---------------------------------------------------

DDP = ["--dataset", "world", "--world-size", "tiny", "--epochs", "1", "--batch-size", "256"]


@pytest.mark.parametrize("option,value", [
    ("--threads", "0"), ("--threads", str(100 * (os.cpu_count() or 1))), ("--output-dim", "0"),
    ("--embedding-dim", "0"), ("--hidden", "0"), ("--epochs", "0"), ("--batch-size", "0"), ("--patience", "0"),
    ("--eval-users", "0"), ("--history-length", "-1"), ("--learning-rate", "0"), ("--learning-rate", "nan"),
    ("--train-seed", "-1"),
])
def test_12a_the_launchers_numbers_are_checked_by_argparse(option, value, capsys):
    with pytest.raises(SystemExit) as info:
        distributed.build_parser().parse_args([*DDP, "--out", "run.json", option, value])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert f"argument {option}: expected" in err[-1] and "Traceback" not in "\n".join(err)


def test_12b_an_os_error_is_one_line(monkeypatch, capsys):
    def full_disk(args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(distributed, "run", full_disk)
    assert distributed.main([*DDP, "--out", "run.json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: [Errno 28] No space left on device"]


def test_12c_an_empty_checkpoint_path_is_refused_before_training(capsys):
    assert distributed.main([*DDP, "--out", "run.json", "--checkpoint", ""]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    refused(2, err, "--checkpoint")
    assert not Path("run.json").exists()


def test_12d_history_length_0_trains_and_overwrite_replaces_both_outputs(capsys):
    Path("run.json").write_text("old"), Path("model.pt").write_text("old")
    status = distributed.main([*DDP, "--history-length", "0", "--out", "run.json", "--checkpoint", "model.pt",
                               "--overwrite"])
    assert status == 0, capsys.readouterr().err
    report = json.loads(Path("run.json").read_text())
    assert report["checkpoint"] == "model.pt" and len(report["epochs"]) == 1
    assert Path("model.pt").read_bytes() != b"old"


# ---- 14. the loader's small holes ----------------------------------------------------------------

def test_14a_without_time_exact_duplicates_are_dropped_and_counted_as_with_time(tmp_path):
    rows = [f"u{k % 10},i{k % 7}" for k in range(50)]  # 50 distinct (user, item) pairs
    path = write_csv(tmp_path / "untimed.csv", rows + rows, header="user,item")
    data = load_csv(path, time_col=None)
    assert len(data) == 50 and data.report.counts == {"duplicate events": 50}
    assert data.report.rows_read == 100
    timed = load_csv(write_csv(tmp_path / "timed.csv", [f"{r},{k}" for k, r in enumerate(rows)] * 2))
    assert timed.report.counts == data.report.counts  # the same rule with a time column
    rated = write_csv(tmp_path / "rated.csv", ["a,x,4", "a,x,4", "a,x,5"], header="user,item,rating")
    data = load_csv(rated, time_col=None, value_col="rating")
    assert data.values.tolist() == [4.0, 5.0] and data.report.counts == {"duplicate events": 1}


def test_14b_a_nul_byte_in_an_id_is_refused_naming_file_and_line(tmp_path, capsys):
    path = tmp_path / "nul.csv"
    path.write_bytes(b"user,item,time\na,x,1\na\x00,y,2\nb,x,3\n")  # "a\x00" would become "a"
    with pytest.raises(DataError, match="NUL") as info:
        load_csv(path)
    assert info.value.line == 3 and info.value.path == str(path)
    status, _, err = run(leaderboard(path), capsys)
    refused(status, err, "nul.csv, line 3", "NUL")


def _within(seconds: float, call, unblock):
    """`call()` in a thread: its result, or its exception raised here; fail (after `unblock()` frees
    the thread) if it has not returned within `seconds`, as a loader that opens a pipe would."""
    box = {}

    def target():
        try:
            box["result"] = call()
        except BaseException as error:  # handed to the test's thread
            box["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        unblock()
        thread.join(10)
        pytest.fail("the loader opened the pipe and blocked")
    if "error" in box:
        raise box["error"]
    return box["result"]


def test_14c_a_pipe_is_refused_without_being_opened(tmp_path, capsys):
    fifo = tmp_path / "events.csv"
    os.mkfifo(fifo)

    def unblock():  # a writer that connects and leaves: the blocked reader sees an empty file
        with open(fifo, "w"):
            pass

    with pytest.raises(DataError, match=r"not a regular file but a pipe \(FIFO\).*save it to a file"):
        _within(10, lambda: load_csv(fifo), unblock)
    status, _, err = _within(10, lambda: run(leaderboard(fifo), capsys), unblock)
    refused(status, err, "events.csv", "pipe", "save it to a file")


def test_14d_a_wrong_encoding_is_a_short_line_naming_file_encoding_and_offset(tmp_path, capsys):
    rows = [f"u{k % 7},i{k % 5},{1000 + k}" for k in range(400)]
    for name, extra in (("even.csv", ["u1,i1,10"]), ("odd.csv", ["u1,i1,1"])):  # UTF-16 "decodes" an even length
        path = write_csv(tmp_path / name, rows + extra)
        assert len(path.read_bytes()) % 2 == (name == "odd.csv")
        status, _, err = run(leaderboard(path, "--encoding", "utf-16"), capsys)
        refused(status, err, name, "utf-16", "byte offset", "UTF-8")
        assert len(err[0]) < 300, err[0]
    wide = tmp_path / "utf16.csv"  # the other way round: UTF-16 read as UTF-8 names the likely encoding
    wide.write_bytes("\n".join(["user,item,time", *rows]).encode("utf-16-le"))
    status, _, err = run(leaderboard(wide), capsys)
    refused(status, err, "utf16.csv", "missing columns", "NUL bytes", "--encoding utf-16")
    assert len(err[0]) < 500, err[0]


def test_14e_a_long_header_is_cut_in_the_message(tmp_path, capsys):
    path = write_csv(tmp_path / "wide.csv", ["1;2;3"], header=";".join(f"column{k}" for k in range(500)))
    status, _, err = run(leaderboard(path), capsys)
    refused(status, err, "wide.csv", "missing columns", "characters)")
    assert len(err[0]) < 500, err[0]
