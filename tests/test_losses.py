"""Losses and negatives: the sign of the logQ correction, accidental-hit masking, the streaming
frequency estimate, and extra (uniform / impression) negatives, each against a hand computation."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from twotower_mini.losses import StreamingFrequency, extra_negative_logits, in_batch_logits, softmax_loss


def test_logq_correction_lifts_rare_items_relative_to_popular_ones():
    scores = torch.zeros(2, 2)  # the model is indifferent
    item_ids = torch.tensor([0, 1])
    log_q = torch.log(torch.tensor([0.5, 0.01]))  # item 0 popular, item 1 rare
    logits = in_batch_logits(scores, item_ids, log_q)
    assert logits[0, 1] > logits[0, 0]  # the rare item gains, the popular one loses
    assert torch.allclose(logits[0], -log_q)
    # consequence for training: with equal scores, a popular positive now costs more than a rare one
    loss_popular_positive = F.cross_entropy(logits[0:1], torch.tensor([0]))
    loss_rare_positive = F.cross_entropy(logits[1:2], torch.tensor([1]))
    assert loss_popular_positive > loss_rare_positive


def test_accidental_hits_are_masked_but_the_positive_is_kept():
    scores = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.1, 0.2], [0.0, 0.0, 0.0]])
    item_ids = torch.tensor([7, 7, 9])  # rows 0 and 1 share their positive item
    logits = in_batch_logits(scores, item_ids, None)
    assert torch.isinf(logits[0, 1]) and torch.isinf(logits[1, 0])
    assert logits[0, 0] == 1.0 and logits[1, 1] == 0.1 and logits[2, 0] == 0.0
    unmasked = in_batch_logits(scores, item_ids, None, mask_accidental_hits=False)
    assert not torch.isinf(unmasked).any()


def test_softmax_loss_matches_a_hand_computation():
    logits = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    expected = (-np.log(np.exp(2) / (np.exp(2) + 1)) - np.log(0.5)) / 2
    assert softmax_loss(logits).item() == pytest.approx(expected, rel=1e-6)


def test_extra_negatives_mask_empty_slots_and_the_positive_and_add_the_weight():
    scores = torch.tensor([[1.0, 2.0, 3.0]])
    logits = extra_negative_logits(scores, torch.tensor([[5, -1, 4]]), torch.tensor([4]), float(np.log(0.5)))
    assert logits[0, 0] == pytest.approx(1.0 + np.log(0.5))
    assert torch.isinf(logits[0, 1]) and torch.isinf(logits[0, 2])


def test_streaming_frequency_estimates_batch_probabilities():
    rng = np.random.default_rng(0)
    probabilities = np.array([0.5, 0.2, 0.05])  # chance each item is in a given batch
    estimator = StreamingFrequency(size=1 << 12, alpha=0.01)
    for _ in range(20_000):
        estimator.update(np.flatnonzero(rng.random(3) < probabilities))
    estimated = estimator.probability(np.arange(3))
    assert np.allclose(estimated, probabilities, rtol=0.25), estimated
    assert estimated[0] > estimated[1] > estimated[2]  # the order, which is what the correction needs
