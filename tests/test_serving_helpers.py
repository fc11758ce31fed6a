"""lineage.retrieval, the helpers of notebook 07: the numpy IVF against exact search (nprobe = nlist is
exact, recall grows with nprobe, every item in one list), the cost of a request (multiply-adds of a
network, scoring every pair in chunks), best_time, and the per-user scores of ready-made lists."""
import numpy as np
import pytest
import torch
from torch import nn

from lineage import generate_world, split, users_with_test_events, world_config
from lineage.evidence import compare
from lineage.metrics import evaluate_lists, true_recall_at_k
from lineage.retrieval import NumpyIVF, best_time, multiply_adds, per_user_quality, score_every_pair
from twotower_mini import ExactIndex, recall_vs_exact


def clustered(n, d, seed, clusters=8):
    """Unit vectors around a few random directions: structure for the lists to find."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d))
    x = centres[rng.integers(0, clusters, n)] + 0.3 * rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


# ---- the numpy IVF ------------------------------------------------------------------------------------
def test_ivf_probing_every_list_is_exact_search_ties_included():
    items = np.random.default_rng(0).integers(-2, 3, (300, 6)).astype(np.float32)  # many ties
    queries = np.random.default_rng(1).integers(-2, 3, (40, 6)).astype(np.float32)
    ivf = NumpyIVF(items, nlist=12, seed=3)
    ids, scores = ivf.search(queries, 15, nprobe=12)
    exact_ids, exact_scores = ExactIndex(items, threads=1).search(queries, 15)
    np.testing.assert_array_equal(ids, exact_ids)
    np.testing.assert_allclose(scores, exact_scores, rtol=0, atol=1e-5)


def test_ivf_lists_partition_the_catalogue_and_recall_grows_with_nprobe():
    items, queries = clustered(2_000, 16, 0), clustered(100, 16, 1)
    ivf = NumpyIVF(items, nlist=32)
    np.testing.assert_array_equal(np.sort(ivf.members), np.arange(len(items)))
    assert ivf.starts[0] == 0 and ivf.starts[-1] == len(items) and np.all(np.diff(ivf.starts) >= 0)
    exact_ids, _ = ExactIndex(items, threads=1).search(queries, 20)
    recalls = [recall_vs_exact(ivf.search(queries, 20, nprobe=p)[0], exact_ids) for p in (1, 2, 4, 8, 16, 32)]
    assert all(b >= a for a, b in zip(recalls, recalls[1:])), recalls
    assert recalls[0] < 0.9 and recalls[-1] == 1.0


def test_ivf_is_deterministic_and_pads_when_the_probed_lists_are_short():
    items, queries = clustered(500, 8, 2), clustered(10, 8, 3)
    a, b = NumpyIVF(items, nlist=50, seed=7), NumpyIVF(items, nlist=50, seed=7)
    np.testing.assert_array_equal(a.search(queries, 30, nprobe=2)[0], b.search(queries, 30, nprobe=2)[0])
    ids, scores = NumpyIVF(items, nlist=500).search(queries, 5, nprobe=1)  # 500 lists of one item each
    assert ids.shape == (10, 5) and np.all((ids >= 0) == np.isfinite(scores))
    assert np.all(ids[:, 0] >= 0) and np.all(ids[:, 1:] == -1)


@pytest.mark.parametrize("arguments, message", [
    (dict(item_vectors=np.zeros((0, 4)), nlist=1), "non-empty"),
    (dict(item_vectors=np.ones((10, 4)), nlist=11), "nlist must be between 1"),
    (dict(item_vectors=np.full((10, 4), np.nan), nlist=2), "finite"),
])
def test_ivf_rejects_bad_catalogues(arguments, message):
    with pytest.raises(ValueError, match=message):
        NumpyIVF(**arguments)


def test_ivf_rejects_bad_searches():
    ivf = NumpyIVF(clustered(100, 4, 0), nlist=10)
    with pytest.raises(ValueError, match="queries must be"):
        ivf.search(np.ones((3, 5)), 5)
    with pytest.raises(ValueError, match="nprobe"):
        ivf.search(np.ones((3, 4)), 5, nprobe=11)
    with pytest.raises(ValueError, match="k="):
        ivf.search(np.ones((3, 4)), 101)


# ---- the cost of a request ------------------------------------------------------------------------------
def test_multiply_adds_counts_the_linear_layers():
    network = nn.Sequential(nn.Linear(112, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 1))
    assert multiply_adds(network) == 112 * 256 + 256 * 128 + 128


def test_score_every_pair_in_chunks_equals_one_batch():
    torch.manual_seed(0)
    d = 4
    network = nn.Sequential(nn.Linear(3 * d + 2, 8), nn.ReLU(), nn.Linear(8, 1))
    rng = np.random.default_rng(0)
    user, items = rng.standard_normal((1, d)).astype(np.float32), rng.standard_normal((50, d)).astype(np.float32)
    chunked = score_every_pair(network, user, items, n_pair_features=2, chunk=7)
    u, v = torch.from_numpy(user), torch.from_numpy(items)
    with torch.no_grad():
        whole = network(torch.cat([u.expand(50, -1), v, u * v, torch.zeros(50, 2)], 1))[:, 0].numpy()
    assert chunked.shape == (50,) and chunked.dtype == np.float32
    np.testing.assert_allclose(chunked, whole, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="expected user"):
        score_every_pair(network, items, items, n_pair_features=2)


def test_best_time_is_the_fastest_call():
    calls = []
    assert best_time(lambda: calls.append(1), repeats=4) >= 0 and len(calls) == 4
    with pytest.raises(ValueError, match="repeats"):
        best_time(lambda: None, repeats=0)


# ---- per-user scores of ready-made lists ------------------------------------------------------------
def test_per_user_quality_means_are_the_library_metrics_and_pair_the_users():
    world = generate_world(world_config("tiny", seed=0))
    parts = split(world.interactions(), "temporal", test_fraction=0.2, seed=42)
    users = users_with_test_events(parts.test)
    rng = np.random.default_rng(0)
    lists = {name: np.stack([rng.permutation(parts.train.n_items)[:10] for _ in users]) for name in ("a", "b")}
    true_top = world.true_top_items(users, 10)
    quality = per_user_quality(lists, users, parts.train, parts.test, true_top)
    for name, ids in lists.items():
        ndcg, recall = quality["logged nDCG@10"][name], quality["true recall@10"][name]
        assert np.isfinite(ndcg).all() and len(recall) == len(users)
        assert ndcg.mean() == pytest.approx(evaluate_lists(ids, users, parts.train, parts.test, 10)["ndcg@10"])
        assert recall.mean() == pytest.approx(true_recall_at_k(ids, true_top, 10))
    assert len(quality["logged nDCG@10"]["a"]) == len(quality["logged nDCG@10"]["b"])
    assert compare(quality["true recall@10"]["a"], quality["true recall@10"]["a"]).estimate == 0
