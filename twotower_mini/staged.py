"""A staged negative schedule: random negatives first, then a short fine-tune with impressions.

The advice tested here: "once the model has already reached a high level of recall, a bit of
negative impression based training might further improve the model". Stage 1 trains with the
configured loss (by default in-batch negatives with the logQ correction: negatives drawn at random
from the other examples' positives) and stops when recall on a validation part carved from train
levels off (early stopping, `TrainConfig.patience`). Stage 2 continues from those weights for a few
epochs with the same loss plus the user's skipped impressions as hard negatives, each weighing
`impression_weight`. A weight of 0 means stage 2 runs with the stage-1 loss unchanged, so every
weight gets the same training budget and the comparison changes one thing.

    fitted = fit_staged(train, config, StagedSchedule(impression_weight=0.3), side)   # a FittedTowers
    first = fit_stage_one(train, config, side)                                        # or: stage 1 once,
    fitted = fine_tune(first, config, StagedSchedule(impression_weight=w), side)      # stage 2 per weight

References: Yang et al. (2020), "Mixed Negative Sampling for Learning Two-tower Neural Networks in
Recommendations"; the article's section on negatives (impressions as hard negatives).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace

from lineage.data import Interactions
from lineage.splits import validation_split

from .config import SampledSoftmax, TwoTowerConfig
from .features import FeatureBuilder, SideLog
from .fitted import FittedTowers, build_towers
from .train import TrainResult, train_towers

__all__ = ["StageOne", "StagedSchedule", "fine_tune", "fit_stage_one", "fit_staged"]


@dataclass(frozen=True)
class StagedSchedule:
    """Stage 2 of the schedule; stage 1 is the config's own training."""

    impression_weight: float = 0.3  # weight of each skipped impression in stage 2 (0: stage 1's loss, unchanged)
    impression_negatives: int = 7  # skipped impressions per example in stage 2 (the world's sessions show up to 8)
    epochs: int = 1  # stage-2 epochs, the same for every weight
    learning_rate_factor: float = 0.3  # stage 2 fine-tunes: a smaller step than stage 1's

    def __post_init__(self):
        if self.impression_weight < 0:
            raise ValueError(f"StagedSchedule.impression_weight must be >= 0, got {self.impression_weight}")
        if self.epochs < 1 or self.impression_negatives < 1:
            raise ValueError("StagedSchedule.epochs and impression_negatives must be at least 1")
        if not 0 < self.learning_rate_factor <= 1:
            raise ValueError(f"StagedSchedule.learning_rate_factor must be in (0, 1], got {self.learning_rate_factor}")


def stage_two_loss(config: TwoTowerConfig, schedule: StagedSchedule):
    """Stage 1's loss, plus skipped impressions at the schedule's weight (unchanged for weight 0)."""
    loss = config.training.loss
    if schedule.impression_weight == 0:
        return loss
    if not isinstance(loss, SampledSoftmax):
        raise ValueError(f"a staged schedule adds impressions to a SampledSoftmax, not to {type(loss).__name__}")
    return replace(loss, impression_negatives=schedule.impression_negatives,
                   impression_weight=schedule.impression_weight)


@dataclass(frozen=True)
class StageOne:
    """Towers trained with random negatives until validation recall levelled off, and what they were trained on."""

    train: Interactions  # all of train (serving features are built on it)
    features: FeatureBuilder  # the features of the part stage 1 was fitted on (validation carved out)
    run: TrainResult  # the early-stopped run: its model holds the best epoch's weights


def fit_stage_one(train: Interactions, config: TwoTowerConfig, side: SideLog) -> StageOne:
    """Stage 1: the config's own training, early-stopped on a validation part carved from train."""
    if config.validation_fraction <= 0:
        raise ValueError("a staged schedule needs a validation part (TwoTowerConfig.validation_fraction > 0)")
    inner = validation_split(train, config.validation_protocol, config.validation_fraction, config.training.seed)
    features = FeatureBuilder(inner.train, config.features, side)
    run = train_towers(build_towers(features, config), features, config.training, validation=inner.test, side=side)
    return StageOne(train, features, run)


def fine_tune(stage_one: StageOne, config: TwoTowerConfig, schedule: StagedSchedule, side: SideLog) -> FittedTowers:
    """Stage 2 on a copy of stage 1's towers (stage 1 itself is left as it was, to fine-tune again)."""
    second_config = replace(config.training, loss=stage_two_loss(config, schedule),
                            learning_rate=config.training.learning_rate * schedule.learning_rate_factor,
                            seed=config.training.seed + 1)
    model = copy.deepcopy(stage_one.run.model).train()
    second = train_towers(model, stage_one.features, second_config, side=side, epochs=schedule.epochs)
    history = stage_one.run.history + [dict(row, stage=2) for row in second.history]
    features = stage_one.features
    serving = features.extended_to(stage_one.train) if config.serve_on_full_train else features
    return FittedTowers(config, second.model, serving, history, stage_one.run.best_epoch,
                        validation_users=stage_one.run.validation_users)


def fit_staged(train: Interactions, config: TwoTowerConfig, schedule: StagedSchedule, side: SideLog) -> FittedTowers:
    """Both stages: random negatives until validation recall levels off, then the impression fine-tune."""
    return fine_tune(fit_stage_one(train, config, side), config, schedule, side)
