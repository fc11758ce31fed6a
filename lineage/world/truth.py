"""The generated world and its hidden truth: `World` holds the side tables and event logs, and the
oracle a real dataset never gives you: the noise-free utility of every (user, item) pair and each
user's true top items ("true recall"). It also exports the views as `Interactions`, observable
columns only."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from lineage.data import LIKE_VALUE, Interactions
from lineage.topk import mask_items, top_k
from lineage.world.config import DAY, OBSERVABLE_ITEM_COLUMNS, OBSERVABLE_USER_COLUMNS, WorldConfig


# ---- the world ----------------------------------------------------------------------------------
@dataclass(eq=False)
class World:
    """A generated world: side tables, hidden truth, and the event logs (each a dict of columns).

    Logs are sorted by time. Indices (user, item, session) refer to rows of `users`, `items`,
    `sessions`. See data/README.md for every column."""

    config: WorldConfig
    genres: tuple[str, ...]
    languages: tuple[str, ...]
    regions: tuple[str, ...]
    users: dict[str, Any]  # one row per user
    items: dict[str, Any]  # one row per item
    taste: np.ndarray  # (n_users, n_genres) float32, hidden
    user_latent: np.ndarray  # (n_users, latent_dim) float32, hidden
    item_latent: np.ndarray  # (n_items, latent_dim) float32, hidden
    sessions: dict[str, np.ndarray]  # user, time, kind ("feed"/"search")
    impressions: dict[str, np.ndarray]  # user, item, time, session, position, chosen, source
    views: dict[str, np.ndarray]  # user, item, time, session, liked, source
    searches: dict[str, np.ndarray]  # user, time, session, query
    start_time: float = 0.0
    end_time: float = 0.0
    generation_seconds: float = field(default=0.0, compare=False)

    @property
    def n_users(self) -> int:
        return len(self.users["user_id"])

    @property
    def n_items(self) -> int:
        return len(self.items["item_id"])

    # ---- the oracle -----------------------------------------------------------------------------
    def utility(self, users, items=None) -> np.ndarray:
        """Noise-free utility, (len(users), n_items) or (len(users), len(items)) float32."""
        users = np.asarray(users, dtype=np.int64)
        items = np.arange(self.n_items) if items is None else np.asarray(items, dtype=np.int64)
        cfg = self.config
        genre = self.items["genre_index"][items]
        language = self.items["language_index"][items]
        reads = self.users["reads_language"][users]  # (u, n_languages) bool
        out = self.taste[users][:, genre]  # (u, i)
        out += cfg.quality_weight * self.items["quality"][items][None, :]
        out += cfg.language_weight * reads[:, language]
        out += self.user_latent[users] @ self.item_latent[items].T
        return out.astype(np.float32, copy=False)

    def pair_utility(self, users, items) -> np.ndarray:
        """Utility of given (user, item) pairs, any matching shapes, float32."""
        return pair_utility(self, np.asarray(users), np.asarray(items))

    def true_top_items(self, users, k: int, released_before=None, exclude: sp.csr_matrix | None = None,
                       chunk_size: int = 1024) -> np.ndarray:
        """(len(users), k) indices of each user's k highest-utility items, best first.

        released_before: a time (or one per user): only items with release_time < it count.
        exclude: (n_users, n_items) sparse matrix of items to skip (e.g. train.to_csr()).
        Slots that cannot be filled hold -1."""
        users = np.asarray(users, dtype=np.int64)
        cutoff = None if released_before is None else np.broadcast_to(
            np.asarray(released_before, dtype=np.float64), users.shape)
        out = np.empty((len(users), k), dtype=np.int64)
        for start in range(0, len(users), chunk_size):
            chunk = users[start:start + chunk_size]
            scores = self.utility(chunk)  # (c, n_items)
            if cutoff is not None:
                scores[self.items["release_time"][None, :] >= cutoff[start:start + chunk_size, None]] = -np.inf
            if exclude is not None:
                mask_items(scores, exclude[chunk])
            best = top_k(scores, k)
            out[start:start + len(chunk), :best.shape[1]] = best
            out[start:start + len(chunk), best.shape[1]:] = -1
        return out

    # ---- the world as an environment -----------------------------------------------------------
    def run_days(self, policy=None, days: int = 1, seed: int = 0, append: bool = True):
        """Continue the world for `days` more days with a feed policy (default: the app's own,
        `BuiltinFeed`), the users behaving exactly as in the generated log. Returns the new rows
        (a `LogPart`); with append=True (the default) they are also appended to `sessions`,
        `impressions`, `views` and `searches`, and `end_time` moves on by `days`.

        policy: a `lineage.world.policies.FeedPolicy`, e.g. `ModelPolicy(model, temperature=0.5)`.
        seed: the run's random streams (sessions, queries, the policy, the users' choices) come from
            (seed, first day, world seed): two policies run from the same world state with the same
            seed meet the same sessions and queries.
        Impressions gain a `propensity` column: P(item in feed) under the policy for feed rows of
        these days (NaN when the policy does not say, for search rows, and for earlier rows)."""
        from lineage.world.simulation import continue_world
        return continue_world(self, policy, days, seed, append)

    # ---- export ---------------------------------------------------------------------------------
    def interactions(self, liked_only: bool = False, like_value: float = LIKE_VALUE) -> Interactions:
        """The views as an `Interactions` log (sorted by time, every world user and item in the
        vocabulary, indices equal to world indices).

        values: 1.0 for a view, `like_value` for a liked view (a confidence weight for weighted
        ALS; `to_csr(binary=True)`, the default, ignores it; `lineage.data.is_liked` reads it). liked_only: keep liked views only.
        Side information: only the observable columns (OBSERVABLE_USER_COLUMNS and
        OBSERVABLE_ITEM_COLUMNS); dynamic counts must be computed point-in-time from the log."""
        v = self.views
        rows = v["liked"] if liked_only else np.ones(len(v["user"]), dtype=bool)
        values = np.where(v["liked"], like_value, 1.0).astype(np.float32)
        user_features = {name: self.users[name] for name in OBSERVABLE_USER_COLUMNS if name != "follows"}
        ids = self.users["user_id"]
        user_features["follows"] = [tuple(ids[list(f)]) for f in self.users["follows"]]
        return Interactions(
            users=v["user"][rows], items=v["item"][rows], times=v["time"][rows], values=values[rows],
            user_ids=self.users["user_id"], item_ids=self.items["item_id"],
            user_features=user_features,
            item_features={name: self.items[name] for name in OBSERVABLE_ITEM_COLUMNS},
            name="world" if not liked_only else "world-liked",
        )

    def summary(self) -> str:
        """A few lines describing sizes and the shape of the log."""
        v, imp, cfg = self.views, self.impressions, self.config
        views_per_item = np.sort(np.bincount(v["item"], minlength=self.n_items))[::-1]
        top10 = views_per_item[: max(1, self.n_items // 10)].sum() / max(1, views_per_item.sum())
        views_per_user = np.bincount(v["user"], minlength=self.n_users)
        late = self.items["release_time"] >= self.start_time
        feed = imp["source"] == "feed"
        lines = [
            f"World(seed={cfg.seed}): {self.n_users:,} users, {self.n_items:,} items, "
            f"{len(self.genres)} genres, {round((self.end_time - self.start_time) / DAY)} days, "
            f"generated in {self.generation_seconds:.2f} s",
            f"  sessions {len(self.sessions['user']):,} ({np.mean(self.sessions['kind'] == 'search'):.0%} search), "
            f"impressions {len(imp['user']):,}, views {len(v['user']):,} "
            f"({np.mean(v['liked']):.0%} liked, {np.mean(v['source'] == 'search'):.0%} from search), "
            f"searches {len(self.searches['user']):,}",
            f"  feed impressions chosen: {np.mean(imp['chosen'][feed]):.1%}; "
            f"top 10% of items get {top10:.0%} of views; {np.mean(views_per_item == 0):.0%} of items never viewed",
            f"  views per user: median {np.median(views_per_user):.0f}, max {views_per_user.max()}, "
            f"{np.mean(views_per_user == 0):.0%} with none",
            f"  late releases (cold-start items): {late.sum()} items, {np.isin(v['item'], np.flatnonzero(late)).sum():,} views",
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"World(seed={self.config.seed}, {self.n_users:,} users, {self.n_items:,} items, "
                f"{len(self.views['user']):,} views, {len(self.impressions['user']):,} impressions)")


def pair_utility(world: World, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    cfg = world.config
    genre = world.items["genre_index"][items]
    out = world.taste[users, genre]
    out = out + cfg.quality_weight * world.items["quality"][items]
    out = out + cfg.language_weight * world.users["reads_language"][users, world.items["language_index"][items]]
    out = out + np.einsum("...d,...d->...", world.user_latent[users], world.item_latent[items])
    return out.astype(np.float32)
