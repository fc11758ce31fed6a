# %% [markdown]
# # 04a · Exercise 1: the in-batch softmax loss
#
# **Goes with:** notebook 04a, section 3. **Time:** about 20 minutes.
#
# A batch holds B training examples (user $b$, the item $b$ they took). The user tower gives
# $U$ (B x D), the item tower $V$ (B x D), and $S = U V^\top / \tau$ is the B x B matrix of
# scores, $\tau$ the temperature. Row $b$ is user $b$ against every item of the batch; the
# diagonal holds the positives. The loss asks every user to pick *their own* item out of the B:
#
# $$\mathcal{L} = \frac{1}{B} \sum_{b=1}^{B} \Big( \log \sum_{j=1}^{B} e^{S_{bj}} - S_{bb} \Big)$$
#
# which is the cross-entropy of each row with label $b$.
#
# **Your task.** Write `in_batch_softmax_loss(user_vectors, item_vectors, temperature)` with torch
# operations, returning a scalar tensor that can be back-propagated. (`F.cross_entropy(logits,
# labels)` computes the mean of $\log \sum_j e^{x_{bj}} - x_{b, \text{label}_b}$ over the rows.)

# %%
# Setup: seeds first, so every number below is the same on every run.
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from lineage import evaluate_lists, generate_world, seed_everything, split, users_with_test_events, world_config
from workshop.two_towers import check_in_batch_loss

rng = seed_everything(0)
torch.set_num_threads(1)  # tiny tensors: one thread is fastest

# %%
def in_batch_softmax_loss(user_vectors, item_vectors, temperature=1.0):
    """Mean cross-entropy of each user (row) picking their own item (the diagonal) out of the batch."""
    # BEGIN SOLUTION
    # STUB: return None  # YOUR CODE HERE: a scalar torch tensor
    logits = user_vectors @ item_vectors.T / temperature  # (B, B)
    labels = torch.arange(len(user_vectors))  # row b's positive is column b
    return F.cross_entropy(logits, labels)
    # END SOLUTION


# %%
passed = check_in_batch_loss(in_batch_softmax_loss)

# %% [markdown]
# ## Train two towers with your loss
#
# The simplest two towers: an id embedding for users, one for items (notebook 04a, section 2: this
# is matrix factorisation, trained with a softmax instead of ALS's square loss). A few seconds of
# training on the tiny world, then recall@10 on the temporal test split, next to popularity.

# %%
loss_function = in_batch_softmax_loss if passed else (
    lambda U, V, temperature=1.0: F.cross_entropy(U @ V.T / temperature, torch.arange(len(U))))
world = generate_world(world_config("tiny"))
parts = split(world.interactions(), "temporal", test_fraction=0.2, seed=42)
train, test = parts.train, parts.test

torch.manual_seed(0)
user_table = torch.nn.Embedding(train.n_users, 16)  # the user tower: one vector per user
item_table = torch.nn.Embedding(train.n_items, 16)  # the item tower: one vector per item
for table in (user_table, item_table):
    torch.nn.init.normal_(table.weight, std=0.1)
optimiser = torch.optim.Adam([user_table.weight, item_table.weight], lr=0.05)
losses = []
for epoch in range(10):
    order = rng.permutation(len(train))
    for first in range(0, len(order), 256):
        rows = order[first:first + 256]
        U = user_table(torch.from_numpy(train.users[rows]))  # (B, 16)
        V = item_table(torch.from_numpy(train.items[rows]))  # (B, 16)
        loss = loss_function(U, V, 1.0)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())

users = users_with_test_events(test)
seen = train.to_csr()[users]
scores = user_table.weight[users].detach().numpy() @ item_table.weight.detach().numpy().T  # (n_users, n_items)
scores[np.repeat(np.arange(len(users)), np.diff(seen.indptr)), seen.indices] = -np.inf  # no seen items
scores[:, train.item_counts() == 0] = -np.inf  # no vector was trained for items nobody took
two_tower = np.argsort(-scores, axis=1, kind="stable")[:, :10]
popular = np.argsort(-np.where(np.isinf(scores), -np.inf, train.item_counts()[None, :]), axis=1, kind="stable")[:, :10]
for name, lists in [("popularity", popular), ("two towers (ids), in-batch softmax", two_tower)]:
    print(f"{name:<36} recall@10 {evaluate_lists(lists, users, train, test, 10)['recall@10']:.3f}")

fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(np.convolve(losses, np.ones(10) / 10, mode="valid"))
ax.axhline(np.log(256), color="gray", ls="--", label="log B: guessing among 256")
ax.set(xlabel="step", ylabel="in-batch softmax loss", title="Training with your loss")
ax.legend()
plt.show()

# %% [markdown]
# **To discuss.** The loss starts near $\log B$: why? What would the loss be if the model always
# put its positive first by a wide margin? Two users in a batch may have taken the same popular
# item; what does your loss tell the model about that item in their rows (exercise 2 fixes it)?
