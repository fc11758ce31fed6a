"""The notebooks' figures, so a walkthrough cell shows the idea and not the plumbing.

    plot_factors(X, Y, readers, books)             2-d user and item factors as arrows from the origin
    plot_neighbourhood(related, item, groups=...)  an item and its most related items on a circle
    grouped_bars({"model": {"segment": value}})    one bar per (series, category), categories side by side

matplotlib only. Each function draws on the Axes it is given (a new figure when none) and returns it,
so a notebook can add a title, a reference line or `plt.show()`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp

from lineage.topk import ranking

__all__ = ["grouped_bars", "plot_factors", "plot_neighbourhood", "strongest_neighbours"]


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
