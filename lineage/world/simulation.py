"""The simulation: when users come to the app (sessions), what the logging policy shows them
(impressions), what they choose (views) and which views they like.

The log is logged bandit feedback (Swaminathan & Joachims 2015): users react only to what the
policy chose to show, as in the impression logs of YouTube's recommenders (Davidson et al. 2010,
Covington et al. 2016). Feed slots mix popular/trending items with personalised ones drawn from
a noisy estimate of the user's taste; the user picks by a Gumbel/softmax choice over true utility
with a position bias and an option to leave. Search sessions are in `search.py`."""
from __future__ import annotations

import numpy as np

from lineage.world.config import DAY, WorldConfig
from lineage.world.population import _Vocabulary
from lineage.world.search import _make_queries, _search_candidates, _search_index
from lineage.world.truth import World, _pair_utility


# ---- sessions ----
def _make_sessions(cfg: WorldConfig, rng, users) -> dict[str, np.ndarray]:
    """When each user comes to the app: Poisson many sessions, uniform over their active time."""
    end = cfg.n_days * DAY
    active_from = np.maximum(users["signup_time"], 0.0)
    active_share = (end - active_from) / end
    counts = rng.poisson(cfg.sessions_per_user_mean * users["activity"] * active_share)
    user = np.repeat(np.arange(len(counts)), counts)
    # sessions end 10 minutes before the log does, so every event fits in [0, end)
    times = (active_from[user] + rng.random(len(user)) * (end - 600 - active_from[user])).round(0)
    is_search = rng.random(len(user)) < cfg.search_session_fraction
    order = np.lexsort((user, times))
    return {"user": user[order], "time": times[order],
            "kind": np.where(is_search[order], "search", "feed")}


# ---- the log ----
class _SeenSet:
    """The (user, item) pairs already viewed, as sorted int64 keys user * n_items + item: a large
    array merged once a day and a small one for today's views."""

    def __init__(self, n_items: int):
        self.n_items = n_items
        self.before_today = np.empty(0, dtype=np.int64)
        self.today = np.empty(0, dtype=np.int64)

    @staticmethod
    def _member(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
        if len(sorted_keys) == 0:
            return np.zeros(keys.shape, dtype=bool)
        pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
        return sorted_keys[pos] == keys

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users.astype(np.int64) * self.n_items + items
        return self._member(self.before_today, keys) | self._member(self.today, keys)

    def add(self, users: np.ndarray, items: np.ndarray) -> None:
        """Add new pairs (never ones already in the set: the app does not show viewed items)."""
        new_keys = users.astype(np.int64) * self.n_items + items
        self.today = np.sort(np.concatenate([self.today, new_keys]), kind="stable")

    def end_of_day(self) -> None:
        # a stable sort of two sorted runs is a merge (timsort), cheaper than np.union1d
        self.before_today = np.sort(np.concatenate([self.before_today, self.today]), kind="stable")
        self.today = np.empty(0, dtype=np.int64)


class _Sampler:
    """Inverse-CDF sampling of items, globally or within a genre, from per-item weights."""

    def __init__(self, weights: np.ndarray, genre: np.ndarray, n_genres: int):
        self.total_cdf = np.cumsum(weights)
        self.order = np.argsort(genre, kind="stable")  # items grouped by genre
        self.cdf = np.cumsum(weights[self.order])
        ends = np.searchsorted(genre[self.order], np.arange(n_genres), side="right")
        starts = np.concatenate([[0], ends[:-1]])
        self.below = np.where(starts > 0, self.cdf[np.maximum(starts - 1, 0)], 0.0)  # mass before genre
        self.mass = np.where(ends > 0, self.cdf[np.maximum(ends - 1, 0)], 0.0) - self.below

    def anywhere(self, u: np.ndarray) -> np.ndarray:
        """u: uniforms in [0,1) -> item indices drawn proportionally to weight."""
        idx = np.searchsorted(self.total_cdf, u * self.total_cdf[-1], side="right")
        return np.minimum(idx, len(self.total_cdf) - 1)

    def in_genre(self, genre: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Items drawn within the given genres (same shape as u); -1 where a genre has no mass."""
        idx = np.searchsorted(self.cdf, self.below[genre] + u * self.mass[genre], side="right")
        items = self.order[np.minimum(idx, len(self.order) - 1)]
        return np.where(self.mass[genre] > 0, items, -1)


def _first_occurrences(rows: np.ndarray) -> np.ndarray:
    """(b, c) -> bool mask, False where a value repeats an earlier one in the same row."""
    order = np.argsort(rows, axis=1, kind="stable")
    ordered = np.take_along_axis(rows, order, axis=1)
    repeat_sorted = np.zeros(rows.shape, dtype=bool)
    repeat_sorted[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    repeat = np.zeros(rows.shape, dtype=bool)
    np.put_along_axis(repeat, order, repeat_sorted, axis=1)
    return ~repeat


def _choose(rng, cfg: WorldConfig, utility: np.ndarray, shown: np.ndarray, leave_utility: float) -> np.ndarray:
    """The choice model. utility, shown: (b, c) with shown slots left-aligned (position = column).
    Each user takes their best slot if its noisy utility beats leaving, and sometimes also the
    second best. Returns (b, c) int8: 0 not chosen, 1 first choice, 2 second choice."""
    b, c = utility.shape
    noisy = utility - cfg.position_bias * np.arange(c)[None, :] + cfg.choice_noise * rng.gumbel(size=(b, c))
    noisy = np.where(shown, noisy, -np.inf)
    leave = leave_utility + cfg.choice_noise * rng.gumbel(size=b)
    order = np.argsort(-noisy, axis=1, kind="stable")[:, :2]  # (b, 2) best and second best slot
    best = np.take_along_axis(noisy, order, axis=1)
    rows = np.arange(b)
    choice = np.zeros((b, c), dtype=np.int8)
    first = best[:, 0] > leave
    choice[rows[first], order[first, 0]] = 1
    if c > 1:
        second = first & (best[:, 1] > leave) & (rng.random(b) < cfg.second_choice_prob)
        choice[rows[second], order[second, 1]] = 2
    return choice


def _simulate_log(world: World, rng, vocab: _Vocabulary):
    """Run the app day by day. The policy draws each day's candidates at once; then a user's
    sessions of the day are played in rounds (their first session of the day in round 0, ...), so
    an item viewed in one session is never shown again, not even later the same day."""
    cfg, items, sessions = world.config, world.items, world.sessions
    n_items, n_genres = world.n_items, len(world.genres)

    # the policy's fixed, noisy estimates (an earlier model's view of users and items)
    policy_taste = world.taste + rng.normal(0, cfg.policy_taste_noise, world.taste.shape)
    genre_logits = policy_taste / cfg.policy_temperature
    genre_probs = np.exp(genre_logits - genre_logits.max(axis=1, keepdims=True))
    genre_cdf = np.cumsum(genre_probs / genre_probs.sum(axis=1, keepdims=True), axis=1)  # (n_users, g)
    quality_estimate = items["quality"] + rng.normal(0, cfg.policy_quality_noise, n_items)
    personal_weight = items["buzz"] ** cfg.policy_buzz_exponent * np.exp(quality_estimate)
    buzz_share = items["buzz"] / items["buzz"].sum()
    by_buzz = np.argsort(-items["buzz"], kind="stable")  # search results: equal matches, buzzier first
    words_by_buzz = _search_index(items["word_matrix"][by_buzz], cfg.search_index_depth)

    is_search = sessions["kind"] == "search"
    searches = _make_queries(world, rng, vocab, np.flatnonzero(is_search))
    query_row = np.cumsum(is_search) - 1  # session -> row of `searches`
    day_of_session = (sessions["time"] // DAY).astype(np.int64)
    round_of_session = _rank_within_groups(day_of_session * world.n_users + sessions["user"])
    views_per_day = np.zeros((cfg.n_days, n_items))
    seen = _SeenSet(n_items)
    impressions, views = [], []

    for day in range(cfg.n_days):
        # what the policy can show today: released items, popular weights with last week's views
        released = items["release_time"] < day * DAY
        age_days = day - items["release_time"] / DAY
        trending = views_per_day[max(0, day - cfg.trending_days):day].sum(axis=0)
        popular_weight = buzz_share + cfg.trending_weight * trending / max(1.0, trending.sum())
        popular_weight *= np.where(age_days < cfg.new_release_days, cfg.new_release_boost, 1.0)
        popular = _Sampler(popular_weight * released, items["genre_index"], n_genres)
        personal = _Sampler(personal_weight * released, items["genre_index"], n_genres)

        today = day_of_session == day
        feed_ids, search_ids = np.flatnonzero(today & ~is_search), np.flatnonzero(today & is_search)
        kinds = [  # (source, session ids, candidates (b, c), slots, leave utility)
            ("feed", feed_ids, _feed_candidates(world, rng, feed_ids, popular, personal, genre_cdf),
             cfg.impressions_per_session, cfg.leave_utility),
            ("search", search_ids,
             _search_candidates(world, searches["query_matrix"][query_row[search_ids]], released,
                                by_buzz, words_by_buzz),
             cfg.search_results, cfg.search_leave_utility),
        ]
        outcome = {source: (np.zeros((len(ids), slots), np.int64), np.zeros((len(ids), slots), bool),
                            np.zeros((len(ids), slots), np.int8)) for source, ids, _, slots, _ in kinds}
        for rnd in range(round_of_session[today].max() + 1 if today.any() else 0):
            for source, ids, candidates, slots, leave in kinds:
                rows = np.flatnonzero(round_of_session[ids] == rnd)
                if len(rows) == 0:
                    continue
                users = sessions["user"][ids[rows]]
                slot_items, shown, choice = _show_and_choose(world, rng, users, candidates[rows], slots, leave, seen)
                for array, value in zip(outcome[source], (slot_items, shown, choice)):
                    array[rows] = value
                chosen = choice > 0
                seen.add(np.broadcast_to(users[:, None], chosen.shape)[chosen], slot_items[chosen])
        seen.end_of_day()
        for source, ids, _, _, _ in kinds:
            imp, view = _emit(world, ids, *outcome[source], source)
            impressions.append(imp)
            views.append(view)
            np.add.at(views_per_day[day], view["item"], 1.0)

    impressions = _concat(impressions, order_by=("session", "position"))
    views = _concat(views, order_by=("time", "session"))
    likes_noise = rng.normal(0, cfg.like_noise, len(views["user"]))
    views["liked"] = _pair_utility(world, views["user"], views["item"]) + likes_noise > cfg.like_threshold
    # strings last: sorting a bool is cheaper than sorting '<U6' text
    impressions["source"] = np.where(impressions.pop("from_search"), "search", "feed")
    views["source"] = np.where(views.pop("from_search"), "search", "feed")
    views = {k: views[k] for k in ("user", "item", "time", "session", "liked", "source")}
    searches = {k: searches[k] for k in ("user", "time", "session", "query")}
    return impressions, views, searches


def _feed_candidates(world, rng, session_ids, popular: _Sampler, personal: _Sampler, genre_cdf) -> np.ndarray:
    """(b, c) items the policy would show, in order, -1 for a repeat. Each slot is popular
    (buzz + trending + new) or personalised (a genre from the policy's taste estimate, then an
    item of that genre). c > impressions_per_session leaves spares for already-viewed items."""
    cfg = world.config
    k = cfg.impressions_per_session
    b, c = len(session_ids), k + k // 2 + 2
    users = world.sessions["user"][session_ids]  # (b,)
    from_popular = popular.anywhere(rng.random((b, c)))  # (b, c)
    genre = (rng.random((b, c, 1)) > genre_cdf[users][:, None, :]).sum(axis=2)  # (b, c) policy's genre
    from_personal = personal.in_genre(np.minimum(genre, genre_cdf.shape[1] - 1), rng.random((b, c)))
    personal_slot = (rng.random((b, c)) < cfg.policy_personal_share) & (from_personal >= 0)
    candidates = np.where(personal_slot, from_personal, from_popular)
    return np.where(_first_occurrences(candidates), candidates, -1)


def _show_and_choose(world, rng, users, candidates, n_slots: int, leave_utility: float, seen: _SeenSet):
    """Drop candidates the user already viewed, show the first n_slots, let the user choose.
    users: (b,), candidates: (b, c) with -1 = none. Returns slot items (b, n_slots), shown (bool)
    and choice (int8: 0 no, 1 first choice, 2 second choice)."""
    b = len(users)
    valid = (candidates >= 0) & ~seen.contains(users[:, None], np.maximum(candidates, 0))
    slot = np.cumsum(valid, axis=1) - 1  # position each valid candidate takes
    keep = valid & (slot < n_slots)
    slot_items = np.zeros((b, n_slots), dtype=np.int64)
    shown = np.zeros((b, n_slots), dtype=bool)
    r, col = np.nonzero(keep)
    slot_items[r, slot[r, col]] = candidates[r, col]
    shown[r, slot[r, col]] = True
    utility = _pair_utility(world, np.broadcast_to(users[:, None], (b, n_slots)), slot_items)
    choice = _choose(rng, world.config, utility, shown, leave_utility)
    return slot_items, shown, choice


def _rank_within_groups(group: np.ndarray) -> np.ndarray:
    """For rows already in time order: 0 for a group's first row, 1 for its second, ..."""
    order = np.argsort(group, kind="stable")
    sorted_group = group[order]
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    rank_sorted = np.arange(len(group)) - np.repeat(starts, np.diff(np.r_[starts, len(group)]))
    rank = np.empty(len(group), dtype=np.int64)
    rank[order] = rank_sorted
    return rank


def _emit(world, session_ids, slot_items, shown, choice, source: str):
    """Turn (b, c) slot arrays into impression and view columns."""
    sessions = world.sessions
    rows, position = np.nonzero(shown)  # row-major: sessions in order, positions ascending
    session = session_ids[rows]
    imp = {
        "user": sessions["user"][session], "item": slot_items[rows, position].astype(np.int64),
        "time": sessions["time"][session], "session": session.astype(np.int64),
        "position": position.astype(np.int16), "chosen": choice[rows, position] > 0,
        "from_search": np.full(len(rows), source == "search"),
    }
    v_rows, v_pos = np.nonzero(choice)
    v_session = session_ids[v_rows]
    views = {
        "user": sessions["user"][v_session], "item": slot_items[v_rows, v_pos].astype(np.int64),
        # a view happens 30 s (first choice) or 60 s (second) after the session starts
        "time": sessions["time"][v_session] + 30.0 * choice[v_rows, v_pos],
        "session": v_session.astype(np.int64), "from_search": np.full(len(v_rows), source == "search"),
    }
    return imp, views


def _concat(parts: list[dict], order_by: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Concatenate column dicts and sort rows by the given columns (first = primary key)."""
    if not parts:
        return {}
    out = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    order = np.lexsort(tuple(out[key] for key in reversed(order_by)))
    return {key: value[order] for key, value in out.items()}
