"""The two towers and their dot product (lesson L5).

Each tower turns a dict of feature fields (see `twotower_mini.features`) into one vector:

    bag fields     --EmbeddingBag(sum, weighted)-->  (B, E) each
    numeric fields --------------------------------> (B, d) each
    concatenate ---> MLP (Linear, ReLU, ...) ---> (B, D) ---> optional L2 normalisation

The score of a (user, item) pair is the dot product of the two D-dimensional vectors; with
normalised towers, training and serving divide it by the loss's temperature (`config.logit_scale`:
the towers only make the vectors). With only an id field on each side and no hidden layers, the
two-tower model *is* matrix factorisation; every other field is side information that MF cannot
use (lesson L11). Embedding every kind of entity (ids, words, genres) into one space so that a dot
product fits the task is the StarSpace idea (Wu et al. 2018, lesson L13); the YouTube candidate
generator (Covington et al. 2016) and Yi et al. (2019) are the industrial references.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from twotower_mini.config import TowerConfig
from twotower_mini.features import PAD, FeatureBuilder, FieldSpec



class Tower(nn.Module):
    """Fields -> one vector. `fields` come from FeatureBuilder.user_fields() / item_fields()."""

    def __init__(self, fields: list[FieldSpec], config: TowerConfig):
        super().__init__()
        if not fields:
            raise ValueError("a tower needs at least one input field (every feature was dropped)")
        self.fields, self.config = fields, config
        self.bags = nn.ModuleDict()
        width = 0
        for spec in fields:
            if spec.kind == "bag":
                dim = config.output_dim if config.linear_only else config.field_dims.get(spec.name, config.embedding_dim)
                self.bags[spec.name] = nn.EmbeddingBag(spec.size, dim, mode="sum", padding_idx=PAD)
                nn.init.normal_(self.bags[spec.name].weight, std=0.05)
                width += dim
            else:
                width += spec.size
        self.numeric_names = [s.name for s in fields if s.kind == "numeric"]
        if config.linear_only:
            self.numeric_projection = nn.Linear(sum(s.size for s in fields if s.kind == "numeric"),
                                                config.output_dim, bias=False) if self.numeric_names else None
            self.mlp = None
            self.bias = nn.Parameter(torch.zeros(config.output_dim)) if config.bias else None
        else:
            layers, previous = [], width
            for size in config.hidden:
                layers += [nn.Linear(previous, size), nn.ReLU()]
                if config.dropout:
                    layers.append(nn.Dropout(config.dropout))
                previous = size
            layers.append(nn.Linear(previous, config.output_dim))
            self.mlp = nn.Sequential(*layers)

    def static_part(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """linear_only, no L2 norm: the output without its numeric inputs (B, D): the bags and the bias.

        Such a tower is additive, output = static_part + numeric @ numeric_projection.weight.T, which
        lets the time-aware softmax score every item at many moments cheaply (`time_softmax`)."""
        if self.mlp is not None or self.config.l2_normalize:
            raise ValueError("static_part needs an additive tower: TowerConfig(linear_only=True, l2_normalize=False)")
        numeric = {name: torch.zeros_like(inputs[name]) for name in self.numeric_names}
        return self.forward({**inputs, **numeric})

    def _bag_parts(self, inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """The embedding of each bag field, in field order: (B, E) each."""
        parts = []
        for spec in self.fields:
            if spec.kind == "bag":
                ids = inputs[spec.name]  # (B, L)
                weights = inputs.get(f"{spec.name}_weights")  # (B, L) or None
                if weights is None:  # a plain bag: mean of the non-padding tokens
                    weights = (ids != PAD).float()
                    weights = weights / weights.sum(dim=1, keepdim=True).clamp(min=1.0)
                parts.append(self.bags[spec.name](ids, per_sample_weights=weights))  # (B, E)
        return parts

    def forward_at_moments(self, inputs: dict[str, torch.Tensor], moments: int) -> torch.Tensor:
        """(U, G, D): the output for U rows at G = `moments` moments, from bag inputs (U, L) that do not
        change with time and numeric inputs (U, G, d), one per moment. Equal to `forward` on each (row,
        moment)'s inputs, with each bag embedded once: the first linear map is split into its bag columns
        (once per row) and its numeric columns (per moment). The snapshot softmax uses it to score every
        item of a batch as of every row's moment (batches.ItemSnapshots)."""
        parts = self._bag_parts(inputs)
        numeric = torch.cat([inputs[name] for name in self.numeric_names], dim=2) if self.numeric_names else None
        rows = len(next(iter(inputs.values())))
        if self.mlp is None:
            out = (torch.stack(parts).sum(dim=0) if parts else torch.zeros(rows, self.config.output_dim))[:, None, :]
            if numeric is not None:
                out = out + self.numeric_projection(numeric)  # (U, G, D)
            if self.bias is not None:
                out = out + self.bias
        else:
            first = self.mlp[0]  # Linear(bag widths + numeric widths, H)
            width = sum(part.shape[1] for part in parts)
            hidden = first.bias.expand(rows, 1, -1)  # (U, 1, H)
            if parts:
                hidden = hidden + (torch.cat(parts, dim=1) @ first.weight[:, :width].T)[:, None, :]
            if numeric is not None:
                hidden = hidden + numeric @ first.weight[:, width:].T  # (U, G, H)
            out = self.mlp[1:](hidden)
        out = out.expand(rows, moments, out.shape[-1])
        return F.normalize(out, dim=-1) if self.config.l2_normalize else out

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = self._bag_parts(inputs)
        numeric = [inputs[name] for name in self.numeric_names]
        if self.mlp is None:
            out = torch.stack(parts, dim=0).sum(dim=0) if parts else 0.0
            if numeric:
                out = out + self.numeric_projection(torch.cat(numeric, dim=1))
            if self.bias is not None:
                out = out + self.bias
        else:
            out = self.mlp(torch.cat(parts + numeric, dim=1))  # (B, D)
        return F.normalize(out, dim=-1) if self.config.l2_normalize else out


class TwoTowerModel(nn.Module):
    """A user tower and an item tower; score(u, i) = <u, i> (times the loss's logit_scale in training and serving)."""

    def __init__(self, user_fields: list[FieldSpec], item_fields: list[FieldSpec], config: TowerConfig):
        super().__init__()
        self.config = config
        self.user_tower = Tower(user_fields, config)
        self.item_tower = Tower(item_fields, config)

    @property
    def width(self) -> int:
        """The length of the exported vectors: D."""
        return self.config.output_dim

    def forward(self, user_inputs, item_inputs) -> torch.Tensor:
        """(B, B) dot products of every user in the batch with every item in the batch."""
        return self.user_tower(user_inputs) @ self.item_tower(item_inputs).T


class ConcatTower(nn.Module):
    """Towers side by side: their outputs concatenated, (B, width_1 + ... + width_K)."""

    def __init__(self, members: list[Tower]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([member(inputs) for member in self.members], dim=1)


class EnsembleModel(nn.Module):
    """K independently trained two-tower models served as one (bagging-style ensembles: Dietterich 2000).

    The user vector is the concatenation of the K user vectors and the item vector that of the K item
    vectors, so the score is still one dot product, <[u_1..u_K], [v_1..v_K]> = the sum of the members'
    dot products, and exporting, exact and approximate search work unchanged. The members share one
    configuration (and so one logit scale); `members[k]` is a plain TwoTowerModel, trained on its own."""

    def __init__(self, members: list[TwoTowerModel]):
        super().__init__()
        self.config = members[0].config
        self.user_tower = ConcatTower([member.user_tower for member in members])
        self.item_tower = ConcatTower([member.item_tower for member in members])
        self.members = list(members)  # a plain list: their weights are registered once, through the towers

    @property
    def width(self) -> int:
        return sum(member.width for member in self.members)

    forward = TwoTowerModel.forward


# ---- the serving export: tower inputs in, vectors out ------------------------------------------------
def as_tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Tower inputs (numpy arrays, as FeatureBuilder makes them) as torch tensors, without copying."""
    return {name: torch.from_numpy(np.ascontiguousarray(values)) for name, values in arrays.items()}


def item_vectors(model: TwoTowerModel, features: FeatureBuilder, at_time: float | None = None,
                 batch_size: int = 8192) -> np.ndarray:
    """(n_items, D) item embeddings: the export that retrieval searches.

    Features are taken as of `at_time`, or by default as of `features.serving_times` (now, or the
    release of an item that is not out yet)."""
    n_items = features.train.n_items
    out = []
    with torch.no_grad():
        for start in range(0, n_items, batch_size):
            items = np.arange(start, min(start + batch_size, n_items))
            times = features.serving_times(items) if at_time is None else at_time
            out.append(model.item_tower(as_tensors(features.item_features(items, times))).numpy())
    return np.concatenate(out) if out else np.zeros((0, model.width), dtype=np.float32)


def user_vectors(model: TwoTowerModel, features: FeatureBuilder, users, at_time,
                 batch_size: int = 8192) -> np.ndarray:
    """(len(users), D) user embeddings with features as of `at_time`: one moment, or one per user."""
    users = np.asarray(users, dtype=np.int64)
    times = np.broadcast_to(np.asarray(at_time, dtype=np.float64), users.shape)  # (len(users),)
    out = []
    with torch.no_grad():
        for start in range(0, len(users), batch_size):
            chunk = slice(start, start + batch_size)
            out.append(model.user_tower(as_tensors(features.user_features(users[chunk], times[chunk]))).numpy())
    return np.concatenate(out) if out else np.zeros((0, model.width), dtype=np.float32)
