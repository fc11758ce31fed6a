# %% [markdown]
# # 02 · Exercise 1: confidence and preference
#
# **Goes with:** notebook 02, sections 2 and 4. **Time:** about 10 minutes.
#
# Weighted ALS (Hu, Koren and Volinsky 2008) fits *every* cell of the user x item matrix, each with
# its own weight. From the interaction counts $r_{ui}$:
#
# - the **preference** $p_{ui} = 1$ if $r_{ui} > 0$, else $0$: did the user take the item at all?
# - the **confidence** $c_{ui} = 1 + \alpha\, r_{ui}$: how sure we are about that preference. An
#   empty cell has confidence 1 (weak evidence of no interest); a cell viewed often, much more.
#
# **Your task.** From the counts `R` below (2 = a liked view in the world's convention, 1 = a plain
# view) and `ALPHA`, build the dense matrices `C` and `P`, both (4, 5).

# %%
# Setup: seeds first, so every number below is the same on every run.
import numpy as np

from lineage import seed_everything
from workshop.matrix_factorisation import check_confidence, reference_confidence

rng = seed_everything(0)

# %%
people = ["Ana", "Ben", "Chloé", "Dev"]
books = ["Dune", "Foundation", "Neuromancer", "Pasta", "Bread"]
R = np.array([  # (4 readers, 5 books): 0 = not read, 1 = read, 2 = read and liked
    [2, 1, 0, 0, 0],
    [1, 0, 2, 0, 0],
    [0, 0, 0, 1, 2],
    [0, 0, 0, 1, 0],
], dtype=np.float64)
ALPHA = 4.0

# %%
# BEGIN SOLUTION
# STUB: C = None  # YOUR CODE HERE: a (4, 5) array of confidences
# STUB: P = None  # YOUR CODE HERE: a (4, 5) array of 0s and 1s
C = 1.0 + ALPHA * R
P = (R > 0).astype(np.float64)
# END SOLUTION

# %%
passed = check_confidence(C, P, R, ALPHA)

# %% [markdown]
# ## The two conventions side by side
#
# The `implicit` library uses $c = \alpha r$ on observed cells instead (empty cells still weigh
# 1). What matters to the fit is how much more a read cell weighs than an empty one. Compare:

# %%
confidence, preference = (C, P) if passed else reference_confidence(R, ALPHA)
implicit_style = np.where(R > 0, ALPHA * R, 1.0)
for name, matrix in [("paper, 1 + alpha r", confidence), ("implicit, alpha r", implicit_style)]:
    print(f"{name:<20} read once: {matrix[0, 1]:.0f}x an empty cell   read and liked: {matrix[0, 0]:.0f}x")
print(f"\nshare of the total weight on the {int(preference.sum())} read cells: "
      f"paper {confidence[preference > 0].sum() / confidence.sum():.0%}, "
      f"implicit {implicit_style[preference > 0].sum() / implicit_style.sum():.0%}")

# %% [markdown]
# **To discuss.** With `implicit`'s default `alpha=1` and 0/1 data, what is the confidence of a
# read cell, and what does that mean for the fit? If a paper reports its best result at
# $\alpha = 40$, which `alpha` do you pass to `implicit` to reproduce it on 0/1 data?
