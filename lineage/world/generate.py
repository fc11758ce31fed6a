"""`generate_world`: seed independent random streams and build a world step by step (users and
items, then sessions, then the simulated log)."""
from __future__ import annotations

import time as _time
from dataclasses import replace

import numpy as np

from lineage.world.config import DAY, GENRES, LANGUAGES, REGIONS, WorldConfig
from lineage.world.population import make_items, make_users, WordVocabulary
from lineage.world.simulation import make_sessions, simulate_log
from lineage.world.truth import World


def generate_world(config: WorldConfig | None = None, **overrides) -> World:
    """Generate a world. `overrides` replace fields of `config` (default: `WorldConfig()`),
    e.g. `generate_world(seed=1)` or `generate_world(WorldConfig.sized("tiny"), n_days=10)`."""
    started = _time.perf_counter()
    config = replace(config or WorldConfig(), **overrides)
    config.validate()
    # independent streams, so changing one part (say the follow graph) leaves the others alone
    streams = np.random.SeedSequence(config.seed).spawn(4)
    user_rng, item_rng, session_rng, log_rng = (np.random.default_rng(s) for s in streams)

    genres = GENRES[: config.n_genres]
    languages = LANGUAGES[: config.n_languages]
    regions = tuple(name for name, _ in REGIONS[: config.n_regions])
    vocab = WordVocabulary(genres)

    users, taste, user_latent = make_users(config, user_rng, genres, languages)
    items, item_latent = make_items(config, item_rng, genres, languages, vocab)
    world = World(config=config, genres=genres, languages=languages, regions=regions,
                  users=users, items=items, taste=taste, user_latent=user_latent, item_latent=item_latent,
                  sessions={}, impressions={}, views={}, searches={},
                  start_time=0.0, end_time=config.n_days * DAY)
    world.sessions = make_sessions(config, session_rng, users)
    world.impressions, world.views, world.searches = simulate_log(world, log_rng, vocab)
    world.generation_seconds = _time.perf_counter() - started
    return world
