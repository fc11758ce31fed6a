"""The two-panel figures of notebook 02 (lineage.plots): smoke tests with Agg, on what is drawn
(panels, bars, points, labels), not on pixels; and their refusal of inputs that do not match."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lineage.plots import SERIES_COLOURS, plot_popularity_slices, plot_rating_vs_ranking  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def bars(ax) -> list[BarContainer]:
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def test_rating_vs_ranking_draws_one_bar_per_model_in_two_panels():
    rmse = {"global mean only": 0.50, "rating MF, reg 1": 0.48, "rating MF, reg 10": 0.46}
    ndcg = {"popularity": 0.05, "rating MF": 0.02, "weighted ALS": 0.15}
    figure = plot_rating_vs_ranking(rmse, ndcg)
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    left, right = figure.axes
    [rmse_bars], [ndcg_bars] = bars(left), bars(right)
    assert [bar.get_width() for bar in rmse_bars] == pytest.approx(list(rmse.values()))  # horizontal bars
    assert [bar.get_height() for bar in ndcg_bars] == pytest.approx(list(ndcg.values()))
    assert [t.get_text() for t in left.get_yticklabels()] == list(rmse)
    assert left.get_xlim() == pytest.approx((0.9 * 0.46, 1.02 * 0.50))  # the axis starts below the best RMSE
    assert "rating" in left.get_title() and "recommender" in right.get_title()


def test_rating_vs_ranking_needs_values():
    with pytest.raises(ValueError, match="at least one"):
        plot_rating_vs_ranking({}, {"popularity": 0.1})


def test_popularity_slices_draws_test_views_and_every_model_per_slice():
    rng = np.random.default_rng(0)
    test_share = np.full(10, 0.1)
    shares = {"popularity": np.r_[1.0, np.zeros(9)], "item-kNN": np.linspace(0.19, 0.01, 10),
              "ALS": np.r_[0.6, np.full(9, 0.4 / 9)]}
    counts = np.r_[rng.integers(1, 500, size=40), 0, 0]  # two items without training views
    lengths = rng.random(42)
    figure = plot_popularity_slices(test_share, shares, counts, lengths, rho=0.87)
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    left, right = figure.axes
    containers = bars(left)
    assert len(containers) == 1 + len(shares) and all(len(c) == 10 for c in containers)
    assert [bar.get_height() for bar in containers[0]] == pytest.approx(test_share)
    for container, share in zip(containers[1:], shares.values()):
        assert [bar.get_height() for bar in container] == pytest.approx(share)
    assert [c.patches[0].get_facecolor() for c in containers[1:]] == \
        [matplotlib.colors.to_rgba(c) for c in SERIES_COLOURS[:3]]
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["test views", *shares]
    [points] = right.collections
    assert len(points.get_offsets()) == 40  # only the items with training views
    assert right.get_xscale() == "log" and "0.87" in right.get_title()


def test_popularity_slices_without_rho_has_no_correlation_in_the_title():
    figure = plot_popularity_slices(np.full(5, 0.2), {"ALS": np.full(5, 0.2)}, np.arange(1, 8), np.ones(7))
    assert "corr" not in figure.axes[1].get_title()
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["20%", "40%", "60%", "80%", "100%"]


def test_popularity_slices_refuses_mismatched_inputs():
    with pytest.raises(ValueError, match="slices"):
        plot_popularity_slices(np.full(10, 0.1), {"ALS": np.full(9, 0.1)}, np.ones(5), np.ones(5))
    with pytest.raises(ValueError, match="same items"):
        plot_popularity_slices(np.full(10, 0.1), {"ALS": np.full(10, 0.1)}, np.ones(5), np.ones(4))
