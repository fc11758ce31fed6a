"""Point-in-time features for the two towers (lesson L6).

A training example is an interaction (user u, item i, time t). Every feature of that example is
computed from events *strictly before t*: the user's history is what they had taken before t, the
item's view counts are the views before t. Computing them from the whole log instead leaks the
answer (the history would contain the very item to predict, and counts would include the
future), which inflates offline metrics and then fails in production. The same builder serves
training (features at each event's time) and serving (features at "now", the end of training).

Feature fields (each becomes one input of a tower):

- a *bag* field is a padded (n, L) int64 matrix of token ids, 0 = padding, 1 = unknown token,
  optionally with (n, L) float weights (recency); the tower sums their embeddings. L is at least 1:
  an empty bag (no history yet, or history_length 0) is one padding column, embedded as zeros;
- a *numeric* field is an (n, d) float32 matrix.

User side: history of items before t (recency-weighted), liked items before t, search words
before t, and every static column of `Interactions.user_features` (region, languages, declared
genres, follows, demographics ...). Item side: the item id (switchable off, for cold start), every
static column of `Interactions.item_features` (genre, language, publisher, title and description
words ...), the item's age at t (since its first event in the log: `item_age`), dynamic counts:
views and likes in recent windows before t, and, when asked for (`liked_by_length`), a bag of the
last users who liked the item before t (the item-side mirror of the user's liked history).

Static columns are turned into fields by simple rules: a list-of-tuples column is a bag of its
tokens; a string column with fewer distinct values than half the rows is a one-token bag (longer
free-text columns such as "title" are skipped: use their "_words" column); a float column is
numeric (standardised; missing values become 0 plus a missing flag); a column ending in "_time"
becomes the age at t in log-days.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lineage.data import Interactions, is_liked
from twotower_mini.config import FeatureConfig

DAY = 86400.0
PAD, UNKNOWN = 0, 1


def pad_empty_bags(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same tower inputs, with every (n, 0) bag given one padding column (id PAD, weight 0).

    A bag with no columns (history_length 0, or a batch in which nobody has a history yet) is a
    valid input that means "nothing": the tower embeds an all-padding bag as zeros. But torch's
    EmbeddingBag cannot take an (n, 0) matrix, so the empty bag is written as one padding column."""
    assert PAD == 0  # np.zeros below is all padding (and all-zero weights)
    return {name: np.zeros((len(values), 1), dtype=values.dtype) if values.ndim == 2 and values.shape[1] == 0
            else values for name, values in arrays.items()}


@dataclass
class FieldSpec:
    name: str
    kind: str  # "bag" or "numeric"
    size: int  # vocabulary size (bag) or width (numeric)
    weighted: bool = False  # bag with per-token weights


class Vocabulary:
    """Token -> id, with 0 for padding and 1 for tokens not seen (often enough) in training."""

    def __init__(self, tokens, min_count: int = 1):
        values, counts = np.unique(np.asarray(list(tokens), dtype=str), return_counts=True)
        kept = values[counts >= min_count]
        self.index = {token: position + 2 for position, token in enumerate(kept.tolist())}

    def __len__(self) -> int:
        return len(self.index) + 2

    def encode(self, rows, max_length: int | None = None) -> np.ndarray:
        """Rows of token tuples -> (n, L) padded ids; L = longest row (capped by max_length)."""
        rows = [tuple(row) if isinstance(row, (tuple, list)) else (row,) for row in rows]
        length = max([len(r) for r in rows] + [1])
        length = min(length, max_length) if max_length else length
        out = np.zeros((len(rows), length), dtype=np.int64)
        for r, row in enumerate(rows):
            for j, token in enumerate(row[:length]):
                out[r, j] = self.index.get(str(token), UNKNOWN)
        return out


# ---- the two vectorised primitives of point-in-time features --------------------------------------
class EventIndex:
    """Events grouped by a key (user or item) and sorted by time, for fast "before t" look-ups."""

    def __init__(self, groups: np.ndarray, times: np.ndarray, values: np.ndarray, n_groups: int):
        order = np.lexsort((times, groups))
        self.groups, self.times, self.values = groups[order], times[order], values[order]
        self.t0 = float(times.min()) if len(times) else 0.0
        self.span = float(times.max() - self.t0 + 2 * 365 * DAY) if len(times) else 1.0
        self.key = self.groups * self.span + (self.times - self.t0)  # sorted: by group, then time
        self.starts = np.searchsorted(self.groups, np.arange(n_groups), "left")
        self.ends = np.searchsorted(self.groups, np.arange(n_groups), "right")

    def position_before(self, groups: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Index of the first event of each group at or after `times` (so events before it are < t)."""
        offset = np.clip(np.asarray(times, dtype=np.float64) - self.t0, -0.5, self.span - 1)
        position = np.searchsorted(self.key, groups * self.span + offset, "left")
        return np.clip(position, self.starts[groups], self.ends[groups])

    def last_before(self, groups, times, length: int, leaky: bool = False):
        """(n, length) positions of each group's last `length` events before t, -1 where none.

        leaky=True takes the group's last events in the whole log instead (future included)."""
        end = self.ends[groups] if leaky else self.position_before(groups, times)
        positions = end[:, None] - length + np.arange(length)[None, :]  # (n, length), oldest first
        return np.where(positions >= self.starts[groups][:, None], positions, -1)

    def events_before(self, groups, times) -> tuple[np.ndarray, np.ndarray]:
        """Every event of each group before its time, as (query row, event position) pairs: row by
        row, oldest first (read the events with ``values[positions]``). No Python loop: the rows'
        ranges [start, position_before) are laid end to end."""
        groups = np.asarray(groups, dtype=np.int64)
        first = self.starts[groups]  # (n,) each group's first event
        counts = self.position_before(groups, times) - first  # (n,) events before each query's time
        rows = np.repeat(np.arange(len(groups)), counts)
        offsets = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)  # 0, 1, ... within a row
        return rows, np.repeat(first, counts) + offsets

    def take(self, positions: np.ndarray, fill) -> np.ndarray:
        """The event values at `positions` (from last_before), `fill` where the position is -1."""
        if len(self.values) == 0:
            return np.full(positions.shape, fill, dtype=self.values.dtype)
        return np.where(positions >= 0, self.values[np.maximum(positions, 0)], fill)

    def count_between(self, groups, start_times, end_times, leaky: bool = False) -> np.ndarray:
        """(n,) number of events of each group with start <= time < end."""
        if leaky:
            return (self.ends[groups] - self.starts[groups]).astype(np.float64)
        return (self.position_before(groups, end_times) - self.position_before(groups, start_times)).astype(np.float64)

    @classmethod
    def counter(cls, keys: np.ndarray, times: np.ndarray) -> "EventIndex":
        """An index that counts events per integer key of any size (e.g. user * n_items + item): the keys
        are compressed to groups 0..distinct-1. Query it with `count`."""
        distinct, groups = np.unique(np.asarray(keys, dtype=np.int64), return_inverse=True)
        index = cls(groups.reshape(-1), np.asarray(times, dtype=np.float64), np.zeros(len(groups), np.int8),
                    len(distinct))
        index.keys = distinct  # (distinct,) ascending: group g is key keys[g]
        return index

    def count(self, keys, start, end) -> np.ndarray:
        """(n,) events of each key with start <= time < end (start may be -inf; a key never seen counts 0).
        For an index built by `counter`."""
        keys = np.asarray(keys, dtype=np.int64)
        if len(self.keys) == 0:
            return np.zeros(keys.shape, dtype=np.float64)
        groups = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        found = self.keys[groups] == keys
        counts = self.count_between(groups, np.broadcast_to(np.asarray(start, dtype=np.float64), keys.shape),
                                    np.broadcast_to(np.asarray(end, dtype=np.float64), keys.shape))
        return np.where(found, counts, 0.0)


@dataclass
class SideLog:
    """Events beyond the interactions themselves, where the dataset has them (the world does)."""

    search_users: np.ndarray | None = None  # (s,) user index of each search
    search_times: np.ndarray | None = None  # (s,) time of each search
    search_queries: list | None = None  # (s,) query strings
    view_session: dict | None = None  # (user, item) -> session of that view
    skipped_by_session: dict | None = None  # session -> items shown in the feed and not chosen

    @classmethod
    def from_world(cls, world) -> "SideLog":
        s, v, imp = world.searches, world.views, world.impressions
        view_session = {(u, i): session for u, i, session in zip(v["user"].tolist(), v["item"].tolist(),
                                                                 v["session"].tolist())}
        skipped = (~imp["chosen"]) & (imp["source"] == "feed")
        skipped_by_session: dict[int, list[int]] = {}
        for session, item in zip(imp["session"][skipped].tolist(), imp["item"][skipped].tolist()):
            skipped_by_session.setdefault(session, []).append(item)
        return cls(search_users=s["user"], search_times=s["time"], search_queries=list(s["query"]),
                   view_session=view_session, skipped_by_session=skipped_by_session)

    def skipped_impressions(self, users, items, max_per_example: int) -> np.ndarray:
        """(n, M) items shown in the same session as each (user, item) view and not chosen; -1 = none."""
        out = np.full((len(users), max_per_example), -1, dtype=np.int64)
        if self.view_session is None:
            return out
        for row, (u, i) in enumerate(zip(np.asarray(users).tolist(), np.asarray(items).tolist())):
            skipped = self.skipped_by_session.get(self.view_session.get((u, i), -1), ())
            out[row, :len(skipped[:max_per_example])] = skipped[:max_per_example]
        return out


@dataclass
class FeatureBuilder:
    """Builds tower inputs for (user, time) and (item, time) queries from a training log."""

    train: Interactions
    config: FeatureConfig = field(default_factory=FeatureConfig)
    side: SideLog | None = None

    def __post_init__(self):
        cfg, train = self.config, self.train
        if cfg.recent_length and not (cfg.history_mode == "before" and cfg.recent_length <= cfg.history_length):
            raise ValueError(f"FeatureConfig.recent_length={cfg.recent_length}: expected history_mode 'before' (got "
                             f"{cfg.history_mode!r}) and at most history_length={cfg.history_length}")
        self.now = float(train.times.max()) + 1.0 if len(train) else 0.0  # serving time: just after training
        span_days = float(train.times.max() - train.times.min()) / DAY if len(train) else 0.0
        self.count_windows = tuple(cfg.count_windows_days)  # in days, fractions resolved on this log
        if cfg.count_windows_fraction:
            self.count_windows = tuple(max(f * span_days, 1e-6) for f in cfg.count_windows_fraction)
        self.history_gap_days = (cfg.history_gap_fraction * span_days if cfg.history_gap_fraction is not None
                                 else cfg.history_gap_days)
        positions = np.arange(len(train))
        self.user_events = EventIndex(train.users, train.times, positions, train.n_users)
        self.item_views = EventIndex(train.items, train.times, positions, train.n_items)
        self.liked = liked = is_liked(train.values)  # the world's liked views; ratings >= 4 on MovieLens
        self.user_likes = EventIndex(train.users[liked], train.times[liked], positions[liked], train.n_users)
        self.item_likes = EventIndex(train.items[liked], train.times[liked], positions[liked], train.n_items)
        self.search_index, self.search_vocab = None, None
        if self.side is not None and self.side.search_users is not None:
            words, users, times = [], [], []
            for u, t, query in zip(self.side.search_users, self.side.search_times, self.side.search_queries):
                for word in str(query).split():
                    words.append(word), users.append(u), times.append(t)
            self.search_vocab = Vocabulary(words, cfg.min_token_count)
            word_ids = self.search_vocab.encode([(w,) for w in words])[:, 0] if words else np.zeros(0, np.int64)
            self.search_index = EventIndex(np.asarray(users, np.int64), np.asarray(times, np.float64), word_ids,
                                           train.n_users)
        self.user_static, self.user_static_specs = _static_fields(train.user_features, train.n_users, cfg)
        self.item_static, self.item_static_specs = _static_fields(train.item_features, train.n_items, cfg)
        self.item_first_time = np.full(train.n_items, np.inf)  # (n_items,) time of each item's first event
        np.minimum.at(self.item_first_time, train.items, train.times)
        self.item_counts = train.item_counts()  # for logQ, and: an id never trained is "unknown"
        self.user_has_events = train.user_counts() > 0

    def extended_to(self, train: Interactions) -> "FeatureBuilder":
        """Features built on a longer log (`train`, which extends this builder's log) for towers fitted on
        this one: histories and counts run to the end of `train`, but the rules the towers were trained
        with stay: an id never seen in this builder's log stays "unknown" (its embedding row was never
        trained), and count windows given as shares of a period keep this log's lengths."""
        extended = FeatureBuilder(train, self.config, self.side)
        extended.item_counts = self.item_counts
        extended.user_has_events = self.user_has_events
        extended.count_windows = self.count_windows
        return extended

    # ---- field specs (what the towers must be built for) ------------------------------------------
    def user_fields(self) -> list[FieldSpec]:
        cfg = self.config
        specs = [FieldSpec("history", "bag", self.train.n_items + 2, weighted=True),
                 FieldSpec("liked_history", "bag", self.train.n_items + 2)]
        if cfg.recent_length:
            specs.append(FieldSpec("recent_history", "bag", self.train.n_items + 2))
        if self.search_index is not None:
            specs.append(FieldSpec("search_words", "bag", len(self.search_vocab)))
        if cfg.use_user_id:
            specs.append(FieldSpec("user_id", "bag", self.train.n_users + 2))
        specs += self.user_static_specs
        return [s for s in specs if s.name not in cfg.drop]

    def item_fields(self) -> list[FieldSpec]:
        cfg = self.config
        specs = []
        if cfg.use_item_id:
            specs.append(FieldSpec("item_id", "bag", self.train.n_items + 2))
        specs += self.item_static_specs
        if self.count_windows:
            specs.append(FieldSpec("counts", "numeric", 2 * len(self.count_windows)))
        if cfg.item_age:
            specs.append(FieldSpec("item_age", "numeric", 2))
        if cfg.liked_by_length:
            specs.append(FieldSpec("liked_by", "bag", self.train.n_users + 2))
        return [s for s in specs if s.name not in cfg.drop]

    # ---- ids -> embedding rows -----------------------------------------------------------------
    def user_id_rows(self, users) -> np.ndarray:
        """(len(users),) the row of each user in the user tower's `user_id` table: user index + 2
        (rows PAD = 0 and UNKNOWN = 1 come first), or UNKNOWN for a user without training events."""
        users = np.asarray(users, dtype=np.int64)
        return np.where(self.user_has_events[users], users + 2, UNKNOWN)

    def item_id_rows(self, items) -> np.ndarray:
        """(len(items),) the row of each item in the item tower's `item_id` table (and of the history
        tables): item index + 2, or UNKNOWN for an item without training events."""
        items = np.asarray(items, dtype=np.int64)
        return np.where(self.item_counts[items] > 0, items + 2, UNKNOWN)

    # ---- features ------------------------------------------------------------------------------
    def user_features(self, users, times, target_items=None) -> dict[str, np.ndarray]:
        """Tower inputs for users at times (features from events strictly before each time).

        target_items: with history_mode "all-but-target", the example's own item is left out."""
        cfg = self.config
        users = np.asarray(users, dtype=np.int64)
        times = np.broadcast_to(np.asarray(times, dtype=np.float64), users.shape)
        names = {s.name for s in self.user_fields()}
        out = {}
        everything = cfg.leaky or cfg.history_mode == "all-but-target"
        positions = self.user_events.last_before(users, times, cfg.history_length, leaky=everything)
        event = self.user_events.take(positions, -1)  # (n, L) rows of train, -1 = none
        items = np.where(event >= 0, self.train.items[event] + 2, PAD)
        if cfg.history_mode == "all-but-target" and target_items is not None and not cfg.leaky:
            items[items == (np.asarray(target_items)[:, None] + 2)] = PAD
        age_days = np.maximum(times[:, None] - self.train.times[event], 0.0) / DAY
        if cfg.recency_half_life_days:
            weights = np.where(items != PAD, 0.5 ** (age_days / cfg.recency_half_life_days), 0.0)
        else:  # no recency: every past item counts the same
            weights = (items != PAD).astype(np.float64)
        weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)  # a weighted mean
        if "history" in names:
            out["history"], out["history_weights"] = items, weights.astype(np.float32)
        if "recent_history" in names:  # the last few of the same history (a plain mean of their embeddings)
            out["recent_history"] = items[:, -cfg.recent_length:]  # (n, recent_length): columns run oldest first
        if "liked_history" in names:
            liked_positions = self.user_likes.last_before(users, times, cfg.history_length, leaky=everything)
            liked_event = self.user_likes.take(liked_positions, -1)
            liked_items = np.where(liked_event >= 0, self.train.items[liked_event] + 2, PAD)
            if cfg.history_mode == "all-but-target" and target_items is not None and not cfg.leaky:
                liked_items[liked_items == (np.asarray(target_items)[:, None] + 2)] = PAD
            out["liked_history"] = liked_items
        if "search_words" in names:
            word_positions = self.search_index.last_before(users, times, cfg.search_words, leaky=cfg.leaky)
            out["search_words"] = self.search_index.take(word_positions, PAD)
        if "user_id" in names:  # users without training events get the shared "unknown" embedding
            out["user_id"] = self.user_id_rows(users)[:, None]
        for name, column in self.user_static.items():
            if name in names:
                out[name] = _static_at(column, users, times)
        return pad_empty_bags(out)  # history_length 0: an empty bag is one padding column

    def item_features(self, items, times) -> dict[str, np.ndarray]:
        """Tower inputs for items at times (dynamic counts from views strictly before each time)."""
        cfg = self.config
        items = np.asarray(items, dtype=np.int64)
        times = np.broadcast_to(np.asarray(times, dtype=np.float64), items.shape)
        names = {s.name for s in self.item_fields()}
        out = {}
        if "item_id" in names:  # items without training events (cold) get the shared "unknown" embedding
            out["item_id"] = self.item_id_rows(items)[:, None]
        for name, column in self.item_static.items():
            if name in names:
                out[name] = _static_at(column, items, times)
        if "counts" in names:
            columns = []
            for window in self.count_windows:
                columns.append(self.item_views.count_between(items, times - window * DAY, times, cfg.leaky))
                columns.append(self.item_likes.count_between(items, times - window * DAY, times, cfg.leaky))
            out["counts"] = np.log1p(np.stack(columns, axis=1)).astype(np.float32)  # (n, 2w)
        if "item_age" in names:  # from the item's first training event strictly before t (leaky: first of all)
            first = self.item_first_time[items]  # (n,) +inf for items never seen in training
            seen = first < times if not cfg.leaky else np.isfinite(first)
            age_days = np.where(seen, np.maximum(times - np.where(seen, first, 0.0), 0.0) / DAY, 0.0)
            out["item_age"] = np.stack([np.log1p(age_days), ~seen], axis=1).astype(np.float32)  # (n, 2)
        if "liked_by" in names:
            out["liked_by"] = self.liked_by(items, times)
        return out

    def liked_by(self, items, times) -> np.ndarray:
        """(n, liked_by_length) the user-id rows (user_id_rows) of the last users who liked each item strictly
        before its time, oldest first, PAD where there are fewer (leaky: the item's last likers in the whole log)."""
        positions = self.item_likes.last_before(items, times, self.config.liked_by_length, leaky=self.config.leaky)
        event = self.item_likes.take(positions, -1)  # (n, L) rows of train, -1 = none
        return np.where(event >= 0, self.user_id_rows(self.train.users[np.maximum(event, 0)]), PAD)

    def serving_times(self, items) -> np.ndarray:
        """When to take each item's features for the retrieval index: now, or, for an item not yet
        released (a time column named "release_time"), the moment of its release. Its counts are then
        zero and its age is zero, exactly like a brand-new item during training."""
        items = np.asarray(items, dtype=np.int64)
        times = np.full(len(items), self.now)
        release = self.train.item_features.get("release_time")
        if release is not None:
            times = np.maximum(times, np.asarray(release, dtype=np.float64)[items])
        return times

    def describe(self) -> str:
        lines = ["user tower inputs: " + ", ".join(f"{s.name}[{s.size}]" for s in self.user_fields()),
                 "item tower inputs: " + ", ".join(f"{s.name}[{s.size}]" for s in self.item_fields())]
        return "\n".join(lines)


# ---- item inputs on a grid of moments (the snapshot softmaxes) ----------------------------------------
MAX_SNAPSHOT_VALUES = 50_000_000  # snapshots x items x numeric inputs kept in memory (200 MB of float32)


def snapshot_grid(times: np.ndarray, step_days: float, n_items: int, n_numeric: int) -> np.ndarray:
    """(G,) moments from the first event to the last, `step_days` apart (coarser if the snapshots of
    n_items x n_numeric values would not fit in MAX_SNAPSHOT_VALUES)."""
    if len(times) == 0:
        return np.zeros(1)
    start, end = float(times.min()), float(times.max())
    step = step_days * DAY
    budget = max(MAX_SNAPSHOT_VALUES // max(n_items * max(n_numeric, 1), 1), 2)
    step = max(step, (end - start) / (budget - 1))
    return start + step * np.arange(int(np.floor((end - start) / step)) + 1)


# ---- static side columns -> fields ------------------------------------------------------------
@dataclass
class _StaticColumn:
    kind: str  # "bag", "numeric" or "age"
    values: np.ndarray  # (n, L) ids, (n, d) floats, or (n,) times for "age"


def _static_fields(columns: dict, n_rows: int, cfg: FeatureConfig):
    fields, specs = {}, []
    for name, column in columns.items():
        if name in cfg.drop:
            continue
        if isinstance(column, list):  # multi-valued: a bag of tokens
            vocab = Vocabulary([token for row in column for token in row], cfg.min_token_count)
            fields[name] = _StaticColumn("bag", vocab.encode(column, max_length=32))
            specs.append(FieldSpec(name, "bag", len(vocab)))
            continue
        column = np.asarray(column)
        if name.endswith("_time") and column.dtype.kind in "fi":
            fields[name] = _StaticColumn("age", column.astype(np.float64))
            specs.append(FieldSpec(name, "numeric", 2))
        elif column.dtype.kind in "fi":
            values = column.astype(np.float64)
            missing = np.isnan(values)
            mean, std = np.nanmean(values) if (~missing).any() else 0.0, np.nanstd(values) if (~missing).any() else 1.0
            standardised = np.where(missing, 0.0, (values - mean) / (std or 1.0))
            fields[name] = _StaticColumn("numeric", np.stack([standardised, missing], axis=1).astype(np.float32))
            specs.append(FieldSpec(name, "numeric", 2))
        elif len(np.unique(column.astype(str))) <= max(2, n_rows // 2):  # categorical, not free text
            vocab = Vocabulary(column.astype(str), cfg.min_token_count)
            fields[name] = _StaticColumn("bag", vocab.encode(column.astype(str)))
            specs.append(FieldSpec(name, "bag", len(vocab)))
    return fields, specs


def _static_at(column: _StaticColumn, rows: np.ndarray, times: np.ndarray) -> np.ndarray:
    if column.kind == "age":  # log-days since the timestamp, and whether it is still in the future
        age_days = (times - column.values[rows]) / DAY
        return np.stack([np.log1p(np.maximum(age_days, 0.0)), age_days < 0], axis=1).astype(np.float32)
    return column.values[rows]
