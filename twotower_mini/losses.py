"""Softmax losses over sampled negatives, with the sampling-bias correction (lessons L7 and 04).

For a batch of B positive pairs (u_b, i_b), the scores s[b, j] = <u_b, v_j> / temperature are
compared in a softmax over candidate items j. Candidates come from three sources, each a switch:

- **in-batch**: the other B-1 positive items of the batch. Popular items appear in batches more
  often, so they are over-used as negatives; the **logQ correction** subtracts log q_j (the
  probability that item j is sampled) from its logit so the softmax estimates the full one
  (Bengio and Senecal 2008; Yi et al. 2019, "Sampling-bias-corrected neural modeling"). Without
  it, the model learns to push popular items down and can lose to plain popularity.
- **uniform**: items drawn uniformly from the whole catalogue; mixed with in-batch ones they form
  the *mixed negative sampling* of Yang et al. (2020), which reaches the long tail.
- **impressions**: items shown to the user in the same session but not chosen, per example. They
  are hard negatives, often good items that simply lost to a better one, so they get a weight
  (added as log weight to their logits); lesson L7 says: use them sparingly, or leave them to the
  ranker.

**Accidental hits** (a negative that is the positive item itself, e.g. the same item twice in a
batch) are masked out, otherwise the model is told an item is both right and wrong.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F


def in_batch_logits(scores: torch.Tensor, item_ids: torch.Tensor, log_q: torch.Tensor | None = None,
                    mask_accidental_hits: bool = True) -> torch.Tensor:
    """scores: (B, B) user x in-batch-item scores; item_ids: (B,); log_q: (B,) log sampling probability
    of each in-batch item. Returns corrected (B, B) logits; the label of row b is column b."""
    logits = scores
    if log_q is not None:
        logits = logits - log_q[None, :]  # rare items (small q) gain, popular items lose
    if mask_accidental_hits:
        same_item = item_ids[:, None] == item_ids[None, :]  # (B, B)
        same_item.fill_diagonal_(False)
        logits = logits.masked_fill(same_item, float("-inf"))
    return logits


def extra_negative_logits(scores: torch.Tensor, negative_ids: torch.Tensor, positive_ids: torch.Tensor,
                          log_weight_or_q: torch.Tensor | float | None = None) -> torch.Tensor:
    """scores: (B, N) scores of N extra negatives per row (uniform or impressions); negative_ids: (B, N)
    (-1 = no negative in that slot). Accidental hits and empty slots are masked."""
    logits = scores
    if log_weight_or_q is not None:
        logits = logits + log_weight_or_q
    invalid = (negative_ids < 0) | (negative_ids == positive_ids[:, None])
    return logits.masked_fill(invalid, float("-inf"))


def softmax_loss(positive_first_logits: torch.Tensor, sample_weights: torch.Tensor | None = None,
                 labels: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy where, for the in-batch layout, the label of row b is column b.

    labels: (B,) the positive's column in each row instead (the full-softmax layout: its item index)."""
    if labels is None:
        labels = torch.arange(positive_first_logits.shape[0])
    losses = F.cross_entropy(positive_first_logits, labels, reduction="none")
    if sample_weights is not None:
        return (losses * sample_weights).sum() / sample_weights.sum()
    return losses.mean()


class StreamingFrequency:
    """Estimates each item's sampling probability from the stream of batches (Yi et al. 2019, alg. 2).

    For every item seen at step t, the gap since it was last seen is averaged:
    B[h] <- (1 - alpha) * B[h] + alpha * (t - A[h]); A[h] <- t. The item then appears about every
    B[h] steps, so its probability of being in a batch is ~ 1 / B[h]. Items share slots of a hash
    table of `size` entries (collisions make the estimate coarser, never wrong in sign)."""

    def __init__(self, size: int = 1 << 20, alpha: float = 0.05, seed: int = 0):
        self.size, self.alpha = size, alpha
        self.last_step = np.zeros(size, dtype=np.float64)  # A
        self.gap = np.full(size, np.nan)  # B, unknown until an item is seen twice
        self.step = 0
        self.salt = np.random.default_rng(seed).integers(1, 2**31 - 1)

    def _slots(self, item_ids: np.ndarray) -> np.ndarray:
        return (item_ids.astype(np.int64) * self.salt + 12345) % self.size

    def update(self, item_ids: np.ndarray) -> None:
        self.step += 1
        slots = np.unique(self._slots(np.asarray(item_ids)))
        seen_before = self.last_step[slots] > 0
        gaps = self.step - self.last_step[slots]
        old = self.gap[slots]
        new = np.where(np.isnan(old), gaps, (1 - self.alpha) * old + self.alpha * gaps)
        self.gap[slots] = np.where(seen_before, new, old)
        self.last_step[slots] = self.step

    def probability(self, item_ids: np.ndarray) -> np.ndarray:
        """Estimated probability that each item appears in a batch (1 / mean gap; 1/step if unknown)."""
        gap = self.gap[self._slots(np.asarray(item_ids))]
        return np.where(np.isnan(gap), 1.0 / max(self.step, 1), 1.0 / np.maximum(gap, 1.0))
