"""Data-parallel training is a mode of the one training loop: two processes (torchrun, gloo on localhost)
take equal disjoint shards, average to the one-process gradient of the global batch, validate on the same
users as one process and end with the same weights; the launcher's two-process run writes its report and
a checkpoint and reaches the validation recall of one process at the same global batch."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from harness import distributed
from twotower_mini.train import shard

ARGS = ["--dataset", "world", "--world-size", "tiny", "--epochs", "4", "--batch-size", "256", "--train-seed", "1"]
TOLERANCE = 0.03  # absolute; measured differences on the tiny world were below 0.005 (seeds 0, 1, 2)
WORKER = Path(__file__).resolve().parent / "ddp_worker.py"


@pytest.fixture(autouse=True)
def keep_torch_generator():
    """These tests seed torch's global generator; put it back so later tests see what they would alone."""
    state = torch.get_rng_state()
    yield
    torch.set_rng_state(state)


def launch(command: list[str], timeout: int = 180) -> None:
    """Run a command in its own process group (a timeout kills torchrun's workers too)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, OMP_NUM_THREADS="1"), start_new_session=True)
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"{' '.join(command[-6:])} did not finish within {timeout} s")
    assert process.returncode == 0, err[-2000:]


def torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]


def test_shards_cover_the_epoch_once_with_equal_sizes():
    order = np.random.default_rng(0).permutation(11)
    shards = [shard(order, rank, 3) for rank in range(3)]
    assert len({len(s) for s in shards}) == 1  # every process runs the same number of steps
    together = np.concatenate(shards)
    assert len(np.unique(together)) == len(together) == 9  # disjoint; the 2-example tail waits
    assert np.array_equal(np.sort(together), np.sort(order[:9]))
    assert np.array_equal(shard(order, 0, 1), order)  # one process: the whole permutation


def test_two_processes_step_and_validate_as_one(tmp_path):
    (tmp_path / "one").mkdir(), (tmp_path / "two").mkdir()
    launch([sys.executable, str(WORKER), str(tmp_path / "one")])
    launch(torchrun(str(WORKER), str(tmp_path / "two")))
    one = np.load(tmp_path / "one" / "rank0.npz")
    ranks = [np.load(tmp_path / "two" / f"rank{r}.npz") for r in (0, 1)]
    gradients = [name for name in one.files if name.startswith("grad/")]
    assert gradients and all(set(gradients) <= set(rank.files) for rank in ranks)
    assert max(np.abs(one[name]).max() for name in gradients) > 0
    for name in gradients:  # DDP's average over the two half batches = one process's gradient of the batch
        for rank in ranks:
            np.testing.assert_allclose(rank[name], one[name], rtol=1e-4, atol=1e-6, err_msg=name)
    for rank in ranks:  # the validation users come from the same seeded draw as in one process
        assert len(one["validation_users"]) == 50
        assert np.array_equal(rank["validation_users"], one["validation_users"])
    assert int(ranks[0]["epochs_run"]) == int(ranks[1]["epochs_run"])  # rank 0's stop reached everyone
    assert int(ranks[0]["validated"]) == int(ranks[0]["epochs_run"]) and int(ranks[1]["validated"]) == 0
    assert np.array_equal(ranks[0]["weights"], ranks[1]["weights"])  # rank 0's best weights, everywhere


def test_the_launcher_with_two_processes_matches_one_process(tmp_path):
    single = distributed.run(distributed.build_parser().parse_args(ARGS + ["--out", str(tmp_path / "one.json")]))
    launch(torchrun("-m", "harness.distributed", *ARGS, "--out", str(tmp_path / "two.json"),
                    "--checkpoint", str(tmp_path / "two.safetensors")))
    double = json.loads((tmp_path / "two.json").read_text())
    assert single["processes"] == 1 and single["backend"] is None
    assert double["processes"] == 2 and double["backend"] == "gloo"
    assert double["global_batch"] == single["global_batch"] == 256 and double["per_process_batch"] == 128
    assert double["validation_users"] == single["validation_users"]
    assert len(double["epochs"]) >= 2 and double["epochs"][-1]["loss"] < double["epochs"][0]["loss"]
    assert double["best_epoch"] == 1 + int(np.argmax([row["val_recall@10"] for row in double["epochs"]]))
    assert single["val_recall@10"] > 0.1 and double["val_recall@10"] > 0.1  # both learned something
    assert abs(double["val_recall@10"] - single["val_recall@10"]) <= TOLERANCE, (single["val_recall@10"],
                                                                                 double["val_recall@10"])
    # rank 0's checkpoint is an ordinary one: the evaluate command can read it
    from harness.cli import main

    assert main(["evaluate", "--checkpoint", str(tmp_path / "two.safetensors")]) == 0


def test_the_command_line_explains_itself(capsys):
    with pytest.raises(SystemExit):
        distributed.build_parser().parse_args(["--help"])
    assert "torchrun" in capsys.readouterr().out


def test_a_two_process_checkpoint_restores_the_towers_an_in_process_fit_gives(tmp_path):
    """The launcher's model is fit_towers on the preset with the options applied: trained by 2 processes
    (torchrun) and restored from its checkpoint, it recommends what one process simulating the 2
    (DataParallel(size=2, simulated=True): each part of the global batch with its own random draws, the
    losses averaged) fits in-process. What may differ is only the order of floating-point sums in the
    averaged gradient: gloo's all-reduce adds the two processes' gradients, autograd adds the halves of
    the averaged loss. With two processes both are exact (halving is exact in binary floating point), so
    the scores agree to the last bit here; the bound below leaves room for other summation orders."""
    from harness import leaderboard, options
    from lineage.metrics import users_with_test_events
    from twotower_mini import checkpoint
    from twotower_mini.features import SideLog
    from twotower_mini.fitted import fit_towers
    from twotower_mini.recommender import TwoTowerRecommender
    from twotower_mini.train import DataParallel

    launch(torchrun("-m", "harness.distributed", *ARGS, "--out", str(tmp_path / "two.json"),
                    "--checkpoint", str(tmp_path / "two.safetensors")))
    args = distributed.build_parser().parse_args(ARGS + ["--out", str(tmp_path / "unused.json")])
    data_config = options.leaderboard_config(args)
    config = distributed.launcher_config(args, data_config.dataset, data_config.protocol)
    _, world, parts, _ = leaderboard.prepare(data_config, log=lambda message: None)
    side = SideLog.from_world(world)
    simulated = fit_towers(parts.train, config, side, group=DataParallel(size=2, simulated=True))
    restored = checkpoint.restore(checkpoint.load(tmp_path / "two.safetensors"), parts.train, side)
    in_process = TwoTowerRecommender.serving(simulated, parts.train, side)
    report = json.loads((tmp_path / "two.json").read_text())
    assert [row["loss"] for row in report["epochs"]] == pytest.approx([row["loss"] for row in simulated.history],
                                                                       rel=1e-5)
    assert report["best_epoch"] == simulated.best_epoch
    users = users_with_test_events(parts.test)
    assert np.abs(restored.score(users) - in_process.score(users)).max() < 1e-4
    assert np.array_equal(restored.recommend(users, k=10), in_process.recommend(users, k=10))
    one = fit_towers(parts.train, config, side)  # a single process: B - 1 in-batch negatives, not B/2 - 1
    assert not np.allclose(TwoTowerRecommender.serving(one, parts.train, side).score(users), in_process.score(users))
