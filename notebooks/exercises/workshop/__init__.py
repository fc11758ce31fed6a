"""Check functions for the workshop exercises in this folder, and the reference answers they use:
one module per walkthrough notebook, named like the notebook without its number.

    content_app_and_evaluation.py            00 · 1  nDCG@k by hand                          check_ndcg
    neighbours.py                            01 · 1  item-item cosine with shrinkage          check_item_cosine
                                             01 · 2  user-kNN scores with top-k neighbours    check_user_knn_scores
    matrix_factorisation.py                  02 · 1  confidence and preference matrices       check_confidence
                                             02 · 2  one weighted-ALS half-step                check_als_half_step
    covisitation_graphs.py                   03a · 1 from co-visitation counts to relatedness check_relatedness
    deepwalk.py                              03b · 1 one step of a weighted random walk       check_walk_step
    two_towers.py                            04a · 1 the in-batch softmax loss                check_in_batch_loss
                                             04a · 2 logQ correction and accidental hits      check_logq_logits
                                             04b · 1 "more like this" by cosine               check_more_like_this
    negatives.py                             05 · 1  negatives from skipped impressions       check_impression_negatives
                                             05 · 2  mixing negatives                          check_mixed_negatives
    cold_start_side_information_leakage.py   06 · 1  a point-in-time count feature            check_point_in_time_counts
                                             06 · 2  a genre profile that embeds new items    check_genre_profile
                                             06 · 3  a leak inside a model's features          check_leaking_fields
    serving_and_ranking.py                   07 · 1  recall of approximate search vs exact    check_search_recall
                                             07 · 2  where the wanted items are lost          check_two_losses
                                             07 · 3  one feature of the GBDT ranker            check_genre_affinity
    real_data_through_time.py                08 · 1  a recency window chosen by time          check_window_scores
    the_loop.py                              09 · 1  SNIPS and clipped IPS by hand             check_snips, check_clipped_ips
    checking.py                              what every check shares (the three outcomes, array helpers)

The exercise notebooks run with this folder as their working directory, so they import a
notebook's checks directly:

    from workshop.neighbours import check_item_cosine, reference_item_cosine
    passed = check_item_cosine(item_sim, R, SHRINKAGE)

A check has three outcomes:

- right answer: prints ``[ OK ] ...`` and returns True;
- wrong answer: raises ``AssertionError`` whose message says what was expected, what came back and
  where to look (it recognises the usual mistakes: a forgotten diagonal, the other confidence
  convention, a feature that counts the event itself ...);
- not answered yet (the stub is still ``None``, or a stub function returns ``None``): prints
  ``[ .. ] not answered yet: <hint>`` and returns False, so an untouched exercise notebook still
  runs top to bottom (CI runs every exercise notebook with its stubs in place).

Cells after a check use the learner's answer when it passed, else the reference answer:
``scores = answer if passed else reference_...(...)``.

Reference answers are computed independently of the learner's code path, mostly by the library
(`lineage`, `twotower_mini`), whose own tests check it against hand computations. This package is
the top of the dependency chain: it may import anything, and only the exercise notebooks and
tests/test_workshop.py import it.
"""
