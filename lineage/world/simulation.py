"""The simulation: when users come to the app (sessions), what the logging policy shows them
(impressions), what they choose (views) and which views they like.

The log is logged bandit feedback (Swaminathan & Joachims 2015): users react only to what the
policy chose to show, as in the impression logs of YouTube's recommenders (Davidson et al. 2010,
Covington et al. 2016). Feed slots mix popular/trending items with personalised ones drawn from
a noisy estimate of the user's taste; the user picks by a Gumbel/softmax choice over true utility
with a position bias and an option to leave. Search sessions are in `search.py`; the feed policies
(the app's own, `BuiltinFeed`, and any other) in `policies.py`.

`simulate_log` plays the generated log with the built-in feed; `continue_world` plays K more days with
any policy and appends them to the world's logs (`World.run_days`). Both run `_play`: day by day,
a user's sessions of the day in rounds, the policy asked once per round for the round's feeds."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lineage.world.config import DAY, WorldConfig
from lineage.world.policies import BuiltinFeed, DayStart, FeedPolicy, FeedRequests, fill_slots, first_occurrences
from lineage.world.population import WordVocabulary
from lineage.world.search import make_queries, search_result_candidates, build_search_index
from lineage.world.truth import World, pair_utility


# ---- sessions ----
def make_sessions(cfg: WorldConfig, rng, users, start: float = 0.0, days: int | None = None) -> dict[str, np.ndarray]:
    """When each user comes to the app: Poisson many sessions, uniform over their active time in
    [start, start + days) (default: the whole log). The rate per day is the log's: an average
    user present all `n_days` has `sessions_per_user_mean` sessions."""
    end = start + (cfg.n_days if days is None else days) * DAY
    active_from = np.maximum(users["signup_time"], start)
    active_share = np.maximum(end - active_from, 0.0) / (cfg.n_days * DAY)
    counts = rng.poisson(cfg.sessions_per_user_mean * users["activity"] * active_share)
    user = np.repeat(np.arange(len(counts)), counts)
    # sessions end 10 minutes before the log does, so every event fits in [start, end)
    times = (active_from[user] + rng.random(len(user)) * (end - 600 - active_from[user])).round(0)
    is_search = rng.random(len(user)) < cfg.search_session_fraction
    order = np.lexsort((user, times))
    return {"user": user[order], "time": times[order],
            "kind": np.where(is_search[order], "search", "feed")}


# ---- the log ----
class _SeenSet:
    """The (user, item) pairs already viewed, as sorted int64 keys user * n_items + item: a large
    array merged once a day and a small one for today's views. It is the history a policy's
    `FeedRequests` reads (the `sessions` arguments are ignored: the set is always "now")."""

    def __init__(self, n_items: int):
        self.n_items = n_items
        self.before_today = np.empty(0, dtype=np.int64)
        self.today = np.empty(0, dtype=np.int64)

    @classmethod
    def of_views(cls, n_items: int, views: dict) -> "_SeenSet":
        seen = cls(n_items)
        seen.before_today = np.sort(views["user"].astype(np.int64) * n_items + views["item"])
        return seen

    @staticmethod
    def _member(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
        if len(sorted_keys) == 0:
            return np.zeros(keys.shape, dtype=bool)
        pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
        return sorted_keys[pos] == keys

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users.astype(np.int64) * self.n_items + items
        return self._member(self.before_today, keys) | self._member(self.today, keys)

    def viewed(self, users, sessions, items) -> np.ndarray:
        return self.contains(np.asarray(users), np.asarray(items))

    def viewed_mask(self, users, sessions=None) -> np.ndarray:
        """(len(users), n_items) bool."""
        users = np.asarray(users, dtype=np.int64)
        mask = np.zeros((len(users), self.n_items), dtype=bool)
        for keys in (self.before_today, self.today):
            lo = np.searchsorted(keys, users * self.n_items)
            counts = np.searchsorted(keys, (users + 1) * self.n_items) - lo
            rows = np.repeat(np.arange(len(users)), counts)
            at = np.repeat(lo - np.r_[0, np.cumsum(counts)[:-1]], counts) + np.arange(counts.sum())
            mask[rows, keys[at] - users[rows] * self.n_items] = True
        return mask

    def add(self, users: np.ndarray, items: np.ndarray) -> None:
        """Add new pairs (never ones already in the set: the app does not show viewed items)."""
        new_keys = users.astype(np.int64) * self.n_items + items
        self.today = np.sort(np.concatenate([self.today, new_keys]), kind="stable")

    def end_of_day(self) -> None:
        # a stable sort of two sorted runs is a merge (timsort), cheaper than np.union1d
        self.before_today = np.sort(np.concatenate([self.before_today, self.today]), kind="stable")
        self.today = np.empty(0, dtype=np.int64)


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


def simulate_log(world: World, rng, vocab: WordVocabulary):
    """The generated log: every day of the timeline with the app's own feed, one random stream."""
    policy = BuiltinFeed(world, rng)  # draws its noisy estimates first
    return _play(world, world.sessions, np.arange(len(world.sessions["user"])), policy, (rng, rng, rng),
                 vocab, first_day=0, n_days=world.config.n_days, seen=_SeenSet(world.n_items),
                 views_per_day=np.zeros((world.config.n_days, world.n_items)), record_propensity=False)


@dataclass
class LogPart:
    """The days one `World.run_days` call logged: new rows of each table (sessions: ids `session_ids`)."""

    policy: str  # the feed policy's name
    start_time: float
    end_time: float
    session_ids: np.ndarray  # (n,) ids of the new sessions (rows of world.sessions once appended)
    sessions: dict[str, np.ndarray]
    impressions: dict[str, np.ndarray]  # with "propensity": P(item in feed) (NaN: unknown, or search)
    views: dict[str, np.ndarray]
    searches: dict[str, np.ndarray]

    def __repr__(self) -> str:
        return (f"LogPart({self.policy!r}, days {self.start_time / DAY:g}-{self.end_time / DAY:g}: "
                f"{len(self.session_ids):,} sessions, {len(self.impressions['user']):,} impressions, "
                f"{len(self.views['user']):,} views)")


def continue_world(world: World, policy: FeedPolicy | None, days: int, seed: int, append: bool) -> LogPart:
    """Play `days` more days after the world's end with `policy` (default: the app's own feed)."""
    if int(days) != days or days < 1:
        raise ValueError(f"run_days: days must be a positive integer, got {days!r}")
    days, cfg = int(days), world.config
    start = world.end_time
    first_day = int(round(start / DAY))
    streams = np.random.SeedSequence([int(seed), first_day, cfg.seed]).spawn(4)
    session_rng, query_rng, policy_rng, choice_rng = (np.random.default_rng(s) for s in streams)
    policy = BuiltinFeed.of(world) if policy is None else policy

    new = make_sessions(cfg, session_rng, world.users, start=start, days=days)
    session_ids = len(world.sessions["user"]) + np.arange(len(new["user"]))
    sessions = {key: np.concatenate([world.sessions[key], new[key]]) for key in world.sessions}
    views_per_day = np.zeros((first_day + days, world.n_items))  # by the day of the view's session
    view_day = (world.sessions["time"][world.views["session"]] // DAY).astype(np.int64)
    np.add.at(views_per_day, (view_day, world.views["item"]), 1.0)
    impressions, views, searches = _play(
        world, sessions, session_ids, policy, (query_rng, policy_rng, choice_rng), WordVocabulary(world.genres),
        first_day=first_day, n_days=days, seen=_SeenSet.of_views(world.n_items, world.views),
        views_per_day=views_per_day, record_propensity=True)
    part = LogPart(policy=policy.name, start_time=start, end_time=start + days * DAY, session_ids=session_ids,
                   sessions=new, impressions=impressions, views=views, searches=searches)
    if append:
        world.sessions = sessions
        world.impressions = _append(world.impressions, impressions)
        world.views = _append(world.views, views)
        world.searches = _append(world.searches, searches)
        world.end_time = part.end_time
    return part


def _append(table: dict, part: dict) -> dict:
    """Rows of `part` after those of `table`; a column new to the table is NaN for its old rows."""
    n = len(next(iter(table.values())))
    out = {}
    for key in list(table) + [k for k in part if k not in table]:
        old = table[key] if key in table else np.full(n, np.nan)
        out[key] = np.concatenate([old, part[key]]) if key in part else old
    return out


def _play(world: World, sessions: dict, session_ids: np.ndarray, policy: FeedPolicy, rngs, vocab: WordVocabulary,
          first_day: int, n_days: int, seen: _SeenSet, views_per_day: np.ndarray, record_propensity: bool):
    """Run the app day by day over `session_ids` (rows of `sessions`, in time order). The policy
    starts each day (the built-in feed draws the day's candidates at once); then a user's sessions
    of the day are played in rounds (their first session of the day in round 0, ...), the policy
    filling one round's feeds per call, so an item viewed in one session is never shown again,
    not even later the same day. rngs: the streams of (queries, the policy, the users' choices)."""
    query_rng, policy_rng, choice_rng = rngs
    cfg, items = world.config, world.items
    users, times = sessions["user"][session_ids], sessions["time"][session_ids]
    by_buzz = np.argsort(-items["buzz"], kind="stable")  # search results: equal matches, buzzier first
    words_by_buzz = build_search_index(items["word_matrix"][by_buzz], cfg.search_index_depth)

    is_search = sessions["kind"][session_ids] == "search"
    searches = make_queries(world, query_rng, vocab, users[is_search], times[is_search], session_ids[is_search])
    query_row = np.cumsum(is_search) - 1  # session -> row of `searches`
    day_of_session = (times // DAY).astype(np.int64)
    round_of_session = _rank_within_groups(day_of_session * world.n_users + users)
    impressions, views = [], []

    for day in range(first_day, first_day + n_days):
        released = items["release_time"] < day * DAY
        today = day_of_session == day
        feed_rows, search_rows = np.flatnonzero(today & ~is_search), np.flatnonzero(today & is_search)
        policy.start_day(DayStart(world, day, session_ids[feed_rows], users[feed_rows], views_per_day), policy_rng)
        search_candidates = search_result_candidates(world, searches["query_matrix"][query_row[search_rows]], released,
                                               by_buzz, words_by_buzz)
        kinds = [  # (source, rows, slots, leave utility)
            ("feed", feed_rows, cfg.impressions_per_session, cfg.leave_utility),
            ("search", search_rows, cfg.search_results, cfg.search_leave_utility),
        ]
        outcome = {source: _empty_outcome(len(rows), slots) for source, rows, slots, _ in kinds}
        for rnd in range(round_of_session[today].max() + 1 if today.any() else 0):
            for source, rows, slots, leave in kinds:
                now = np.flatnonzero(round_of_session[rows] == rnd)  # positions within today's rows
                if len(now) == 0:
                    continue
                r = rows[now]
                requests = FeedRequests(world, users[r], times[r], session_ids[r], slots, seen)
                candidates = search_candidates[now] if source == "search" else None
                _play_requests(world, requests, candidates, policy, (policy_rng, choice_rng), leave,
                               outcome[source], now, seen)
        seen.end_of_day()
        for source, rows, _, _ in kinds:
            imp, view = _emit(sessions, session_ids[rows], *outcome[source], source, record_propensity)
            impressions.append(imp)
            views.append(view)
            np.add.at(views_per_day[day], view["item"], 1.0)

    return _finish_logs(world, impressions, views, searches, choice_rng, record_propensity)


def _empty_outcome(n: int, slots: int) -> tuple:
    """(slot items, shown, choice, propensity) arrays of one day's requests of one kind, to be filled."""
    return (np.zeros((n, slots), np.int64), np.zeros((n, slots), bool), np.zeros((n, slots), np.int8),
            np.full((n, slots), np.nan))


def _play_requests(world: World, requests: FeedRequests, search_candidates, policy: FeedPolicy, rngs, leave: float,
                   outcome: tuple, now: np.ndarray, seen: _SeenSet) -> None:
    """One round of requests: the feed (from the policy) or the search results, the users' choices,
    written into `outcome` (slot items, shown, choice, propensity) at rows `now`; viewed items are
    remembered in `seen`."""
    policy_rng, choice_rng = rngs
    if search_candidates is None:
        shown_items, propensity = policy.feed(requests, policy_rng)
        _check_feed(requests, shown_items, propensity, policy)
    else:
        shown_items, propensity = fill_slots(search_candidates, requests, requests.n_slots), None
    slot_items, shown, choice = _play_choices(world, choice_rng, requests.users, shown_items, leave)
    for array, value in zip(outcome, (slot_items, shown, choice)):
        array[now] = value
    if propensity is not None:
        outcome[3][now] = np.where(shown, propensity, np.nan)
    chosen = choice > 0
    seen.add(np.broadcast_to(requests.users[:, None], chosen.shape)[chosen], slot_items[chosen])


def _finish_logs(world: World, impressions: list, views: list, searches: dict, choice_rng,
                 record_propensity: bool) -> tuple[dict, dict, dict]:
    """The day-by-day parts joined and sorted into the impressions, views and searches tables; each
    view's like drawn from the user's true utility plus noise."""
    cfg = world.config
    impressions = _concat(impressions, order_by=("session", "position"))
    views = _concat(views, order_by=("time", "session"))
    likes_noise = choice_rng.normal(0, cfg.like_noise, len(views["user"]))
    views["liked"] = pair_utility(world, views["user"], views["item"]) + likes_noise > cfg.like_threshold
    # strings last: sorting a bool is cheaper than sorting '<U6' text
    impressions["source"] = np.where(impressions.pop("from_search"), "search", "feed")
    views["source"] = np.where(views.pop("from_search"), "search", "feed")
    if record_propensity:
        impressions["propensity"] = impressions.pop("propensity")
    views = {k: views[k] for k in ("user", "item", "time", "session", "liked", "source")}
    searches = {k: searches[k] for k in ("user", "time", "session", "query")}
    return impressions, views, searches


def _check_feed(requests: FeedRequests, items, propensity, policy) -> None:
    """Refuse a feed that breaks the app's rules: distinct items, released, not viewed before."""
    n, slots = len(requests), requests.n_slots
    items = np.asarray(items)
    if items.shape != (n, slots) or not np.issubdtype(items.dtype, np.integer):
        raise ValueError(f"{policy!r}.feed returned {items.dtype} {items.shape}, expected int ({n}, {slots})")
    shown = items >= 0
    if np.any(items >= requests.world.n_items):
        raise ValueError(f"{policy!r}.feed returned an item index outside the catalogue")
    if not np.all(first_occurrences(np.where(shown, items, -1 - np.arange(slots)[None, :]))):
        raise ValueError(f"{policy!r}.feed showed an item twice in one feed")
    if np.any(requests.viewed(items)):
        raise ValueError(f"{policy!r}.feed showed a user an item they already viewed")
    release = requests.world.items["release_time"][np.maximum(items, 0)]
    if np.any(shown & (release >= requests.times[:, None])):
        raise ValueError(f"{policy!r}.feed showed an item before its release")
    if propensity is not None:
        p = np.asarray(propensity, dtype=np.float64)
        if p.shape != items.shape or np.any(shown & ~((p > 0) & (p <= 1))):
            raise ValueError(f"{policy!r}.feed: propensities must be (n, slots), in (0, 1] for shown items")


def _play_choices(world, rng, users, items, leave_utility: float):
    """Show `items` (b, c), -1 = empty slot, and let each user choose. Returns slot items (0 where
    empty), shown (bool) and choice (int8: 0 no, 1 first choice, 2 second choice)."""
    shown = items >= 0
    slot_items = np.where(shown, items, 0).astype(np.int64)
    utility = pair_utility(world, np.broadcast_to(users[:, None], slot_items.shape), slot_items)
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


def _emit(sessions, session_ids, slot_items, shown, choice, propensity, source: str, record_propensity: bool):
    """Turn (b, c) slot arrays into impression and view columns."""
    rows, position = np.nonzero(shown)  # row-major: sessions in order, positions ascending
    session = session_ids[rows]
    imp = {
        "user": sessions["user"][session], "item": slot_items[rows, position].astype(np.int64),
        "time": sessions["time"][session], "session": session.astype(np.int64),
        "position": position.astype(np.int16), "chosen": choice[rows, position] > 0,
        "from_search": np.full(len(rows), source == "search"),
    }
    if record_propensity:
        imp["propensity"] = propensity[rows, position].astype(np.float64)
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
