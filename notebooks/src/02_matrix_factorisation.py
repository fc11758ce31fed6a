# %% [markdown]
# # 02 · Matrix factorisation: latent categories, weighted ALS, and its limits
#
# **Time:** about 45 minutes. **Prerequisites:** notebooks 00 and 01; least squares (solving
# $A x = b$ for a small square matrix) and matrix products.
#
# **You will learn to**
# 1. see how matrix factorisation turns a user x item matrix into a few numbers per user and per
#    item, and how those numbers become *latent categories* (a 4 x 5 example you can plot);
# 2. write down the weighted ALS objective of Hu, Koren and Volinsky (2008), do one half-step by
#    hand, and check it against the library;
# 3. compare our from-scratch numpy ALS with the `implicit` library (same answers, different
#    speed) and say why ALS parallelises so well;
# 4. avoid a trap: `implicit` defines the confidence as $\alpha r$, the paper as $1 + \alpha r$;
# 5. explain why a model that predicts *ratings* well can recommend badly (Cremonesi et al. 2010);
# 6. measure MF's two weaknesses: recommendations pile up on the popular head, and a new item has
#    no embedding at all.

# %%
# Setup: seeds first, so every number below is the same on every run.
import time
import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp
from scipy.stats import spearmanr

from lineage import (Interactions, evaluate_lists, generate_world, guard, make_model, plot_factors,
                     seed_everything, segment_recall, split, top_k, true_recall_at_k, users_with_test_events,
                     validation_split, world_config)
from lineage.models import ALS, ALSConfig, ImplicitALS, ImplicitALSConfig, Popularity
from lineage.models.als import confidence_matrix, solve_users

rng = seed_everything(0)
NOTEBOOK_START = time.perf_counter()

# %% [markdown]
# ## 1. A 4 x 5 example: latent categories appear by themselves
#
# Four readers and five books. Nobody told the model that three books are science fiction and two
# are about cooking; the matrix only says who read what. Two cells are empty that "should" be
# full: Ben has not read Foundation yet, Dev has not read Bread.

# %%
people = ["Ana", "Ben", "Chloé", "Dev"]
books = ["Dune", "Foundation", "Neuromancer", "Pasta", "Bread"]
scifi, cooking = [0, 1, 2], [3, 4]
R = np.array([  # (4 readers, 5 books): 1 = read it
    [1, 1, 1, 0, 0],  # Ana
    [1, 0, 1, 0, 0],  # Ben
    [0, 0, 0, 1, 1],  # Chloé
    [0, 0, 0, 1, 0],  # Dev
], dtype=np.float64)
u, i = np.nonzero(R)
toy = Interactions(users=u, items=i, times=np.zeros(len(u)), values=np.ones(len(u)),
                   user_ids=np.array(people), item_ids=np.array(books), name="toy")

# Two latent dimensions; the exact solver (one small linear system per row) and a strong confidence.
toy_als = ALS(ALSConfig(factors=2, regularization=0.1, alpha=10.0, iterations=30, solver="exact")).fit(toy)
X, Y = toy_als.user_factors_, toy_als.item_factors_  # (4, 2) and (5, 2)
reconstruction = X @ Y.T  # (4, 5): the model's score for every reader and book
print("reconstruction X @ Y.T (rows: readers, columns: books)")
print(" " * 8 + "".join(f"{b[:9]:>11}" for b in books))
for p, row in zip(people, reconstruction):
    print(f"{p:<8}" + "".join(f"{v:11.2f}" for v in row))

# %%
plot_factors(X, Y, people, books)  # arrows from the origin: readers (X) and books (Y) in the same 2-d space
plt.show()


# %%
def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


within = min(cosine(Y[a], Y[b]) for group in (scifi, cooking) for a in group for b in group)
across = max(abs(cosine(Y[a], Y[b])) for a in scifi for b in cooking)
print(f"item vectors: smallest cosine within a group {within:.3f}, largest |cosine| across groups {across:.3f}")
print(f"empty cells filled: Ben -> Foundation {reconstruction[1, 1]:.2f}, Dev -> Bread {reconstruction[3, 4]:.2f}; "
      f"largest |cross-group score| {np.abs(reconstruction[:2, cooking]).max():.2f}")

# %%
# Lesson guard: the 2-d embeddings separate the two categories, and the reconstruction fills the empty
# in-group cells while keeping the cross-group cells near 0.
readers_of = {0: scifi, 1: scifi, 2: cooking, 3: cooking}
in_group = [reconstruction[p, b] for p, group in readers_of.items() for b in group]
out_group = [reconstruction[p, b] for p, group in readers_of.items() for b in range(5) if b not in group]
guard("L1 toy: largest 1 - cosine within a category", 1 - within, "<", 0.05)
guard("L1 toy: largest |cosine| across categories", across, "<", 0.1)
guard("L1 toy: smallest in-category score", min(in_group), ">", 0.5)
guard("L1 toy: largest |cross-category score|", max(np.abs(out_group)), "<", 0.1)

# %% [markdown]
# Each book became an arrow and each reader too. The science-fiction books point along one axis,
# the cookbooks along the other, and every reader points at their kind of book. The score of a
# reader for a book is the dot product of the two arrows: large when they point the same way,
# zero when they are at right angles. That is how the model fills the empty cells: Ben's arrow
# is the science-fiction arrow, so Foundation scores high for him although he never read it, while
# every cookbook scores close to 0 (the numbers are printed above).
#
# On real data there are not two clean categories but dozens of blurry ones (dark thrillers,
# Spanish cooking, long reads ...), and we use 64 or 128 dimensions. Nobody names them; they are
# whatever directions explain the matrix best. These are the *embeddings* the rest of the course
# is about, and a two-tower model learns the same kind of vectors from features.
#
# ## 2. Weighted ALS, one step at a time
#
# With implicit feedback (views, clicks) an empty cell is not a missing rating: it is weak
# evidence that the user is not interested. Hu, Koren and Volinsky (2008) therefore fit **every**
# cell, each with its own confidence. For user $u$ and item $i$, with $r_{ui}$ the number (or
# weight) of interactions:
#
# - preference $p_{ui} = 1$ if $r_{ui} > 0$, else $0$;
# - confidence $c_{ui} = 1 + \alpha\, r_{ui}$ (so an empty cell has confidence 1, a viewed one more);
#
# $$L(X, Y) = \sum_{u, i} c_{ui}\, (p_{ui} - x_u \cdot y_i)^2 + \lambda \left(\lVert X\rVert^2 + \lVert Y\rVert^2\right)$$
#
# over user factors $X$ (n_users x f) and item factors $Y$ (n_items x f). The loss is not convex in
# both at once, but fix $Y$ and it is an ordinary weighted least-squares problem for each user,
# with a closed-form answer (the normal equations):
#
# $$x_u = \left(Y^\top C_u Y + \lambda I\right)^{-1} Y^\top C_u\, p_u, \qquad C_u = \mathrm{diag}(c_{u1}, \dots, c_{u n})$$
#
# **A**lternate: solve all users given the items, then all items given the users, and repeat.
# Each half-step exactly minimises the loss over one block, so the loss can only go down.
#
# Written naively, $Y^\top C_u Y$ costs n_items x f² per user. The paper's trick: $C_u = I + (C_u - I)$
# and $C_u - I$ is zero except on the user's $n_u$ observed items, so
#
# $$Y^\top C_u Y = \underbrace{Y^\top Y}_{\text{once per half-step}} + \underbrace{Y_u^\top (C_u - I) Y_u}_{n_u \times f^2}$$
#
# Let us do one user's step by hand on the world's training data and compare with
# `lineage.models.als.solve_users`, which does all users at once.

# %%
world = generate_world(world_config())
data = world.interactions()  # values: 1 for a view, 2 for a liked view
parts = split(data, "temporal", test_fraction=0.2, seed=42)
train, test = parts.train, parts.test
eval_users = users_with_test_events(test)
K = 10

f, lam, alpha = 16, 100.0, 16.0
C = confidence_matrix(train.to_csr(binary=False), alpha, "hkv")  # (n_users, n_items): c_ui on observed cells
Y_now = rng.normal(0.0, 0.1, size=(train.n_items, f))  # the current item factors (any will do)

user = int(np.argmax(np.diff(C.indptr) == 20))  # some user with 20 viewed items
observed = C.indices[C.indptr[user]:C.indptr[user + 1]]  # (n_u,) the items they viewed
c_obs = C.data[C.indptr[user]:C.indptr[user + 1]]  # (n_u,) their confidences

# %%
# naive: the dense confidence vector over the whole catalogue
c_dense = np.ones(train.n_items)
c_dense[observed] = c_obs
p_dense = np.zeros(train.n_items)
p_dense[observed] = 1.0
A_naive = Y_now.T @ (c_dense[:, None] * Y_now) + lam * np.eye(f)  # (f, f), n_items * f^2 work
b_naive = Y_now.T @ (c_dense * p_dense)  # (f,)
x_naive = np.linalg.solve(A_naive, b_naive)

# the Gram-matrix trick: Y^T Y once, plus a correction over the n_u observed items only
gram = Y_now.T @ Y_now  # (f, f), shared by every user
Y_u = Y_now[observed]  # (n_u, f)
A_trick = gram + Y_u.T @ ((c_obs - 1.0)[:, None] * Y_u) + lam * np.eye(f)
b_trick = Y_u.T @ c_obs  # p = 1 on the observed items, 0 elsewhere
x_trick = np.linalg.solve(A_trick, b_trick)

all_users_step = solve_users(Y_now, C, lam)  # (n_users, f): every user's exact half-step at once
x_library = all_users_step[user]
print(f"user {user}: {len(observed)} viewed items out of {train.n_items}")
print("x_u by hand (naive)   ", np.round(x_naive[:6], 5), "...")
print("x_u by hand (trick)   ", np.round(x_trick[:6], 5), "...")
print("x_u from solve_users  ", np.round(x_library[:6], 5), "...")
print(f"work per user: naive n_items*f^2 = {train.n_items * f * f:,} multiply-adds, "
      f"trick n_u*f^2 = {len(observed) * f * f:,}")

# %%
# Lesson guard: the hand-derived half-step (both ways) is exactly what the library computes.
def relative_difference(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


guard("L2 half-step: naive = Gram trick (max relative difference)", relative_difference(x_naive, x_trick), "<", 1e-9)
guard("L2 half-step: Gram trick = solve_users (max relative difference)", relative_difference(x_trick, x_library), "<", 1e-9)

# %% [markdown]
# ## 3. The full fit: the loss curve, our ALS vs `implicit`, and why it is parallel
#
# `lineage.models.ALS` is the teaching implementation: about a hundred lines of numpy that
# alternate `solve_users` and `solve_items` (by default with a few conjugate-gradient steps per
# half-step instead of an exact solve, as `implicit` does; Takacs et al. 2011). `implicit` is the
# production library, written in Cython with OpenMP. We fit both with the same hyperparameters,
# the ones tuned on a validation split for this world (`make_model`), one thread each.

# %%
ours = make_model("als-numpy", "world")  # lineage.models.ALS with the tuned defaults
theirs = make_model("als", "world")  # implicit's AlternatingLeastSquares, same hyperparameters
print(ours.config)
print(theirs.config)
als_results, als_seconds, als_lists = {}, {}, {}
for name, model in [("our numpy ALS", ours), ("implicit ALS", theirs)]:
    start = time.perf_counter()
    model.fit(train)
    als_seconds[name] = time.perf_counter() - start
    als_lists[name] = model.recommend(eval_users, k=K)
    als_results[name] = evaluate_lists(als_lists[name], eval_users, train, test, K)
    print(f"{name:<14} fit {als_seconds[name]:5.1f} s   recall@10 {als_results[name]['recall@10']:.4f}"
          f"   ndcg@10 {als_results[name]['ndcg@10']:.4f}")
time_ratio = als_seconds["our numpy ALS"] / als_seconds["implicit ALS"]
recall_gap = abs(als_results["our numpy ALS"]["recall@10"] / als_results["implicit ALS"]["recall@10"] - 1)
print(f"time ratio {time_ratio:.1f}x, relative recall difference {recall_gap:.2%}")

# %%
loss = np.array(ours.loss_history_)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
axes[0].plot(np.arange(1, len(loss) + 1), loss, marker="o")
axes[0].set(xlabel="iteration", ylabel="weighted loss L(X, Y)", title="ALS: the loss never goes up")
axes[1].bar(list(als_seconds), list(als_seconds.values()), color=["tab:orange", "tab:blue"])
axes[1].set(ylabel="fit seconds (1 thread)", title=f"Same factors, {time_ratio:.0f}x the time")
plt.tight_layout()
plt.show()

# %%
# Lesson guards: each sweep lowers the loss; our ALS reaches implicit's recall (within 2%), at a
# sane cost (the benchmark script tracks the < 10x target; this is only a generous sanity bound).
guard("L3 largest relative loss increase between sweeps", np.max(np.diff(loss) / loss[:-1]), "<=", 1e-9)
guard("L3 last / first loss", loss[-1] / loss[0], "<", 0.8)
guard("L3 our ALS vs implicit: relative recall difference", recall_gap, "<", 0.02)
guard("L3 our ALS / implicit fit time (sanity bound)", time_ratio, "<", 50)

# %% [markdown]
# The two fits give the same recommendations: same objective, same starting point, same solver.
# `implicit` is several times faster because its inner loops are compiled; on a quiet machine our
# hundred lines of numpy stay within 10x of it (`benchmarks/lineage_bench.py` measures this; a
# notebook on a busy laptop will see noisier timings). That is what vectorising over all users
# at once, and the Gram-matrix trick, buy.
#
# **Why ALS is parallel.** Given $Y$, user $u$'s system involves only $Y$, $Y^\top Y$ and $u$'s own
# row of $C$. No user's answer depends on any other user's. So the users can be split across as
# many threads or machines as you like, and each half-step is "embarrassingly parallel" (Spark's
# MLlib ALS is built on exactly this). Check it: solving a random handful of users on their own
# gives the same rows as solving everyone.

# %%
some_users = rng.choice(train.n_users, size=7, replace=False)
alone = solve_users(Y_now, C[some_users], lam)  # section 2's half-step, for only these 7 users
print("max difference, alone vs together:", np.abs(alone - all_users_step[some_users]).max())

two_threads = ImplicitALS(ImplicitALSConfig(**{**vars(theirs.config), "num_threads": 2}))
start = time.perf_counter()
two_threads.fit(train)
seconds_two = time.perf_counter() - start
print(f"implicit, 1 thread {als_seconds['implicit ALS']:.2f} s, 2 threads {seconds_two:.2f} s "
      f"(this machine's cores may be shared, so the speed-up varies); "
      f"max factor difference {np.abs(two_threads.item_factors_ - theirs.item_factors_).max():.1e}")

# %%
# Lesson guard: users are independent given the items, so any split of the work gives the same answer.
guard("L4 users alone = together (max relative difference)", relative_difference(alone, all_users_step[some_users]), "<", 1e-10)
guard("L4 implicit, 2 threads = 1 thread (max abs. factor difference)",
      np.abs(two_threads.item_factors_ - theirs.item_factors_).max(), "<", 1e-4)

# %% [markdown]
# ## 4. A trap: `implicit`'s confidence is $\alpha r$, not $1 + \alpha r$
#
# Since version 0.5, `implicit` multiplies the matrix you give it by `alpha` and uses the result
# *as* the confidence of an observed cell: $c_{ui} = \alpha\, r_{ui}$. The paper uses
# $1 + \alpha\, r_{ui}$. Empty cells have confidence 1 in both. What matters is how much more an
# observed cell weighs than an empty one:

# %%
print(f"{'alpha':>6} {'r':>3} {'paper 1+alpha*r':>16} {'implicit alpha*r':>17}")
for a in [1.0, 4.0, 16.0]:
    for r in [1.0, 2.0]:
        print(f"{a:6.0f} {r:3.0f} {1 + a * r:16.0f} {a * r:17.0f}")

# %% [markdown]
# With implicit's default `alpha=1` and 0/1 data, a view weighs exactly as much as an empty cell
# (both 1), where the paper would give it twice the weight. With 0/1 data the two conventions are
# a shift of alpha by one: `implicit` with alpha a is the paper with alpha a - 1. With counts or
# ratings it is not even a shift. So "the same alpha" in two libraries is not the same model. Let
# us see how much it matters on the world (0/1 data, the tuned factors and regularisation):

# %%
base = dict(factors=64, regularization=100.0, binary=True)
convention_recall, convention_factors = {}, {}
for a, convention in [(4.0, "hkv"), (4.0, "implicit"), (3.0, "hkv"), (16.0, "hkv"), (16.0, "implicit")]:
    model = ImplicitALS(ImplicitALSConfig(**base, alpha=a, confidence=convention)).fit(train)
    lists = model.recommend(eval_users, k=K)
    convention_recall[a, convention] = evaluate_lists(lists, eval_users, train, test, K)["recall@10"]
    convention_factors[a, convention] = model.item_factors_
    print(f"alpha {a:4.0f}  confidence {'1 + alpha*r' if convention == 'hkv' else 'alpha*r':<12}"
          f"  recall@10 {convention_recall[a, convention]:.4f}")
gap_small = convention_recall[4.0, "hkv"] - convention_recall[4.0, "implicit"]
gap_large = convention_recall[16.0, "hkv"] - convention_recall[16.0, "implicit"]
print(f"paper minus implicit convention: {gap_small:+.4f} at alpha 4, {gap_large:+.4f} at alpha 16")

# %%
# Lesson guards: on 0/1 data implicit's alpha a *is* the paper's alpha a - 1 (the very same factors);
# the convention changes recall clearly at a small alpha and hardly at a large one.
guard("L5 implicit alpha 4 = paper alpha 3 (max abs. factor difference)",
      np.abs(convention_factors[4.0, "implicit"] - convention_factors[3.0, "hkv"]).max(), "<", 1e-4)
guard("L5 recall@10 paper - implicit convention, alpha 4", gap_small, ">", 0.01)
guard("L5 |recall@10 paper - implicit convention|, alpha 16", abs(gap_large), "<", 0.005)

# %% [markdown]
# At alpha 4 the convention is worth a clear difference in recall (printed above; the confidence
# of a view differs by 20%: 4 vs 5); at alpha 16 it is noise (16 vs 17). When you compare with a paper or port
# hyperparameters between libraries, translate alpha. `lineage` exposes both conventions
# (`confidence="hkv"` or `"implicit"`) in both ALS classes, and the tuned world model uses
# implicit's.
#
# ## 5. Why predicting ratings is the wrong target for top-k
#
# Before implicit-feedback ALS, matrix factorisation meant **rating prediction** (the Netflix
# Prize): fit $r_{ui} \approx \mu + b_u + b_i + x_u \cdot y_i$ on the *observed* cells only, by
# squared error, and judge it by RMSE. It never looks at the empty cells, so it learns *how much
# you liked what you chose*, not *what you will choose*. Cremonesi, Koren and Turrin (2010) showed
# that such models, excellent at RMSE, lose at top-k even to popularity.
#
# The world has a rating of sorts: 2 for a liked view, 1 for a plain one. Here is a compact
# rating-prediction MF (biased, fitted by ALS on observed cells only), with its regularisation
# chosen the way a rating-prediction practitioner would: by RMSE on the validation split.

# %%
def rating_mf(ratings: sp.csr_matrix, f: int = 16, reg: float = 10.0, iterations: int = 8, seed: int = 0):
    """Biased MF on the observed cells only: r_ui ~ mu + b_u + b_i + x_u . y_i, squared error, ALS.

    Stored so that one product gives the prediction: users [x_u, b_u, 1], items [y_i, 1, b_i];
    users solve for (x_u, b_u) with the items' last column as a fixed offset, and vice versa."""
    generator = np.random.default_rng(seed)
    n_users, n_items = ratings.shape
    mu = ratings.data.mean()
    U = np.c_[generator.normal(0, 0.1, (n_users, f)), np.zeros(n_users), np.ones(n_users)]  # (n_users, f+2)
    V = np.c_[generator.normal(0, 0.1, (n_items, f)), np.ones(n_items), np.zeros(n_items)]  # (n_items, f+2)
    by_item = ratings.T.tocsr()
    steps = [(ratings, U, V, np.r_[np.arange(f), f], f + 1),  # users: solve x_u and b_u
             (by_item, V, U, np.r_[np.arange(f), f + 1], f)]  # items: solve y_i and b_i
    for _ in range(iterations):
        for matrix, solve, fixed, free, offset in steps:
            for row in range(matrix.shape[0]):
                lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
                other = fixed[matrix.indices[lo:hi]]  # (n_obs, f+2) the other side's rows
                F = other[:, free]  # (n_obs, f+1)
                target = matrix.data[lo:hi] - mu - other[:, offset]
                solve[row, free] = np.linalg.solve(F.T @ F + reg * np.eye(f + 1), F.T @ target)
    return mu, U, V


def rmse(mu, U, V, log: Interactions) -> float:
    return float(np.sqrt(np.mean((log.values - mu - np.einsum("nf,nf->n", U[log.users], V[log.items])) ** 2)))


# %%
# The regularisation is chosen on a validation part carved out of train, by RMSE.
inner = validation_split(train, "temporal", fraction=0.1, seed=0)
inner_ratings = inner.train.to_csr(binary=False).astype(np.float64)  # (n_users, n_items), 1 or 2 (sums of repeats)
validation_rmse = {"global mean only": float(np.sqrt(np.mean((inner.test.values - inner_ratings.data.mean()) ** 2)))}
for reg in [1.0, 3.0, 10.0, 30.0]:
    validation_rmse[f"rating MF, reg {reg:g}"] = rmse(*rating_mf(inner_ratings, reg=reg), inner.test)
for name, value in validation_rmse.items():
    print(f"{name:<22} validation RMSE {value:.4f}")
best_reg = float(min((v, k) for k, v in validation_rmse.items() if k != "global mean only")[1].split()[-1])
print("chosen by RMSE: reg =", best_reg)

# %%
mu, U, V = rating_mf(train.to_csr(binary=False).astype(np.float64), reg=best_reg)
predicted = mu + U[eval_users] @ V.T  # (n_test_users, n_items) predicted ratings
seen = train.to_csr(binary=True)[eval_users]
predicted[np.repeat(np.arange(len(eval_users)), np.diff(seen.indptr)), seen.indices] = -np.inf
rating_lists = top_k(predicted, K)
popularity_lists = Popularity().fit(train).recommend(eval_users, k=K)
topk = {
    "popularity": evaluate_lists(popularity_lists, eval_users, train, test, K),
    "rating MF (best RMSE)": evaluate_lists(rating_lists, eval_users, train, test, K),
    "weighted ALS": als_results["implicit ALS"],
}
# the world's oracle (notebook 00): each user's 10 truly best unseen items, released before the end of test
true_top = world.true_top_items(eval_users, K, released_before=test.times.max() + 1, exclude=train.to_csr())
for name, lists in [("popularity", popularity_lists), ("rating MF (best RMSE)", rating_lists),
                    ("weighted ALS", als_lists["implicit ALS"])]:
    topk[name]["true_recall@10"] = true_recall_at_k(lists, true_top, K)
for name, scores in topk.items():
    print(f"{name:<22} ndcg@10 {scores['ndcg@10']:.4f}   recall@10 {scores['recall@10']:.4f}   "
          f"coverage@10 {scores['coverage@10']:.3f}   true recall@10 {scores['true_recall@10']:.4f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
names = list(validation_rmse)
axes[0].barh(names, list(validation_rmse.values()), color="tab:gray")
axes[0].set(xlim=(0.4, max(validation_rmse.values()) * 1.02), xlabel="validation RMSE (lower is better)",
            title="As a rating predictor, MF works")
axes[1].bar(list(topk), [s["ndcg@10"] for s in topk.values()], color=["tab:gray", "tab:red", "tab:blue"])
axes[1].set(ylabel="test nDCG@10", title="As a recommender, it loses to popularity")
plt.tight_layout()
plt.show()

# %%
# Lesson guards: the RMSE-chosen rating model does predict ratings better than the mean, yet at
# top-k it loses to popularity, and far to weighted ALS. (By how much it loses to popularity varies
# from one sample of the world to another; that it loses does not.)
rating, popular, weighted = topk["rating MF (best RMSE)"], topk["popularity"], topk["weighted ALS"]
print(f"true recall@10, rating MF / popularity: {rating['true_recall@10'] / popular['true_recall@10']:.2f}x; "
      f"weighted ALS / rating MF: {weighted['true_recall@10'] / rating['true_recall@10']:.2f}x")
guard("L6 validation RMSE: global mean - rating MF", validation_rmse["global mean only"] - validation_rmse[f"rating MF, reg {best_reg:g}"], ">", 0.01)
guard("L6 ndcg@10 rating MF / popularity", rating["ndcg@10"] / popular["ndcg@10"], "<", 0.9)
guard("L6 ndcg@10 rating MF / weighted ALS", rating["ndcg@10"] / weighted["ndcg@10"], "<", 0.4)
guard("L6 true recall@10 weighted ALS / rating MF", weighted["true_recall@10"] / rating["true_recall@10"], ">", 1.25)

# %% [markdown]
# The rating model learned something real (its RMSE beats the mean), but its question was "how
# much will you like it, *if* you watch it?". A top-k list answers "what will you watch?", and
# the empty cells, which rating prediction throws away, carry most of that answer: what people
# skip tells you as much as what they rate. Weighted ALS keeps every empty cell as a weak
# negative; that is why it wins. (The same lesson returns with two towers: in-batch softmax and
# sampled negatives are other ways of using the empty cells.)
#
# Is this only the log's bias from notebook 00, which rewards imitating what the app showed? The
# oracle column says no. Against each user's truly best items weighted ALS finds clearly more of
# them than the rating model does (the ratios are printed above; how many more varies from one
# sample of the world to another): the empty cells carry taste as well as exposure.
#
# ## 6. The long tail: recommendations pile up on the head
#
# In notebook 00 we saw that the top 10% of items get most of the views. A model trained to
# reproduce the log inherits that skew, and usually amplifies it. Group the catalogue into ten
# slices by training popularity (slice 1 = the most viewed 10% of items) and compare where the
# recommendations go with where the test views go. (Cold users are left out here: the models
# have nothing to say to them, see section 7.)

# %%
counts = train.item_counts()  # (n_items,) training views
order = np.argsort(-counts, kind="stable")
decile = np.empty(train.n_items, dtype=np.int64)
decile[order] = np.arange(train.n_items) * 10 // train.n_items  # 0 = head ... 9 = tail
warm = ~parts.cold_users()[eval_users]  # test users with some training history

tail_models = {"popularity": popularity_lists, "item-kNN": make_model("itemknn", "world").fit(train).recommend(eval_users, k=K),
               "ALS": als_lists["implicit ALS"]}
share_test = np.bincount(decile[test.items], minlength=10) / len(test)
head_items = decile == 0
tail_items = (decile >= 2) & (counts > 0)  # the long tail: below the top 20%, with some history
skew = {}
for name, lists in tail_models.items():
    warm_lists = lists[warm]
    share = np.bincount(decile[warm_lists.ravel()], minlength=10) / warm_lists.size
    scores = evaluate_lists(warm_lists, eval_users[warm], train, test, K)
    skew[name] = dict(share=share, coverage=scores["coverage@10"], popularity=scores["popularity@10"],
                      head_recall=segment_recall(warm_lists, eval_users[warm], train, test, K, head_items),
                      tail_recall=segment_recall(warm_lists, eval_users[warm], train, test, K, tail_items))
    print(f"{name:<11} head share of recommendations {share[0]:.0%}   coverage@10 {scores['coverage@10']:.3f}   "
          f"mean views of recommended items {scores['popularity@10']:.0f}   recall@10 head {skew[name]['head_recall']:.3f}"
          f" / long tail {skew[name]['tail_recall']:.3f}")
print(f"head share of test views {share_test[0]:.0%} (and of training views "
      f"{np.bincount(decile[train.items], minlength=10)[0] / len(train):.0%})")

als_norm = np.linalg.norm(theirs.item_factors_, axis=1)  # (n_items,) length of each item vector
has_views = counts > 0
rho = spearmanr(als_norm[has_views], counts[has_views]).statistic
print(f"rank correlation between an item vector's length and its training views: {rho:.2f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 3.8))
width = 0.2
axes[0].bar(np.arange(10) - 1.5 * width, share_test, width, color="black", label="test views")
for j, (name, colour) in enumerate([("popularity", "tab:gray"), ("item-kNN", "tab:green"), ("ALS", "tab:blue")]):
    axes[0].bar(np.arange(10) + (j - 0.5) * width, skew[name]["share"], width, color=colour, label=name)
axes[0].set_xticks(np.arange(10), [f"{10 * d + 10}%" for d in range(10)])
axes[0].set(xlabel="items, by training popularity (top 10%, next 10%, ...)", ylabel="share",
            title="Where the recommendations go vs where the views go")
axes[0].legend()
axes[1].scatter(counts[has_views], als_norm[has_views], s=4, alpha=0.4)
axes[1].set(xscale="log", xlabel="training views of the item", ylabel="length of its ALS vector",
            title=f"Popular items get long vectors (rank corr. {rho:.2f})")
plt.tight_layout()
plt.show()

# %%
# Lesson guards: ALS sends far more of its recommendations to the head than the head's share of what
# people watch next, its recall on the long tail is a small fraction of its head recall, and the
# reason is visible in the factors: vector length tracks popularity.
guard("L7 ALS head share of recommendations / of test views", skew["ALS"]["share"][0] / share_test[0], ">", 1.5)
guard("L7 ALS recall@10 long tail / head", skew["ALS"]["tail_recall"] / skew["ALS"]["head_recall"], "<", 0.15)
guard("L7 rank correlation: ALS vector length vs views", rho, ">", 0.8)
guard("L7 coverage@10 popularity / ALS", skew["popularity"]["coverage"] / skew["ALS"]["coverage"], "<", 0.5)

# %% [markdown]
# The black bars are what people actually watched next: the head takes a large share, and the last
# two slices take a fair share too (those are the *new* items, with no training views; more in a
# moment). ALS and item-kNN put most of their recommendations into the top 10% of items, a far
# larger share than the head's share of test views (the numbers are printed above the plot). They
# are far more personal than popularity (compare their coverage@10), but the long tail is nearly
# invisible: recall there is a small fraction of the head's.
#
# The right panel shows one reason. Squared loss over all cells rewards getting the busy rows and
# columns right; a popular item gets a long vector, so its dot product with *everyone* is large.
# Remedies exist (popularity-penalised scores, re-ranking for diversity, inverse-propensity
# weighting), and a ranker can trade accuracy for novelty, but the first stage must at least put
# tail items within reach.
#
# ## 7. The wall: a new item has no embedding
#
# On the temporal split, items released after the cut have test views and no training views.
# Their column of the matrix is empty, but that does not leave their vector free: every cell of
# the column says $p_{ui} = 0$ with confidence $c_{ui} = 1$, for every user. The item half-step is
# section 2's formula with the roles swapped, $y_i = (X^\top C_i X + \lambda I)^{-1} X^\top C_i\, p_i$;
# with no observed entry, $p_i = 0$, so the right-hand side $X^\top C_i\, p_i$ is zero and the
# solution of $(X^\top C_i X + \lambda I)\, y_i = 0$ is $y_i = 0$ exactly. The zero vector is what
# best fits "predict 0 for every user"; the regularisation is not what sets it. Every user
# scores these items 0, and `recommend` does not even consider them (a model without a vector for an item
# cannot rank it). The same goes for a user who signs up after the cut: a zero vector, and scores
# that say nothing.

# %%
cold_items = parts.cold_items()  # (n_items,) bool: test views, no training views
cold_share = np.isin(test.items, np.flatnonzero(cold_items)).mean()
cold_recall = segment_recall(als_lists["implicit ALS"], eval_users, train, test, K, cold_items)
print(f"{cold_items.sum()} cold items get {cold_share:.0%} of the test views")
print("largest |factor| of a cold item: ours", np.abs(ours.item_factors_[cold_items]).max(),
      " implicit", np.abs(theirs.item_factors_[cold_items]).max())
print(f"ALS recall@10 on cold items: {cold_recall:.4f}")

# %%
# Lesson guard: MF cannot embed an item it never saw, so it cannot recommend it, however relevant.
guard("L8 largest |factor| of a cold item (ours and implicit)",
      max(np.abs(ours.item_factors_[cold_items]).max(), np.abs(theirs.item_factors_[cold_items]).max()), "==", 0.0)
guard("L8 ALS recall@10 on cold items", cold_recall, "==", 0.0)
guard("L8 cold items' share of test views", cold_share, ">", 0.1)

# %% [markdown]
# We *know* things about those new items: genre, language, publisher, a title and a description.
# Matrix factorisation has no place to put them: an item is nothing but its column. A
# **two-tower** model computes the item vector from the item's features instead of looking it up,
# so a new item gets a sensible vector on the day it is released. Notebook 06 runs exactly this
# experiment: the same temporal split, ALS against two towers, on the cold items.
#
# ## Summary
#
# - MF writes every user and item as a short vector; scores are dot products, and the dimensions
#   become latent categories (section 1's plot).
# - Weighted ALS (Hu, Koren and Volinsky 2008) fits every cell with a confidence; each half-step
#   is a small least-squares problem per user (or item), made cheap by the Gram-matrix trick, and
#   independent across users, hence parallel. Our numpy version matches `implicit`'s recall.
# - `implicit` uses $c = \alpha r$, the paper $1 + \alpha r$: translate alpha between them.
# - Rating prediction by RMSE ignores the empty cells and loses at top-k, even to popularity.
# - MF piles its recommendations on the popular head, and cannot embed a new item or user.
#
# On the leaderboard: `python -m twotower_mini leaderboard --dataset world --protocol temporal
# --models popularity,itemknn,als,als-numpy,bpr`. Next: **03 graph walks**, another road to item
# embeddings.

# %%
elapsed = time.perf_counter() - NOTEBOOK_START
print(f"notebook ran in {elapsed:.1f} s")
