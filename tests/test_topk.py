"""Top-k lists do not depend on the CPU: tied scores are ordered by item index everywhere.

numpy picks its partition and sort kernels by CPU feature (AVX2, AVX-512, ...), and the kernels
leave tied items in different orders. `lineage.topk.top_k` must give the first k columns of a
stable full sort whatever kernel runs. The second test runs the same check in a fresh
interpreter with `NPY_DISABLE_CPU_FEATURES`, which switches the SIMD kernels off, as on an older
CPU.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lineage.topk import keep_top_k, ranking, top_k, top_k_mask

# Feature groups numpy 2.x dispatches on (x86-64-v3 = AVX2, v4 = AVX-512) and the names older
# numpy used. Unknown names are ignored.
SIMD_OFF = "X86_V3 X86_V4 AVX512_ICL AVX512_SPR AVX512F AVX512_SKX AVX2"


def stable_reference(scores: np.ndarray, k: int) -> np.ndarray:
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    best = np.take_along_axis(scores, order, axis=1)
    return np.where(np.isneginf(best), -1, order)


def tie_heavy_cases(seed: int = 0, n_cases: int = 200):
    """Score blocks made mostly of ties: few distinct values, many masked (-inf) entries, all-zero rows."""
    rng = np.random.default_rng(seed)
    for _ in range(n_cases):
        n, m = int(rng.integers(1, 12)), int(rng.integers(1, 3000))
        scores = rng.integers(0, 3, (n, m)).astype(np.float32)
        scores[rng.random((n, m)) < 0.3] = -np.inf
        scores[rng.random(n) < 0.3] = 0.0  # a user with no history: every score equal
        yield scores, int(rng.integers(1, m + 5))


def test_top_k_orders_ties_by_item_index_like_a_stable_full_sort():
    for scores, k in tie_heavy_cases():
        assert np.array_equal(top_k(scores, k), stable_reference(scores, min(k, scores.shape[1])))


def test_top_k_treats_nan_as_minus_infinity():
    scores = np.array([[np.nan, 1.0, 1.0, np.nan]])
    assert top_k(scores, 4).tolist() == [[1, 2, -1, -1]]


def test_all_zero_scores_give_the_lowest_indices_first():
    assert top_k(np.zeros((2, 5000), dtype=np.float32), 10).tolist() == [list(range(10))] * 2


# ---- the variants (a mask, the whole order, sparse entries) against a slow, obvious reference -----
def slow_order(row) -> list[int]:
    """Every index of one row, best first, ties by index, NaN as -inf: Python's sort on (-score, index)."""
    value = [-np.inf if np.isnan(v) else float(v) for v in row]
    return sorted(range(len(value)), key=lambda j: (-value[j], j))


def small_tie_heavy_cases(seed: int = 1, n_cases: int = 300):
    """Small blocks (a slow reference must go through every entry): few distinct values, -inf, +inf, NaN."""
    rng = np.random.default_rng(seed)
    for _ in range(n_cases):
        n, m = int(rng.integers(1, 6)), int(rng.integers(1, 40))
        scores = rng.integers(0, 3, (n, m)).astype(rng.choice([np.float32, np.float64]))
        for value, share in ((-np.inf, 0.3), (np.nan, 0.1), (np.inf, 0.05)):
            scores[rng.random((n, m)) < share * rng.integers(0, 2)] = value
        yield scores, int(rng.integers(0, m + 3))


def test_top_k_mask_keeps_the_first_k_of_a_stable_sort():
    for scores, k in small_tie_heavy_cases():
        mask = top_k_mask(scores, k)
        assert mask.shape == scores.shape and (mask.sum(axis=1) == min(k, scores.shape[1])).all()
        for row, kept in zip(scores, mask):
            assert np.flatnonzero(kept).tolist() == sorted(slow_order(row)[:k])


def test_ranking_is_the_whole_stable_order_and_top_k_its_start():
    for scores, k in small_tie_heavy_cases(seed=2):
        order = ranking(scores)
        assert order.tolist() == [slow_order(row) for row in scores]
        start = order[:, :k]
        minus_inf = np.isneginf(np.take_along_axis(np.where(np.isnan(scores), -np.inf, scores), start, axis=1))
        assert np.array_equal(top_k(scores, k), np.where(minus_inf, -1, start))


def test_keep_top_k_on_sparse_entries_in_any_order():
    rng = np.random.default_rng(3)
    for _ in range(200):
        n_rows, n_cols, k = int(rng.integers(1, 6)), int(rng.integers(1, 15)), int(rng.integers(0, 6))
        cells = rng.permutation(n_rows * n_cols)[:int(rng.integers(0, n_rows * n_cols + 1))]  # each (row, col) once
        rows, cols = cells // n_cols, cells % n_cols
        values = rng.integers(0, 3, len(cells)).astype(float)
        values[rng.random(len(cells)) < 0.1] = np.nan
        keep = keep_top_k(rows, cols, values, k)
        for r in range(n_rows):
            mine = np.flatnonzero(rows == r)
            dense = np.full(n_cols, -np.inf)
            dense[cols[mine]] = np.where(np.isnan(values[mine]), -np.inf, values[mine])
            present = set(cols[mine].tolist())
            expected = [c for c in slow_order(dense) if c in present][:k]
            assert sorted(cols[mine[keep[mine]]].tolist()) == sorted(expected)


CHILD = """
import json, numpy as np
from lineage.topk import keep_top_k, ranking, top_k, top_k_mask
from tests.test_topk import tie_heavy_cases, stable_reference
agree = all(np.array_equal(top_k(s, k), stable_reference(s, min(k, s.shape[1]))) for s, k in tie_heavy_cases())
print(json.dumps({"agree": agree, "zeros": top_k(np.zeros((1, 5000), dtype=np.float32), 10)[0].tolist()}))
"""


@pytest.mark.parametrize("disabled", ["", SIMD_OFF])
def test_same_lists_with_simd_kernels_switched_off(disabled):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, NPY_DISABLE_CPU_FEATURES=disabled, PYTHONPATH=root)
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=root, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["agree"], f"top_k disagrees with a stable sort with NPY_DISABLE_CPU_FEATURES={disabled!r}"
    assert result["zeros"] == list(range(10))
