"""The ranking stage: features are point-in-time, a planted signal is recovered, reranking only
permutes the candidates, training is deterministic; and the two-stage pipeline's loss accounting."""
import numpy as np
import pytest
import torch

from lineage.data import Interactions
from lineage.metrics import users_with_test_events
from lineage.splits import split
from lineage.world import WorldConfig, generate_world
from twotower_mini.config import FeatureConfig, TowerConfig, TrainConfig, TwoTowerConfig
from twotower_mini.features import DAY, SideLog
from twotower_mini.leakage import change_future
from twotower_mini.pipeline import PipelineConfig, TwoStagePipeline, two_losses
from twotower_mini.ranker import FEATURE_NAMES, Ranker, RankerConfig, RankingFeatures, retrieval_features

GENRES = np.array(["scifi", "drama", "food", "sport"])


@pytest.fixture(autouse=True)
def keep_torch_generator():
    """These tests seed torch's global generator; put it back so later tests see what they would alone."""
    state = torch.get_rng_state()
    yield
    torch.set_rng_state(state)


def make_log(seed=0, n_users=40, n_items=30, n_events=600, n_impressions=1500, n_times=40):
    """A random log with side columns like the world's, and random impressions over the same period."""
    rng = np.random.default_rng(seed)
    times = rng.integers(0, n_times, n_events).astype(float) * DAY / 4  # many ties on purpose
    data = Interactions(
        users=rng.integers(0, n_users, n_events), items=rng.integers(0, n_items, n_events), times=times,
        values=rng.choice([1.0, 2.0], n_events),
        user_ids=np.array([f"u{u}" for u in range(n_users)]), item_ids=np.array([f"i{i}" for i in range(n_items)]),
        user_features={"languages": [tuple(rng.choice(["en", "fr"], rng.integers(1, 3), replace=False))
                                     for _ in range(n_users)],
                       "declared_genres": [tuple(rng.choice(GENRES, rng.integers(0, 2), replace=False))
                                           for _ in range(n_users)]},
        item_features={"genre": GENRES[np.arange(n_items) % 4], "language": np.array(["en", "fr"])[np.arange(n_items) % 2],
                       "publisher": np.array([f"p{i % 5}" for i in range(n_items)]),
                       "release_time": rng.integers(-20, n_times, n_items).astype(float) * DAY / 4},
    )
    impressions = {"user": rng.integers(0, n_users, n_impressions), "item": rng.integers(0, n_items, n_impressions),
                   "time": rng.integers(0, n_times, n_impressions).astype(float) * DAY / 4,
                   "chosen": rng.random(n_impressions) < 0.2}
    return data, impressions


def scramble_from(data, impressions, t, rng):
    """The same logs before t; from t on, events removed and added (`change_future`: every future total
    moves) and who was shown what shuffled."""
    scrambled, _ = change_future(data, t, seed=int(rng.integers(2**31)))
    later = impressions["time"] >= t
    shown = {name: values.copy() for name, values in impressions.items()}
    for name in ("user", "item", "chosen"):
        shown[name][later] = rng.permutation(shown[name][later])
    return scrambled, shown


@pytest.mark.parametrize("seed", range(5))
def test_features_are_point_in_time(seed):
    data, impressions = make_log(seed)
    rng = np.random.default_rng(100 + seed)
    t = float(np.quantile(data.times, 0.6))
    users, items = rng.integers(0, data.n_users, 200), rng.integers(0, data.n_items, 200)
    before = RankingFeatures(data, impressions).compute(users, items, np.full(200, t))
    scrambled, shown = scramble_from(data, impressions, t, rng)
    after = RankingFeatures(scrambled, shown).compute(users, items, np.full(200, t))
    assert np.array_equal(before, after)
    # the features do move with the past: the check above is not vacuous
    later = RankingFeatures(data, impressions).compute(users, items, np.full(200, data.times.max() + 1))
    assert not np.array_equal(before, later)


def test_serving_path_matches_per_row_path():
    data, impressions = make_log(1)
    features = RankingFeatures(data, impressions)
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, data.n_users, 500), rng.integers(0, data.n_items, 500)
    one_time = features.compute(users, items, features.now)  # counted per distinct user / item / pair
    per_row = features.compute(users, items, np.full(500, features.now))
    assert np.allclose(one_time, per_row)


def planted_world(seed=0, n_users=60, n_items=40, n_sessions=600):
    """Users choose, among the shown items, those of the genre they viewed most: genre affinity is the signal."""
    rng = np.random.default_rng(seed)
    favourite = rng.integers(0, 4, n_users)
    genre = np.arange(n_items) % 4
    history_users = np.repeat(np.arange(n_users), 6)
    history_items = np.array([rng.choice(np.flatnonzero(genre == favourite[u])) for u in history_users])
    data = Interactions(users=history_users, items=history_items, times=rng.uniform(0, DAY, len(history_users)),
                        values=np.ones(len(history_users)), user_ids=np.array([f"u{u}" for u in range(n_users)]),
                        item_ids=np.array([f"i{i}" for i in range(n_items)]),
                        item_features={"genre": GENRES[genre]})
    session_users = rng.integers(0, n_users, n_sessions)
    session_times = rng.uniform(1.5 * DAY, 9 * DAY, n_sessions)
    shown = np.array([rng.choice(n_items, 5, replace=False) for _ in range(n_sessions)])  # (s, 5)
    chosen = (genre[shown] == favourite[session_users][:, None]) & (rng.random(shown.shape) < 0.7)
    impressions = {"user": np.repeat(session_users, 5), "item": shown.ravel(), "time": np.repeat(session_times, 5),
                   "chosen": chosen.ravel()}
    late = Interactions(users=session_users.repeat(5)[chosen.ravel()], items=shown.ravel()[chosen.ravel()],
                        times=np.repeat(session_times, 5)[chosen.ravel()] + 30, values=np.ones(chosen.sum()),
                        user_ids=data.user_ids, item_ids=data.item_ids, item_features=data.item_features)
    return data.concat(late), impressions, favourite, genre


def test_a_planted_signal_is_recovered():
    train, impressions, favourite, genre = planted_world()
    ranker = Ranker(RankerConfig(epochs=20)).fit(train, impressions)
    weights = dict(zip(ranker.feature_names, ranker.model_.net[0].weight.detach().numpy().ravel()))
    assert max(weights, key=lambda name: abs(weights[name])) == "genre_affinity"
    assert weights["genre_affinity"] > 0
    users = np.arange(len(favourite))
    candidates = np.tile(np.arange(len(genre)), (len(users), 1))
    top = ranker.rerank(users, candidates)[:, :5]
    assert (genre[top] == favourite[:, None]).mean() > 0.95


def test_rerank_only_permutes_the_candidates_and_is_deterministic():
    train, impressions, favourite, genre = planted_world(seed=1)
    fits = [Ranker(RankerConfig(hidden=(8,), epochs=3)).fit(train, impressions) for _ in range(2)]
    rng = np.random.default_rng(0)
    users = rng.integers(0, len(favourite), 25)
    candidates = np.array([rng.permutation(len(genre))[:12] for _ in users])
    candidates[::3, -4:] = -1  # empty slots: a user with fewer candidates
    reranked = [ranker.rerank(users, candidates) for ranker in fits]
    assert np.array_equal(reranked[0], reranked[1])  # deterministic
    assert np.array_equal(np.sort(reranked[0], axis=1), np.sort(candidates, axis=1))  # a permutation of each row
    assert (reranked[0][::3, -4:] == -1).all()  # empty slots stay last
    assert not np.array_equal(reranked[0], candidates)  # it did reorder something


def test_a_ranker_trained_with_retrieval_scores_needs_them_at_serving():
    train, impressions, favourite, genre = planted_world(seed=2)
    preference = (genre[None, :] == favourite[:, None]).astype(np.float32)  # (n_users, n_items)
    retrieval = lambda users, times: preference[users] + 0.01 * np.arange(len(genre))[None, :]
    ranker = Ranker(RankerConfig(unshown_negatives=2, candidate_pool=10)).fit(train, impressions, retrieval=retrieval)
    assert ranker.feature_names[:2] == ["tower_score", "retrieval_rank"]
    with pytest.raises(ValueError, match="candidate_scores"):
        ranker.rerank(np.array([0]), np.array([[1, 2, 3]]))


def test_retrieval_rank_skips_items_seen_before_and_unreleased():
    data, _ = make_log(3, n_users=3, n_items=6, n_events=0)
    data = data.concat(Interactions(users=[0], items=[5], times=[10.0], values=[1.0], user_ids=data.user_ids,
                                    item_ids=data.item_ids))
    release = np.array([0, 0, 0, 0, 100.0, 0])
    retrieval = lambda users, times: np.tile(np.arange(6, dtype=np.float32), (len(users), 1))  # item 5 best
    scores, ranks, _ = retrieval_features(retrieval, data, np.array([0, 0, 1]), np.array([20.0, 5.0, 20.0]),
                                          np.array([3, 3, 3]), release)
    # user 0 at 20: item 5 seen, item 4 not released -> item 3 is first; at 5 (before the view) item 5 is ahead
    assert ranks.tolist() == [0, 1, 1] and scores.tolist() == [3, 3, 3]


def test_two_losses_account_for_every_wanted_item():
    data, _ = make_log(4, n_events=800)
    parts = split(data, "temporal", 0.3, seed=0)
    users = users_with_test_events(parts.test)
    rng = np.random.default_rng(0)
    ids = np.array([rng.permutation(data.n_items) for _ in users])
    scores = -np.tile(np.arange(data.n_items, dtype=np.float32), (len(users), 1))
    reverse = lambda u, i, s: i[:, ::-1]
    rows = two_losses(ids, scores, users, parts.train, parts.test, reverse, counts=(5, 10, 30), k=5)
    for row in rows:
        assert abs(row["missed by retrieval"] + row["missed by ranking"] + row["found"] - 1) < 1e-9
    assert [r["missed by retrieval"] for r in rows] == sorted([r["missed by retrieval"] for r in rows], reverse=True)
    assert rows[0]["top-5 when retrieved"] == 1.0 and rows[-1]["missed by retrieval"] == 0.0


def test_the_two_stage_pipeline_runs_on_the_tiny_world():
    world = generate_world(WorldConfig.sized("tiny"))
    parts = split(world.interactions(), "temporal", 0.2, seed=0)
    tower = TwoTowerConfig(features=FeatureConfig(history_length=10, drop=("counts",)),
                           towers=TowerConfig(embedding_dim=16, hidden=(32,), output_dim=16),
                           training=TrainConfig(epochs=2, batch_size=256, progress=False))
    pipeline = TwoStagePipeline(PipelineConfig(tower=tower, ranker=RankerConfig(candidate_pool=50)),
                                side=SideLog.from_world(world)).fit(parts.train, world.impressions)
    users = users_with_test_events(parts.test)
    ids, scores = pipeline.retrieve(users, 100)
    seen = parts.train.to_csr()[users]
    assert not any(seen[row, ids[row][ids[row] >= 0]].nnz for row in range(len(users)))  # seen items filtered
    rows = two_losses(ids, scores, users, parts.train, parts.test, pipeline.ranker_.rerank, counts=(10, 50, 100))
    assert rows[0]["missed by retrieval"] > rows[-1]["missed by retrieval"]
    assert rows[0]["top-10 when retrieved"] >= rows[-1]["top-10 when retrieved"]
    assert set(FEATURE_NAMES) >= set(pipeline.ranker_.feature_names)
    assert pipeline.recommend(users[:3], k=5, candidates=50).shape == (3, 5)
