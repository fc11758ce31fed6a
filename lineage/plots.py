"""The notebooks' figures, so a walkthrough cell shows the idea and not the plumbing.

    plot_factors(X, Y, readers, books)             2-d user and item factors as arrows from the origin
    plot_neighbourhood(related, item, groups=...)  an item and its most related items on a circle
    grouped_bars({"model": {"segment": value}})    one bar per (series, category), categories side by side
    plot_rating_vs_ranking(rmse, ndcg)             two panels: validation RMSE of rating models, test nDCG of recommenders
    plot_popularity_slices(test_share, shares, counts, lengths)
                                                   two panels: where recommendations go by popularity slice, and
                                                   item vector length against training views

matplotlib only. The one-panel functions draw on the Axes they are given (a new figure when none) and
return it, so a notebook can add a title, a reference line or `plt.show()`; the two-panel ones make
their own figure and return it (`figure.axes` holds the panels).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp

from lineage.topk import ranking

__all__ = ["grouped_bars", "plot_factors", "plot_neighbourhood", "plot_popularity_slices", "plot_rating_vs_ranking",
           "strongest_neighbours"]

SERIES_COLOURS = ("tab:gray", "tab:green", "tab:blue", "tab:red", "tab:orange", "tab:purple")  # one per model


def _axes(ax, figsize):
    return ax if ax is not None else plt.subplots(figsize=figsize)[1]


def plot_factors(user_vectors: np.ndarray, item_vectors: np.ndarray, user_names: Sequence[str],
                 item_names: Sequence[str], ax=None, title: str = "2-d embeddings: one axis per 'category'"):
    """Arrows from the origin to each 2-d item vector (blue circles) and user vector (orange squares),
    labelled by name; points that (almost) coincide share one label. Returns the Axes."""
    ax = _axes(ax, (6, 6))
    for vectors, names, colour, marker, side in [(item_vectors, item_names, "tab:blue", "o", -1),
                                                 (user_vectors, user_names, "tab:orange", "s", 1)]:
        labels = {}  # points that (almost) coincide share one label
        for (x, y), name in zip(vectors, names):
            ax.annotate("", xy=(x, y), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color=colour, alpha=0.6))
            ax.scatter([x], [y], color=colour, marker=marker, zorder=3)
            labels.setdefault((round(x, 1), round(y, 1)), []).append((x, y, name))
        for j, group in enumerate(sorted(labels.values(), key=lambda g: np.hypot(g[0][0], g[0][1]))):
            _label_point(ax, group, colour, side, j)
    ax.scatter([], [], color="tab:blue", marker="o", label="books (item factors)")
    ax.scatter([], [], color="tab:orange", marker="s", label="readers (user factors)")
    limit = 1.15 * np.abs(np.r_[np.ravel(user_vectors), np.ravel(item_vectors)]).max()
    ax.set(xlim=(-0.3, limit), ylim=(-0.3, limit), aspect="equal", xlabel="latent dimension 1",
           ylabel="latent dimension 2", title=title)
    ax.axhline(0, color="gray", lw=0.5)
    ax.axvline(0, color="gray", lw=0.5)
    ax.legend(loc="center right")
    return ax


def _label_point(ax, group, colour, side: int, j: int) -> None:
    """One label for the points of `group` (x, y, name), beside the arrow: items on one side, users on
    the other, neighbouring labels staggered so they do not overlap."""
    x, y = group[0][0], group[0][1]
    across = np.array([-y, x]) / np.hypot(x, y)  # perpendicular to the arrow
    dx, dy = side * (6 + 12 * (j % 2)) * across
    ax.annotate(", ".join(name for _, _, name in group), (x, y), textcoords="offset points", xytext=(dx, dy),
                color=colour, ha="left" if dx > 2 else "right" if dx < -2 else "center",
                va="bottom" if dy > 2 else "top" if dy < -2 else "center")


def strongest_neighbours(related: sp.csr_matrix, item: int, n: int = 12) -> np.ndarray:
    """The (up to) n items most related to `item` (a row of a sparse relatedness graph), strongest
    first; equal weights by their position in the row."""
    row = related[item]
    return row.indices[ranking(row.data[None, :])[0][:n]]


def plot_neighbourhood(related: sp.csr_matrix, centre: int, *, groups: np.ndarray, group_names: Sequence[str],
                       names: Sequence[str], sizes: np.ndarray, n: int = 12, ax=None, title: str | None = None):
    """`centre` and its n most related items on a circle (ordered by group), one colour per group.

    Spokes are as thick as the relatedness (relative to the strongest); a light chord joins two ring
    items that are in each other's n most related; a node's area grows with sqrt(sizes), and its label
    is the first two words of its name and its size ("views"). groups: (n_items,) group index per
    item, group_names[g] its name. Returns the Axes."""
    ax = _axes(ax, (6, 6.4))
    colours = plt.get_cmap("tab20").colors
    palette = dict(zip(group_names, colours[::2] + colours[1::2]))
    ring = strongest_neighbours(related, centre, n)
    ring = ring[np.argsort(groups[ring], kind="stable")]
    angles = 2 * np.pi * np.arange(len(ring)) / len(ring)
    xy = {centre: (0.0, 0.0), **{j: (np.cos(a), np.sin(a)) for j, a in zip(ring, angles)}}
    strongest = related[centre].data.max()
    for a in ring:
        for b in ring:
            if a < b and b in strongest_neighbours(related, a, n) and a in strongest_neighbours(related, b, n):
                ax.plot(*zip(xy[a], xy[b]), color="lightgray", lw=1.5, zorder=1)
    for j in ring:
        ax.plot(*zip(xy[centre], xy[j]), color="gray", lw=1 + 7 * related[centre, j] / strongest, zorder=2)
    for j, (x, y) in xy.items():
        ax.scatter([x], [y], s=30 + 20 * np.sqrt(sizes[j]), color=palette[group_names[groups[j]]],
                   edgecolor="black" if j == centre else "none", zorder=3)
        if j != centre:
            ax.annotate(f"{' '.join(str(names[j]).split()[:2])}\n{sizes[j]} views", (x, y),
                        textcoords="offset points", fontsize=7, xytext=(0, -24 if y <= 0 else 12), ha="center")
    for g in sorted({group_names[groups[j]] for j in xy}):
        ax.scatter([], [], color=palette[g], label=g)
    ax.legend(loc="lower left", fontsize=7, frameon=False, ncol=2)
    ax.set(xlim=(-1.45, 1.45), ylim=(-1.5, 1.45), aspect="equal", xticks=[], yticks=[], title=title)
    return ax


def grouped_bars(values: Mapping[str, Mapping[str, float]], ax=None, ylabel: str | None = None,
                 title: str | None = None, fmt: str = "{:.3f}"):
    """values[series][category]: the categories side by side on the x axis, one bar per series in
    each (one colour per series, in the legend), each bar labelled with its value (`fmt`). A category
    a series lacks is left empty; the legend sits to the right of the Axes. Returns the Axes."""
    ax = _axes(ax, (7, 3.6))
    series = list(values)
    categories = list(dict.fromkeys(c for row in values.values() for c in row))  # first-seen order
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(categories))
    for s, name in enumerate(series):
        heights = [values[name].get(c, np.nan) for c in categories]
        bars = ax.bar(x + (s - (len(series) - 1) / 2) * width, heights, width, label=name)
        ax.bar_label(bars, labels=["" if np.isnan(h) else fmt.format(h) for h in heights], fontsize=7)
    ax.set_xticks(x, categories)
    ax.set(ylabel=ylabel, title=title)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars
    ax.margins(y=0.12)  # room for the value labels
    return ax


def plot_rating_vs_ranking(validation_rmse: Mapping[str, float], test_ndcg: Mapping[str, float],
                           titles: tuple[str, str] = ("As a rating predictor, MF works",
                                                      "As a recommender, it loses to popularity")):
    """Two panels side by side. Left: one horizontal bar per rating model, its validation RMSE (lower is
    better; the axis starts at 90% of the smallest value, so the differences show). Right: one bar per
    recommender, its test nDCG@10, coloured in SERIES_COLOURS order. Returns the Figure."""
    if not validation_rmse or not test_ndcg:
        raise ValueError("plot_rating_vs_ranking needs at least one RMSE and one nDCG value")
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 3.6))
    rmse = list(validation_rmse.values())
    left.barh(list(validation_rmse), rmse, color="tab:gray")
    left.set(xlim=(0.9 * min(rmse), 1.02 * max(rmse)), xlabel="validation RMSE (lower is better)", title=titles[0])
    right.bar(list(test_ndcg), list(test_ndcg.values()), color=_colours(len(test_ndcg)))
    right.set(ylabel="test nDCG@10", title=titles[1])
    figure.tight_layout()
    return figure


def plot_popularity_slices(test_share: np.ndarray, shares: Mapping[str, np.ndarray], counts: np.ndarray,
                           vector_lengths: np.ndarray, rho: float | None = None):
    """Where recommendations go, against popularity. Two panels side by side.

    Left: items cut into len(test_share) slices by training views (the most viewed first); per slice,
    the share of the test views (black) and of each model's recommendations (one bar each, SERIES_COLOURS
    order). Right: each item with training views, its factor vector's length against its views (log x);
    `rho`, when given, goes into the title. test_share: (n_slices,); shares[name]: (n_slices,); counts and
    vector_lengths: (n_items,). Returns the Figure."""
    test_share = np.asarray(test_share, dtype=float)
    n_slices = len(test_share)
    if any(len(share) != n_slices for share in shares.values()):
        raise ValueError(f"every model's shares need {n_slices} slices, like test_share")
    if len(counts) != len(vector_lengths):
        raise ValueError(f"counts ({len(counts)}) and vector_lengths ({len(vector_lengths)}) must cover the same items")
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 3.8))
    x = np.arange(n_slices)
    width = 0.8 / (len(shares) + 1)
    left.bar(x - len(shares) / 2 * width, test_share, width, color="black", label="test views")
    for j, ((name, share), colour) in enumerate(zip(shares.items(), _colours(len(shares)))):
        left.bar(x + (j + 1 - len(shares) / 2) * width, share, width, color=colour, label=name)
    left.set_xticks(x, [f"{100 * (s + 1) // n_slices}%" for s in range(n_slices)])
    left.set(xlabel="items, by training popularity (top slice first)", ylabel="share",
             title="Where the recommendations go vs where the views go")
    left.legend()
    has_views = np.asarray(counts) > 0
    right.scatter(np.asarray(counts)[has_views], np.asarray(vector_lengths)[has_views], s=4, alpha=0.4)
    right.set(xscale="log", xlabel="training views of the item", ylabel="length of its factor vector",
              title="Popular items get long vectors" + (f" (rank corr. {rho:.2f})" if rho is not None else ""))
    figure.tight_layout()
    return figure


def _colours(n: int) -> list[str]:
    """n colours from SERIES_COLOURS, cycling when there are more series than colours."""
    return [SERIES_COLOURS[j % len(SERIES_COLOURS)] for j in range(n)]
