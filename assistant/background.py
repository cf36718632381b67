"""How close a question is to generic Arabic text: the baseline its similarities are read against.

Across languages the cosine of e5-small is high for any question against any Arabic passage (0.71 to 0.83),
and how high depends on the question: some questions sit close to everything. The background is a fixed
set of passage vectors of Arabic Wikipedia paragraphs (ARCD-train, the bundled model's own vectors, made by
`benchmarks/background.py`); a question's background level is its mean cosine to its nearest background
passages. The answerer reads the index's best similarity against that level (docs/abstention.md): an index
that holds the answer is clearly closer to the question than generic text is.

A background belongs to one model's weights: the file's name carries the first 12 characters of their
checksum, and a model without a file has no background (the answerer then uses the plain similarity).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np

NEAREST = 10
"""How many of the nearest background passages make a question's level (docs/abstention.md)."""
PREFIX = "background-"


@dataclass(frozen=True)
class Background:
    """Unit vectors of generic Arabic passages, in one model's space."""

    vectors: np.ndarray

    def level(self, query: np.ndarray) -> float:
        """Mean cosine of the (unit) question vector to its NEAREST closest background passages."""
        similarities = self.vectors @ np.asarray(query, dtype=np.float32)
        nearest = min(NEAREST, len(similarities))
        return float(np.partition(similarities, len(similarities) - nearest)[-nearest:].mean())


def file_name(checksum: str) -> str:
    """The background file of the model whose weights have this sha256."""
    return f"{PREFIX}{checksum[:12]}.npy"


@functools.lru_cache(maxsize=4)
def background_for(checksum: str) -> Background | None:
    """The background of the model whose weights have this sha256, or None when none is shipped."""
    if not checksum:
        return None
    resource = resources.files("assistant") / "data" / file_name(checksum)
    if not resource.is_file():
        return None
    with resource.open("rb") as handle:
        vectors = np.load(handle, allow_pickle=False).astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return Background(vectors / np.maximum(norms, 1e-12))
