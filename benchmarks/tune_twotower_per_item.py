"""Validation runs behind the MovieLens 100K per-item two-tower preset (`twotower_mini.presets`), next to EASE.

    python benchmarks/tune_twotower_per_item.py                                   # the preset, 2 outer seeds
    python benchmarks/tune_twotower_per_item.py --set training.loss.temperature=0.07 --train-seeds 0 1
    python benchmarks/tune_twotower_per_item.py --set ensemble=1 --members 8     # ensembles of 1..8 tower pairs
    python benchmarks/tune_twotower_per_item.py --set ensemble=1 --train-keep 0.5625 0.75 1   # a learning curve
    python benchmarks/tune_twotower_per_item.py --write-tuning-md                  # and rewrite its TUNING.md block

Never looks at test: for each outer split seed S, `outer = split(ml100k, "per-item", 0.25, S)` (the
leaderboard's split), `inner = validation_split(outer.train, "per-item", --fraction, seed=0)`; every model is
fitted on inner.train and scored on inner.test (nDCG@10, seen items excluded). The default fraction, 0.25,
gives validation users as many held-out items, relative to their history, as test users have (with 0.1 the
preset beat EASE on validation but not on test). EASE is scored at several lambdas on the same parts.

Learning curve: with --train-keep 0.5625 0.75 1, the models are fitted on per-item shares of inner.train
(with the 25% part: 32%, 42% and 56% of the data) and scored on the same validation part, to see how a
model's edge changes as the training set grows towards the test's 75%.

Ensembles: with --members M, M towers are trained with training seeds seed, seed+1, ...; an ensemble of
K of them scores the sum of their scores, which is what concatenated vectors give (TwoTowerConfig.ensemble).
Each line printed is one measurement (JSON). With --write-tuning-md, the run's summary (means over outer
seeds, carves and training seeds) replaces the block between `<!-- tune_twotower_per_item:start -->` and
`<!-- tune_twotower_per_item:end -->` in benchmarks/TUNING.md, the preset's evidence; the rest of the file
is left as it was.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from lineage.datasets.movielens import load_movielens_100k
from lineage.metrics import evaluate_lists, users_with_test_events
from lineage.models.ease import EASE, EASEConfig
from lineage.splits import split, validation_split
from lineage.topk import mask_items, top_k
from twotower_mini.presets import preset
from twotower_mini.recommender import TwoTowerRecommender

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import TUNING, commit, default_data_dir, markdown_table, write_tuning_section  # noqa: E402

KEEP_SEED = 7  # the split seed of the learning curve's training shares (--train-keep)


def with_overrides(config, assignments: list[str]):
    """config with "path.to.field=value" assignments applied (value parsed as JSON, else a string): a
    top-level field (ensemble=1), a field of one part (training.history_dropout=0.7) or of the loss
    (training.loss.temperature=0.07). The configs are frozen: each level is rebuilt with `replace`."""
    for assignment in assignments:
        path, _, text = assignment.partition("=")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if isinstance(value, list):
            value = tuple(value)
        config = _replaced(config, path.split("."), value)
    return config


def _replaced(config, names: list[str], value):
    """config with the field at names[0].names[1]... set to value."""
    first, rest = names[0], names[1:]
    return replace(config, **{first: _replaced(getattr(config, first), rest, value) if rest else value})


def ndcg(scores: np.ndarray, users: np.ndarray, train, test) -> float:
    scores = scores.copy()
    mask_items(scores, train.to_csr(binary=True)[users])
    return evaluate_lists(top_k(scores, 10), users, train, test, 10)["ndcg@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="MovieLens 100K folder (default $TT_ML100K_DIR or ../shared/datasets/ml-100k)")
    parser.add_argument("--outer-seeds", type=int, nargs="+", default=[42, 1])
    parser.add_argument("--fraction", type=float, default=0.25)
    parser.add_argument("--validation-seeds", type=int, nargs="+", default=[0], help="seeds of the validation carve")
    parser.add_argument("--train-seeds", type=int, nargs="*", default=[0, 1], help="none: EASE only")
    parser.add_argument("--members", type=int, default=1, help="towers per training seed run, for ensembles")
    parser.add_argument("--ease-scales", type=float, nargs="*", default=[8.0, 16.0, 32.0])
    parser.add_argument("--train-keep", type=float, nargs="+", default=[1.0],
                        help="fit on these per-item shares of the inner train part (a learning curve; 1: all of it)")
    parser.add_argument("--set", action="append", default=[],
                        help="config override, e.g. training.loss.temperature=0.07")
    parser.add_argument("--write-tuning-md", action="store_true",
                        help="rewrite this script's block of benchmarks/TUNING.md with the run's summary")
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:  # a bad --set fails here, before any fit
        base = with_overrides(preset("ml-100k", "per-item"), args.set)
    except (TypeError, AttributeError, ValueError) as error:
        parser.error(f"--set {' '.join(args.set)}: {error}")
    data = load_movielens_100k(default_data_dir(args.data_dir))
    measurements = []
    for outer_seed in args.outer_seeds:
        outer = split(data, "per-item", 0.25, outer_seed)
        for validation_seed in args.validation_seeds:
            inner = validation_split(outer.train, "per-item", args.fraction, seed=validation_seed)
            for keep in args.train_keep:
                # a learning curve: the same validation part, a per-item share of inner.train to fit on
                train = inner.train if keep == 1.0 else split(inner.train, "per-item", 1.0 - keep, KEEP_SEED).train
                where = {"outer": outer_seed, "fraction": args.fraction, "validation_seed": validation_seed,
                         "keep": keep, "n_train": len(train)}
                measurements += measure(args, base, train, inner.test, where)
    if args.write_tuning_md:
        command = " ".join(["python benchmarks/tune_twotower_per_item.py", *map(shlex.quote, sys.argv[1:])])
        print(f"wrote {write_tuning_md(measurements, command, commit())}", flush=True)


def measure(args, base, train, validation, where: dict) -> list[dict]:
    """Print (and return) EASE at each lambda scale and the two-tower runs (config `base`, one per training
    seed and member), fitted on `train`, scored on `validation`."""
    users = users_with_test_events(validation)
    lines = []
    for scale in args.ease_scales:
        model = EASE(EASEConfig(regularization_scale=scale)).fit(train)
        lines.append({**where, "model": f"ease scale {scale:g}",
                      "ndcg@10": round(ndcg(model.score(users), users, train, validation), 4)})
        print(json.dumps(lines[-1]), flush=True)
    for train_seed in args.train_seeds:
        summed = None
        for member in range(args.members):
            config = replace(base, training=replace(base.training, seed=train_seed * 100 + member, threads=1))
            start = time.perf_counter()
            model = TwoTowerRecommender(config).fit(train)
            seconds = time.perf_counter() - start
            scores = model.score(users)
            summed = scores if summed is None else summed + scores
            lines.append({**where, "model": "twotower", "set": args.set, "seed": train_seed * 100 + member,
                          "members": member + 1,
                          "ndcg@10 single": round(ndcg(scores, users, train, validation), 4),
                          "ndcg@10 ensemble": round(ndcg(summed, users, train, validation), 4),
                          "fit_seconds": round(seconds, 1)})
            print(json.dumps(lines[-1]), flush=True)
    return lines


def summary(measurements: list[dict]) -> list[dict]:
    """One row per model and training share: nDCG@10 averaged over outer seeds, carves and training seeds
    (an ensemble of K pairs: the K-member sums; "each pair": every pair alone), and per outer seed."""
    groups: dict[tuple, list[dict]] = {}
    ensembles = max((m["members"] for m in measurements if m["model"] == "twotower"), default=1) > 1
    for m in measurements:
        if m["model"] != "twotower":
            groups.setdefault((m["model"], m["keep"]), []).append({**m, "value": m["ndcg@10"]})
            continue
        k = m["members"]
        groups.setdefault((f"twotower, {k} pair{'s' * (k > 1)}", m["keep"]), []).append(
            {**m, "value": m["ndcg@10 ensemble"]})
        if ensembles:
            groups.setdefault(("twotower, each pair", m["keep"]), []).append({**m, "value": m["ndcg@10 single"]})
    outer_seeds = list(dict.fromkeys(m["outer"] for m in measurements))
    rows = []
    for (model, keep), runs in groups.items():
        row = {"model": model, "train share": f"{keep:g}", "ndcg@10": float(np.mean([r["value"] for r in runs]))}
        for seed in outer_seeds:
            row[f"outer {seed}"] = float(np.mean([r["value"] for r in runs if r["outer"] == seed]))
        row["runs"] = len(runs)
        fits = [r["fit_seconds"] for r in runs if "fit_seconds" in r]
        row["fit s per pair"] = float(np.mean(fits)) if fits else ""
        rows.append(row)
    return rows


def tuning_section(measurements: list[dict], command: str, commit_id: str) -> str:
    """The Markdown of this script's block of benchmarks/TUNING.md for one run."""
    fractions = ", ".join(f"{f:g}" for f in dict.fromkeys(m["fraction"] for m in measurements))
    return "\n".join([
        f"Written by `{command}` on commit `{commit_id}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
        f"Validation nDCG@10 (seen items excluded) on a per-item validation part of {fractions} of each outer "
        "train part, models fitted on the rest (or on the \"train share\" of it); two-tower: the per-item "
        "preset with the command's `--set` overrides. Mean over outer split seeds, validation carves and "
        "training seeds, then per outer seed.",
        "", *markdown_table(summary(measurements))])


def write_tuning_md(measurements: list[dict], command: str, commit_id: str, path: Path = TUNING) -> Path:
    """Replace this script's block of TUNING.md (between its markers) with the run's summary."""
    return write_tuning_section("tune_twotower_per_item", tuning_section(measurements, command, commit_id), path)


if __name__ == "__main__":
    main()
