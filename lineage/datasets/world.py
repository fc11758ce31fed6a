"""The synthetic content-app world as a dataset: a size preset, a seed and field overrides.

`lineage.world` is imported only when the world is asked for, so loading MovieLens or a CSV
never pays for the simulator.
"""
from __future__ import annotations

__all__ = ["load_world"]


def load_world(size: str | None = None, **overrides):
    """The `World` generated from the preset `size` ("tiny", "default", "large"; None: the
    WorldConfig defaults) with field overrides, e.g. ``load_world("tiny", seed=3)``."""
    from lineage.world import generate_world

    if size is None:
        return generate_world(**overrides)
    from lineage.world import WorldConfig

    return generate_world(WorldConfig.sized(size), **overrides)
