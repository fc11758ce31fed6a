"""The population of the world: users (region, languages, activity, signup, a hidden taste over
genres and a hidden latent vector, declared genres, follows) and items (genre, language,
publisher, release time, hidden quality and buzz, titles and descriptions whose words carry genre
signal). Only the columns in OBSERVABLE_USER_COLUMNS / OBSERVABLE_ITEM_COLUMNS are model inputs."""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from lineage.world.config import (DAY, DESCRIPTION_FILLER, GENERIC_TITLE_WORDS, GENRE_WORDS, LANGUAGE_SHARE,
                                  PUBLISHER_ADJECTIVES, PUBLISHER_NOUNS, REGIONS, WorldConfig)


class WordVocabulary:
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
def make_users(cfg: WorldConfig, rng, genres, languages):
    """Users: region and languages, taste over genres, declared genres, activity and sign-up, follows,
    and a latent taste vector. Returns (users table, taste (n, g), latent (n, d))."""
    n, g = cfg.n_users, len(genres)
    region, reads = _user_languages(cfg, rng, n, languages)
    rank, liked, disliked, taste = _user_tastes(cfg, rng, n, g)
    declared = _declared_genres(cfg, rng, n, rank, liked, disliked)
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


def _user_languages(cfg: WorldConfig, rng, n: int, languages) -> tuple[np.ndarray, np.ndarray]:
    """(region (n,), reads (n, n_languages) bool): the region's language is likelier first; a second
    language is often English."""
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
    return region, reads


def _user_tastes(cfg: WorldConfig, rng, n: int, g: int):
    """(rank, liked, disliked, taste), each (n, g): a weighted random order of genres per user; the top
    ones are liked, the bottom ones disliked, the rest drawn around the indifferent taste."""
    appeal = np.log(rng.dirichlet(np.full(g, 5.0)))  # some genres are more popular than others
    rank = _ranked_choice(rng, np.broadcast_to(appeal, (n, g)))  # (n, g)
    n_liked = rng.integers(cfg.liked_genres[0], cfg.liked_genres[1] + 1, n)
    n_disliked = rng.integers(cfg.disliked_genres[0], cfg.disliked_genres[1] + 1, n)
    liked = rank < n_liked[:, None]
    disliked = rank >= g - n_disliked[:, None]
    taste = rng.normal(cfg.indifferent_taste[0], cfg.indifferent_taste[1], (n, g))
    taste = np.where(liked, rng.uniform(*cfg.liked_taste, (n, g)), taste)
    taste = np.where(disliked, rng.uniform(*cfg.disliked_taste, (n, g)), taste).astype(np.float32)
    return rank, liked, disliked, taste


def _declared_genres(cfg: WorldConfig, rng, n: int, rank, liked, disliked) -> np.ndarray:
    """(n, g) bool: a noisy view of the liked genres (the favourite is always kept), for the users who
    declare any."""
    g = rank.shape[1]
    declares = rng.random(n) < cfg.declared_genres_fraction
    declared = liked & ((rng.random((n, g)) < cfg.declared_keep_prob) | (rank == 0))
    indifferent = ~liked & ~disliked
    noise_genre = _ranked_choice(rng, np.where(indifferent, 0.0, -np.inf)) == 0
    declared |= noise_genre & indifferent & (rng.random(n) < cfg.declared_noise_prob)[:, None]
    return declared & declares[:, None]


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
def make_items(cfg: WorldConfig, rng, genres, languages, vocab: WordVocabulary):
    """Items: genre, publisher and language, quality and buzz, release time, a latent vector, and
    words (title, description). Returns (items table, latent (n, d))."""
    n, g = cfg.n_items, len(genres)
    genre = rng.choice(g, n, p=rng.dirichlet(np.full(g, 5.0)))
    publisher, publisher_quality, language, publisher_names = _publishers(cfg, rng, genre, g, languages)
    quality = (publisher_quality[publisher] + rng.normal(0, 1, n)).astype(np.float32)
    buzz = np.exp(cfg.buzz_sigma * rng.normal(0, 1, n) + cfg.buzz_quality_corr * quality)
    end = cfg.n_days * DAY
    late = rng.random(n) < cfg.late_release_fraction
    release = np.where(late, rng.uniform((1 - cfg.late_release_window) * end, end, n),
                       -rng.uniform(0, cfg.back_catalogue_days * DAY, n)).round(0)
    latent_scale = math.sqrt(cfg.latent_std) / cfg.latent_dim ** 0.25
    item_latent = rng.normal(0, latent_scale, (n, cfg.latent_dim)).astype(np.float32)
    text = _item_text(cfg, rng, genre, vocab)
    items = {
        "item_id": np.array([f"i{i:05d}" for i in range(n)]),
        "genre": np.array(genres)[genre],
        "language": np.array(languages)[language],
        "publisher": publisher_names[publisher],
        "release_time": release,
        "title": text["title"],
        "description": text["description"],
        "title_words": text["title_words"],
        "description_words": text["description_words"],
        # hidden truth and integer codes used by the simulation
        "quality": quality,
        "buzz": buzz,
        "genre_index": genre,
        "language_index": language,
        "word_matrix": text["word_matrix"],
    }
    return items, item_latent


def _publishers(cfg: WorldConfig, rng, genre: np.ndarray, g: int, languages):
    """Publishers specialise in a main genre (and sometimes a second), have a home language, a quality
    offset and a size (how much they publish). Returns (each item's publisher, publisher quality,
    each item's language, publisher names)."""
    n, p = len(genre), cfg.n_publishers
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
    names = np.array([f"{PUBLISHER_ADJECTIVES[k % 8]} {PUBLISHER_NOUNS[(k // 8) % 5]}"
                      + (f" {k // 40 + 1}" if k >= 40 else "") for k in range(p)])
    return publisher, publisher_quality, language, names


def _item_text(cfg: WorldConfig, rng, genre: np.ndarray, vocab: WordVocabulary) -> dict:
    """Titles and descriptions drawn from genre words and filler, as strings, word tuples and a
    (n_items, n_words) word matrix."""
    n = len(genre)
    title_ids, title_mask = _draw_words(cfg, rng, genre, vocab, cfg.title_words, cfg.title_genre_word_prob,
                                        vocab.generic_ids)
    desc_ids, desc_mask = _draw_words(cfg, rng, genre, vocab, cfg.description_words,
                                      cfg.description_genre_word_prob, vocab.filler_ids)
    title_words = _tuples_from_mask_ids(title_ids, title_mask, vocab.words)
    description_words = _tuples_from_mask_ids(desc_ids, desc_mask, vocab.words)
    the = rng.random(n) < 0.3  # "The Quantum Voyage Returns"
    return {
        "title": np.array([("The " if t else "") + " ".join(w.capitalize() for w in words)
                           for t, words in zip(the, title_words)]),
        "description": np.array([" ".join(words).capitalize() + "." for words in description_words]),
        "title_words": [tuple(dict.fromkeys(("the",) * int(t) + w)) for t, w in zip(the, title_words)],
        "description_words": [tuple(dict.fromkeys(w)) for w in description_words],
        "word_matrix": _word_matrix(n, len(vocab), [(title_ids, title_mask), (desc_ids, desc_mask)]),
    }


def _draw_words(cfg, rng, genre, vocab: WordVocabulary, length_range, genre_prob, other_ids):
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
