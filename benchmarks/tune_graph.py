"""Tune the graph models (co-visitation and DeepWalk) on a validation split carved from train.

    python benchmarks/tune_graph.py --dataset ml-100k --models covisit,deepwalk
    python benchmarks/tune_graph.py --dataset world --models deepwalk
    python benchmarks/tune_graph.py --dataset ml-100k --models deepwalk --test   # once, at the end
    python benchmarks/tune_graph.py --dataset world --models covisit --write-tuning-md   # and record the grids

The protocol is the dataset's benchmark protocol (ml-100k: per-item random 75/25, seed 42, the
Microsoft Recommenders one; world: global temporal 80/20). `lineage.tuning.grid_search` splits the
*training* part again with the same protocol and scores every combination on that validation
part; the test part is never looked at while tuning. The search is two small grids in turn
(graph and scoring knobs first, then the model's own knobs around the first grid's winner),
not a full product. Paste the printed winners into the model's `TUNED` dict.

`--test` fits the model with its stored `TUNED` defaults on the whole training part and reports
the test metrics and the fit time: run it once, after tuning.

`--write-tuning-md` also writes each model's grids and winners into benchmarks/TUNING.md, between
`<!-- tune_graph/DATASET/MODEL:start -->` and `:end -->` (appended under "graph models" the first
time, replaced after that); the rest of the file is left as it was.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.append(str(Path(__file__).resolve().parent))  # for report.py, after the repository

import torch  # noqa: E402

from lineage.datasets import load_dataset  # noqa: E402
from lineage.metrics import evaluate  # noqa: E402
from lineage.models.covisit import CoVisitation, CoVisitConfig  # noqa: E402
from lineage.models.deepwalk import DeepWalk, DeepWalkConfig  # noqa: E402
from lineage.splits import split  # noqa: E402
from lineage.tuning import grid_search  # noqa: E402
from report import TUNING, commit, markdown_table, write_tuning_section  # noqa: E402

PROTOCOLS = {"ml-100k": ("per-item", 0.25, 42), "world": ("temporal", 0.2, 42)}
DAY = 86400.0

# model -> dataset -> the grids searched in turn (each a dict of lists)
GRIDS = {
    "covisit": {
        "ml-100k": [
            {"seed_power": [0.5, 1.0], "candidate_power": [0.25, 0.5], "n_neighbours": [50, 100, 200]},
            {"min_count": [1, 2, 3], "hops": [1, 2]},
        ],
        "world": [
            {"window_seconds": [None, 1 * DAY, 7 * DAY], "seed_power": [0.5, 1.0], "candidate_power": [0.25, 0.5]},
            {"n_neighbours": [50, 100, 200], "hops": [1, 2]},
        ],
    },
    "deepwalk": {
        "ml-100k": [
            {"n_neighbours": [10, 20, 30], "popularity_weight": [0.05, 0.1, 0.15, 0.2, 0.3]},
            {"dim": [64, 128], "window": [3, 5], "vectors": ["input", "input+output"]},
            {"epochs": [1, 2, 3]},
        ],
        "world": [
            {"window_seconds": [None, 1 * DAY], "n_neighbours": [20, 50], "popularity_weight": [0.05, 0.1, 0.2]},
            {"epochs": [2, 3], "window": [3, 5], "recency_half_life_days": [None, 14.0]},
        ],
    },
}
CLASSES = {"covisit": (CoVisitation, CoVisitConfig), "deepwalk": (DeepWalk, DeepWalkConfig)}


def tune(name: str, dataset: str, train, stages: list | None = None) -> dict:
    """Run the grids of `name` on `train`'s validation split; returns the winning overrides (and appends
    one row per grid to `stages`, if given)."""
    model_class, config_class = CLASSES[name]
    best: dict = {}
    for grid in GRIDS[name][dataset]:
        print(f"--- {name}: {grid} (fixed: {best})", flush=True)
        results = grid_search(lambda **p: model_class(config_class(**{**best, **p})), grid, train,
                              protocol=PROTOCOLS[dataset][0], metric="ndcg@10")
        params, scores = results[0]
        if stages is not None:
            stages.append({"grid": grid, "fixed": dict(best), "best": params, "combinations": len(results),
                           "validation ndcg@10": scores["ndcg@10"], "fit seconds": scores["fit_seconds"]})
        best.update(params)
        print(f"best {params}: validation ndcg@10 {scores['ndcg@10']:.4f}, fit {scores['fit_seconds']:.1f} s", flush=True)
    return best


def test_once(name: str, dataset: str, data_split) -> None:
    """Fit with the stored TUNED defaults on all of train and report the test metrics."""
    model_class, _ = CLASSES[name]
    model = model_class.tuned(dataset)
    start = time.perf_counter()
    model.fit(data_split.train)
    seconds = time.perf_counter() - start
    scores = evaluate(model, data_split.train, data_split.test, k=10)
    print(f"{name} on {dataset} test ({model.config}): ndcg@10 {scores['ndcg@10']:.4f}, "
          f"recall@10 {scores['recall@10']:.4f}, precision@10 {scores['precision@10']:.4f}, "
          f"fit {seconds:.1f} s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(PROTOCOLS), default="ml-100k")
    parser.add_argument("--data-dir", default=None, help="MovieLens folder (default: see lineage.datasets)")
    parser.add_argument("--models", default="covisit,deepwalk", help="comma-separated: covisit,deepwalk")
    parser.add_argument("--test", action="store_true", help="report test metrics of the stored TUNED defaults")
    parser.add_argument("--write-tuning-md", action="store_true",
                        help="write each model's grids and winners into its block of benchmarks/TUNING.md")
    args = parser.parse_args()
    if args.test and args.write_tuning_md:
        parser.error("--write-tuning-md records the tuning grids, not --test")
    torch.set_num_threads(1)
    data = load_dataset(args.dataset, args.data_dir)
    protocol, fraction, seed = PROTOCOLS[args.dataset]
    data_split = split(data, protocol, fraction, seed)
    print(f"{data} -> {data_split}", flush=True)
    for name in args.models.split(","):
        if args.test:
            test_once(name, args.dataset, data_split)
        else:
            stages: list[dict] = []
            best = tune(name, args.dataset, data_split.train, stages)
            print(f"{name}: TUNED[{args.dataset!r}] = {best}", flush=True)
            if args.write_tuning_md:
                command = " ".join(["python benchmarks/tune_graph.py", *map(shlex.quote, sys.argv[1:])])
                print(f"wrote {write_tuning_md(name, args.dataset, stages, best, command, commit())}", flush=True)
    return 0


def tuning_section(name: str, dataset: str, stages: list[dict], best: dict, command: str, commit_id: str) -> str:
    """The Markdown of one model's block of benchmarks/TUNING.md: the grids in turn and the winners."""
    protocol = PROTOCOLS[dataset][0]
    rows = [{"grid": f"{i + 1}: " + ", ".join(f"{k} {v}" for k, v in stage["grid"].items()),
             "fixed": ", ".join(f"{k}={v!r}" for k, v in stage["fixed"].items()) or "-",
             "best": ", ".join(f"{k}={v!r}" for k, v in stage["best"].items()),
             "validation ndcg@10": stage["validation ndcg@10"], "fit seconds": stage["fit seconds"],
             "combinations": stage["combinations"]} for i, stage in enumerate(stages)]
    return "\n".join([
        f"#### {name} on {dataset}", "",
        f"Written by `{command}` on commit `{commit_id}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
        f"Validation nDCG@10 on a {protocol} validation part carved from train (`lineage.tuning.grid_search`); "
        "the grids in turn, each around the earlier winners:", "", *markdown_table(rows), "",
        f"Winners: `TUNED[{dataset!r}] = {best!r}` (the dict in `lineage/models/{name}.py`)."])


def write_tuning_md(name: str, dataset: str, stages: list[dict], best: dict, command: str, commit_id: str,
                    path: Path = TUNING) -> Path:
    """Replace (or append) the block of `name` on `dataset` in TUNING.md with this run's grids."""
    return write_tuning_section(f"tune_graph/{dataset}/{name}",
                                tuning_section(name, dataset, stages, best, command, commit_id), path)


if __name__ == "__main__":
    sys.exit(main())
