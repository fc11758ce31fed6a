# %% [markdown]
# # 02 · Exercise 2: one weighted-ALS half-step, then a whole ALS
#
# **Goes with:** notebook 02, section 2. **Time:** about 25 minutes.
#
# Fix the item factors $Y$ (n_items x f). Then each user's factors are the solution of a small
# weighted least-squares problem, the *normal equations* of notebook 02:
#
# $$x_u = \left(Y^\top C_u Y + \lambda I\right)^{-1} Y^\top C_u\, p_u, \qquad C_u = \mathrm{diag}(c_{u1}, \dots, c_{u n})$$
#
# with $c_u$ and $p_u$ the user's rows of the confidence and preference matrices (exercise 1).
#
# **Your task.** Write `als_half_step(Y, C, P, lam)` returning $X$ (n_users x f), one solve per
# user. Dense arrays are fine at this size; use `np.linalg.solve(A, b)` rather than inverting
# $A$. (`C[u][:, None] * Y` multiplies row $i$ of $Y$ by $c_{ui}$, which is $C_u Y$ without building
# the diagonal matrix.)

# %%
# Setup: seeds first, so every number below is the same on every run.
import matplotlib.pyplot as plt
import numpy as np

from lineage import seed_everything
from workshop.matrix_factorisation import check_als_half_step, reference_als_half_step

rng = seed_everything(0)

# %%
def als_half_step(Y, C, P, lam):
    """X (n_users, f): every user's exact weighted least squares given the item factors Y (n_items, f)."""
    # BEGIN SOLUTION
    # STUB: return None  # YOUR CODE HERE: an (n_users, f) array
    f = Y.shape[1]
    X = np.zeros((C.shape[0], f))
    for u in range(C.shape[0]):
        A = Y.T @ (C[u][:, None] * Y) + lam * np.eye(f)  # (f, f)
        b = Y.T @ (C[u] * P[u])  # (f,)
        X[u] = np.linalg.solve(A, b)
    return X
    # END SOLUTION


# %%
passed = check_als_half_step(als_half_step)

# %% [markdown]
# ## Your half-step is a whole ALS
#
# The item half-step is the same problem with the roles swapped: items solve against the user
# factors, on the *transposed* matrices. Alternate the two from a random start on the 4 x 5
# example of notebook 02, and watch the weighted loss
# $L = \sum_{u,i} c_{ui}(p_{ui} - x_u \cdot y_i)^2 + \lambda(\lVert X\rVert^2 + \lVert Y\rVert^2)$.

# %%
half_step = als_half_step if passed else reference_als_half_step
R = np.array([[1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [0, 0, 0, 1, 1], [0, 0, 0, 1, 0]], dtype=np.float64)
C, P, lam = 1.0 + 10.0 * R, (R > 0).astype(np.float64), 0.1
X = np.zeros((4, 2))
Y = rng.normal(0.0, 0.1, size=(5, 2))  # (5 books, 2 factors)


def weighted_loss(X, Y):
    return float(np.sum(C * (P - X @ Y.T) ** 2) + lam * (np.sum(X ** 2) + np.sum(Y ** 2)))


losses = []
for sweep in range(15):
    X = half_step(Y, C, P, lam)  # users, given the items
    Y = half_step(X, C.T, P.T, lam)  # items, given the users: the same function, transposed
    losses.append(weighted_loss(X, Y))
print("loss per sweep:", np.round(losses[:6], 3), "...", round(losses[-1], 4))
print("reconstruction X @ Y.T:\n", np.round(X @ Y.T, 2))

fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(np.arange(1, len(losses) + 1), losses, marker="o")
ax.set(xlabel="sweep (users, then items)", ylabel="weighted loss", title="Each half-step can only lower the loss")
plt.show()

# %% [markdown]
# **To discuss.** Why can the loss never go up? (Each half-step solves its block *exactly*.) Look
# at the reconstruction: which empty cells did the model fill in? Your loop solves one user at a
# time; what makes ALS easy to spread over many cores or machines (notebook 02, section 3)? And
# why does the library's `solve_users` not build $Y^\top C_u Y$ from scratch for every user?
