# %% [markdown]
# # 04a · Exercise 2: the logQ correction, and accidental hits
#
# **Goes with:** notebook 04a, sections 3 and 4. **Time:** about 25 minutes.
#
# The negatives of an in-batch softmax are other people's positives, so item $j$ turns up as a
# negative in proportion to its popularity: with probability $q_j$ per batch slot. Trained on
# these logits, the model learns $s(u, j) \approx \log p(j \mid u) - \log q_j$ and pushes popular
# items down. The **logQ correction** (Yi et al. 2019) subtracts $\log q_j$ from every logit of
# column $j$ during training:
#
# $$S_{bj} = u_b \cdot v_j - \log q_{\text{item}(j)}$$
#
# And when the same item is the positive of two examples $b \ne b'$, cell $(b, b')$ holds row $b$'s
# own item as a "negative": an **accidental hit**, to mask with $-\infty$ (the diagonal, the
# positive, is never masked).
#
# **Your task.** Write `logq_logits(user_vectors, item_vectors, item_ids, item_probability)`:
# `item_ids` (B,) are the items of the batch, `item_probability` (n_items,) holds $q$ for every
# item of the catalogue. Return the corrected, masked (B, B) logits.

# %%
# Setup: seeds first, so every number below is the same on every run.
import numpy as np
import torch
import torch.nn.functional as F

from lineage import evaluate_lists, generate_world, seed_everything, split, users_with_test_events, world_config
from workshop.two_towers import check_logq_logits, reference_logq_logits

rng = seed_everything(0)
torch.set_num_threads(1)  # tiny tensors: one thread is fastest

# %%
def logq_logits(user_vectors, item_vectors, item_ids, item_probability):
    """(B, B) in-batch logits, minus log q of each column's item, accidental hits set to -inf."""
    # BEGIN SOLUTION
    # STUB: return None  # YOUR CODE HERE: a (B, B) tensor
    logits = user_vectors @ item_vectors.T - torch.log(item_probability[item_ids])[None, :]
    same_item = item_ids[:, None] == item_ids[None, :]  # (B, B)
    same_item.fill_diagonal_(False)  # the positive itself stays
    return logits.masked_fill(same_item, float("-inf"))
    # END SOLUTION


# %%
passed = check_logq_logits(logq_logits)

# %% [markdown]
# ## With and without the correction
#
# The same id-only two towers as exercise 1, trained twice on the tiny world: with $q$ equal to each
# item's share of the training events (times B), and with $q$ = the same for every item (which
# is no correction at all: a constant column shift changes nothing). Compare accuracy, and how
# popular the recommended items are.

# %%
corrected_logits = logq_logits if passed else reference_logq_logits
world = generate_world(world_config("tiny"))
parts = split(world.interactions(), "temporal", test_fraction=0.2, seed=42)
train, test = parts.train, parts.test
counts = train.item_counts()
B = 256


def train_towers(q):
    torch.manual_seed(0)
    order_rng = np.random.default_rng(0)
    users_t, items_t = torch.nn.Embedding(train.n_users, 16), torch.nn.Embedding(train.n_items, 16)
    for table in (users_t, items_t):
        torch.nn.init.normal_(table.weight, std=0.1)
    optimiser = torch.optim.Adam([users_t.weight, items_t.weight], lr=0.05)
    for epoch in range(10):
        order = order_rng.permutation(len(train))
        for first in range(0, len(order), B):
            rows = order[first:first + B]
            ids = torch.from_numpy(train.items[rows])
            logits = corrected_logits(users_t(torch.from_numpy(train.users[rows])), items_t(ids), ids, q)
            loss = F.cross_entropy(logits, torch.arange(len(rows)))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return users_t.weight.detach().numpy(), items_t.weight.detach().numpy()


users = users_with_test_events(test)
seen = train.to_csr()[users]
q_popularity = torch.from_numpy(np.maximum(counts, 1) / len(train) * B)  # P(item in a batch slot) x B
q_flat = torch.full((train.n_items,), 1.0 / train.n_items)
for name, q in [("no correction (flat q)", q_flat), ("logQ correction", q_popularity)]:
    P, Q = train_towers(q)
    scores = P[users] @ Q.T
    scores[np.repeat(np.arange(len(users)), np.diff(seen.indptr)), seen.indices] = -np.inf
    scores[:, counts == 0] = -np.inf
    lists = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    metrics = evaluate_lists(lists, users, train, test, 10)
    print(f"{name:<24} recall@10 {metrics['recall@10']:.3f}   ndcg@10 {metrics['ndcg@10']:.3f}   "
          f"mean training views of the recommended items {counts[lists].mean():.1f}")
print(f"{'(popularity, for scale)':<24} mean training views of the 10 most viewed items {np.sort(counts)[-10:].mean():.1f}")

# %% [markdown]
# **To discuss.** Without the correction, the recommended items are much less popular: why? The
# correction is used *only during training*; at serving time the score is $u \cdot v$ as it is.
# Why must it not be applied when serving? And why does subtracting $\log q$ per *row* change
# nothing at all?
