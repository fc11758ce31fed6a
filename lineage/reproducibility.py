"""Seeds and thread limits, in one place, so every notebook and script starts the same way.

`implicit` warns (and slows down) when OpenBLAS runs several threads inside its own thread pool,
so BLAS is limited to one thread around `implicit` calls (threadpoolctl does this per block).
"""
from __future__ import annotations

import os
import random

import numpy as np
from threadpoolctl import threadpool_limits


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python, numpy and (if installed) torch; returns a numpy Generator for the caller."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # torch is only needed from the two-tower notebooks on
        pass
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    return np.random.default_rng(seed)


def single_blas_thread():
    """Context manager: BLAS limited to one thread (use around implicit's fit and recommend)."""
    return threadpool_limits(limits=1, user_api="blas")
