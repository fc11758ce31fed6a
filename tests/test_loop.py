"""The loop (lineage.loop): the per-round measures against slow references, run_loop deterministic
and fair (every arm starts from the same state and meets the same sessions, the world itself left
alone), and the check of exercise 09 · 1 (SNIPS and clipped IPS), which passes the right answer and
names each classic mistake."""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

from lineage.loop import (HATED_TASTE, ROUND_METRICS, catalogue_coverage, clipped_estimates, effective_sample_size,
                          exposure_gini, fork, found_share, hated_share, impressions_since, logged_recall,
                          oracle_lists, per_user_true_recall, round_metrics, run_loop, top_lists)
from lineage.metrics import true_recall_at_k
from lineage.models import Popularity
from lineage.models.registry import make_model
from lineage.offpolicy import OffPolicyData, ips, ratio_interval
from lineage.world import ModelPolicy, WorldConfig, generate_world

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "notebooks" / "exercises"))  # the exercise checks live there
from workshop import the_loop  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    return generate_world(WorldConfig.sized("tiny", seed=3))


def fit_als(log):
    return make_model("als", "world").fit(log)


def digest(table: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(table):
        column = np.ascontiguousarray(table[name])
        h.update(f"{name}|{column.dtype.str}|{column.shape}|".encode() + column.tobytes())
    return h.hexdigest()


# ---- the measures against slow references ---------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_gini_is_the_mean_absolute_difference_over_twice_the_mean(seed):
    counts = np.random.default_rng(seed).poisson(np.random.default_rng(seed + 10).uniform(0, 20, 37))
    slow = sum(abs(a - b) for a in counts for b in counts) / (2 * len(counts) ** 2 * counts.mean())
    assert exposure_gini(counts) == pytest.approx(slow, abs=1e-12)


def test_gini_extremes():
    assert exposure_gini(np.full(10, 4)) == 0.0
    assert exposure_gini(np.r_[np.zeros(9), 5]) == pytest.approx(0.9)  # (n - 1) / n
    assert exposure_gini(np.zeros(5)) == 0.0 and exposure_gini([]) == 0.0


def test_coverage_counts_items_shown_at_least_once():
    rng = np.random.default_rng(0)
    items = rng.integers(0, 50, 80)
    eligible = rng.random(60) < 0.7
    slow = np.mean([i in set(items.tolist()) for i in np.flatnonzero(eligible)])
    assert catalogue_coverage(items, 60, eligible) == pytest.approx(slow)
    assert catalogue_coverage(items, 60) == pytest.approx(len(set(items.tolist())) / 60)


def test_hated_share_against_a_loop(tiny):
    rng = np.random.default_rng(1)
    users, items = rng.integers(0, tiny.n_users, 500), rng.integers(0, tiny.n_items, 500)
    slow = np.mean([tiny.taste[u, tiny.items["genre_index"][i]] < HATED_TASTE for u, i in zip(users, items)])
    assert hated_share(tiny, users, items) == pytest.approx(slow)
    assert 0 < slow < 0.5


def test_logged_recall_against_a_loop():
    rng = np.random.default_rng(2)
    users = np.array([3, 5, 8, 9])
    lists = rng.integers(0, 30, (4, 10))
    view_users, view_items = rng.choice([3, 5, 8, 11], 40), rng.integers(0, 30, 40)
    recalls = []
    for row, u in enumerate(users):
        viewed = set(view_items[view_users == u].tolist())
        if viewed:
            recalls.append(len(viewed & set(lists[row].tolist())) / len(viewed))
    assert logged_recall(lists, users, view_users, view_items, 30, 10) == pytest.approx(np.mean(recalls))


def test_per_user_true_recall_averages_to_the_library():
    rng = np.random.default_rng(3)
    lists = np.array([rng.permutation(50)[:10] for _ in range(20)])
    lists[0, -2:] = -1
    truth = np.array([rng.permutation(50)[:10] for _ in range(20)])
    assert per_user_true_recall(lists, truth, 10).mean() == pytest.approx(true_recall_at_k(lists, truth, 10))


def test_oracle_lists_and_found_share(tiny):
    log = tiny.interactions()
    twin = fork(tiny)
    part = twin.run_days(None, days=2, seed=0)
    users = np.unique(part.sessions["user"])
    unviewed, best = oracle_lists(twin, users, 10, log, part.start_time, part.end_time)
    assert np.array_equal(unviewed, tiny.true_top_items(users, 10, released_before=part.start_time,
                                                        exclude=log.to_csr()))
    assert np.array_equal(best, tiny.true_top_items(users, 10, released_before=part.end_time))
    viewed = set(zip(twin.views["user"].tolist(), twin.views["item"].tolist()))
    slow = np.mean([[(u, i) in viewed for i in row] for u, row in zip(users.tolist(), best.tolist())])
    assert found_share(twin, users, 10, part.end_time) == pytest.approx(slow)
    assert found_share(twin, users, 10, part.end_time, best) == pytest.approx(slow)


def test_top_lists_leave_out_what_the_user_viewed_since_training(tiny):
    model = Popularity().fit(tiny.interactions())
    twin = fork(tiny)
    twin.run_days(None, days=3, seed=0)
    later = twin.interactions()
    lists = top_lists(model, np.arange(tiny.n_users), 10, world=twin, log=later, released_before=twin.end_time)
    seen = later.to_csr()
    assert not any(seen[u, i] for u, row in enumerate(lists) for i in row if i >= 0)


def test_effective_sample_size():
    assert effective_sample_size(np.full(7, 0.3)) == pytest.approx(7)
    assert effective_sample_size([0, 0, 4.0, 0]) == pytest.approx(1)
    assert effective_sample_size([0.0, 0.0]) == 0.0


def test_clipped_estimates_grow_with_the_cap_and_end_at_ips():
    rng = np.random.default_rng(4)
    n, m = 30, 120
    d = OffPolicyData(request=rng.integers(0, n, m), reward=(rng.random(m) < 0.3).astype(float),
                      logging=rng.uniform(0.02, 1, m), target=rng.uniform(0, 1, m), predicted=np.zeros(m),
                      direct=np.zeros(n), target_size=np.full(n, 4.0), users=rng.integers(0, 12, n))
    estimates = clipped_estimates(d, [1, 2, 5, np.inf], resamples=200)
    values = [e.value for e in estimates]
    assert values == sorted(values)
    assert values[-1] == pytest.approx(ratio_interval(*ips(d), d.users, resamples=200)[0])
    assert all(e.low <= e.value <= e.high for e in estimates)


# ---- the loop ----------------------------------------------------------------------------------------------
def arm(world, policy_for, seed=0, **options):
    return run_loop(world, fit_als, policy_for, rounds=2, days=3, seed=seed, **options)


def test_fork_leaves_the_world_alone(tiny):
    before = {name: digest(getattr(tiny, name)) for name in ("sessions", "impressions", "views", "searches")}
    end = tiny.end_time
    twin = fork(tiny)
    twin.run_days(None, days=2, seed=0)
    assert twin.end_time > end and len(twin.views["user"]) > len(tiny.views["user"])
    assert tiny.end_time == end
    assert before == {name: digest(getattr(tiny, name)) for name in before}


def test_run_loop_is_deterministic_and_the_seed_matters(tiny):
    greedy = lambda model: ModelPolicy(model)  # noqa: E731
    a, b, c = arm(tiny, greedy), arm(tiny, greedy), arm(tiny, greedy, seed=1)
    for table in ("sessions", "impressions", "views"):
        assert digest(getattr(a.world, table)) == digest(getattr(b.world, table))
        assert digest(getattr(a.world, table)) != digest(getattr(c.world, table))
    assert [r.metrics for r in a.rounds] == [r.metrics for r in b.rounds]
    assert set(a.rounds[0].metrics) == set(ROUND_METRICS)


def test_arms_start_from_the_same_state_and_meet_the_same_sessions(tiny):
    end, n_views = tiny.end_time, len(tiny.views["user"])
    runs = [arm(tiny, lambda model: ModelPolicy(model)), arm(tiny, lambda model: ModelPolicy(model, temperature=0.5)),
            arm(tiny, lambda model: None), arm(tiny, lambda model: ModelPolicy(model), refit=False)]
    first = runs[0].rounds[0].model
    for run in runs[1:]:
        assert np.array_equal(run.rounds[0].model.user_factors_, first.user_factors_)
        assert np.array_equal(run.rounds[0].model.item_factors_, first.item_factors_)
        for mine, theirs in zip(run.rounds, runs[0].rounds):
            for column in ("user", "time", "kind"):
                assert np.array_equal(mine.part.sessions[column], theirs.part.sessions[column])
    assert [r.policy for r in runs[1].rounds] == ["als-pl(T=0.5)"] * 2 and runs[2].rounds[0].policy == "builtin"
    assert runs[3].rounds[1].model is runs[3].rounds[0].model  # refit=False: never fitted again
    assert runs[0].rounds[1].model is not runs[0].rounds[0].model
    # the feeds differ, so the choices do
    assert digest(runs[0].world.impressions) != digest(runs[1].world.impressions)
    assert tiny.end_time == end and len(tiny.views["user"]) == n_views  # the world itself untouched
    assert np.allclose(runs[0].world.end_time - end, 2 * 3 * 86400.0)


def test_round_metrics_of_a_greedy_round(tiny):
    log = tiny.interactions()
    model = fit_als(log)
    twin = fork(tiny)
    part = twin.run_days(ModelPolicy(model), days=3, seed=0)
    m = round_metrics(twin, model, log, part)
    feed = part.impressions["source"] == "feed"
    assert m["coverage"] == pytest.approx(len(np.unique(part.impressions["item"][feed])) / tiny.n_items)
    assert m["likes_per_feed"] == pytest.approx(
        (part.views["liked"] & (part.views["source"] == "feed")).sum() / (part.sessions["kind"] == "feed").sum())
    assert 0 <= m["true_recall"] <= 1 and 0 <= m["logged_recall"] <= 1 and 0 < m["gini"] < 1
    assert m["logged_recall"] > m["true_recall"]  # the greedy model is measured on what it chose to show


def test_impressions_since_drops_only_earlier_feed_impressions(tiny):
    start = tiny.end_time / 2
    twin = impressions_since(tiny, start)
    imp = tiny.impressions
    kept = (imp["source"] != "feed") | (imp["time"] >= start)
    assert len(twin.impressions["item"]) == kept.sum() < len(imp["item"])
    assert np.array_equal(twin.impressions["item"], imp["item"][kept])
    assert len(tiny.impressions["item"]) == len(imp["item"]) and twin.views is not None


def test_run_loop_refuses_empty_loops(tiny):
    with pytest.raises(ValueError, match="rounds and days"):
        run_loop(tiny, fit_als, lambda model: None, rounds=0)


# ---- exercise 09 · 1: SNIPS and clipped IPS ------------------------------------------------------------------
def passes(check, answer, capsys):
    assert check(answer) is True
    assert "[ OK ]" in capsys.readouterr().out


def not_answered(check, answer, capsys):
    assert check(answer) is False
    assert "[ .. ] not answered yet:" in capsys.readouterr().out


def fails(check, answer, hint):
    with pytest.raises(AssertionError) as error:
        check(answer)
    message = str(error.value)
    assert message.startswith("[FAIL]"), message
    assert hint.lower() in message.lower(), f"expected {hint!r} in: {message}"


def test_snips_check(capsys):
    def right(r, p_new, p_old, n, size):
        w = p_new / p_old
        return size * (r * w).sum() / w.sum()

    passes(the_loop.check_snips, right, capsys)
    passes(the_loop.check_snips, the_loop.reference_snips, capsys)
    not_answered(the_loop.check_snips, None, capsys)
    not_answered(the_loop.check_snips, lambda *args: None, capsys)
    fails(the_loop.check_snips, lambda r, p_new, p_old, n, size: (r * p_new / p_old).sum() / n, "plain IPS")
    fails(the_loop.check_snips,
          lambda r, p_new, p_old, n, size: size * (r * p_old / p_new).sum() / (p_old / p_new).sum(), "upside down")
    fails(the_loop.check_snips, lambda r, p_new, p_old, n, size: (r * p_new / p_old).sum() / (p_new / p_old).sum(),
          "likes per shown item")
    fails(the_loop.check_snips, lambda r, p_new, p_old, n, size: size * (r * p_new / p_old).sum() / len(r),
          "number of shown items")
    fails(the_loop.check_snips, lambda r, p_new, p_old, n, size: right(r, p_new, p_old, n, size) + 0.1,
          "feed_size * sum(r * w) / sum(w)")
    fails(the_loop.check_snips, lambda r, p_new, p_old, n, size: "about 0.3", "one number")
    fails(the_loop.check_snips, lambda r, p_new, p_old, n, size: 1 / 0, "raised ZeroDivisionError")


def test_snips_check_names_inverted_weights_on_a_log_with_unshown_items():
    """Once the new feed never shows some logged item (p_new = 0), upside-down weights divide by zero."""
    case = the_loop.CASES[1]
    assert (case[1] == 0).any()

    def inverted_from_the_second_case(r, p_new, p_old, n, size):
        if len(r) == len(the_loop.CASES[0][0]):
            return the_loop.reference_snips(r, p_new, p_old, n, size)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = p_old / p_new
            return size * (r * w).sum() / w.sum()

    fails(the_loop.check_snips, inverted_from_the_second_case, "p_new / p_old")


def test_clipped_ips_check(capsys):
    def right(r, p_new, p_old, n, cap):
        return (r * np.minimum(p_new / p_old, cap)).sum() / n

    passes(the_loop.check_clipped_ips, right, capsys)
    passes(the_loop.check_clipped_ips, the_loop.reference_clipped_ips, capsys)
    not_answered(the_loop.check_clipped_ips, None, capsys)
    fails(the_loop.check_clipped_ips, lambda r, p_new, p_old, n, cap: (r * p_new / np.minimum(p_old, cap)).sum() / n,
          "Nothing was clipped")
    fails(the_loop.check_clipped_ips,
          lambda r, p_new, p_old, n, cap: (r * p_new / np.maximum(p_old, 1 / cap)).sum() / n, "clipped the propensity")
    fails(the_loop.check_clipped_ips, lambda r, p_new, p_old, n, cap: (r * np.maximum(p_new / p_old, cap)).sum() / n,
          "clipped from below")
    fails(the_loop.check_clipped_ips,
          lambda r, p_new, p_old, n, cap: (r * np.minimum(p_new / p_old, cap)).sum()
          / np.minimum(p_new / p_old, cap).sum(), "self-normalising")


def test_exercise_references_are_the_formulas():
    for reward, p_new, p_old, n, size, cap in the_loop.CASES:
        w = p_new / p_old
        snips = size * (reward * w).sum() / w.sum()
        assert the_loop.reference_snips(reward, p_new, p_old, n, size) == pytest.approx(snips)
        assert the_loop.reference_clipped_ips(reward, p_new, p_old, n, cap) == pytest.approx(
            (reward * np.minimum(w, cap)).sum() / n)
