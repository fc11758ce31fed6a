"""Hostile but realistic options, outputs and checkpoints, tried as a new user would.

One test per finding of the review of every command (outputs that overwrite the input, outputs
checked only after the work, corrupted checkpoints, checkpoints tied to a folder, unchecked option
values, ids that overflow, the incomplete CSV command line, drop counts missing from the JSON).
Each test starts from the situation the review found and checks the input data is intact after.
"""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_helpers import digest, refused, run
from harness.cli import main
from harness.leaderboard import LeaderboardConfig, prepare
from lineage.data import DataError
from lineage.datasets import load_csv, load_movielens_100k, load_movielens_latest
from twotower_mini import checkpoint

N_ROWS = 2000  # d/test.csv: a header and 2,000 events, 2,001 lines as in the review


def write_log(path: Path, n_rows: int = N_ROWS, extra_rows=()) -> Path:
    """A user,item,time log: 100 users, 60 items, one event a minute."""
    rng = np.random.default_rng(0)
    lines = ["user,item,time"]
    lines += [f"u{rng.integers(100)},i{rng.integers(60)},{1_700_000_000 + 60 * r}" for r in range(n_rows)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*lines, *extra_rows]) + "\n")
    return path








@pytest.fixture()
def d(tmp_path, monkeypatch):
    """The review's folder: d/test.csv, with the current directory at its parent."""
    monkeypatch.chdir(tmp_path)
    write_log(tmp_path / "d" / "test.csv")
    return tmp_path / "d"


CSV = ["leaderboard", "--dataset", "csv", "--interactions", "d/test.csv", "--models", "popularity"]


# ---- 1. an output can overwrite the input data ---------------------------------------------------

def test_1a_save_recommendations_into_the_input_folder_is_refused(d, capsys):
    before = digest(d / "test.csv")
    assert len((d / "test.csv").read_text().splitlines()) == N_ROWS + 1
    status, _, err = run([*CSV, "--save-recommendations", "d"], capsys)
    refused(status, err, "--save-recommendations", "test.csv", "input file")
    assert digest(d / "test.csv") == before
    assert sorted(p.name for p in d.iterdir()) == ["test.csv"]  # nothing else written either


def test_1b_json_onto_the_input_file_is_refused(d, capsys):
    before = digest(d / "test.csv")
    status, _, err = run([*CSV, "--json", "d/test.csv", "--overwrite"], capsys)  # even with --overwrite
    refused(status, err, "--json", "input file")
    assert digest(d / "test.csv") == before


def test_1c_existing_outputs_need_overwrite(d, capsys):
    before = digest(d / "test.csv")
    out = d.parent / "out.json"
    out.write_text("precious\n")
    status, _, err = run([*CSV, "--json", out], capsys)
    refused(status, err, "--json", "exists", "--overwrite")
    assert out.read_text() == "precious\n"
    status, _, _ = run([*CSV, "--json", out, "--overwrite"], capsys)
    assert status == 0 and json.loads(out.read_text())["models"]["popularity"]["ndcg@10"] > 0
    assert not [p for p in d.parent.iterdir() if p.name.endswith(".tmp")]  # the atomic write cleaned up
    assert digest(d / "test.csv") == before


# ---- 2. output paths checked only after the work ------------------------------------------------

def _no_work_done(err):
    assert not any("fitting" in line or "training on" in line or "split (" in line for line in err), err


def test_2a_bad_json_paths_are_refused_before_any_fitting(d, capsys):
    before = digest(d / "test.csv")
    (d.parent / "folder").mkdir()
    (d.parent / "plain").write_text("a regular file\n")
    for path, words in [("folder", ["is a directory"]), ("plain/out.json", ["is a file"])]:
        status, _, err = run([*CSV, "--json", path], capsys)
        refused(status, err, "--json", *words)
        _no_work_done(err)
    read_only = d.parent / "read-only"
    read_only.mkdir()
    read_only.chmod(0o500)
    target = read_only / "out.json"
    try:
        if os.access(read_only, os.W_OK):  # root ignores permissions: /sys refuses new files even to root
            target = Path("/sys/out.json")
        status, _, err = run([*CSV, "--json", target], capsys)
        refused(status, err, "--json", "cannot write")
        _no_work_done(err)
    finally:
        read_only.chmod(0o700)
    assert digest(d / "test.csv") == before


def test_2b_save_recommendations_under_a_regular_file_is_refused_before_fitting(d, capsys):
    (d.parent / "plain").write_text("a regular file\n")
    status, _, err = run([*CSV, "--save-recommendations", "plain/recs"], capsys)
    refused(status, err, "--save-recommendations", "is a file")
    _no_work_done(err)
    status, _, err = run([*CSV, "--save-recommendations", "plain"], capsys)
    refused(status, err, "--save-recommendations", "is a file")
    assert (d.parent / "plain").read_text() == "a regular file\n"


def test_2c_train_out_onto_a_directory_is_refused_before_training(d, capsys):
    (d.parent / "runs").mkdir()
    status, _, err = run(["train", "--dataset", "csv", "--interactions", "d/test.csv", "--out", "runs",
                          "--epochs", "1", "--no-progress"], capsys)
    refused(status, err, "--out", "is a directory")
    _no_work_done(err)
    status, _, err = run(["train", "--dataset", "csv", "--interactions", "d/test.csv", "--out", "d/test.csv",
                          "--overwrite", "--epochs", "1", "--no-progress"], capsys)
    refused(status, err, "--out", "input file")
    assert len((d / "test.csv").read_text().splitlines()) == N_ROWS + 1


def test_2e_two_outputs_of_one_run_naming_the_same_file_are_refused_before_fitting(d, capsys):
    status, _, err = run([*CSV, "--save-recommendations", "recs", "--json", "recs/test.csv"], capsys)
    refused(status, err, "--json", "same file as --save-recommendations")
    _no_work_done(err)
    assert not (d.parent / "recs").exists()


def test_2d_the_ddp_launcher_checks_its_outputs_before_training(d, capsys):
    from harness import distributed

    (d.parent / "runs").mkdir()
    (d.parent / "old.json").write_text("{}\n")
    launcher = ["--dataset", "csv", "--interactions", "d/test.csv", "--epochs", "1"]
    for out, extra, words in [("runs", [], ("--out", "is a directory")),
                              ("d/test.csv", ["--overwrite"], ("--out", "input file")),
                              ("old.json", [], ("--out", "file exists", "--overwrite")),
                              ("runs/run.pt", ["--checkpoint", "runs/run.pt"], ("--checkpoint", "same file as --out"))]:
        capsys.readouterr()
        status = distributed.main(launcher + ["--out", out, *extra])
        refused(status, capsys.readouterr().err.strip().splitlines(), *words)
    assert len((d / "test.csv").read_text().splitlines()) == N_ROWS + 1
    assert (d.parent / "old.json").read_text() == "{}\n"


# ---- 3. corrupted checkpoints -------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A checkpoint trained (one epoch) on a 2,000-event CSV, with paths relative to its folder."""
    folder = tmp_path_factory.mktemp("trained")
    write_log(folder / "d" / "test.csv")
    here = os.getcwd()
    os.chdir(folder)
    try:
        assert main(["train", "--dataset", "csv", "--interactions", "d/test.csv", "--out", "model.pt",
                     "--epochs", "1", "--no-progress"]) == 0
    finally:
        os.chdir(here)
    return folder


def _copy(trained, tmp_path) -> Path:
    path = tmp_path / "model.pt"
    shutil.copy(trained / "model.pt", path)
    return path


def _write(payload: dict, path: Path) -> None:
    """A hand-made checkpoint file from a payload: its tensors, and the rest as the JSON metadata."""
    from safetensors.torch import save_file

    document = {key: value for key, value in payload.items() if key != "state_dict"}
    save_file(payload["state_dict"], path, metadata={"twotower_mini": json.dumps(document)})


def _flip_a_weight_byte(path: Path) -> None:
    """Flip one byte in the middle of the largest tensor's stored data. A safetensors file is 8 bytes
    of header length, the JSON header (each tensor's data_offsets), then the tensor bytes."""
    raw = bytearray(path.read_bytes())
    length = int.from_bytes(raw[:8], "little")
    header = json.loads(bytes(raw[8:8 + length]))
    begin, end = max((entry["data_offsets"] for name, entry in header.items() if name != "__metadata__"),
                     key=lambda offsets: offsets[1] - offsets[0])
    raw[8 + length + (begin + end) // 2] ^= 0x10
    path.write_bytes(bytes(raw))


def test_3a_flipped_weight_byte_and_nan_weights_are_refused(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(trained)
    status, out, _ = run(["evaluate", "--checkpoint", "model.pt"], capsys)
    assert status == 0 and "ndcg@10" in out  # the healthy checkpoint works

    flipped = _copy(trained, tmp_path)
    _flip_a_weight_byte(flipped)
    assert flipped.read_bytes() != (trained / "model.pt").read_bytes()
    status, out, err = run(["evaluate", "--checkpoint", flipped], capsys)
    refused(status, err, "model.pt", "SHA-256")
    assert out == ""  # no metrics from a corrupted model

    payload = checkpoint.load(trained / "model.pt")
    name = next(iter(payload["state_dict"]))
    payload["state_dict"][name][0] = float("nan")
    payload["checksums"] = checkpoint.checksums(payload)  # consistent checksums: only the NaN is wrong
    _write(payload, tmp_path / "nan.pt")
    status, out, err = run(["evaluate", "--checkpoint", tmp_path / "nan.pt"], capsys)
    refused(status, err, "NaN or infinite")
    assert out == ""


@pytest.mark.parametrize("damage, words", [
    (lambda p: p["data"].pop("fingerprint"), ["fingerprint"]),
    (lambda p: p.update(extra=1), ["unexpected ['extra']"]),
    (lambda p: p["config"]["towers"].update(embedding_dim="abc"), ["embedding_dim", "'abc'"]),
    (lambda p: p["config"]["towers"].update(embedding_dim=10**12), ["embedding_dim", str(10**12)]),
    (lambda p: p["config"]["training"].update(learning_rat=0.1), ["learning_rat"]),
    (lambda p: p["data"].update(protocol=3), ["protocol"]),
    (lambda p: p["data"]["csv_options"].update(interactions_path=7), ["interactions_path"]),
    (lambda p: p["state_dict"].update({next(iter(p["state_dict"])): torch.zeros(3, 3)}), ["shape"]),
])
def test_3b_damaged_schema_is_a_one_line_error(trained, tmp_path, capsys, monkeypatch, damage, words):
    monkeypatch.chdir(trained)
    payload = checkpoint.load(trained / "model.pt")
    damage(payload)
    _write(payload, tmp_path / "damaged.pt")
    status, out, err = run(["evaluate", "--checkpoint", tmp_path / "damaged.pt"], capsys)
    refused(status, err, "damaged.pt")  # caught by the SHA-256 of the block already
    assert out == ""
    # with checksums recomputed after the damage, only the schema is wrong: the schema check names it
    payload["checksums"] = checkpoint.checksums(payload)
    _write(payload, tmp_path / "damaged.pt")
    status, out, err = run(["evaluate", "--checkpoint", tmp_path / "damaged.pt"], capsys)
    refused(status, err, "damaged.pt", *words)
    assert out == ""


class ImportsCode:
    """Unpickles as a call of os.system: what a malicious pickle checkpoint does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_3c_a_pickle_that_imports_code_gets_the_specific_message(tmp_path, capsys):
    """An old-format (torch pickle) file is never unpickled: refused with how to retrain."""
    path = tmp_path / "evil.pt"
    marker = tmp_path / "the-code-ran"
    torch.save({"format": checkpoint.FORMAT, "payload": ImportsCode(marker)}, path)
    status, out, err = run(["evaluate", "--checkpoint", path], capsys)
    refused(status, err, "evil.pt", "refused to load", "old checkpoint format", "python -m twotower_mini train")
    assert not marker.exists()


# ---- 4. checkpoints tied to the folder they were trained from -----------------------------------

def test_4_checkpoints_work_from_another_folder_and_with_moved_data(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the folder it was trained in, where d/test.csv was relative
    status, out, err = run(["evaluate", "--checkpoint", trained / "model.pt"], capsys)
    assert status == 0 and "ndcg@10" in out, err
    payload = checkpoint.load(trained / "model.pt")
    assert Path(payload["data"]["csv_options"]["interactions_path"]).is_absolute()

    moved = tmp_path / "elsewhere" / "log.csv"
    moved.parent.mkdir()
    shutil.copy(trained / "d" / "test.csv", moved)
    status, out2, err = run(["evaluate", "--checkpoint", trained / "model.pt", "--interactions", moved], capsys)
    assert status == 0 and out2 == out, err  # same data, same metrics
    status, out3, err = run(["recommend", "--checkpoint", trained / "model.pt", "--interactions", moved,
                             "--user", "u1", "--k", "3"], capsys)
    assert status == 0 and "u1:" in out3 and "  3. " in out3

    other = write_log(tmp_path / "other.csv", n_rows=N_ROWS - 1)
    status, _, err = run(["evaluate", "--checkpoint", trained / "model.pt", "--interactions", other], capsys)
    refused(status, err, "fingerprint")
    assert digest(moved) == digest(trained / "d" / "test.csv")


# ---- 5. option values ---------------------------------------------------------------------------

def _argparse_refuses(argv, option, capsys, *words):
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err, err
    for word in words:
        assert word in err, err
    assert "Traceback" not in err


def test_5a_k_zero_and_negative_are_refused_naming_the_option(d, capsys):
    for value in ("0", "-5"):
        _argparse_refuses([*CSV, "--k", value], "--k", capsys, "at least 1")
        _argparse_refuses(["evaluate", "--checkpoint", "x.pt", "--k", value], "--k", capsys, "at least 1")


def test_5b_a_huge_k_is_capped_at_the_catalogue(d, capsys):
    status, _, err = run([*CSV, "--k", 10**12, "--json", "out.json"], capsys)
    assert status == 0, err
    result = json.loads(Path("out.json").read_text())
    assert result["k"] == result["n_items"] == 60
    assert any(line.startswith("note: --k 1000000000000") for line in err)
    assert result["models"]["popularity"]["recall@60"] > 0


def test_5c_zero_is_refused_never_replaced_by_a_default(d, capsys):
    _argparse_refuses([*CSV, "--test-fraction", "0"], "--test-fraction", capsys, "between 0 and 1")
    _argparse_refuses(["train", "--out", "m.pt", "--epochs", "0"], "--epochs", capsys, "at least 1")
    config = LeaderboardConfig(dataset="csv", csv_options={"interactions_path": "d/test.csv"}, test_fraction=0.0)
    with pytest.raises(ValueError, match="between 0 and 1"):  # the library does not turn 0 into 0.2
        prepare(config, log=lambda message: None)


def test_5d_negative_epochs_are_refused(capsys):
    _argparse_refuses(["train", "--out", "m.pt", "--epochs", "-3"], "--epochs", capsys, "at least 1")


def test_5e_a_negative_seed_names_the_option(capsys):
    _argparse_refuses(["leaderboard", "--seed", "-1"], "--seed", capsys, "0 to 4,294,967,295")
    _argparse_refuses(["leaderboard", "--world-seed", "-1"], "--world-seed", capsys)


def test_5f_an_empty_model_list_is_refused(capsys):
    _argparse_refuses(["leaderboard", "--models", ","], "--models", capsys, "no model names")


# ---- 6. ids that overflow, negative timestamps, off-scale ratings --------------------------------

def test_6a_ids_beyond_int64_are_a_one_line_error_with_file_and_line(ml100k_fixture, ml_latest_fixture):
    with (ml100k_fixture / "u.data").open("a") as handle:
        handle.write(f"{2**63}\t1\t3\t881250949\n")
    with pytest.raises(DataError, match=r"u\.data, line 3: user id 9223372036854775808 does not fit"):
        load_movielens_100k(ml100k_fixture)
    with (ml_latest_fixture / "ratings.csv").open("a") as handle:
        handle.write(f"1,{2**64},4.0,964982703\n")
    with pytest.raises(DataError, match=r"ratings\.csv, line 4: movieId 18446744073709551616 does not fit"):
        load_movielens_latest(ml_latest_fixture)
    # the generic CSV format allows string ids: the same number is just an id there
    log = write_log(ml100k_fixture.parent / "big.csv", n_rows=2, extra_rows=[f"{2**63},i1,1"])
    assert str(2**63) in load_csv(log).user_ids.tolist()


def test_6b_negative_timestamps_and_off_scale_ratings_are_dropped_and_counted(ml100k_fixture, ml_latest_fixture):
    with (ml100k_fixture / "u.data").open("a") as handle:
        handle.write("1\t1\t3\t-5\n1\t2\t7\t881250949\n1\t2\t2.5\t881250950\n")
    data = load_movielens_100k(ml100k_fixture)
    assert data.report.counts == {"negative timestamp": 1, "rating outside the 1-5 scale (steps of 1)": 2}
    assert len(data) == 2 and data.times.min() >= 0 and set(data.values.tolist()) <= {1, 2, 3, 4, 5}
    assert "negative timestamp" in data.report.summary()
    with (ml_latest_fixture / "ratings.csv").open("a") as handle:
        handle.write("1,1,4.0,-1\n1,2,0.0,964982704\n1,2,4.25,964982705\n")
    data = load_movielens_latest(ml_latest_fixture)
    assert data.report.counts == {"negative timestamp": 1, "rating outside the 0.5-5 scale (steps of 0.5)": 2}


@pytest.fixture()
def ml100k_fixture(tmp_path):
    """A two-rating MovieLens 100K folder (u.data, u.item, u.user)."""
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    flags = "|".join(["0"] * 19)
    (folder / "u.item").write_text(f"1|Toy Story (1995)|01-Jan-1995||http://x|{flags}\n"
                                   f"2|GoldenEye (1995)|01-Jan-1995||http://x|{flags}\n")
    (folder / "u.user").write_text("1|24|M|technician|85711\n")
    (folder / "u.data").write_text("1\t1\t5\t881250949\n1\t2\t3\t881250950\n")
    return folder


@pytest.fixture()
def ml_latest_fixture(tmp_path):
    """A two-rating MovieLens latest folder (ratings.csv, movies.csv)."""
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "movies.csv").write_text("movieId,title,genres\n1,Toy Story (1995),Animation\n2,Heat (1995),Crime\n")
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,3.5,964982704\n")
    return folder


# ---- 7. the generic CSV on the command line ------------------------------------------------------

def test_7a_latin1_file_loads_with_encoding_and_the_hint_names_the_option(d, capsys):
    path = d.parent / "latin.csv"
    text = (d / "test.csv").read_text().replace("u1,", "Jos\u00e9,")
    path.write_bytes(text.encode("latin-1"))
    before = digest(path)
    argv = ["leaderboard", "--dataset", "csv", "--interactions", path, "--protocol", "random"]
    status, _, err = run(argv, capsys)
    refused(status, err, "latin.csv", "not valid UTF-8", "--encoding")
    status, _, err = run([*argv, "--encoding", "latin-1", "--json", "out.json"], capsys)
    assert status == 0, err
    assert json.loads(Path("out.json").read_text())["n_users"] == 100
    _argparse_refuses([*argv, "--encoding", "klingon"], "--encoding", capsys, "unknown text encoding")
    assert digest(path) == before


def test_7b_value_col_reads_the_ratings(d, capsys):
    path = d.parent / "rated.csv"
    rows = (d / "test.csv").read_text().splitlines()
    path.write_text("\n".join([rows[0] + ",rating"] + [f"{row},{1 + n % 5}" for n, row in enumerate(rows[1:])]) + "\n")
    status, _, err = run(["leaderboard", "--dataset", "csv", "--interactions", path, "--value-col", "rating",
                          "--json", "out.json"], capsys)
    assert status == 0, err
    config = LeaderboardConfig(dataset="csv", csv_options={"interactions_path": str(path), "value_col": "rating"})
    data = prepare(config, log=lambda message: None)[0]
    assert sorted(set(data.values.tolist())) == [1, 2, 3, 4, 5]


def test_7c_a_file_without_time_loads_and_time_protocols_refuse(d, capsys):
    path = d.parent / "untimed.csv"
    path.write_text("\n".join(row.rsplit(",", 1)[0] for row in (d / "test.csv").read_text().splitlines()) + "\n")
    argv = ["leaderboard", "--dataset", "csv", "--interactions", path, "--time-col", "none"]
    for protocol in ("temporal", "leave-last-out"):
        status, _, err = run([*argv, "--protocol", protocol], capsys)
        refused(status, err, f"--protocol {protocol}", "no time column")
    status, _, err = run([*argv, "--protocol", "per-user", "--json", "out.json"], capsys)
    assert status == 0, err
    assert json.loads(Path("out.json").read_text())["n_test"] > 0


# ---- 8. dropped rows in the JSON ----------------------------------------------------------------

def test_8_the_json_holds_the_dropped_and_duplicated_row_counts(d, capsys):
    path = d.parent / "dups.csv"
    rows = (d / "test.csv").read_text().splitlines()
    path.write_text("\n".join(rows + rows[1:4]) + "\n")  # three duplicated events
    items = d.parent / "items.csv"
    items.write_text("item\n" + "\n".join(f"i{n}" for n in range(59)) + "\n")  # i59 unknown
    status, _, err = run(["leaderboard", "--dataset", "csv", "--interactions", path, "--items", items,
                          "--json", "out.json"], capsys)
    assert status == 0, err
    report = json.loads(Path("out.json").read_text())["load_report"]
    unknown = [row.split(",")[1] == "i59" for row in rows[1:] + rows[1:4]]
    assert 0 < sum(unknown) and not any(unknown[-3:])  # every duplicate is of a known item
    assert report["rows_read"] == N_ROWS + 3
    assert report["dropped"] == {"duplicate events": 3, "unknown item id": sum(unknown)}
    assert report["rows_kept"] == N_ROWS + 3 - 3 - sum(unknown)
