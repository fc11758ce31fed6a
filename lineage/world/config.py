"""The world's configuration: the vocabularies it draws names and words from, `WorldConfig` (every
knob of the simulation, one comment per default) and the size presets `WORLD_SIZES`."""
from __future__ import annotations

from dataclasses import dataclass

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


# A feed the article on negatives has in mind (notebook 05, section 3): every slot personalised, the
# policy sure of each user's favourite genres, and users who take exactly the best item shown (little
# choice noise, no position bias, no second choice). On the default world, impressions-only negatives find
# more of each user's truly best items than in-batch ones; here, fewer. Of the six settings,
# policy_personal_share alone flips that (lesson 05.16, on each world of the margins table in
# benchmarks/REPORT.md): without popular slots the hated genres vanish from the skipped impressions.
# Changed one at a time (REPORT, "Which setting of the liked-genres feed flips impressions-only
# training"), none of the other five flips it; choice_noise shrinks impressions-only's edge most, while
# the impressions still cover hated genres. In notebook 05's groups: the policy's temperature and taste
# noise together do not flip it (05.17); the three choice settings together shrink the edge (05.18).
# Use: WorldConfig.sized("default", **LIKED_GENRES_FEED).
LIKED_GENRES_FEED = {
    "policy_personal_share": 1.0,  # no popular slots: every impression comes from the policy's taste estimate
    #   (this one setting flips notebook 05's impressions-only / in-batch comparison)
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
