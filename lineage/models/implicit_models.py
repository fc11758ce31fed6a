"""The production matrix factorisations: thin wrappers around the `implicit` library (lesson L10).

- `ImplicitALS`: weighted ALS, Hu, Koren and Volinsky 2008, "Collaborative Filtering for Implicit
  Feedback Datasets", solved with conjugate gradient as in Takacs, Pilaszy and Tikk 2011,
  "Applications of the conjugate gradient method for implicit feedback collaborative filtering".
- `ImplicitBPR`: Rendle et al. 2009, "BPR: Bayesian Personalized Ranking from Implicit Feedback",
  SGD on (user, liked item, sampled item) triples.

Conventions that keep results reproducible on any machine:
- the CPU classes are used (`implicit.als/bpr` factories with `use_gpu=False`), seeded with
  `random_state`, with `show_progress=False`;
- BLAS is limited to one thread around every implicit call (`threadpool_limits(1, "blas")`), as
  implicit itself recommends: its own OpenMP threads and a BLAS thread pool fight each other;
- `num_threads=1` by default: ALS rows are independent so any thread count gives the same factors,
  but BPR's SGD is Hogwild (threads race on shared factors) and is deterministic only on one thread.

Scores are factor dot products, user_factors @ item_factors.T (for BPR the last factor column is the
item bias against a column of ones on the user side, so the bias is included).
Confidence: implicit's ALS uses c_ui = alpha * r_ui on observed cells (details in lineage.models.als);
`ImplicitALSConfig(confidence="hkv")` gives it the paper's c_ui = 1 + alpha * r_ui instead, so both
models can run either convention at equal hyperparameters.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import implicit.als
import implicit.bpr
from threadpoolctl import threadpool_limits

from lineage.data import Interactions
from lineage.models.als import ALS, CONFIDENCES
from lineage.models.base import Recommender


@dataclass
class ImplicitALSConfig:
    factors: int = 64  # embedding size
    regularization: float = 0.1  # lambda on the squared factor norms
    alpha: float = 1.0  # confidence slope, see `confidence`
    iterations: int = 15  # full ALS sweeps
    seed: int = 0  # random_state for the initial factors
    binary: bool = True  # r = 1 per observed pair; False: r = the summed event values (ratings)
    confidence: str = "implicit"  # "implicit": c = alpha * r (the library's own); "hkv": c = 1 + alpha * r (the paper)
    use_cg: bool = True  # conjugate-gradient solver (implicit's default); False: exact Cholesky solves
    num_threads: int = 1  # implicit's OpenMP threads; ALS results do not depend on it


@dataclass
class ImplicitBPRConfig:
    factors: int = 64  # embedding size, including the one column implicit uses for the item bias
    learning_rate: float = 0.01  # SGD step size (implicit's default)
    regularization: float = 0.01  # L2 on the factors touched by each update (implicit's default)
    iterations: int = 100  # epochs over the positive pairs (implicit's default)
    seed: int = 0  # random_state: initial factors and the sampled triples
    verify_negative_samples: bool = True  # resample a "negative" the user actually has (better, slower)
    num_threads: int = 1  # 1 keeps the Hogwild SGD deterministic


class _ImplicitFactorModel(Recommender):
    """Shared fit/score plumbing: build the user x item matrix, fit under a BLAS limit, keep factors."""

    def _make(self):
        raise NotImplementedError

    def _matrix(self, train: Interactions):
        return train.to_csr(binary=getattr(self.config, "binary", True))  # (n_users, n_items) float32

    def _fit(self, train: Interactions) -> None:
        with threadpool_limits(1, "blas"):
            model = self._make()
            model.fit(self._matrix(train), show_progress=False)
        self.model_ = model
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)  # (n_users, f)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)  # (n_items, f)

    def score(self, users: np.ndarray) -> np.ndarray:
        with threadpool_limits(1, "blas"):
            return self.user_factors_[np.asarray(users, dtype=np.int64)] @ self.item_factors_.T  # (len(users), n_items)


class ImplicitALS(_ImplicitFactorModel):
    """implicit's AlternatingLeastSquares (CPU), seeded and single-threaded by default."""

    name = "als"
    config_class = ImplicitALSConfig
    # The same objective and factors as the teaching ALS, so the same tuned defaults (found with
    #   python benchmarks/tune_lineage.py --dataset {ml-100k,world} --models als,als-numpy).
    TUNED: dict = ALS.TUNED

    def __init__(self, config: ImplicitALSConfig | None = None):
        self.config = config or ImplicitALSConfig()

    def _matrix(self, train: Interactions):
        """implicit multiplies what it is given by its alpha; for the paper's c = 1 + alpha * r we hand
        it the confidences themselves and alpha = 1 (see `_make`)."""
        cfg = self.config
        if cfg.confidence not in CONFIDENCES:
            raise ValueError(f"unknown confidence convention {cfg.confidence!r}; expected one of {', '.join(CONFIDENCES)}")
        matrix = train.to_csr(binary=cfg.binary)  # (n_users, n_items) r
        if cfg.confidence == "hkv":
            matrix.data = (1.0 + cfg.alpha * matrix.data).astype(np.float32)
        return matrix

    def _make(self):
        cfg = self.config
        return implicit.als.AlternatingLeastSquares(
            factors=cfg.factors, regularization=cfg.regularization,
            alpha=cfg.alpha if cfg.confidence == "implicit" else 1.0,
            iterations=cfg.iterations, use_cg=cfg.use_cg, use_gpu=False,
            num_threads=cfg.num_threads, random_state=cfg.seed)


class ImplicitBPR(_ImplicitFactorModel):
    """implicit's BayesianPersonalizedRanking (CPU), seeded and single-threaded by default."""

    name = "bpr"
    config_class = ImplicitBPRConfig
    # Chosen on a validation split carved from train (never test); the commands that found them:
    #   ml-100k: python benchmarks/tune_lineage.py --dataset ml-100k --data-dir ../shared/datasets/ml-100k --models bpr
    #   world:   python benchmarks/tune_lineage.py --dataset world --models bpr
    TUNED: dict = {
        "ml-100k": dict(factors=64, regularization=0.05, iterations=50),
        "world": dict(factors=128, regularization=0.01, iterations=80),
    }

    def __init__(self, config: ImplicitBPRConfig | None = None):
        self.config = config or ImplicitBPRConfig()

    def _make(self):
        cfg = self.config
        return implicit.bpr.BayesianPersonalizedRanking(
            factors=cfg.factors, learning_rate=cfg.learning_rate, regularization=cfg.regularization,
            iterations=cfg.iterations, use_gpu=False, num_threads=cfg.num_threads,
            verify_negative_samples=cfg.verify_negative_samples, random_state=cfg.seed)
