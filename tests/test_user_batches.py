"""The denoising loss of user batches (`UserBatchLoss`), checked against a slow loop over users and
their hidden items, for each way the items left visible enter the softmax (`history_negative_weight`)."""
import numpy as np
import pytest
import torch

from lineage.data import Interactions
from twotower_mini.batches import UserBatchLoss
from twotower_mini.towers import as_tensors
from twotower_mini.config import DenoisingUsers, FeatureConfig, TowerConfig, TrainConfig
from twotower_mini.features import PAD, FeatureBuilder
from twotower_mini.towers import TwoTowerModel


def shuffled_log(n_users=7, n_items=12, seed=0) -> Interactions:
    """Every user rates a random set of 3..8 distinct items (a random split has no order to respect)."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for user in range(n_users):
        chosen = rng.choice(n_items, size=rng.integers(3, 9), replace=False)
        users += [user] * len(chosen)
        items += list(chosen)
    return Interactions(users=users, items=items, times=np.arange(len(users), dtype=float), values=np.ones(len(users)),
                        user_ids=np.array([f"u{u}" for u in range(n_users)]),
                        item_ids=np.array([f"i{i}" for i in range(n_items)]))


def slow_loss(model, features, user_inputs, hidden, weight: float, temperature: float) -> float:
    """-log softmax of each hidden item, one user at a time, averaged over all hidden items."""
    everything = np.arange(features.train.n_items)
    items = model.item_tower(as_tensors(features.item_features(everything, features.serving_times(everything))))
    losses = []
    for row in range(len(hidden)):
        history = user_inputs["history"][row]  # (L,) item index + 2, PAD = 0
        visible = history[(history != PAD) & ~hidden[row]]
        targets = history[hidden[row]] - 2
        if len(targets) == 0:
            continue
        user = model.user_tower(as_tensors({"history": visible[None, :] if len(visible) else np.array([[PAD]])}))[0]
        logits = user @ items.T / temperature  # (n_items,): cosines (the towers are normalised) / temperature
        for item in visible - 2:  # the items left visible: weighted in the softmax, or left out of it (weight 0)
            logits[item] = logits[item] + np.log(weight) if weight > 0 else -torch.inf
        log_z = torch.logsumexp(logits, dim=0)
        losses += [float(log_z - logits[target]) for target in targets]
    return float(np.mean(losses))


@pytest.mark.parametrize("weight", [1.0, 3.0, 0.0])
def test_the_user_batch_loss_matches_a_slow_loop_over_users(weight):
    data = shuffled_log()
    features = FeatureBuilder(data, FeatureConfig(history_mode="all-but-target", history_length=20,
                                                  recency_half_life_days=None, count_windows_days=(),
                                                  drop=("liked_history",)))
    torch.manual_seed(0)
    model = TwoTowerModel(features.user_fields(), features.item_fields(),
                          TowerConfig(hidden=(), embedding_dim=8, output_dim=8))
    config = TrainConfig(loss=DenoisingUsers(temperature=0.2, history_negative_weight=weight), history_dropout=0.5,
                         progress=False)
    loss = UserBatchLoss(features, config)
    users = loss.examples  # every user: one batch
    inputs = {name: values[loss.row_of_user[users]] for name, values in loss.user_inputs.items()}
    history = inputs["history"]
    hidden = (history != PAD) & (np.random.default_rng(5).random(history.shape) < 0.5)  # the draw the loss makes
    assert hidden.any() and ((history != PAD) & ~hidden).any()
    with torch.no_grad():
        fast = float(loss(model, users, np.random.default_rng(5)))
        slow = slow_loss(model, features, inputs, hidden, weight, temperature=0.2)
    assert fast == pytest.approx(slow, rel=1e-5)


def test_a_negative_weight_for_the_visible_history_is_refused():
    with pytest.raises(ValueError, match=r"^DenoisingUsers.history_negative_weight: expected a number in \[0, "):
        DenoisingUsers(history_negative_weight=-1)
