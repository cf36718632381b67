"""An embedder wrapper that adds up the time spent counting tokens and encoding (benchmarks subtract it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from ingest.embedding import Embedder, embed_with_terms
from ingest.latent_terms import SparseTerms


class TimedEmbedder:
    """Wraps an Embedder and adds up the seconds spent in token counting and in embedding.

    Ingest embeds each chunk once (its vector, and its latent terms when the model has a sparse head:
    `embed_documents_and_terms`) and each distinct sentence once (`embed_documents`); both count as
    embedding, and are also kept apart.
    """

    def __init__(self, inner: Embedder, vectors: Callable[[Sequence[str]], np.ndarray] | None = None) -> None:
        self.inner = inner
        self.vectors = vectors
        """When given: the chunk vectors returned instead of the model's (the model still runs, for its time)."""
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.max_tokens = inner.max_tokens
        self.count_seconds = 0.0
        self.embed_seconds = 0.0
        self.embed_cpu = 0.0
        self.chunk_seconds = 0.0
        """Of embed_seconds: the chunk passes (vectors and latent terms)."""
        self.sentences = 0
        """Texts given to `embed_documents`: ingest's sentences (chunks go through `embed_documents_and_terms`)."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        started = time.perf_counter()
        try:
            return self.inner.count_tokens(texts)
        finally:
            self.count_seconds += time.perf_counter() - started

    def embed_documents(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        started, cpu = time.perf_counter(), time.process_time()
        self.sentences += len(texts)
        try:
            return self.inner.embed_documents(texts, batch_size)
        finally:
            self.embed_seconds += time.perf_counter() - started
            self.embed_cpu += time.process_time() - cpu

    def embed_documents_and_terms(
        self, texts: Sequence[str], batch_size: int = 32
    ) -> tuple[np.ndarray, list[SparseTerms] | None]:
        """The inner embedder's vectors and latent terms (one forward pass), timed as embedding."""
        started, cpu = time.perf_counter(), time.process_time()
        try:
            vectors, terms = embed_with_terms(self.inner, texts, batch_size)
            return (vectors if self.vectors is None else self.vectors(texts)), terms
        finally:
            self.embed_seconds += time.perf_counter() - started
            self.chunk_seconds += time.perf_counter() - started
            self.embed_cpu += time.process_time() - cpu

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)
