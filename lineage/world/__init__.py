"""The synthetic "content app" world: the suite's embedded, offline default dataset.

No public dataset holds everything the lessons need at once: impressions (what the app showed),
choices, searches, likes, side information *and* the ground-truth preferences behind them. So we
simulate a small streaming/reading app whose hidden truth we know:

- **Users** have a region, 1-2 languages, an activity level (lognormal: a few heavy users, many
  light ones), a signup time, a hidden taste over genres (2-3 liked, 1-3 strongly disliked, the
  rest indifferent), a small hidden latent vector, and, for some of them, declared preferred
  genres (a noisy view of the liked ones) and a follow list (people with similar tastes).
- **Items** have a genre, language, publisher (publishers specialise in 1-2 genres), release time
  (most before the log starts, `late_release_fraction` during its last part: the cold-start
  items of a temporal split), a hidden quality, a hidden heavy-tailed "buzz", and a readable
  title and description whose words carry genre signal ("The Quantum Voyage Returns").
- **The oracle**: the noise-free utility of item i for user u is
      taste[u, genre_i] + quality_weight * quality_i + language_weight * [language_i in langs_u]
      + user_latent[u] . item_latent[i]
  (`World.utility`). `World.true_top_items` gives the oracle's relevant set ("true recall").
- **The log** is *logged bandit feedback*: users only react to what a logging policy chose to
  show them (Swaminathan & Joachims 2015, "Batch learning from logged bandit feedback";
  the impression logs of YouTube's recommenders, Davidson et al. 2010 and Covington et al. 2016).
  Each session is a feed session or a search session. In a feed session the policy shows
  `impressions_per_session` released items, a mixture of *popular/trending* items (buzz, plus
  last week's views, plus a boost for new releases: the policy amplifies popularity, which gives
  the long tail) and *personalised* items drawn from a noisy estimate of the user's taste (an
  earlier model's guess). The user picks at most one item (sometimes a second) by a
  Gumbel/softmax choice over true utility (noise scale `choice_noise`), a small position bias and a
  "leave without choosing" option; `LIKED_GENRES_FEED` is a feed of liked genres only, with users
  who take the best item shown. In a search session the user types 1-3 words from the vocabulary of a liked genre;
  the results are released items sharing those words. A chosen item becomes a **view**; views
  with high utility are **liked**.

Why it teaches well: the non-chosen feed impressions are mostly *plausible* items, many from
genres the user likes that simply lost to a better one (the "skipped second-favourite sci-fi
title" of lesson L7), whereas a random catalogue item is usually from a genre the user does not
like. Every observable column has a timestamp, so features can be computed point-in-time (L6).

Invariants (checked by tests/test_world.py): the same seed gives identical tables; nothing is
shown or viewed before its release time; every view is a chosen impression (feed or search);
a user views an item at most once and the app never shows a user an item they already viewed.

Time is in world seconds: 0 is the start of the log, `end_time = n_days * 86400`. Items released
and users signed up before the log have negative times.

    world = generate_world()                       # default size, seed 0, ~1 s
    world = generate_world(WorldConfig.sized("tiny"), seed=3)
    log = world.interactions()                     # lineage.data.Interactions of the views
    print(world.summary())
    part = world.run_days(ModelPolicy(model, temperature=0.5), days=7, seed=0)   # the loop: a model's week

The package, one concept per module:

- `config.py`: the vocabularies and `WorldConfig`, every knob of the simulation, with size presets;
- `truth.py`: `World`, the generated tables with the hidden truth (the utility oracle and each
  user's true top items) and the export to `Interactions`;
- `population.py`: users (taste, languages, follows) and items (publishers, titles, buzz);
- `simulation.py`: sessions, the choice model, views and likes, and `World.run_days` (more days
  with any feed policy, appended to the logs);
- `policies.py`: feed policies: the app's own (`BuiltinFeed`), any fitted model (`ModelPolicy`,
  with Plackett-Luce or epsilon exploration and logged propensities), `UniformFeed`;
- `search.py`: search sessions' queries and the search engine's results;
- `generate.py`: `generate_world`, which seeds independent streams and runs the steps in order.
"""
from lineage.world.config import (DAY, DESCRIPTION_FILLER, GENERIC_TITLE_WORDS, GENRE_WORDS, GENRES,
                                  LANGUAGE_SHARE, LANGUAGES, LIKED_GENRES_FEED, OBSERVABLE_ITEM_COLUMNS,
                                  OBSERVABLE_USER_COLUMNS, PUBLISHER_ADJECTIVES, PUBLISHER_NOUNS, REGIONS,
                                  WORLD_SIZES, WorldConfig)
from lineage.world.generate import generate_world
from lineage.world.policies import BuiltinFeed, FeedPolicy, FeedRequests, ModelPolicy, UniformFeed
from lineage.world.simulation import LogPart
from lineage.world.truth import World

__all__ = ["DAY", "DESCRIPTION_FILLER", "GENERIC_TITLE_WORDS", "GENRE_WORDS", "GENRES", "LANGUAGE_SHARE",
           "LANGUAGES", "LIKED_GENRES_FEED", "OBSERVABLE_ITEM_COLUMNS", "OBSERVABLE_USER_COLUMNS", "PUBLISHER_ADJECTIVES",
           "PUBLISHER_NOUNS", "REGIONS", "WORLD_SIZES", "BuiltinFeed", "FeedPolicy", "FeedRequests", "LogPart",
           "ModelPolicy", "UniformFeed", "World", "WorldConfig", "generate_world"]
