"""The two-tower through the command line: leaderboard, train, evaluate, recommend (tiny world)."""
import json
import subprocess
import sys
from pathlib import Path

from harness.cli import main
from twotower_mini.config import TimeSoftmax
from twotower_mini.presets import preset, tfrs_tutorial_config

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--dataset", "world", "--world-size", "tiny", "--protocol", "temporal", "--seed", "3"]


def test_presets_exist_for_every_dataset_and_protocol():
    for dataset in ("world", "ml-100k", "ml-latest", "csv"):
        for protocol in ("temporal", "per-item", "random", "leave-last-out", "per-user"):
            config = preset(dataset, protocol)
            assert config.validation_protocol in (protocol, "temporal")  # carved like the test split, or by time
            # a cosine schedule decays over a fixed run: early stopping would cut it short
            assert config.training.lr_schedule == "constant" or config.validation_fraction == 0
    assert preset("ml-100k", "per-item").features.history_mode == "all-but-target"
    for dataset in ("ml-100k", "csv"):  # real data split by time: the time-aware recipe, served at each
        #   user's own last event on leave-last-out, with the last few items as a bag of their own
        assert isinstance(preset(dataset, "leave-last-out").training.loss, TimeSoftmax)
        assert preset(dataset, "leave-last-out").serve_at == "last-event"
        assert preset(dataset, "leave-last-out").features.recent_length > 0
        assert preset(dataset, "temporal").features.recent_length == 0
    assert tfrs_tutorial_config().training.batch_size == 8192


def test_leaderboard_includes_the_two_tower(tmp_path):
    out = tmp_path / "out.json"
    assert main(["leaderboard", *TINY, "--models", "popularity,twotower", "--json", str(out)]) == 0
    scores = json.loads(out.read_text())["models"]
    assert scores["twotower"]["ndcg@10"] > scores["popularity"]["ndcg@10"]
    assert "recall@10/cold-items" in scores["twotower"] and "true_recall@10" in scores["twotower"]


def test_train_evaluate_recommend_round_trip(tmp_path, capsys):
    checkpoint = tmp_path / "model.pt"
    assert main(["train", *TINY, "--out", str(checkpoint), "--epochs", "2", "--no-progress"]) == 0
    assert checkpoint.is_file()
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(checkpoint)]) == 0
    printed = capsys.readouterr().out
    assert "ndcg@10" in printed and "recall@10" in printed
    assert main(["recommend", "--checkpoint", str(checkpoint), "--user", "u00003", "--user", "nobody", "--k", "3"]) == 0
    captured = capsys.readouterr()
    assert "u00003:" in captured.out and "nobody:" in captured.out
    assert "serving as a new user" in captured.err
    assert captured.out.count("  1. ") == 2


def test_a_corrupted_checkpoint_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    result = subprocess.run([sys.executable, "-m", "twotower_mini", "evaluate", "--checkpoint", str(bad)],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "bad.pt" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_subcommand_has_help():
    for command in ("leaderboard", "train", "evaluate", "recommend"):
        result = subprocess.run([sys.executable, "-m", "twotower_mini", command, "--help"], capture_output=True,
                                text=True, cwd=ROOT, timeout=120)
        assert result.returncode == 0 and "usage:" in result.stdout and len(result.stdout) > 300
