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
  Gumbel/softmax choice over true utility, a small position bias and a "leave without choosing"
  option. In a search session the user types 1-3 words from the vocabulary of a liked genre;
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
"""
from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from lineage.data import Interactions
from lineage.topk import mask_items, top_k

DAY = 86_400.0  # seconds

# ---- vocabularies -------------------------------------------------------------------------------
GENRES = ("scifi", "romance", "thriller", "cooking", "travel", "comedy",
          "history", "kids", "horror", "sport", "music", "science")

GENRE_WORDS = {  # 16 words per genre, no word shared between genres
    "scifi": "quantum galaxy robot starship android alien orbit nebula cyborg warp planet laser cosmos clone asteroid martian",
    "romance": "love heart kiss wedding lovers passion bride darling romance sweetheart embrace desire valentine courtship honeymoon beloved",
    "thriller": "conspiracy spy betrayal hostage fugitive agent cipher heist suspect alibi escape target informant pursuit deception dossier",
    "cooking": "recipe kitchen baking pasta spice chef bread soup dessert grill flavour pantry noodle roast pastry feast",
    "travel": "voyage island passport road journey backpack coast mountain safari cruise wanderer compass border trail harbour desert",
    "comedy": "laugh prank joke silly chaos blunder goofy sitcom comic mishap giggle roommate parody hilarious awkward slapstick",
    "history": "empire dynasty ancient medieval revolution pharaoh castle kingdom roman viking chronicle emperor crusade archive monarch treaty",
    "kids": "puppy bunny dragon fairy pirate treasure bedtime teddy unicorn playground lullaby kitten wizard balloon toys adventure",
    "horror": "haunted ghost zombie demon curse vampire nightmare blood crypt possessed sinister graveyard witch shadow scream undead",
    "sport": "football champion stadium league marathon goal tennis coach tournament olympic sprint rally boxing cricket derby trophy",
    "music": "melody guitar concert symphony rhythm jazz album band piano opera chorus tour vinyl ballad drummer festival",
    "science": "atom genome experiment physics molecule neuron evolution fossil laboratory theory telescope climate energy particle cell discovery",
}
GENERIC_TITLE_WORDS = ("last secret night returns story world life days lost hidden rise fall great little "
                       "new city home house first final golden dark wild blue silent forgotten endless "
                       "summer winter tales legacy legend edge beyond inside river light storm").split()
DESCRIPTION_FILLER = ("a an and of with about who their this in on from story follows finds must after "
                      "when young old friends family town team way new series episode season guide "
                      "unexpected together between against everything nothing true classic modern special").split()

LANGUAGES = ("en", "es", "fr", "de", "it", "pt")
LANGUAGE_SHARE = (0.55, 0.18, 0.12, 0.09, 0.04, 0.02)  # share of items per language (renormalised)
REGIONS = (("north_america", "en"), ("latin_america", "es"), ("western_europe", "fr"),
           ("central_europe", "de"), ("asia_pacific", "en"), ("southern_europe", "it"))
PUBLISHER_ADJECTIVES = ("Blue", "Red", "Golden", "Silver", "North", "Quiet", "Bright", "Iron")
PUBLISHER_NOUNS = ("Press", "Media", "Studios", "Books", "House")

# Columns a model may use. Everything else in `World.users` / `World.items` is the hidden truth.
OBSERVABLE_USER_COLUMNS = ("region", "languages", "declared_genres", "signup_time", "follows")
OBSERVABLE_ITEM_COLUMNS = ("genre", "language", "publisher", "release_time",
                           "title", "description", "title_words", "description_words")


# ---- configuration ------------------------------------------------------------------------------
@dataclass
class WorldConfig:
    """Every knob of the simulation. Defaults: 3k users, 1.5k items, ~75k views, ~1.3 s."""

    seed: int = 0  # same seed -> identical tables
    # sizes
    n_users: int = 3000  # people using the app
    n_items: int = 1500  # catalogue size
    n_days: int = 60  # length of the logged timeline
    n_genres: int = 12  # at most len(GENRES); names are the first n of GENRES
    n_languages: int = 4  # at most len(LANGUAGES): en, es, fr, de by default
    n_regions: int = 5  # at most len(REGIONS)
    n_publishers: int = 40  # publishers specialise in 1-2 genres
    # users
    liked_genres: tuple[int, int] = (2, 3)  # min/max number of liked genres per user
    disliked_genres: tuple[int, int] = (1, 3)  # min/max number of strongly disliked genres
    liked_taste: tuple[float, float] = (1.5, 2.5)  # uniform range of taste for a liked genre
    disliked_taste: tuple[float, float] = (-4.0, -3.0)  # strongly negative: almost never chosen
    indifferent_taste: tuple[float, float] = (-0.5, 0.5)  # mean and std for the other genres
    activity_sigma: float = 0.8  # lognormal sigma of activity: skewed sessions per user
    signup_before_start_fraction: float = 0.7  # the rest sign up during the log (cold users)
    second_language_fraction: float = 0.4  # users who read a second language
    home_language_prob: float = 0.75  # first language = the region's language with this prob.
    declared_genres_fraction: float = 0.4  # users who declare preferred genres at signup
    declared_keep_prob: float = 0.8  # each liked genre is declared with this probability
    declared_noise_prob: float = 0.25  # probability of also declaring one indifferent genre
    follow_fraction: float = 0.5  # users who follow someone
    follows_mean: float = 3.0  # mean follows of such a user (1 + Poisson)
    follow_candidates: int = 30  # followees are picked among this many random users by taste
    # items
    late_release_fraction: float = 0.15  # items released during the log's last part...
    late_release_window: float = 0.2  # ...the last 20% of the timeline (cold items at test time)
    back_catalogue_days: float = 365.0  # other items are released up to this long before start
    publisher_home_language_prob: float = 0.8  # an item is in its publisher's language
    publisher_genre_prob: float = 0.85  # an item comes from a publisher specialised in its genre
    buzz_sigma: float = 1.5  # lognormal sigma of buzz: heavy tail of popularity
    buzz_quality_corr: float = 0.3  # good items get a little more buzz
    latent_dim: int = 8  # user x item latent interaction (hidden)
    latent_std: float = 0.5  # std of the latent term user_latent . item_latent
    title_words: tuple[int, int] = (3, 5)  # min/max words in a title
    description_words: tuple[int, int] = (10, 20)  # min/max words in a description
    title_genre_word_prob: float = 0.5  # a title word comes from the genre vocabulary
    description_genre_word_prob: float = 0.4  # a description word comes from the genre vocabulary
    off_genre_word_prob: float = 0.1  # share of those genre words taken from another genre
    # utility (the oracle)
    quality_weight: float = 0.5  # weight of latent quality
    language_weight: float = 1.5  # bonus when the item's language is one the user reads
    # sessions
    sessions_per_user_mean: float = 40.0  # for an average-activity user present the whole log
    search_session_fraction: float = 0.15  # sessions that start with a search
    impressions_per_session: int = 8  # feed slots shown per feed session
    search_results: int = 10  # results shown per search
    search_index_depth: int = 100  # the engine indexes a word's 100 buzziest items (bounds cost)
    search_focus: float = 2.0  # search intent genre ~ softmax(search_focus * taste)
    # logging policy (what the app chooses to show)
    policy_personal_share: float = 0.6  # share of feed slots from the personalised estimate
    policy_taste_noise: float = 0.7  # std of the policy's error on each user x genre taste
    policy_temperature: float = 0.5  # genre of a personalised slot ~ softmax(est. taste / T)
    policy_quality_noise: float = 0.5  # std of the policy's error on item quality
    policy_buzz_exponent: float = 0.5  # personalised slots: item weight ~ buzz^e * exp(quality est.)
    trending_weight: float = 1.0  # popular slots: weight of last week's views vs buzz
    trending_days: int = 7  # window of "trending"
    new_release_days: float = 7.0  # a release is "new" this many days
    new_release_boost: float = 4.0  # popular slots: weight multiplier of new releases
    # choice model
    leave_utility: float = 4.0  # utility of leaving a feed session without choosing
    search_leave_utility: float = 3.0  # lower: a searching user came with an intent
    position_bias: float = 0.1  # utility lost per slot further down the list
    second_choice_prob: float = 0.15  # chance a user who chose also takes their next-best item
    choice_noise: float = 1.0  # scale of the Gumbel noise on each slot's and on leaving's utility
    #   (0: every user takes exactly their best slot)
    like_threshold: float = 4.0  # a view is liked when utility + noise exceeds this
    like_noise: float = 0.5  # std of that noise

    @classmethod
    def sized(cls, name: str = "default", **overrides) -> "WorldConfig":
        """A preset from WORLD_SIZES: "tiny" (tests, ~0.1 s), "default" (notebooks, ~1.3 s) or
        "large" (scaling lessons, ~8 s, ~0.9 GB peak), with optional field overrides."""
        if name not in WORLD_SIZES:
            raise ValueError(f"unknown world size {name!r}; choose one of {', '.join(WORLD_SIZES)}")
        return cls(**{**WORLD_SIZES[name], **overrides})

    def validate(self) -> None:
        for name, limit in (("n_genres", len(GENRES)), ("n_languages", len(LANGUAGES)),
                            ("n_regions", len(REGIONS))):
            if not 1 <= getattr(self, name) <= limit:
                raise ValueError(f"WorldConfig.{name} must be between 1 and {limit}")
        if self.liked_genres[1] + self.disliked_genres[1] > self.n_genres:
            raise ValueError("WorldConfig: liked + disliked genres exceed n_genres")
        if min(self.n_users, self.n_items, self.n_days, self.n_publishers, self.impressions_per_session) < 1:
            raise ValueError("WorldConfig: sizes must be positive")


# A feed the article on negatives has in mind (notebook 05, lesson L7): every slot personalised, the
# policy sure of each user's favourite genres, and users who take exactly the best item shown (little
# choice noise, no position bias, no second choice). Use: WorldConfig.sized("default", **LIKED_GENRES_FEED).
LIKED_GENRES_FEED = {
    "policy_personal_share": 1.0,  # no popular slots: every impression comes from the policy's taste estimate
    "policy_temperature": 0.25,  # concentrated on the genres the policy thinks the user likes most
    "policy_taste_noise": 0.3,  # and it is rarely wrong about them
    "choice_noise": 0.25,  # users take the best item shown, nearly always
    "position_bias": 0.0,  # wherever it is in the feed
    "second_choice_prob": 0.0,  # and only that one
}

WORLD_SIZES = {  # preset name -> WorldConfig overrides
    "tiny": dict(n_users=300, n_items=240, n_days=30, n_publishers=12, sessions_per_user_mean=24.0),
    "default": {},
    "large": dict(n_users=50_000, n_items=20_000, n_publishers=400, sessions_per_user_mean=12.0),
}


# ---- the world ----------------------------------------------------------------------------------
@dataclass(eq=False)
class World:
    """A generated world: side tables, hidden truth, and the event logs (each a dict of columns).

    Logs are sorted by time. Indices (user, item, session) refer to rows of `users`, `items`,
    `sessions`. See data/README.md for every column."""

    config: WorldConfig
    genres: tuple[str, ...]
    languages: tuple[str, ...]
    regions: tuple[str, ...]
    users: dict[str, Any]  # one row per user
    items: dict[str, Any]  # one row per item
    taste: np.ndarray  # (n_users, n_genres) float32, hidden
    user_latent: np.ndarray  # (n_users, latent_dim) float32, hidden
    item_latent: np.ndarray  # (n_items, latent_dim) float32, hidden
    sessions: dict[str, np.ndarray]  # user, time, kind ("feed"/"search")
    impressions: dict[str, np.ndarray]  # user, item, time, session, position, chosen, source
    views: dict[str, np.ndarray]  # user, item, time, session, liked, source
    searches: dict[str, np.ndarray]  # user, time, session, query
    start_time: float = 0.0
    end_time: float = 0.0
    generation_seconds: float = field(default=0.0, compare=False)

    @property
    def n_users(self) -> int:
        return len(self.users["user_id"])

    @property
    def n_items(self) -> int:
        return len(self.items["item_id"])

    # ---- the oracle -----------------------------------------------------------------------------
    def utility(self, users, items=None) -> np.ndarray:
        """Noise-free utility, (len(users), n_items) or (len(users), len(items)) float32."""
        users = np.asarray(users, dtype=np.int64)
        items = np.arange(self.n_items) if items is None else np.asarray(items, dtype=np.int64)
        cfg = self.config
        genre = self.items["genre_index"][items]
        language = self.items["language_index"][items]
        reads = self.users["reads_language"][users]  # (u, n_languages) bool
        out = self.taste[users][:, genre]  # (u, i)
        out += cfg.quality_weight * self.items["quality"][items][None, :]
        out += cfg.language_weight * reads[:, language]
        out += self.user_latent[users] @ self.item_latent[items].T
        return out.astype(np.float32, copy=False)

    def pair_utility(self, users, items) -> np.ndarray:
        """Utility of given (user, item) pairs, any matching shapes, float32."""
        return _pair_utility(self, np.asarray(users), np.asarray(items))

    def true_top_items(self, users, k: int, released_before=None, exclude: sp.csr_matrix | None = None,
                       chunk_size: int = 1024) -> np.ndarray:
        """(len(users), k) indices of each user's k highest-utility items, best first.

        released_before: a time (or one per user): only items with release_time < it count.
        exclude: (n_users, n_items) sparse matrix of items to skip (e.g. train.to_csr()).
        Slots that cannot be filled hold -1."""
        users = np.asarray(users, dtype=np.int64)
        cutoff = None if released_before is None else np.broadcast_to(
            np.asarray(released_before, dtype=np.float64), users.shape)
        out = np.empty((len(users), k), dtype=np.int64)
        for start in range(0, len(users), chunk_size):
            chunk = users[start:start + chunk_size]
            scores = self.utility(chunk)  # (c, n_items)
            if cutoff is not None:
                scores[self.items["release_time"][None, :] >= cutoff[start:start + chunk_size, None]] = -np.inf
            if exclude is not None:
                mask_items(scores, exclude[chunk])
            best = top_k(scores, k)
            out[start:start + len(chunk), :best.shape[1]] = best
            out[start:start + len(chunk), best.shape[1]:] = -1
        return out

    # ---- export ---------------------------------------------------------------------------------
    def interactions(self, liked_only: bool = False, like_value: float = 2.0) -> Interactions:
        """The views as an `Interactions` log (sorted by time, every world user and item in the
        vocabulary, indices equal to world indices).

        values: 1.0 for a view, `like_value` for a liked view (a confidence weight for weighted
        ALS; `to_csr(binary=True)`, the default, ignores it). liked_only: keep liked views only.
        Side information: only the observable columns (OBSERVABLE_USER_COLUMNS and
        OBSERVABLE_ITEM_COLUMNS); dynamic counts must be computed point-in-time from the log."""
        v = self.views
        rows = v["liked"] if liked_only else np.ones(len(v["user"]), dtype=bool)
        values = np.where(v["liked"], like_value, 1.0).astype(np.float32)
        user_features = {name: self.users[name] for name in OBSERVABLE_USER_COLUMNS if name != "follows"}
        ids = self.users["user_id"]
        user_features["follows"] = [tuple(ids[list(f)]) for f in self.users["follows"]]
        return Interactions(
            users=v["user"][rows], items=v["item"][rows], times=v["time"][rows], values=values[rows],
            user_ids=self.users["user_id"], item_ids=self.items["item_id"],
            user_features=user_features,
            item_features={name: self.items[name] for name in OBSERVABLE_ITEM_COLUMNS},
            name="world" if not liked_only else "world-liked",
        )

    def summary(self) -> str:
        """A few lines describing sizes and the shape of the log."""
        v, imp, cfg = self.views, self.impressions, self.config
        views_per_item = np.sort(np.bincount(v["item"], minlength=self.n_items))[::-1]
        top10 = views_per_item[: max(1, self.n_items // 10)].sum() / max(1, views_per_item.sum())
        views_per_user = np.bincount(v["user"], minlength=self.n_users)
        late = self.items["release_time"] >= self.start_time
        feed = imp["source"] == "feed"
        lines = [
            f"World(seed={cfg.seed}): {self.n_users:,} users, {self.n_items:,} items, "
            f"{len(self.genres)} genres, {cfg.n_days} days, generated in {self.generation_seconds:.2f} s",
            f"  sessions {len(self.sessions['user']):,} ({np.mean(self.sessions['kind'] == 'search'):.0%} search), "
            f"impressions {len(imp['user']):,}, views {len(v['user']):,} "
            f"({np.mean(v['liked']):.0%} liked, {np.mean(v['source'] == 'search'):.0%} from search), "
            f"searches {len(self.searches['user']):,}",
            f"  feed impressions chosen: {np.mean(imp['chosen'][feed]):.1%}; "
            f"top 10% of items get {top10:.0%} of views; {np.mean(views_per_item == 0):.0%} of items never viewed",
            f"  views per user: median {np.median(views_per_user):.0f}, max {views_per_user.max()}, "
            f"{np.mean(views_per_user == 0):.0%} with none",
            f"  late releases (cold-start items): {late.sum()} items, {np.isin(v['item'], np.flatnonzero(late)).sum():,} views",
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"World(seed={self.config.seed}, {self.n_users:,} users, {self.n_items:,} items, "
                f"{len(self.views['user']):,} views, {len(self.impressions['user']):,} impressions)")


# ---- generation ---------------------------------------------------------------------------------
def generate_world(config: WorldConfig | None = None, **overrides) -> World:
    """Generate a world. `overrides` replace fields of `config` (default: `WorldConfig()`),
    e.g. `generate_world(seed=1)` or `generate_world(WorldConfig.sized("tiny"), n_days=10)`."""
    started = _time.perf_counter()
    config = replace(config or WorldConfig(), **overrides)
    config.validate()
    # independent streams, so changing one part (say the follow graph) leaves the others alone
    streams = np.random.SeedSequence(config.seed).spawn(4)
    user_rng, item_rng, session_rng, log_rng = (np.random.default_rng(s) for s in streams)

    genres = GENRES[: config.n_genres]
    languages = LANGUAGES[: config.n_languages]
    regions = tuple(name for name, _ in REGIONS[: config.n_regions])
    vocab = _Vocabulary(genres)

    users, taste, user_latent = _make_users(config, user_rng, genres, languages)
    items, item_latent = _make_items(config, item_rng, genres, languages, vocab)
    world = World(config=config, genres=genres, languages=languages, regions=regions,
                  users=users, items=items, taste=taste, user_latent=user_latent, item_latent=item_latent,
                  sessions={}, impressions={}, views={}, searches={},
                  start_time=0.0, end_time=config.n_days * DAY)
    world.sessions = _make_sessions(config, session_rng, users)
    world.impressions, world.views, world.searches = _simulate_log(world, log_rng, vocab)
    world.generation_seconds = _time.perf_counter() - started
    return world


class _Vocabulary:
    """All words with integer ids: per-genre words first, then generic title words, then filler."""

    def __init__(self, genres):
        self.genre_words = np.array([GENRE_WORDS[g].split() for g in genres])  # (n_genres, 16) str
        self.words = np.concatenate([self.genre_words.ravel(), GENERIC_TITLE_WORDS, DESCRIPTION_FILLER])
        n_genre_words = self.genre_words.size
        self.genre_word_ids = np.arange(n_genre_words).reshape(self.genre_words.shape)  # (n_genres, 16)
        self.generic_ids = n_genre_words + np.arange(len(GENERIC_TITLE_WORDS))
        self.filler_ids = n_genre_words + len(GENERIC_TITLE_WORDS) + np.arange(len(DESCRIPTION_FILLER))

    def __len__(self) -> int:
        return len(self.words)


def _tuples_from_mask(mask: np.ndarray, labels) -> list[tuple]:
    """(n, m) bool -> n tuples holding labels[j] for each True column j, in column order."""
    labels = np.asarray(labels)
    rows, cols = np.nonzero(mask)
    splits = np.searchsorted(rows, np.arange(1, mask.shape[0]))
    return [tuple(part.tolist()) for part in np.split(labels[cols], splits)]


def _ranked_choice(rng, weights_log: np.ndarray) -> np.ndarray:
    """Gumbel-top-k trick: a random order of columns per row, weighted by exp(weights_log).
    Returns the rank of each column in that order, (n, m) int."""
    keys = weights_log + rng.gumbel(size=weights_log.shape)
    order = np.argsort(-keys, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(order.shape[1])[None, :], axis=1)
    return rank


# ---- users ----
def _make_users(cfg: WorldConfig, rng, genres, languages):
    n, g = cfg.n_users, len(genres)
    # region -> languages: the region's language is likelier first; a second language is often English
    region = rng.integers(0, cfg.n_regions, n)
    home = np.array([languages.index(code) if code in languages else 0 for _, code in REGIONS[: cfg.n_regions]])
    language_share = np.array(LANGUAGE_SHARE[: len(languages)])
    first = np.where(rng.random(n) < cfg.home_language_prob, home[region],
                     rng.choice(len(languages), n, p=language_share / language_share.sum()))
    second = np.where(first != 0, 0, rng.integers(1, max(2, len(languages)), n) % len(languages))
    has_second = (rng.random(n) < cfg.second_language_fraction) & (second != first)
    reads = np.zeros((n, len(languages)), dtype=bool)
    reads[np.arange(n), first] = True
    reads[np.arange(n)[has_second], second[has_second]] = True

    # taste: a weighted random order of genres; the top ones are liked, the bottom ones disliked
    appeal = np.log(rng.dirichlet(np.full(g, 5.0)))  # some genres are more popular than others
    rank = _ranked_choice(rng, np.broadcast_to(appeal, (n, g)))  # (n, g)
    n_liked = rng.integers(cfg.liked_genres[0], cfg.liked_genres[1] + 1, n)
    n_disliked = rng.integers(cfg.disliked_genres[0], cfg.disliked_genres[1] + 1, n)
    liked = rank < n_liked[:, None]
    disliked = rank >= g - n_disliked[:, None]
    taste = rng.normal(cfg.indifferent_taste[0], cfg.indifferent_taste[1], (n, g))
    taste = np.where(liked, rng.uniform(*cfg.liked_taste, (n, g)), taste)
    taste = np.where(disliked, rng.uniform(*cfg.disliked_taste, (n, g)), taste).astype(np.float32)

    # declared genres: a noisy view of the liked ones (the favourite is always kept)
    declares = rng.random(n) < cfg.declared_genres_fraction
    declared = liked & ((rng.random((n, g)) < cfg.declared_keep_prob) | (rank == 0))
    indifferent = ~liked & ~disliked
    noise_genre = _ranked_choice(rng, np.where(indifferent, 0.0, -np.inf)) == 0
    declared |= noise_genre & indifferent & (rng.random(n) < cfg.declared_noise_prob)[:, None]
    declared &= declares[:, None]

    # activity and signup
    activity = rng.lognormal(0.0, cfg.activity_sigma, n)
    activity /= math.exp(cfg.activity_sigma ** 2 / 2)  # mean 1
    before = rng.random(n) < cfg.signup_before_start_fraction
    signup = np.where(before, -rng.uniform(0, 180 * DAY, n), rng.uniform(0, 0.9 * cfg.n_days * DAY, n))

    follows = _make_follows(cfg, rng, taste)
    latent_scale = math.sqrt(cfg.latent_std) / cfg.latent_dim ** 0.25  # dot product std = latent_std
    user_latent = rng.normal(0, latent_scale, (n, cfg.latent_dim)).astype(np.float32)
    users = {
        "user_id": np.array([f"u{i:05d}" for i in range(n)]),
        "region": np.array([REGIONS[r][0] for r in range(cfg.n_regions)])[region],
        "languages": _tuples_from_mask(reads, languages),
        "declared_genres": _tuples_from_mask(declared, genres),
        "signup_time": signup.round(0),
        "follows": follows,
        # hidden truth: never a model input
        "activity": activity,
        "reads_language": reads,
        "liked_genres": _tuples_from_mask(liked, genres),
        "disliked_genres": _tuples_from_mask(disliked, genres),
    }
    return users, taste, user_latent


def _make_follows(cfg: WorldConfig, rng, taste: np.ndarray) -> list[tuple[int, ...]]:
    """Each follower picks followees among random candidates, preferring similar tastes."""
    n = len(taste)
    c = min(cfg.follow_candidates, n - 1)
    follows: list[tuple[int, ...]] = [() for _ in range(n)]
    followers = np.flatnonzero(rng.random(n) < cfg.follow_fraction)
    if c < 1 or len(followers) == 0:
        return follows
    candidates = (followers[:, None] + rng.integers(1, n, (len(followers), c))) % n  # never oneself
    unit = taste / np.linalg.norm(taste, axis=1, keepdims=True)
    similarity = np.einsum("fg,fcg->fc", unit[followers], unit[candidates])  # (f, c) cosine
    rank = _ranked_choice(rng, similarity / 0.1)
    n_follows = np.minimum(1 + rng.poisson(cfg.follows_mean - 1, len(followers)), c)
    keep = rank < n_follows[:, None]
    for f, row_candidates, row_keep in zip(followers, candidates, keep):  # one small tuple per user
        follows[f] = tuple(sorted(set(row_candidates[row_keep].tolist())))
    return follows


# ---- items ----
def _make_items(cfg: WorldConfig, rng, genres, languages, vocab: _Vocabulary):
    n, g = cfg.n_items, len(genres)
    genre = rng.choice(g, n, p=rng.dirichlet(np.full(g, 5.0)))

    # publishers: each specialises in a main genre (and sometimes a second), has a home language
    # and a quality offset, and a size (how much it publishes)
    p = cfg.n_publishers
    speciality = np.zeros((p, g), dtype=bool)
    speciality[np.arange(p), rng.permutation(p) % g] = True
    speciality[np.arange(p), rng.integers(0, g, p)] |= rng.random(p) < 0.5
    language_share = np.array(LANGUAGE_SHARE[: len(languages)])
    language_share /= language_share.sum()
    publisher_language = rng.choice(len(languages), p, p=language_share)
    publisher_quality = rng.normal(0, 0.5, p)
    publisher_size = rng.lognormal(0, 0.7, p)
    publisher = rng.choice(p, n, p=publisher_size / publisher_size.sum())
    specialised = rng.random(n) < cfg.publisher_genre_prob
    for k in range(g):  # loop over genres: draw a specialised publisher for this genre's items
        rows = np.flatnonzero((genre == k) & specialised)
        weights = publisher_size * speciality[:, k]
        if weights.sum() > 0:
            publisher[rows] = rng.choice(p, len(rows), p=weights / weights.sum())
    language = np.where(rng.random(n) < cfg.publisher_home_language_prob, publisher_language[publisher],
                        rng.choice(len(languages), n, p=language_share))

    quality = (publisher_quality[publisher] + rng.normal(0, 1, n)).astype(np.float32)
    buzz = np.exp(cfg.buzz_sigma * rng.normal(0, 1, n) + cfg.buzz_quality_corr * quality)
    end = cfg.n_days * DAY
    late = rng.random(n) < cfg.late_release_fraction
    release = np.where(late, rng.uniform((1 - cfg.late_release_window) * end, end, n),
                       -rng.uniform(0, cfg.back_catalogue_days * DAY, n)).round(0)
    latent_scale = math.sqrt(cfg.latent_std) / cfg.latent_dim ** 0.25
    item_latent = rng.normal(0, latent_scale, (n, cfg.latent_dim)).astype(np.float32)

    title_ids, title_mask = _draw_words(cfg, rng, genre, vocab, cfg.title_words, cfg.title_genre_word_prob,
                                        vocab.generic_ids)
    desc_ids, desc_mask = _draw_words(cfg, rng, genre, vocab, cfg.description_words,
                                      cfg.description_genre_word_prob, vocab.filler_ids)
    title_words = _tuples_from_mask_ids(title_ids, title_mask, vocab.words)
    description_words = _tuples_from_mask_ids(desc_ids, desc_mask, vocab.words)
    the = rng.random(n) < 0.3  # "The Quantum Voyage Returns"
    titles = np.array([("The " if t else "") + " ".join(w.capitalize() for w in words)
                       for t, words in zip(the, title_words)])
    descriptions = np.array([" ".join(words).capitalize() + "." for words in description_words])

    publisher_names = np.array([f"{PUBLISHER_ADJECTIVES[k % 8]} {PUBLISHER_NOUNS[(k // 8) % 5]}"
                                + (f" {k // 40 + 1}" if k >= 40 else "") for k in range(p)])
    items = {
        "item_id": np.array([f"i{i:05d}" for i in range(n)]),
        "genre": np.array(genres)[genre],
        "language": np.array(languages)[language],
        "publisher": publisher_names[publisher],
        "release_time": release,
        "title": titles,
        "description": descriptions,
        "title_words": [tuple(dict.fromkeys(("the",) * int(t) + w)) for t, w in zip(the, title_words)],
        "description_words": [tuple(dict.fromkeys(w)) for w in description_words],
        # hidden truth and integer codes used by the simulation
        "quality": quality,
        "buzz": buzz,
        "genre_index": genre,
        "language_index": language,
        "word_matrix": _word_matrix(n, len(vocab), [(title_ids, title_mask), (desc_ids, desc_mask)]),
    }
    return items, item_latent


def _draw_words(cfg, rng, genre, vocab: _Vocabulary, length_range, genre_prob, other_ids):
    """Word ids (n, max_len) and a mask of the first `length` slots of each row."""
    n, g = len(genre), vocab.genre_word_ids.shape[0]
    max_len = length_range[1]
    length = rng.integers(length_range[0], max_len + 1, n)
    mask = np.arange(max_len)[None, :] < length[:, None]  # (n, max_len)
    off_genre = rng.random((n, max_len)) < cfg.off_genre_word_prob
    word_genre = np.where(off_genre, rng.integers(0, g, (n, max_len)), genre[:, None])
    genre_word = vocab.genre_word_ids[word_genre, rng.integers(0, vocab.genre_word_ids.shape[1], (n, max_len))]
    other_word = rng.choice(other_ids, (n, max_len))
    ids = np.where(rng.random((n, max_len)) < genre_prob, genre_word, other_word)
    return ids, mask


def _tuples_from_mask_ids(ids, mask, words) -> list[tuple[str, ...]]:
    return [tuple(words[row[m]].tolist()) for row, m in zip(ids, mask)]


def _word_matrix(n_items: int, n_words: int, parts) -> sp.csr_matrix:
    """(n_items, n_words) binary: which words appear in an item's title or description."""
    rows = np.concatenate([np.nonzero(mask)[0] for _, mask in parts])
    cols = np.concatenate([ids[mask] for ids, mask in parts])
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_items, n_words))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


# ---- sessions ----
def _make_sessions(cfg: WorldConfig, rng, users) -> dict[str, np.ndarray]:
    """When each user comes to the app: Poisson many sessions, uniform over their active time."""
    end = cfg.n_days * DAY
    active_from = np.maximum(users["signup_time"], 0.0)
    active_share = (end - active_from) / end
    counts = rng.poisson(cfg.sessions_per_user_mean * users["activity"] * active_share)
    user = np.repeat(np.arange(len(counts)), counts)
    # sessions end 10 minutes before the log does, so every event fits in [0, end)
    times = (active_from[user] + rng.random(len(user)) * (end - 600 - active_from[user])).round(0)
    is_search = rng.random(len(user)) < cfg.search_session_fraction
    order = np.lexsort((user, times))
    return {"user": user[order], "time": times[order],
            "kind": np.where(is_search[order], "search", "feed")}


# ---- the log ----
def _pair_utility(world: World, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    cfg = world.config
    genre = world.items["genre_index"][items]
    out = world.taste[users, genre]
    out = out + cfg.quality_weight * world.items["quality"][items]
    out = out + cfg.language_weight * world.users["reads_language"][users, world.items["language_index"][items]]
    out = out + np.einsum("...d,...d->...", world.user_latent[users], world.item_latent[items])
    return out.astype(np.float32)


class _SeenSet:
    """The (user, item) pairs already viewed, as sorted int64 keys user * n_items + item: a large
    array merged once a day and a small one for today's views."""

    def __init__(self, n_items: int):
        self.n_items = n_items
        self.before_today = np.empty(0, dtype=np.int64)
        self.today = np.empty(0, dtype=np.int64)

    @staticmethod
    def _member(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
        if len(sorted_keys) == 0:
            return np.zeros(keys.shape, dtype=bool)
        pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
        return sorted_keys[pos] == keys

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users.astype(np.int64) * self.n_items + items
        return self._member(self.before_today, keys) | self._member(self.today, keys)

    def add(self, users: np.ndarray, items: np.ndarray) -> None:
        """Add new pairs (never ones already in the set: the app does not show viewed items)."""
        new_keys = users.astype(np.int64) * self.n_items + items
        self.today = np.sort(np.concatenate([self.today, new_keys]), kind="stable")

    def end_of_day(self) -> None:
        # a stable sort of two sorted runs is a merge (timsort), cheaper than np.union1d
        self.before_today = np.sort(np.concatenate([self.before_today, self.today]), kind="stable")
        self.today = np.empty(0, dtype=np.int64)


class _Sampler:
    """Inverse-CDF sampling of items, globally or within a genre, from per-item weights."""

    def __init__(self, weights: np.ndarray, genre: np.ndarray, n_genres: int):
        self.total_cdf = np.cumsum(weights)
        self.order = np.argsort(genre, kind="stable")  # items grouped by genre
        self.cdf = np.cumsum(weights[self.order])
        ends = np.searchsorted(genre[self.order], np.arange(n_genres), side="right")
        starts = np.concatenate([[0], ends[:-1]])
        self.below = np.where(starts > 0, self.cdf[np.maximum(starts - 1, 0)], 0.0)  # mass before genre
        self.mass = np.where(ends > 0, self.cdf[np.maximum(ends - 1, 0)], 0.0) - self.below

    def anywhere(self, u: np.ndarray) -> np.ndarray:
        """u: uniforms in [0,1) -> item indices drawn proportionally to weight."""
        idx = np.searchsorted(self.total_cdf, u * self.total_cdf[-1], side="right")
        return np.minimum(idx, len(self.total_cdf) - 1)

    def in_genre(self, genre: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Items drawn within the given genres (same shape as u); -1 where a genre has no mass."""
        idx = np.searchsorted(self.cdf, self.below[genre] + u * self.mass[genre], side="right")
        items = self.order[np.minimum(idx, len(self.order) - 1)]
        return np.where(self.mass[genre] > 0, items, -1)


def _first_occurrences(rows: np.ndarray) -> np.ndarray:
    """(b, c) -> bool mask, False where a value repeats an earlier one in the same row."""
    order = np.argsort(rows, axis=1, kind="stable")
    ordered = np.take_along_axis(rows, order, axis=1)
    repeat_sorted = np.zeros(rows.shape, dtype=bool)
    repeat_sorted[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    repeat = np.zeros(rows.shape, dtype=bool)
    np.put_along_axis(repeat, order, repeat_sorted, axis=1)
    return ~repeat


def _choose(rng, cfg: WorldConfig, utility: np.ndarray, shown: np.ndarray, leave_utility: float) -> np.ndarray:
    """The choice model. utility, shown: (b, c) with shown slots left-aligned (position = column).
    Each user takes their best slot if its noisy utility beats leaving, and sometimes also the
    second best. Returns (b, c) int8: 0 not chosen, 1 first choice, 2 second choice."""
    b, c = utility.shape
    noisy = utility - cfg.position_bias * np.arange(c)[None, :] + cfg.choice_noise * rng.gumbel(size=(b, c))
    noisy = np.where(shown, noisy, -np.inf)
    leave = leave_utility + cfg.choice_noise * rng.gumbel(size=b)
    order = np.argsort(-noisy, axis=1, kind="stable")[:, :2]  # (b, 2) best and second best slot
    best = np.take_along_axis(noisy, order, axis=1)
    rows = np.arange(b)
    choice = np.zeros((b, c), dtype=np.int8)
    first = best[:, 0] > leave
    choice[rows[first], order[first, 0]] = 1
    if c > 1:
        second = first & (best[:, 1] > leave) & (rng.random(b) < cfg.second_choice_prob)
        choice[rows[second], order[second, 1]] = 2
    return choice


def _simulate_log(world: World, rng, vocab: _Vocabulary):
    """Run the app day by day. The policy draws each day's candidates at once; then a user's
    sessions of the day are played in rounds (their first session of the day in round 0, ...), so
    an item viewed in one session is never shown again, not even later the same day."""
    cfg, items, sessions = world.config, world.items, world.sessions
    n_items, n_genres = world.n_items, len(world.genres)

    # the policy's fixed, noisy estimates (an earlier model's view of users and items)
    policy_taste = world.taste + rng.normal(0, cfg.policy_taste_noise, world.taste.shape)
    genre_logits = policy_taste / cfg.policy_temperature
    genre_probs = np.exp(genre_logits - genre_logits.max(axis=1, keepdims=True))
    genre_cdf = np.cumsum(genre_probs / genre_probs.sum(axis=1, keepdims=True), axis=1)  # (n_users, g)
    quality_estimate = items["quality"] + rng.normal(0, cfg.policy_quality_noise, n_items)
    personal_weight = items["buzz"] ** cfg.policy_buzz_exponent * np.exp(quality_estimate)
    buzz_share = items["buzz"] / items["buzz"].sum()
    by_buzz = np.argsort(-items["buzz"], kind="stable")  # search results: equal matches, buzzier first
    words_by_buzz = _search_index(items["word_matrix"][by_buzz], cfg.search_index_depth)

    is_search = sessions["kind"] == "search"
    searches = _make_queries(world, rng, vocab, np.flatnonzero(is_search))
    query_row = np.cumsum(is_search) - 1  # session -> row of `searches`
    day_of_session = (sessions["time"] // DAY).astype(np.int64)
    round_of_session = _rank_within_groups(day_of_session * world.n_users + sessions["user"])
    views_per_day = np.zeros((cfg.n_days, n_items))
    seen = _SeenSet(n_items)
    impressions, views = [], []

    for day in range(cfg.n_days):
        # what the policy can show today: released items, popular weights with last week's views
        released = items["release_time"] < day * DAY
        age_days = day - items["release_time"] / DAY
        trending = views_per_day[max(0, day - cfg.trending_days):day].sum(axis=0)
        popular_weight = buzz_share + cfg.trending_weight * trending / max(1.0, trending.sum())
        popular_weight *= np.where(age_days < cfg.new_release_days, cfg.new_release_boost, 1.0)
        popular = _Sampler(popular_weight * released, items["genre_index"], n_genres)
        personal = _Sampler(personal_weight * released, items["genre_index"], n_genres)

        today = day_of_session == day
        feed_ids, search_ids = np.flatnonzero(today & ~is_search), np.flatnonzero(today & is_search)
        kinds = [  # (source, session ids, candidates (b, c), slots, leave utility)
            ("feed", feed_ids, _feed_candidates(world, rng, feed_ids, popular, personal, genre_cdf),
             cfg.impressions_per_session, cfg.leave_utility),
            ("search", search_ids,
             _search_candidates(world, searches["query_matrix"][query_row[search_ids]], released,
                                by_buzz, words_by_buzz),
             cfg.search_results, cfg.search_leave_utility),
        ]
        outcome = {source: (np.zeros((len(ids), slots), np.int64), np.zeros((len(ids), slots), bool),
                            np.zeros((len(ids), slots), np.int8)) for source, ids, _, slots, _ in kinds}
        for rnd in range(round_of_session[today].max() + 1 if today.any() else 0):
            for source, ids, candidates, slots, leave in kinds:
                rows = np.flatnonzero(round_of_session[ids] == rnd)
                if len(rows) == 0:
                    continue
                users = sessions["user"][ids[rows]]
                slot_items, shown, choice = _show_and_choose(world, rng, users, candidates[rows], slots, leave, seen)
                for array, value in zip(outcome[source], (slot_items, shown, choice)):
                    array[rows] = value
                chosen = choice > 0
                seen.add(np.broadcast_to(users[:, None], chosen.shape)[chosen], slot_items[chosen])
        seen.end_of_day()
        for source, ids, _, _, _ in kinds:
            imp, view = _emit(world, ids, *outcome[source], source)
            impressions.append(imp)
            views.append(view)
            np.add.at(views_per_day[day], view["item"], 1.0)

    impressions = _concat(impressions, order_by=("session", "position"))
    views = _concat(views, order_by=("time", "session"))
    likes_noise = rng.normal(0, cfg.like_noise, len(views["user"]))
    views["liked"] = _pair_utility(world, views["user"], views["item"]) + likes_noise > cfg.like_threshold
    # strings last: sorting a bool is cheaper than sorting '<U6' text
    impressions["source"] = np.where(impressions.pop("from_search"), "search", "feed")
    views["source"] = np.where(views.pop("from_search"), "search", "feed")
    views = {k: views[k] for k in ("user", "item", "time", "session", "liked", "source")}
    searches = {k: searches[k] for k in ("user", "time", "session", "query")}
    return impressions, views, searches


def _make_queries(world: World, rng, vocab: _Vocabulary, session_ids: np.ndarray) -> dict:
    """Every search: the user picks a genre they like (softmax of search_focus * taste) and types
    1-3 words of its vocabulary. Returns the searches table plus a (n, n_words) query matrix."""
    cfg = world.config
    n = len(session_ids)
    users = world.sessions["user"][session_ids]
    intent = cfg.search_focus * world.taste[users]  # (n, g)
    genre = np.argmax(intent + rng.gumbel(size=intent.shape), axis=1)  # (n,)
    n_words = rng.integers(1, 4, n)
    distinct = np.argsort(rng.random((n, vocab.genre_word_ids.shape[1])), axis=1)[:, :3]  # 3 distinct words
    word_ids = vocab.genre_word_ids[genre[:, None], distinct]  # (n, 3)
    in_query = np.arange(3)[None, :] < n_words[:, None]  # (n, 3)
    query_matrix = sp.csr_matrix((np.ones(in_query.sum(), np.float32),
                                  (np.repeat(np.arange(n), n_words), word_ids[in_query])), shape=(n, len(vocab)))
    words = vocab.words[word_ids]  # (n, 3) str
    query = words[:, 0]
    for j in (1, 2):
        query = np.where(in_query[:, j], np.char.add(np.char.add(query, " "), words[:, j]), query)
    return {"user": users, "time": world.sessions["time"][session_ids],
            "session": session_ids.astype(np.int64), "query": query, "query_matrix": query_matrix}


def _feed_candidates(world, rng, session_ids, popular: _Sampler, personal: _Sampler, genre_cdf) -> np.ndarray:
    """(b, c) items the policy would show, in order, -1 for a repeat. Each slot is popular
    (buzz + trending + new) or personalised (a genre from the policy's taste estimate, then an
    item of that genre). c > impressions_per_session leaves spares for already-viewed items."""
    cfg = world.config
    k = cfg.impressions_per_session
    b, c = len(session_ids), k + k // 2 + 2
    users = world.sessions["user"][session_ids]  # (b,)
    from_popular = popular.anywhere(rng.random((b, c)))  # (b, c)
    genre = (rng.random((b, c, 1)) > genre_cdf[users][:, None, :]).sum(axis=2)  # (b, c) policy's genre
    from_personal = personal.in_genre(np.minimum(genre, genre_cdf.shape[1] - 1), rng.random((b, c)))
    personal_slot = (rng.random((b, c)) < cfg.policy_personal_share) & (from_personal >= 0)
    candidates = np.where(personal_slot, from_personal, from_popular)
    return np.where(_first_occurrences(candidates), candidates, -1)


def _search_index(words_by_buzz: sp.csr_matrix, depth: int) -> sp.csr_matrix:
    """Keep, for each word, only the `depth` buzziest items containing it (rows are in buzz order)."""
    by_word = words_by_buzz.tocsc()
    by_word.sort_indices()
    word_of_entry = np.repeat(np.arange(by_word.shape[1]), np.diff(by_word.indptr))
    position = np.arange(by_word.nnz) - by_word.indptr[word_of_entry]  # rank within the word's items
    by_word.data[position >= depth] = 0.0
    by_word.eliminate_zeros()
    return by_word.tocsr()


def _search_candidates(world, query_matrix: sp.csr_matrix, released: np.ndarray,
                       by_buzz: np.ndarray, words_by_buzz: sp.csr_matrix) -> np.ndarray:
    """(b, 2 * search_results) released items sharing the most words with each query, best first
    (equal matches: buzzier first), -1 padded. Spares replace results the user already viewed.

    by_buzz: item indices, buzziest first; words_by_buzz: the item x word matrix in that order.
    Columns of the match matrix are then buzz ranks, so within a row they are already in
    tie-break order and no sort over all matches is needed."""
    n_candidates = 2 * world.config.search_results
    b = query_matrix.shape[0]
    matches = (query_matrix @ words_by_buzz.T).tocsr()  # (b, n_items) shared words, columns = buzz rank
    matches.sort_indices()
    rows = np.repeat(np.arange(b), np.diff(matches.indptr))
    ranks, n_shared = matches.indices, matches.data
    ok = released[by_buzz[ranks]]
    rows, ranks, n_shared = rows[ok], ranks[ok], n_shared[ok]
    slot = np.empty(len(rows), dtype=np.int64)
    placed = np.zeros(b, dtype=np.int64)  # results already placed per query
    for shared in (3, 2, 1):  # queries have at most 3 words: most shared words first
        level = n_shared == shared
        level_rows = rows[level]  # ascending
        first_of_row = np.searchsorted(level_rows, np.arange(b))
        slot[level] = placed[level_rows] + np.arange(len(level_rows)) - first_of_row[level_rows]
        placed += np.bincount(level_rows, minlength=b)
    keep = slot < n_candidates
    out = np.full((b, n_candidates), -1, dtype=np.int64)
    out[rows[keep], slot[keep]] = by_buzz[ranks[keep]]
    return out


def _show_and_choose(world, rng, users, candidates, n_slots: int, leave_utility: float, seen: _SeenSet):
    """Drop candidates the user already viewed, show the first n_slots, let the user choose.
    users: (b,), candidates: (b, c) with -1 = none. Returns slot items (b, n_slots), shown (bool)
    and choice (int8: 0 no, 1 first choice, 2 second choice)."""
    b = len(users)
    valid = (candidates >= 0) & ~seen.contains(users[:, None], np.maximum(candidates, 0))
    slot = np.cumsum(valid, axis=1) - 1  # position each valid candidate takes
    keep = valid & (slot < n_slots)
    slot_items = np.zeros((b, n_slots), dtype=np.int64)
    shown = np.zeros((b, n_slots), dtype=bool)
    r, col = np.nonzero(keep)
    slot_items[r, slot[r, col]] = candidates[r, col]
    shown[r, slot[r, col]] = True
    utility = _pair_utility(world, np.broadcast_to(users[:, None], (b, n_slots)), slot_items)
    choice = _choose(rng, world.config, utility, shown, leave_utility)
    return slot_items, shown, choice


def _rank_within_groups(group: np.ndarray) -> np.ndarray:
    """For rows already in time order: 0 for a group's first row, 1 for its second, ..."""
    order = np.argsort(group, kind="stable")
    sorted_group = group[order]
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    rank_sorted = np.arange(len(group)) - np.repeat(starts, np.diff(np.r_[starts, len(group)]))
    rank = np.empty(len(group), dtype=np.int64)
    rank[order] = rank_sorted
    return rank


def _emit(world, session_ids, slot_items, shown, choice, source: str):
    """Turn (b, c) slot arrays into impression and view columns."""
    sessions = world.sessions
    rows, position = np.nonzero(shown)  # row-major: sessions in order, positions ascending
    session = session_ids[rows]
    imp = {
        "user": sessions["user"][session], "item": slot_items[rows, position].astype(np.int64),
        "time": sessions["time"][session], "session": session.astype(np.int64),
        "position": position.astype(np.int16), "chosen": choice[rows, position] > 0,
        "from_search": np.full(len(rows), source == "search"),
    }
    v_rows, v_pos = np.nonzero(choice)
    v_session = session_ids[v_rows]
    views = {
        "user": sessions["user"][v_session], "item": slot_items[v_rows, v_pos].astype(np.int64),
        # a view happens 30 s (first choice) or 60 s (second) after the session starts
        "time": sessions["time"][v_session] + 30.0 * choice[v_rows, v_pos],
        "session": v_session.astype(np.int64), "from_search": np.full(len(v_rows), source == "search"),
    }
    return imp, views


def _concat(parts: list[dict], order_by: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Concatenate column dicts and sort rows by the given columns (first = primary key)."""
    if not parts:
        return {}
    out = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    order = np.lexsort(tuple(out[key] for key in reversed(order_by)))
    return {key: value[order] for key, value in out.items()}
