"""Notebook 05's plumbing: one world split and scored per user the same way every time, and a sweep of
world settings changed one at a time.

    study = WorldStudy.of(world_config())               # world, temporal 80/20 split, oracle top 10
    lists = model.fit(study.train).recommend(study.users, k=10)
    scores = study.score(lists, k=10)                   # per-user arrays, paired across models
    compare(scores_a["true recall"], scores_b["true recall"], "a", "b", ratio=True)   # lineage.evidence

    for step, changes in one_at_a_time(LIKED_GENRES_FEED).items():
        study = WorldStudy.of(world_config(**changes))  # the default world, then one setting changed, ...
    one_at_a_time(LIKED_GENRES_FEED, {"no popular slots": ["policy_personal_share"], ...})  # or a group
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lineage.data import Interactions
from lineage.metrics import per_user_metrics, relevance_matrix, true_recall_per_user, users_with_test_events
from lineage.splits import split
from lineage.world import World, WorldConfig, generate_world

__all__ = ["HATED_TASTE", "WorldStudy", "one_at_a_time"]

HATED_TASTE = -2.0  # a user hates a genre when their hidden taste for it is below this


@dataclass(frozen=True)
class WorldStudy:
    """A generated world, its temporal split, the users to evaluate and each one's truly best items."""

    world: World
    train: Interactions
    test: Interactions
    users: np.ndarray  # (n,) users with a test event, ascending: the rows of every list and score
    true_top: np.ndarray  # (n, k) each user's k highest-utility items released before the test ends,
    #   not in their train history (-1 = none left)

    @classmethod
    def of(cls, config: WorldConfig, k: int = 10, test_fraction: float = 0.2, seed: int = 42) -> "WorldStudy":
        """Generate the world of `config` and split its log in time (the last `test_fraction` is the test)."""
        world = generate_world(config)
        parts = split(world.interactions(), "temporal", test_fraction=test_fraction, seed=seed)
        users = users_with_test_events(parts.test)
        true_top = world.true_top_items(users, k, released_before=parts.test.times.max() + 1,
                                        exclude=parts.train.to_csr())
        return cls(world, parts.train, parts.test, users, true_top)

    @property
    def hated(self) -> np.ndarray:
        """(n_users, n_genres) bool: the genres each user hates (hidden taste below HATED_TASTE)."""
        return self.world.taste < HATED_TASTE

    def hated_share(self, users: np.ndarray, items: np.ndarray) -> float:
        """Share of the (user, item) pairs whose item's genre the user hates (-1 items are left out)."""
        users, items = np.asarray(users), np.asarray(items)
        keep = items >= 0
        genre = self.world.items["genre_index"][items[keep]]
        return float(self.hated[users[keep], genre].mean()) if keep.any() else float("nan")

    def score(self, lists: np.ndarray, k: int) -> dict[str, np.ndarray]:
        """Per-user measures of top-k `lists` (one row per `users`): "recall" and "ndcg" of the logged test
        items, over the users with a test item not already in train; "true recall" (of `true_top`), "hated"
        (share of the list from a hated genre) and "popularity" (mean train count of the listed items), over
        every user. Two models scored on one study give arrays over the same users (paired)."""
        lists = np.asarray(lists)[:, :k]
        if len(lists) != len(self.users):
            raise ValueError(f"WorldStudy.score: {len(lists)} lists for {len(self.users)} users")
        relevant = relevance_matrix(self.test, self.users, self.train)
        has_relevant = np.diff(relevant.indptr) > 0
        logged = per_user_metrics(lists, relevant, k)
        filled = lists >= 0
        genre = self.world.items["genre_index"][np.maximum(lists, 0)]
        hated = self.hated[self.users[:, None], genre] & filled
        counts = self.train.item_counts()[np.maximum(lists, 0)] * filled
        per_list = np.maximum(filled.sum(axis=1), 1)
        return {"recall": logged["recall"][has_relevant], "ndcg": logged["ndcg"][has_relevant],
                "true recall": true_recall_per_user(lists, self.true_top, k),
                "hated": hated.sum(axis=1) / per_list, "popularity": counts.sum(axis=1) / per_list}


def one_at_a_time(changes: dict, groups: dict[str, list[str]] | None = None) -> dict[str, dict]:
    """The steps from a base world toward `changes`: "none" (the base), each setting alone (keyed by its
    name) or, with `groups` (step name -> the settings it changes together), each group alone, then
    "all" of them at once. Each value is the overrides of that step."""
    groups = {name: [name] for name in changes} if groups is None else groups
    named = [name for settings in groups.values() for name in settings]
    unknown = sorted(set(named) - set(changes))
    if unknown or len(named) != len(set(named)):
        raise ValueError(f"one_at_a_time: groups must name settings of `changes` once each; unknown {unknown}, "
                         f"repeated {sorted({name for name in named if named.count(name) > 1})}")
    steps = {step: {name: changes[name] for name in settings} for step, settings in groups.items()}
    return {"none": {}, **steps, "all": dict(changes)}
