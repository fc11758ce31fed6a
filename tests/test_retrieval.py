"""Retrieval: the exact index against a brute-force full sort (ties included), chunk boundaries,
seen-item filtering against a slow reference, every bad-input error, faiss recall (skipped when
faiss is absent) and the `bench retrieval` command. No timing assertions (benchmarks/ does that)."""
import importlib
import json
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from twotower_mini import ann
from harness.cli import main
from twotower_mini.ann import recall_vs_exact
from twotower_mini.retrieval import ExactIndex, MissingDependencyError, filter_seen


def integer_vectors(n, d, seed, low=-2, high=3):
    """Small integer-valued float32 vectors: exact dot products in any BLAS, and many ties."""
    return np.random.default_rng(seed).integers(low, high, (n, d)).astype(np.float32)


def brute_force(queries, items, k, exclude=None):
    """The reference: the full score matrix, seen items at -inf, a stable full argsort (ties: lower id first)."""
    scores = queries.astype(np.float64) @ items.T.astype(np.float64)
    if exclude is not None:
        scores[exclude.toarray() > 0] = -np.inf
    ids = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(scores, ids, axis=1)
    ids[np.isneginf(top)] = -1
    return ids, top


def random_seen(n_users, n_items, density, seed):
    rng = np.random.default_rng(seed)
    return sp.csr_matrix((rng.random((n_users, n_items)) < density).astype(np.float32))


# ---- exact search ---------------------------------------------------------------------------------
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n_items,query_block,item_block,k", [
    (1000, 7, 64, 10),      # N not a multiple of the chunk, U not a multiple of the query block
    (1000, 16, 333, 1000),  # k = N
    (1000, 16, 333, 999),   # k near N
    (257, 5, 256, 1),       # one item in the last chunk, k = 1
    (500, 8, 40, 100),      # chunks smaller than k
    (5000, 256, 2048, 100), # the default tiles: a small first chunk, then growing chunks
    (3000, 64, 512, 2500),  # k larger than the first chunk and the chunk size
])
def test_exact_matches_full_sort_with_ties(n_items, query_block, item_block, k, threads):
    items, queries = integer_vectors(n_items, 6, seed=n_items), integer_vectors(37, 6, seed=k)
    index = ExactIndex(items, query_block=query_block, item_block=item_block, threads=threads)
    ids, scores = index.search(queries, k)
    want_ids, want_scores = brute_force(queries, items, k)
    assert ids.dtype == np.int64 and scores.dtype == np.float32 and ids.shape == scores.shape == (37, k)
    np.testing.assert_array_equal(ids, want_ids)  # same order, ties broken by lower id
    np.testing.assert_array_equal(scores, want_scores.astype(np.float32))


def test_exact_on_continuous_vectors_matches_full_sort():
    rng = np.random.default_rng(3)
    items = rng.standard_normal((5000, 32)).astype(np.float32)
    queries = rng.standard_normal((300, 32)).astype(np.float32)
    ids, scores = ExactIndex(items, query_block=64, item_block=1000, threads=2).search(queries, 50)
    want_ids, want_scores = brute_force(queries, items, 50)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-4)
    # ids agree except where two scores are within float32 rounding of each other
    assert (ids == want_ids).mean() > 0.999
    np.testing.assert_allclose(np.einsum("ud,ukd->uk", queries, items[ids]), scores, rtol=1e-5, atol=1e-4)


def test_catalogue_sorted_by_score_every_item_is_a_candidate():
    # worst case for thresholds: each chunk beats everything before it (the memory budget forces merges)
    items = np.arange(1, 20001, dtype=np.float32)[:, None] * np.array([[1.0, 0.5]], dtype=np.float32)
    queries = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=np.float32)
    ids, scores = ExactIndex(items, item_block=1000).search(queries, 7)
    np.testing.assert_array_equal(ids[:2], [np.arange(19999, 19992, -1)] * 2)
    np.testing.assert_array_equal(ids[2], np.arange(7))


@pytest.mark.parametrize("n_queries", [1, 33, 70])
def test_few_queries_are_split_between_threads(n_queries):
    items, queries = integer_vectors(3000, 4, seed=11), integer_vectors(n_queries, 4, seed=12)
    ids, _ = ExactIndex(items, threads=2).search(queries, 15)
    np.testing.assert_array_equal(ids, brute_force(queries, items, 15)[0])


def test_scores_are_descending_and_the_index_does_not_copy_float32_items():
    items = np.random.default_rng(0).standard_normal((2000, 16)).astype(np.float32)
    index = ExactIndex(items, item_block=300)
    assert np.shares_memory(index.item_vectors, items) and len(index) == 2000 and index.dim == 16
    _, scores = index.search(items[:20], 40)
    assert (np.diff(scores, axis=1) <= 0).all()
    assert ExactIndex(items.astype(np.float64)).item_vectors.dtype == np.float32


# ---- seen-item filtering --------------------------------------------------------------------------
def slow_filter(ids, scores, seen, users, k):
    out_ids = np.full((len(ids), k), -1, dtype=np.int64)
    out_scores = np.full((len(ids), k), -np.inf, dtype=np.float32)
    for row, user in enumerate(users):
        seen_items = set(seen[user].indices.tolist())
        kept = [(i, s) for i, s in zip(ids[row], scores[row]) if i >= 0 and i not in seen_items][:k]
        for slot, (item, score) in enumerate(kept):
            out_ids[row, slot], out_scores[row, slot] = item, score
    return out_ids, out_scores


def test_filter_seen_matches_slow_reference():
    rng = np.random.default_rng(5)
    items, queries = integer_vectors(400, 5, seed=1), integer_vectors(30, 5, seed=2)
    seen = random_seen(50, 400, 0.1, seed=3)
    users = rng.integers(0, 50, 30)
    ids, scores = ExactIndex(items).search(queries, 120)
    got = filter_seen(ids, scores, seen, users, k=20)
    want = slow_filter(ids, scores, seen, users, k=20)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("query_block", [4, 512])
def test_search_with_exclusion_overfetches_and_matches_masked_full_sort(query_block):
    items, queries = integer_vectors(600, 5, seed=4), integer_vectors(25, 5, seed=5)
    seen = random_seen(25, 600, 0.15, seed=6).toarray()
    seen[3, :595] = 1  # a user who has seen all but 5 items: the row is padded with -1
    seen = sp.csr_matrix(seen)
    ids, scores = ExactIndex(items, query_block=query_block, item_block=128).search(queries, 10, exclude=seen)
    want_ids, want_scores = brute_force(queries, items, 10, exclude=seen)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(scores, want_scores.astype(np.float32))
    assert (ids[3, 5:] == -1).all() and np.isneginf(scores[3, 5:]).all()
    assert not any(seen[row, item] for row in range(25) for item in ids[row] if item >= 0)


def test_filter_seen_pads_when_fewer_than_k_survive_and_ignores_empty_slots():
    ids = np.array([[4, 2, -1], [0, 1, 2]])
    scores = np.array([[3.0, 2.0, -np.inf], [5.0, 4.0, 3.0]], dtype=np.float32)
    seen = sp.csr_matrix(np.array([[0, 0, 1, 0, 0], [0, 1, 0, 0, 0]]))
    got_ids, got_scores = filter_seen(ids, scores, seen, k=3)
    np.testing.assert_array_equal(got_ids, [[4, -1, -1], [0, 2, -1]])
    np.testing.assert_array_equal(got_scores, np.array([[3, -np.inf, -np.inf], [5, 3, -np.inf]], dtype=np.float32))


# ---- recall vs exact ------------------------------------------------------------------------------
def test_recall_vs_exact_hand_computed():
    assert recall_vs_exact([[1, 2, 3], [7, 8, 9]], [[3, 4, 5], [9, 8, 7]]) == pytest.approx(4 / 6)
    assert recall_vs_exact([[1, -1]], [[1, -1]]) == 1.0  # empty slots are not items
    assert recall_vs_exact([[5, 6]], [[1, 2]]) == 0.0


# ---- bad input: each a one-line ValueError ---------------------------------------------------------
def one_line(error) -> str:
    message = str(error.value)
    assert "\n" not in message and message
    return message


@pytest.mark.parametrize("k,words", [(11, "larger than the catalogue (10 items)"), (0, "at least 1"),
                                      (2.5, "whole number")])
def test_bad_k(k, words):
    with pytest.raises(ValueError) as error:
        ExactIndex(np.ones((10, 4), dtype=np.float32)).search(np.ones((2, 4)), k)
    assert words in one_line(error)


def test_query_of_the_wrong_dimension():
    index = ExactIndex(np.ones((10, 4), dtype=np.float32))
    with pytest.raises(ValueError) as error:
        index.search(np.ones((2, 3)), 5)
    assert "dimension 3" in one_line(error) and "4-dimensional" in str(error.value)
    with pytest.raises(ValueError) as error:
        index.search(np.ones(4), 5)  # one vector, not a (1, D) matrix
    assert "reshape(1, -1)" in one_line(error)


@pytest.mark.parametrize("items,words", [(np.zeros((0, 8)), "catalogue is empty"), (np.ones(8), "2-D"),
                                          (np.array([[1.0, np.nan]]), "NaN"), (np.array([["a"]]), "real numbers")])
def test_bad_catalogue(items, words):
    with pytest.raises(ValueError) as error:
        ExactIndex(items)
    assert words in one_line(error)


def test_bad_exclusion_rows():
    index = ExactIndex(np.ones((10, 4), dtype=np.float32))
    with pytest.raises(ValueError) as error:
        index.search(np.ones((3, 4)), 2, exclude=sp.csr_matrix((2, 10)))
    assert "2 rows but there are 3 queries" in one_line(error)
    with pytest.raises(ValueError) as error:
        filter_seen(np.zeros((2, 3), dtype=np.int64), np.zeros((2, 3)), sp.csr_matrix((5, 10)), users=[0, 9], k=2)
    assert "users must be rows of seen" in one_line(error)


def test_missing_faiss_is_a_one_line_error_not_an_import_failure(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` raise ImportError
    module = importlib.reload(ann)  # importing the module never needs faiss
    try:
        with pytest.raises(ValueError) as error:
            module.ApproximateIndex(np.ones((10, 4), dtype=np.float32))
        assert "pip install faiss-cpu" in one_line(error)
        assert isinstance(error.value, ImportError)
        code = main(["bench", "retrieval", "--items", "300", "--dim", "4", "--users", "5", "--k", "3",
                     "--repeats", "1", "--approximate"])
        assert code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error:") and "pip install faiss-cpu" in err[-1]
    finally:
        monkeypatch.undo()
        importlib.reload(ann)
        import twotower_mini
        for name in ("ApproximateIndex", "recall_vs_exact"):  # names the package face cached from the old module:
            vars(twotower_mini).pop(name, None)  # it resolves them again from the reloaded one on first use


def test_missing_dependency_error_is_both_kinds():
    assert issubclass(MissingDependencyError, ImportError) and issubclass(MissingDependencyError, ValueError)


# ---- approximate search (faiss, optional) -----------------------------------------------------------
def test_faiss_ivf_recall_grows_with_nprobe_and_is_exact_when_scanning_every_list():
    pytest.importorskip("faiss")
    from twotower_mini.ann import ApproximateIndex

    rng = np.random.default_rng(7)
    items = rng.standard_normal((4000, 16)).astype(np.float32)
    queries = rng.standard_normal((200, 16)).astype(np.float32)
    exact_ids, _ = ExactIndex(items).search(queries, 20)
    index = ApproximateIndex(items, method="ivf", nlist=32)
    assert index.knob == "nprobe"
    recalls = [recall_vs_exact(index.search(queries, 20, nprobe=p)[0], exact_ids) for p in (1, 4, 16, 32)]
    assert recalls == sorted(recalls) and recalls[0] < 0.9
    assert recalls[-1] > 0.999
    with pytest.raises(ValueError) as error:
        index.search(queries, 20, nprobe=33)
    assert "nprobe" in one_line(error)
    with pytest.raises(ValueError) as error:
        index.search(queries[:, :8], 20)
    assert "dimension 8" in one_line(error)


def test_faiss_hnsw_recall_and_exclusion():
    pytest.importorskip("faiss")
    from twotower_mini.ann import ApproximateIndex

    rng = np.random.default_rng(8)
    items = rng.standard_normal((3000, 16)).astype(np.float32)
    queries = rng.standard_normal((100, 16)).astype(np.float32)
    seen = random_seen(100, 3000, 0.01, seed=9)
    exact_ids, _ = ExactIndex(items).search(queries, 10, exclude=seen)
    index = ApproximateIndex(items, method="hnsw")
    assert index.knob == "ef_search"
    ids, scores = index.search(queries, 10, exclude=seen, ef_search=200)
    assert recall_vs_exact(ids, exact_ids) > 0.95
    assert not any(seen[row, item] for row in range(100) for item in ids[row] if item >= 0)
    assert (np.diff(scores, axis=1) <= 1e-5).all()
    with pytest.raises(ValueError):
        ApproximateIndex(items, method="lsh")


# ---- the bench command -----------------------------------------------------------------------------
def test_bench_retrieval_writes_the_json_contract(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(["bench", "retrieval", "--items", "3000", "--dim", "8", "--users", "50", "--k", "10",
                 "--repeats", "1", "--json", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert set(result) == {"items", "dim", "users", "k", "seconds", "gemm_seconds", "ratio"}
    assert (result["items"], result["dim"], result["users"], result["k"]) == (3000, 8, 50, 10)
    assert result["seconds"] > 0 and result["gemm_seconds"] > 0
    assert result["ratio"] == pytest.approx(result["seconds"] / result["gemm_seconds"])
    assert json.loads(capsys.readouterr().out) == result


def test_bench_retrieval_approximate_sweep(tmp_path):
    pytest.importorskip("faiss")
    out = tmp_path / "bench.json"
    assert main(["bench", "retrieval", "--items", "2000", "--dim", "8", "--users", "40", "--k", "10",
                 "--repeats", "1", "--approximate", "--nlist", "16", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["approximate"]
    assert [row["nprobe"] for row in rows] == [1, 2, 4, 8, 16]  # capped at nlist
    assert all({"method", "seconds", "recall@10", "speedup"} <= set(row) for row in rows)
    assert rows[-1]["recall@10"] > 0.999


def test_bench_retrieval_bad_input_is_one_line(capsys):
    assert main(["bench", "retrieval", "--items", "50", "--dim", "4", "--users", "3", "--k", "100"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: k=100 is larger than the catalogue (50 items)"
