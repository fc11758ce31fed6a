"""Checks and reference answers for the exercises of notebooks 04a and 04b (two towers):

    04a · 1: the in-batch softmax loss
    04a · 2: logQ correction and accidental hits
    04b · 1: "more like this" by cosine

See `workshop/__init__.py` for how a check reports its three outcomes (`checking.py`)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from workshop.checking import (NotAnswered, call_learner, diagnose, fail, first_difference, is_close,
                               not_answered, ok, to_numpy)


# ---- 04a · 1: the in-batch softmax loss ------------------------------------------------------------
def reference_in_batch_loss(user_vectors, item_vectors, temperature: float = 1.0) -> float:
    """Mean over rows b of  log sum_j exp(s_bj) - s_bb,  s = U V^T / temperature (numpy, float64)."""
    U, V = to_numpy(user_vectors).astype(np.float64), to_numpy(item_vectors).astype(np.float64)
    s = U @ V.T / temperature
    top = s.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(s - top).sum(axis=1)) + top[:, 0]
    return float(np.mean(log_sum - np.diag(s)))


def _batch(seed: int, B: int = 6, D: int = 4):
    import torch

    generator = torch.Generator().manual_seed(seed)
    U = torch.randn(B, D, generator=generator, dtype=torch.float64)
    V = torch.randn(B, D, generator=generator, dtype=torch.float64) * 1.5
    return U, V


def check_in_batch_loss(in_batch_softmax_loss: Callable | None) -> bool:
    """Exercise 04a · 1: in_batch_softmax_loss(U, V, temperature) -> scalar tensor, row b's positive is column b."""
    import torch

    hint = ("write in_batch_softmax_loss(user_vectors, item_vectors, temperature): logits U V^T / temperature, "
            "cross-entropy where row b's right answer is column b, averaged over the batch.")
    if in_batch_softmax_loss is None:
        return not_answered(hint)
    for seed, temperature in [(0, 1.0), (1, 0.2)]:
        U, V = _batch(seed)
        U.requires_grad_(True)
        try:
            got = call_learner(in_batch_softmax_loss, "in_batch_softmax_loss", U, V, temperature)
        except NotAnswered:
            return not_answered(hint)
        expected = reference_in_batch_loss(U, V, temperature)
        if not isinstance(got, torch.Tensor):
            fail(f"in_batch_softmax_loss returned a {type(got).__name__}; return the torch tensor itself (no "
                  ".item(), no numpy) so that loss.backward() can train the towers.")
        if got.numel() != 1:
            fail(f"in_batch_softmax_loss returned a tensor of shape {tuple(got.shape)}; the loss is one number: "
                  "average the per-row losses (.mean()).")
        value = float(got.detach())
        if abs(value - expected) > 1e-6 * max(1.0, abs(expected)):
            B = U.shape[0]
            s = (U.detach() @ V.T).numpy()
            diagnosis = diagnose(np.array(value), [
                (np.array(expected * B), "That is the sum over the batch; take the mean, so the loss does not grow "
                                         "with the batch size."),
                (np.array(reference_in_batch_loss(V, U, temperature)),
                 "You normalised over the wrong axis: each *user* (row) picks among the batch's items (columns); "
                 "use cross_entropy(logits, labels) with logits = U @ V.T, not its transpose."),
                (np.array(reference_in_batch_loss(U, V, 1.0)), "Divide the logits by the temperature."),
                (np.array(reference_in_batch_loss(U, V, 1.0 / temperature)),
                 "Divide the logits by the temperature (you multiplied)."),
                (np.array(float(np.mean(np.log1p(np.exp(-np.diag(s) / temperature))))),
                 "That is a binary (sigmoid) loss on the positives only; the softmax compares each positive with "
                 "the other items of the batch."),
            ])
            fail(f"in_batch_softmax_loss gave {value:.6f} on a batch of {B} (temperature {temperature:g}), expected "
                  f"{expected:.6f}.{diagnosis or ' logits = U @ V.T / temperature; labels = torch.arange(B); F.cross_entropy(logits, labels).'}")
        if got.grad_fn is None:
            fail("the loss has no gradient: it was computed outside autograd (numpy, .detach() or torch.no_grad()); "
                  "compute it with torch operations on the input tensors.")
    return ok("in_batch_softmax_loss matches log-sum-exp minus the positive's logit, averaged, and it backpropagates.")


# ---- 04a · 2: logQ correction and accidental hits ----------------------------------------------------
def reference_logq_logits(user_vectors, item_vectors, item_ids, item_probability):
    """(B, B) corrected logits: U V^T - log q[item_ids] per column, repeated items masked off the diagonal
    (twotower_mini.losses.in_batch_logits)."""
    import torch

    from twotower_mini.losses import in_batch_logits

    def tensor(value, dtype):  # tensors pass through untouched, so gradients flow when training with it
        return value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value), dtype=dtype)

    U, V = tensor(user_vectors, torch.float64), tensor(item_vectors, torch.float64)
    ids, q = tensor(item_ids, torch.int64), tensor(item_probability, torch.float64)
    return in_batch_logits(U @ V.T, ids, torch.log(q[ids]).to(U.dtype), mask_accidental_hits=True)


def logq_batch(seed: int = 0, B: int = 6, D: int = 4, n_items: int = 10):
    """(U, V, item_ids, item_probability): a batch whose items repeat (item 3 twice), skewed popularity."""
    import torch

    U, V = _batch(seed, B, D)
    ids = torch.tensor([3, 0, 7, 3, 1, 9][:B], dtype=torch.int64)
    popularity = torch.tensor([0.30, 0.20, 0.12, 0.10, 0.08, 0.07, 0.05, 0.04, 0.03, 0.01], dtype=torch.float64)
    return U, V, ids, popularity[:n_items] / popularity[:n_items].sum()


def check_logq_logits(logq_logits: Callable | None) -> bool:
    """Exercise 04a · 2: logq_logits(U, V, item_ids, item_probability) -> corrected, masked (B, B) logits."""
    import torch

    hint = ("write logq_logits(user_vectors, item_vectors, item_ids, item_probability): U V^T, minus "
            "log q of each column's item, with repeats of a row's own item masked to -inf.")
    if logq_logits is None:
        return not_answered(hint)
    U, V, ids, q = logq_batch()
    try:
        got = call_learner(logq_logits, "logq_logits", U.clone(), V.clone(), ids.clone(), q.clone())
    except NotAnswered:
        return not_answered(hint)
    B = len(ids)
    answer = to_numpy(got).astype(np.float64)
    if answer.shape != (B, B):
        fail(f"logq_logits returned shape {answer.shape}; expected ({B}, {B}): one logit per user (row) and "
              "in-batch item (column).")
    expected = reference_logq_logits(U, V, ids, q).numpy()
    masked = np.isinf(expected)
    scores = (U @ V.T).numpy()
    log_q = np.log(q.numpy()[ids.numpy()])
    if not np.array_equal(np.isneginf(answer), masked):
        wrong = np.argwhere(np.isneginf(answer) != masked)[0]
        r, c = int(wrong[0]), int(wrong[1])
        if masked[r, c]:
            fail(f"logit [{r}, {c}] should be -inf: column {c} holds item {int(ids[c])}, the same item as row {r}'s "
                  "positive. Leaving it in tells the model that the right item is also a wrong one (an accidental "
                  "hit): mask cells where item_ids[row] == item_ids[col], except the diagonal.")
        if r == c:
            fail(f"logit [{r}, {r}] is -inf, but the diagonal holds each row's positive: never mask it.")
        fail(f"logit [{r}, {c}] is -inf, but items {int(ids[r])} and {int(ids[c])} differ: mask only repeats of "
              "the row's own item.")
    finite = ~masked
    if is_close(answer[finite], expected[finite]):
        return ok("logq_logits subtracts log q per column and masks the accidental hit, as "
                   "twotower_mini.losses.in_batch_logits does.")
    diagnosis = diagnose(answer[finite], [
        ((scores + log_q[None, :])[finite], "You added log q; subtract it: popular items (large q) appear as "
                                           "negatives more often than they should, so their logits go *down*."),
        (scores[finite], "No correction was applied: subtract np.log(q[item_ids]) from every column."),
        ((scores - log_q[:, None])[finite], "You subtracted log q per *row*. A row-wise constant does not change the "
                                           "softmax at all; the correction belongs to each column's item: "
                                           "log_q[None, :]."),
        ((scores - q.numpy()[ids.numpy()][None, :])[finite], "Subtract the *logarithm* of the probability, log q."),
        ((scores - np.log(q.numpy())[None, :B])[finite],
         "Index the probabilities by each column's item id: q[item_ids], not the first B entries of q."),
    ])
    fail(f"logq_logits differs from U V^T - log q[item_ids] ({first_difference(np.where(finite, answer, 0), np.where(finite, expected, 0))})."
          f"{diagnosis}")


# ---- 04b · 1: "more like this" by cosine --------------------------------------------------------------
def reference_more_like_this(item_vectors, item: int, k: int) -> np.ndarray:
    """(k,) the k items whose vectors have the largest cosine with `item`'s, the item itself left out,
    ties broken by the lower index."""
    vectors = np.asarray(item_vectors, dtype=np.float64)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit[item]
    similarity[item] = -np.inf
    return np.lexsort((np.arange(len(similarity)), -similarity))[:k]


def more_like_this_vectors(seed: int = 0, n_items: int = 12, dim: int = 4) -> np.ndarray:
    """(n_items, dim) item vectors of very different lengths, where a dot product and a cosine disagree."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n_items, dim))
    return vectors * rng.uniform(0.2, 5.0, size=(n_items, 1))


def check_more_like_this(more_like_this: Callable | None) -> bool:
    """Exercise 04b · 1: more_like_this(item_vectors, item, k) -> (k,) nearest items by cosine, itself excluded."""
    hint = "write more_like_this(item_vectors, item, k): the k items of largest cosine with `item`, not itself."
    if more_like_this is None:
        return not_answered(hint)
    vectors, item, k = more_like_this_vectors(), 3, 5
    try:
        got = call_learner(more_like_this, "more_like_this", vectors.copy(), item, k)
    except NotAnswered:
        return not_answered(hint)
    answer = [int(i) for i in to_numpy(got).ravel()]
    expected = reference_more_like_this(vectors, item, k).tolist()
    if answer == expected:
        return ok(f"more like item {item}: {answer}")
    if len(answer) != k:
        fail(f"more_like_this returned {len(answer)} items; expected k = {k}.")
    if item in answer:
        fail(f"item {item} is in its own list: its cosine with itself is 1, the largest there is. Leave it out "
             "(set its similarity to -inf before taking the top k).")
    dots = vectors @ vectors[item]
    dots[item] = -np.inf
    if answer == np.argsort(-dots, kind="stable")[:k].tolist():
        fail("these are the largest dot products, not cosines: these vectors have very different lengths, so a "
             "long vector wins every list. Divide each vector by its length first (the towers' output is "
             "L2-normalised; these vectors are not).")
    if answer == reference_more_like_this(vectors, item, len(vectors))[::-1][:k].tolist() or \
            answer == expected[::-1]:
        fail("the list runs the wrong way: the most similar item comes first (sort by -cosine).")
    fail(f"expected {expected}, got {answer}: the k items of largest cosine with item {item}, best first.")
