# %% [markdown]
# # 01 · Exercise 2: user-kNN with top-k neighbours
#
# **Goes with:** notebook 01, sections 1 and 2. **Time:** about 20 minutes.
#
# User-kNN recommends what *people like you* took. Here the matrix `H` holds how many times each
# of 8 people played each of 10 podcasts (counts, not just 0/1). For a user $u$:
#
# 1. similarity to every *other* user $v$: the cosine of the rows, $\mathrm{sim}(u, v) =
#    h_u \cdot h_v / (\lVert h_u\rVert \lVert h_v\rVert)$ (no shrinkage here);
# 2. keep only the `K` most similar other users, $N_K(u)$ (never $u$ itself);
# 3. score every podcast: $\text{score}_u = \sum_{v \in N_K(u)} \mathrm{sim}(u, v)\, h_v$.
#
# **Your task.** Compute `scores`, an (8, 10) array with one row per user.

# %%
# Setup: seeds first, so every number below is the same on every run.
import numpy as np

from lineage import Interactions, seed_everything
from workshop.neighbours import check_user_knn_scores, reference_user_knn_scores

rng = seed_everything(0)

# %%
H = np.array([  # (8 people, 10 podcasts): number of plays
    [3, 0, 1, 0, 0, 2, 0, 0, 1, 0],
    [2, 1, 0, 0, 0, 3, 0, 0, 0, 0],
    [0, 0, 0, 4, 1, 0, 0, 2, 0, 0],
    [0, 0, 1, 3, 2, 0, 0, 1, 0, 1],
    [1, 0, 2, 0, 0, 1, 0, 0, 3, 0],
    [0, 2, 0, 0, 0, 0, 3, 0, 0, 2],
    [0, 3, 0, 1, 0, 0, 2, 0, 0, 1],
    [4, 0, 0, 0, 1, 1, 0, 0, 2, 0],
], dtype=np.float64)
K = 2

# %%
# BEGIN SOLUTION
# STUB: scores = None  # YOUR CODE HERE: an (8, 10) array
unit = H / np.linalg.norm(H, axis=1, keepdims=True)  # (8, 10) unit-length rows
similarity = unit @ unit.T  # (8, 8) cosine of every pair of users
np.fill_diagonal(similarity, 0.0)  # nobody is their own neighbour
scores = np.zeros_like(H)
for u in range(len(H)):
    neighbours = np.argsort(-similarity[u], kind="stable")[:K]  # the K most similar other users
    scores[u] = similarity[u, neighbours] @ H[neighbours]
# END SOLUTION

# %%
passed = check_user_knn_scores(scores, H, K)

# %% [markdown]
# ## From scores to a list
#
# A list must not repeat what the user already played. Recommend three podcasts to each person,
# and compare with the library's `UserKNN` on the same data.

# %%
from lineage.models import UserKNN, UserKNNConfig

user_scores = scores if passed else reference_user_knn_scores(H, K)
masked = np.where(H > 0, -np.inf, user_scores)
ours = np.argsort(-masked, axis=1, kind="stable")[:, :3]

u, i = np.nonzero(H)
log = Interactions(users=u, items=i, times=np.zeros(len(u)), values=H[u, i],
                   user_ids=np.arange(len(H)).astype(str), item_ids=np.arange(H.shape[1]).astype(str))
library = UserKNN(UserKNNConfig(k_neighbours=K, shrinkage=0.0, binary=False)).fit(log)
theirs = library.recommend(np.arange(len(H)), k=3)
library_scores = library.score(np.arange(len(H)))
for person in range(len(H)):  # a score of 0 is no recommendation: none of your neighbours played it
    mine = [int(i) for i in ours[person] if masked[person, i] > 0]
    lineage_list = [int(i) for i in theirs[person] if library_scores[person, i] > 0]
    print(f"user {person}: ours {mine}   lineage {lineage_list}")

# %% [markdown]
# **To discuss.** User 1 has played only podcasts 0, 1 and 5. Who are their two neighbours, and
# why is podcast 8 at the top of their list? What happens to user-kNN with $K$ = 7 (every other
# user), and why do real systems keep $K$ small *and* tune it on validation data?
