"""Distributed data-parallel training: two processes (torchrun, gloo on localhost) train the two towers on
the tiny world and reach the validation recall of one process with the same global batch."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from harness import distributed

ARGS = ["--dataset", "world", "--world-size", "tiny", "--epochs", "4", "--batch-size", "256", "--train-seed", "1"]
TOLERANCE = 0.03  # absolute; measured differences on the tiny world were below 0.005 (seeds 0, 1, 2)


@pytest.fixture(autouse=True)
def keep_torch_generator():
    """These tests seed torch's global generator; put it back so later tests see what they would alone."""
    state = torch.get_rng_state()
    yield
    torch.set_rng_state(state)


def test_shards_cover_the_epoch_once_with_equal_sizes():
    order = np.random.default_rng(0).permutation(11)
    shards = [distributed.shard(order, rank, 3) for rank in range(3)]
    assert len({len(s) for s in shards}) == 1  # every process runs the same number of steps
    together = np.concatenate(shards)
    assert len(np.unique(together)) == len(together) == 9  # disjoint; the 2-example tail waits
    assert np.array_equal(np.sort(together), np.sort(order[:9]))


def test_two_processes_match_one_process(tmp_path):
    single = distributed.run(distributed.build_parser().parse_args(ARGS + ["--out", str(tmp_path / "one.json")]))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "harness.distributed", *ARGS, "--out", str(tmp_path / "two.json"),
               "--checkpoint", str(tmp_path / "two.pt")]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)  # its own process group: a timeout kills the workers too
    try:
        out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("torchrun with two processes did not finish within 120 s")
    assert process.returncode == 0, err[-2000:]
    double = json.loads((tmp_path / "two.json").read_text())
    assert double["processes"] == 2 and double["backend"] == "gloo"
    assert double["global_batch"] == single["global_batch"] == 256 and double["per_process_batch"] == 128
    assert len(double["epochs"]) >= 2 and double["epochs"][-1]["loss"] < double["epochs"][0]["loss"]
    assert single["val_recall@10"] > 0.1 and double["val_recall@10"] > 0.1  # both learned something
    assert abs(double["val_recall@10"] - single["val_recall@10"]) <= TOLERANCE, (single["val_recall@10"],
                                                                                 double["val_recall@10"])
    # rank 0's checkpoint is an ordinary one: the evaluate command can read it
    from harness.cli import main

    assert main(["evaluate", "--checkpoint", str(tmp_path / "two.pt")]) == 0


def test_the_command_line_explains_itself(capsys):
    with pytest.raises(SystemExit):
        distributed.build_parser().parse_args(["--help"])
    assert "torchrun" in capsys.readouterr().out
