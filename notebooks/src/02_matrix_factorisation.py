# %% [markdown]
# # 02 · Matrix factorisation: latent categories, weighted ALS, and its limits
#
# **Time:** about 45 minutes. **Prerequisites:** notebooks 00 and 01; least squares (solving
# $A x = b$ for a small square matrix) and matrix products.
#
# **You will learn to**
# 1. see matrix factorisation turn a user x item matrix into a few numbers per user and per item,
#    which become *latent categories* (a 4 x 5 example you can plot);
# 2. write down the weighted ALS objective of Hu, Koren and Volinsky (2008), do one half-step by
#    hand, and check it against the library;
# 3. compare our numpy ALS with the `implicit` library, and say why ALS parallelises so well;
# 4. avoid a trap: `implicit` defines the confidence as $\alpha r$, the paper as $1 + \alpha r$;
# 5. explain why a model that predicts *ratings* well can recommend badly (Cremonesi et al. 2010);
# 6. measure MF's two weaknesses: recommendations pile up on the popular head; a new item has no embedding.

# %%
# Setup: seeds first, so every number below is the same on every run.
import time
import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp
from scipy.stats import spearmanr

from lineage import (Interactions, check, compare, evaluate_lists, generate_world, guard, make_model, per_user_metrics,
                     plot_factors, print_comparisons, relevance_matrix, seed_everything, segment_recall, split, top_k,
                     true_recall_per_user, users_with_test_events, validation_split, world_config)
from lineage.metrics import coverage_at_k
from lineage.models import ALS, ALSConfig, ImplicitALS, ImplicitALSConfig, Popularity
from lineage.models.als import confidence_matrix, solve_users
from lineage.plots import plot_popularity_slices, plot_rating_vs_ranking

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
unit = Y / np.linalg.norm(Y, axis=1, keepdims=True)
cosines = unit @ unit.T  # (5, 5) cosine between every pair of book vectors
within = min(cosines[np.ix_(group, group)].min() for group in (scifi, cooking))
across = np.abs(cosines[np.ix_(scifi, cooking)]).max()
same_kind = np.zeros_like(R, dtype=bool)  # (4, 5): True where the reader and the book are of one kind
same_kind[np.ix_([0, 1], scifi)] = same_kind[np.ix_([2, 3], cooking)] = True
print(f"item vectors: smallest cosine within a group {within:.3f}, largest |cosine| across groups {across:.3f}")
print(f"empty cells filled: Ben -> Foundation {reconstruction[1, 1]:.2f}, Dev -> Bread {reconstruction[3, 4]:.2f}; "
      f"largest |cross-group score| {np.abs(reconstruction[~same_kind]).max():.2f}")
# Properties of this fixed toy matrix (the same on every run): the 2-d embeddings separate the two
# categories, and the reconstruction fills the empty in-group cells while the cross-group cells stay near 0.
check("toy: largest 1 - cosine within a category", 1 - within, "<", 0.05)
check("toy: largest |cosine| across categories", across, "<", 0.1)
check("toy: smallest in-category score", reconstruction[same_kind].min(), ">", 0.5)
check("toy: largest |cross-category score|", np.abs(reconstruction[~same_kind]).max(), "<", 0.1)

# %% [markdown]
# Each book and each reader became an arrow: the science-fiction books along one axis, the
# cookbooks along the other, every reader towards their kind of book. A score is the dot product of
# two arrows: large when they point the same way, zero at right angles. That fills the empty cells:
# Ben's arrow is the science-fiction arrow, so Foundation scores high for him although he never
# read it, while every cookbook scores close to 0 (printed above).
#
# Real data has dozens of blurry categories (dark thrillers, Spanish cooking, long reads ...) in 64
# or 128 unnamed dimensions: whatever directions explain the matrix best. These are the *embeddings*
# of the rest of the course; a two-tower model learns the same kind of vectors from features.
#
# ## 2. Weighted ALS, one step at a time
#
# With implicit feedback (views, clicks) an empty cell is not a missing rating but weak evidence
# of no interest. Hu, Koren and Volinsky (2008) therefore fit **every** cell, each with its own
# confidence. For user $u$ and item $i$, with $r_{ui}$ the number (or weight) of interactions:
#
# - preference $p_{ui} = 1$ if $r_{ui} > 0$, else $0$;
# - confidence $c_{ui} = 1 + \alpha\, r_{ui}$ (so an empty cell has confidence 1, a viewed one more);
#
# $$L(X, Y) = \sum_{u, i} c_{ui}\, (p_{ui} - x_u \cdot y_i)^2 + \lambda \left(\lVert X\rVert^2 + \lVert Y\rVert^2\right)$$
#
# over user factors $X$ (n_users x f) and item factors $Y$ (n_items x f). Not convex in both at
# once, but with $Y$ fixed it is a weighted least-squares problem per user, solved in closed form:
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
# One user's step by hand on the world's training data, against `lineage.models.als.solve_users`
# (all users at once):

# %%
world = generate_world(world_config())
data = world.interactions()  # values: 1 for a view, 2 for a liked view
parts = split(data, "temporal", test_fraction=0.2, seed=42)
train, test = parts.train, parts.test
eval_users = users_with_test_events(test)
test_relevant = relevance_matrix(test, eval_users, train)  # (n_test_users, n_items) 0/1, seen items removed
has_relevant = np.diff(test_relevant.indptr) > 0  # test users with something left to find
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
for name, x in [("by hand (naive)", x_naive), ("by hand (trick)", x_trick), ("from solve_users", x_library)]:
    print(f"x_u {name:<17}", np.round(x[:6], 5), "...")
print(f"work per user: naive n_items*f^2 = {train.n_items * f * f:,} multiply-adds, "
      f"trick n_u*f^2 = {len(observed) * f * f:,}")
# Properties (the code does what the text says): the hand-derived half-step, both ways, is the library's.
scale = np.abs(x_library).max()
check("half-step: naive = Gram trick (max relative difference)", np.abs(x_naive - x_trick).max() / scale, "<", 1e-9)
check("half-step: Gram trick = solve_users (max relative difference)", np.abs(x_trick - x_library).max() / scale,
      "<", 1e-9)

# %% [markdown]
# ## 3. The full fit: the loss curve, our ALS vs `implicit`, and why it is parallel
#
# `lineage.models.ALS` is the teaching implementation: about a hundred lines of numpy alternating
# `solve_users` and `solve_items` (by default a few conjugate-gradient steps per half-step, as
# `implicit` does; Takacs et al. 2011). `implicit` is the production library (Cython, OpenMP). Both
# get the hyperparameters tuned on validation for this world (`make_model`), one thread each.

# %%
ours = make_model("als-numpy", "world")  # lineage.models.ALS with the tuned defaults
theirs = make_model("als", "world")  # implicit's AlternatingLeastSquares, same hyperparameters
print(ours.config, theirs.config, sep="\n")
als_results, als_seconds, als_lists = {}, {}, {}
for name, model in [("our numpy ALS", ours), ("implicit ALS", theirs)]:
    start = time.perf_counter()
    model.fit(train)
    als_seconds[name] = time.perf_counter() - start
    als_lists[name] = model.recommend(eval_users, k=K)
    als_results[name] = evaluate_lists(als_lists[name], eval_users, train, test, K)
    print(f"{name:<14} fit {als_seconds[name]:5.1f} s   recall@10 {als_results[name]['recall@10']:.4f}"
          f"   ndcg@10 {als_results[name]['ndcg@10']:.4f}")
recall_gap = abs(als_results["our numpy ALS"]["recall@10"] / als_results["implicit ALS"]["recall@10"] - 1)
print(f"fit time ratio {als_seconds['our numpy ALS'] / als_seconds['implicit ALS']:.1f}x (a timing, not a lesson: "
      f"it depends on the machine), relative recall difference {recall_gap:.2%}")

# %%
loss = np.array(ours.loss_history_)
fig, ax = plt.subplots(figsize=(6, 3.4))
ax.plot(np.arange(1, len(loss) + 1), loss, marker="o")
ax.set(xlabel="iteration", ylabel="weighted loss L(X, Y)", title="ALS: the loss never goes up")
plt.show()
# Properties: each half-step minimises the loss over one block, so no sweep raises it; our ALS and
# implicit solve the same problem from the same start, so they recommend the same items.
check("largest relative loss increase between sweeps", np.max(np.diff(loss) / loss[:-1]), "<=", 1e-9)
check("last / first loss", loss[-1] / loss[0], "<", 1.0)
check("our ALS vs implicit: relative recall difference", recall_gap, "<", 0.02)

# %% [markdown]
# The two fits give the same recommendations: same objective, same starting point, same solver.
# `implicit` is faster because its inner loops are compiled (the time ratio is printed above;
# `benchmarks/lineage_bench.py` measures it on a quiet machine). Our hundred lines of numpy stay in reach
# by vectorising over all users at once, with the Gram-matrix trick.
#
# **Why ALS is parallel.** Given $Y$, user $u$'s system involves only $Y$, $Y^\top Y$ and $u$'s own
# row of $C$: no user's answer depends on another's. So each half-step is "embarrassingly parallel"
# across threads or machines (Spark's MLlib ALS is built on this). Check it: a handful of users
# solved on their own get the same rows as when everyone is solved, and so do two threads.

# %%
some_users = rng.choice(train.n_users, size=7, replace=False)
alone = solve_users(Y_now, C[some_users], lam)  # section 2's half-step, for only these 7 users
alone_gap = np.abs(alone - all_users_step[some_users]).max() / np.abs(all_users_step[some_users]).max()
print("max relative difference, alone vs together:", alone_gap)

two_threads = ImplicitALS(ImplicitALSConfig(**{**vars(theirs.config), "num_threads": 2})).fit(train)
thread_gap = np.abs(two_threads.item_factors_ - theirs.item_factors_).max()
print(f"implicit, 2 threads vs 1: max factor difference {thread_gap:.1e}")
# Properties: users are independent given the items, so any split of the work gives the same answer.
check("users alone = together (max relative difference)", alone_gap, "<", 1e-10)
check("implicit, 2 threads = 1 thread (max abs. factor difference)", thread_gap, "<", 1e-4)

# %% [markdown]
# ## 4. A trap: `implicit`'s confidence is $\alpha r$, not $1 + \alpha r$
#
# Since version 0.5, `implicit` multiplies your matrix by `alpha` and uses the result *as* the
# confidence of an observed cell: $c_{ui} = \alpha\, r_{ui}$; the paper uses $1 + \alpha\, r_{ui}$.
# Empty cells have confidence 1 in both. What matters is how much more a view weighs than an empty cell:

# %%
print(f"{'alpha':>6} {'r':>3} {'paper 1+alpha*r':>16} {'implicit alpha*r':>17}")
for a in [1.0, 4.0, 16.0]:
    for r in [1.0, 2.0]:
        print(f"{a:6.0f} {r:3.0f} {1 + a * r:16.0f} {a * r:17.0f}")

# %% [markdown]
# With implicit's default `alpha=1` and 0/1 data, a view weighs exactly as much as an empty cell
# (both 1); the paper would give it twice the weight. On 0/1 data `implicit` with alpha a is the
# paper with alpha a - 1; with counts or ratings it is not even a shift. "The same alpha" in two
# libraries is not the same model. How much does it matter on the world (0/1 data, the tuned
# factors and regularisation)?

# %%
base = dict(factors=64, regularization=100.0, binary=True)
convention_recall, convention_factors = {}, {}  # per-user recall@10 (the same users), item factors
for a, convention in [(4.0, "hkv"), (4.0, "implicit"), (3.0, "hkv"), (16.0, "hkv"), (16.0, "implicit")]:
    model = ImplicitALS(ImplicitALSConfig(**base, alpha=a, confidence=convention)).fit(train)
    recall = per_user_metrics(model.recommend(eval_users, k=K), test_relevant, K)["recall"]
    convention_recall[a, convention] = recall[has_relevant]
    convention_factors[a, convention] = model.item_factors_
    print(f"alpha {a:4.0f}  confidence {'1 + alpha*r' if convention == 'hkv' else 'alpha*r':<12}"
          f"  recall@10 {recall[has_relevant].mean():.4f}")
paper_vs_implicit = {a: compare(convention_recall[a, "hkv"], convention_recall[a, "implicit"],
                                f"paper 1 + alpha*r (alpha {a:.0f})", "implicit alpha*r") for a in (4.0, 16.0)}
print_comparisons(paper_vs_implicit)
# Property: on 0/1 data implicit's alpha a *is* the paper's alpha a - 1 (the very same factors).
check("implicit alpha 4 = paper alpha 3 (max abs. factor difference)",
      np.abs(convention_factors[4.0, "implicit"] - convention_factors[3.0, "hkv"]).max(), "<", 1e-4)
# Lesson guards: the convention changes recall clearly at a small alpha, and hardly at a large one.
guard("02.1 recall@10 paper - implicit convention, alpha 4, 95% lower bound", paper_vs_implicit[4.0].low, ">", 0.01,
      falsified_by="a world where the gap between a view and an empty cell matters little")
guard("02.2 recall@10 paper - implicit convention, alpha 16: farthest 95% bound from 0",
      max(abs(paper_vs_implicit[16.0].low), abs(paper_vs_implicit[16.0].high)), "<", 0.0035,
      falsified_by="a model whose recall still changes when a view weighs 17 instead of 16")

# %% [markdown]
# At alpha 4 the convention is worth a clear difference in recall (a view's confidence differs by
# 20%: 4 vs 5); at alpha 16 (16 vs 17) the whole interval sits within a hair of 0 (printed above).
# When you compare with a paper or port hyperparameters between libraries, translate alpha. `lineage`
# exposes both conventions (`confidence="hkv"` or `"implicit"`) in both ALS classes; the tuned world
# model uses implicit's.
#
# ## 5. Why predicting ratings is the wrong target for top-k
#
# Before implicit-feedback ALS, matrix factorisation meant **rating prediction** (the Netflix
# Prize): fit $r_{ui} \approx \mu + b_u + b_i + x_u \cdot y_i$ on the *observed* cells only, by
# squared error, judged by RMSE. Never looking at the empty cells, it learns *how much you liked
# what you chose*, not *what you will choose*; Cremonesi, Koren and Turrin (2010) showed that such
# models, excellent at RMSE, lose at top-k even to popularity. The world has a rating of sorts (2
# for a liked view, 1 for a plain one). Here is a compact biased rating MF, fitted by ALS on the
# observed cells, its regularisation chosen as a rating practitioner would: by validation RMSE.

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


# %%
# The regularisation is chosen on a validation part carved out of train, by RMSE.
inner = validation_split(train, "temporal", fraction=0.1, seed=0)
inner_ratings = inner.train.to_csr(binary=False).astype(np.float64)  # (n_users, n_items), 1 or 2 (sums of repeats)
errors = {"global mean only": (inner.test.values - inner_ratings.data.mean()) ** 2}  # (n_validation_events,)
for reg in [1.0, 3.0, 10.0, 30.0]:
    mu, U, V = rating_mf(inner_ratings, reg=reg)
    predicted = mu + np.einsum("nf,nf->n", U[inner.test.users], V[inner.test.items])  # (n_validation_events,)
    errors[f"rating MF, reg {reg:g}"] = (inner.test.values - predicted) ** 2
validation_rmse = {name: float(np.sqrt(e.mean())) for name, e in errors.items()}
for name, value in validation_rmse.items():
    print(f"{name:<22} validation RMSE {value:.4f}")
best = min((name for name in errors if name != "global mean only"), key=validation_rmse.get)
best_reg = float(best.split()[-1])
print("chosen by RMSE: reg =", best_reg)
n_events = inner.test.user_counts()  # (n_users,) validation events per user
mse = {name: np.bincount(inner.test.users, e, minlength=len(n_events))[n_events > 0] / n_events[n_events > 0]
       for name, e in errors.items()}  # paired: each validation user's mean squared error, per model
mse_vs_mean = compare(mse["global mean only"], mse[best], "validation MSE: global mean only", best, ratio=True)
print(mse_vs_mean, "  -> errors, lower is better: above 1, the rating model's are smaller")

# %%
mu, U, V = rating_mf(train.to_csr(binary=False).astype(np.float64), reg=best_reg)
predicted = mu + U[eval_users] @ V.T  # (n_test_users, n_items) predicted ratings
seen = train.to_csr(binary=True)[eval_users]
predicted[np.repeat(np.arange(len(eval_users)), np.diff(seen.indptr)), seen.indices] = -np.inf
lists_of = {"popularity": Popularity().fit(train).recommend(eval_users, k=K),
            "rating MF (best RMSE)": top_k(predicted, K), "weighted ALS": als_lists["implicit ALS"]}
# the world's oracle (notebook 00): each user's 10 truly best unseen items, released before the end of test
true_top = world.true_top_items(eval_users, K, released_before=test.times.max() + 1, exclude=train.to_csr())
ndcg, true_recall = {}, {}  # per test user, the same users for every model
for name, lists in lists_of.items():
    ndcg[name] = per_user_metrics(lists, test_relevant, K)["ndcg"][has_relevant]
    true_recall[name] = true_recall_per_user(lists, true_top, K)
    print(f"{name:<22} ndcg@10 {ndcg[name].mean():.4f}   coverage@10 {coverage_at_k(lists, train.n_items, K):.3f}"
          f"   true recall@10 {true_recall[name].mean():.4f}")
popular, rating, weighted = lists_of
rating_vs = {"popularity": compare(ndcg[rating], ndcg[popular], f"{rating}, ndcg@10", popular, ratio=True),
             "ALS": compare(ndcg[rating], ndcg[weighted], f"{rating}, ndcg@10", weighted, ratio=True),
             "truth": compare(true_recall[weighted], true_recall[rating], f"{weighted}, true recall@10", rating,
                              ratio=True)}
print_comparisons(rating_vs)

# %%
plot_rating_vs_ranking(validation_rmse, {name: values.mean() for name, values in ndcg.items()})
plt.show()
# Lesson guards: the RMSE-chosen rating model does predict ratings better than the mean, yet at top-k
# it loses to popularity, and far to weighted ALS, also against the true best items.
guard("02.3 validation MSE per user, global mean / rating MF, 95% lower bound", mse_vs_mean.low, ">", 1.02,
      falsified_by="ratings that carry no signal beyond their mean")
guard("02.4 ndcg@10 rating MF / popularity, 95% upper bound", rating_vs["popularity"].high, "<", 0.9,
      falsified_by="ratings that rise with how often an item is chosen")
guard("02.5 ndcg@10 rating MF / weighted ALS, 95% upper bound", rating_vs["ALS"].high, "<", 0.3,
      falsified_by="a log whose empty cells say nothing about what people choose")
guard("02.6 true recall@10 weighted ALS / rating MF, 95% lower bound", rating_vs["truth"].low, ">", 1.25,
      falsified_by="a world where how much users liked what they chose reveals their best items")

# %% [markdown]
# The rating model learned something real (its error beats the mean's), but its question was "how
# much will you like it, *if* you watch it?". A top-k list answers "what will you watch?", and the
# empty cells, which rating prediction throws away, carry most of that answer: what people skip
# tells as much as what they rate. Weighted ALS keeps every empty cell as a weak negative; that is
# why it wins. (Two towers meet the same lesson: in-batch softmax and sampled negatives are other
# ways of using the empty cells.)
#
# Is this only the log's bias from notebook 00, which rewards imitating what the app showed? The
# true recall says no: against each user's truly best items weighted ALS finds clearly more than the
# rating model (the interval above): the empty cells carry taste as well as exposure.
#
# ## 6. The long tail: recommendations pile up on the head
#
# In notebook 00 the top 10% of items took a large share of the views. A model trained to reproduce
# the log inherits that skew, and usually amplifies it. Cut the catalogue into ten slices by
# training popularity (slice 1 = the most viewed 10%) and compare where the recommendations go with
# where the test views go (cold users left out: the models have nothing to say to them, section 7).

# %%
counts = train.item_counts()  # (n_items,) training views
decile = np.empty(train.n_items, dtype=np.int64)
decile[np.argsort(-counts, kind="stable")] = np.arange(train.n_items) * 10 // train.n_items  # 0 = head ... 9 = tail
warm = ~parts.cold_users()[eval_users]  # test users with some training history
item_knn_lists = make_model("itemknn", "world").fit(train).recommend(eval_users, k=K)
tail_models = {"popularity": lists_of["popularity"], "item-kNN": item_knn_lists, "ALS": als_lists["implicit ALS"]}
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

# %%
als_norm = np.linalg.norm(theirs.item_factors_, axis=1)  # (n_items,) length of each item vector
rho = spearmanr(als_norm[counts > 0], counts[counts > 0]).statistic
print(f"rank correlation between an item vector's length and its training views: {rho:.2f}")
# left: shares per popularity slice (top 10% first); right: ALS item vector length against training views
plot_popularity_slices(share_test, {name: skew[name]["share"] for name in tail_models}, counts, als_norm, rho)
plt.show()

# %%
# Lesson guards: ALS sends far more of its recommendations to the head than the head's share of what
# people watch next, its recall on the long tail is a small fraction of its head recall, and the
# reason is visible in the factors: vector length tracks popularity.
guard("02.7 ALS head share of recommendations / of test views", skew["ALS"]["share"][0] / share_test[0], ">", 1.7,
      falsified_by="a model that spreads its recommendations like the test views")
guard("02.8 ALS recall@10 long tail / head", skew["ALS"]["tail_recall"] / skew["ALS"]["head_recall"], "<", 0.06,
      falsified_by="a catalogue whose tail items are as wanted as the head")
guard("02.9 rank correlation: ALS vector length vs views", rho, ">", 0.9,
      falsified_by="a loss that does not weigh the busy columns most, e.g. popularity-normalised weights")
guard("02.10 coverage@10 popularity / ALS", skew["popularity"]["coverage"] / skew["ALS"]["coverage"], "<", 0.1,
      falsified_by="users so alike that ALS gives everyone the same few items")

# %% [markdown]
# The black bars are what people actually watched next: the head takes a large share, the last two
# slices a fair one too (the *new* items, with no training views; more in a moment). ALS and
# item-kNN put most of their recommendations into the top 10% of items, far more than the head's
# share of test views (printed above the plot). They are far more personal than popularity (their
# coverage@10), but the long tail is nearly invisible: recall there is a small fraction of the head's.
#
# The right panel shows one reason. Squared loss over all cells rewards getting the busy rows and
# columns right; a popular item gets a long vector, so its dot product with *everyone* is large.
# Remedies exist (popularity-penalised scores, re-ranking for diversity, inverse-propensity
# weighting), but the first stage must at least put tail items within reach.
#
# ## 7. The wall: a new item has no embedding
#
# On the temporal split, items released after the cut have test views and no training views. An
# empty column does not leave the item's vector free: it *fixes* it. Every cell of the column says
# $p_{ui} = 0$ with confidence $c_{ui} = 1$, for every user, so $C_i = I$ and the item half-step
# (section 2's formula, roles swapped) is $y_i = (X^\top X + \lambda I)^{-1} X^\top p_i = 0$,
# exactly, whatever $\lambda$. The column is fully constrained and the zero vector is its exact
# least-squares fit ("predict 0 for every user"), not a free vector pulled towards 0 by the
# regularisation. Every user scores these items 0 and `recommend` never returns them, so their
# recall is 0 by construction (the checks below show the code does what this says). A user who signs
# up after the cut is the mirror image: a zero vector, and scores that say nothing.

# %%
cold_items = parts.cold_items()  # (n_items,) bool: test views, no training views
cold_share = np.isin(test.items, np.flatnonzero(cold_items)).mean()
cold_recall = segment_recall(als_lists["implicit ALS"], eval_users, train, test, K, cold_items)
print(f"{cold_items.sum()} cold items get {cold_share:.0%} of the test views")
print("largest |factor| of a cold item: ours", np.abs(ours.item_factors_[cold_items]).max(),
      " implicit", np.abs(theirs.item_factors_[cold_items]).max())
print(f"ALS recall@10 on cold items: {cold_recall:.4f}")
# Properties: an empty column gives the zero vector, and a cold item is never recommended. The lesson:
# MF cannot recommend an item it never saw, however relevant, and those items matter.
check("largest |factor| of a cold item (ours and implicit)",
      max(np.abs(ours.item_factors_[cold_items]).max(), np.abs(theirs.item_factors_[cold_items]).max()), "==", 0.0)
check("ALS recall@10 on cold items", cold_recall, "==", 0.0)
guard("02.11 cold items' share of test views", cold_share, ">", 0.1,
      falsified_by="a catalogue that gets few new items during the test period")

# %% [markdown]
# We *know* things about those new items: genre, language, publisher, title and description. MF
# has no place to put them: an item is nothing but its column. A **two-tower** model computes the
# item vector from the item's features, so a new item gets a sensible vector on its release day.
# Notebook 06 runs exactly this experiment: the same temporal split, ALS against two towers.
#
# ## Summary
#
# - MF writes every user and item as a short vector; scores are dot products, and the dimensions
#   become latent categories (section 1's plot).
# - Weighted ALS (Hu, Koren and Volinsky 2008) fits every cell with a confidence; each half-step is
#   a small least-squares problem per user (or item), cheap with the Gram-matrix trick, independent
#   across users, hence parallel. Our numpy version gives `implicit`'s recommendations.
# - `implicit` uses $c = \alpha r$, the paper $1 + \alpha r$: translate alpha between them.
# - Rating prediction by RMSE ignores the empty cells and loses at top-k, even to popularity.
# - MF piles its recommendations on the popular head, and cannot embed a new item or user.
#
# On the leaderboard: `python -m twotower_mini leaderboard --dataset world --protocol temporal
# --models popularity,itemknn,als,als-numpy,bpr`. Next: **03 graph walks**, another road to embeddings.

# %%
elapsed = time.perf_counter() - NOTEBOOK_START
print(f"notebook ran in {elapsed:.1f} s")
