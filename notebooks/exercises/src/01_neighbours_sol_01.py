# %% [markdown]
# # 01 · Exercise 1: item-item cosine with shrinkage
#
# **Goes with:** notebook 01, sections 1 and 2. **Time:** about 15 minutes.
#
# The five readers and six books of notebook 01. Each book is a *column* of `R`: a vector over
# people. The cosine similarity of two books, with a shrinkage constant $s$ that damps pairs
# resting on little evidence, is
#
# $$\mathrm{sim}_s(a, b) = \frac{x_a \cdot x_b}{\lVert x_a\rVert\, \lVert x_b\rVert + s}$$
#
# **Your task.** Compute `item_sim`, the (6, 6) matrix of $\mathrm{sim}_s$ for every pair of
# books, with $s$ = `SHRINKAGE`, and a **zero diagonal** (a book is not its own neighbour). No
# loops needed: all the dot products of columns are one matrix product, and their lengths are
# on its diagonal.

# %%
# Setup: seeds first, so every number below is the same on every run.
import numpy as np

from lineage import seed_everything
from workshop.neighbours import check_item_cosine, reference_item_cosine

rng = seed_everything(0)

# %%
people = ["Ana", "Ben", "Chloé", "Dev", "Eli"]
books = ["Dune", "Foundation", "Neuromancer", "Pasta", "Bread", "Sushi"]
R = np.array([  # (5 people, 6 books): 1 = read it
    [1, 1, 1, 0, 0, 0],  # Ana: science fiction
    [1, 1, 0, 0, 0, 1],  # Ben: science fiction, and one cookbook
    [0, 0, 0, 1, 1, 1],  # Chloé: cooking
    [0, 1, 0, 1, 1, 0],  # Dev: mostly cooking
    [1, 0, 0, 0, 0, 0],  # Eli: has read only Dune
], dtype=np.float64)
SHRINKAGE = 1.0

# %%
# BEGIN SOLUTION
# STUB: item_sim = None  # YOUR CODE HERE: a (6, 6) array, zero diagonal
co_readers = R.T @ R  # (6, 6) readers shared by every pair of books
lengths = np.sqrt(np.diag(co_readers))  # (6,) length of each book's column
item_sim = co_readers / (np.outer(lengths, lengths) + SHRINKAGE)
np.fill_diagonal(item_sim, 0.0)
# END SOLUTION

# %%
passed = check_item_cosine(item_sim, R, SHRINKAGE)

# %% [markdown]
# ## What shrinkage does here
#
# Compare a few pairs with and without shrinkage. Dune and Foundation share two readers; Dune and
# Sushi share one (Ben). Which pair loses more, in proportion?

# %%
sim = item_sim if passed else reference_item_cosine(R, SHRINKAGE)
plain = reference_item_cosine(R, 0.0)
for a, b in [("Dune", "Foundation"), ("Dune", "Neuromancer"), ("Dune", "Sushi"), ("Pasta", "Bread")]:
    i, j = books.index(a), books.index(b)
    print(f"{a:>11} ~ {b:<12} plain {plain[i, j]:.3f}   shrunk {sim[i, j]:.3f}   kept {sim[i, j] / plain[i, j]:.0%}")

# Item-kNN for Eli: every book in his history votes for its neighbours (notebook 01: h_u S).
eli = people.index("Eli")
scores = R[eli] @ sim
scores[R[eli] > 0] = -np.inf  # never recommend what he has read
print("\nitem-kNN recommends to Eli:", [books[i] for i in np.argsort(-scores, kind="stable")[:3]])

# %% [markdown]
# **To discuss.** With $s = 1$ a pair built on one shared reader keeps a smaller share of its
# similarity than a pair built on two. Why? What value of $s$ would you try on a real catalogue
# with thousands of readers per item, and how would you choose it (notebook 01, section 2)?
