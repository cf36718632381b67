"""Factories of the backends an index uses: the embedding model and the dense store."""

from __future__ import annotations

from collections.abc import Callable

from ingest.chroma_store import ChromaStore
from ingest.embedding import Embedder, SentenceTransformerEmbedder
from ingest.layout import dense_location
from ingest.settings import Settings

EmbedderFactory = Callable[[Settings], Embedder]


def load_embedder(settings: Settings) -> Embedder:
    """The configured sentence-transformers model (raises EmbeddingUnavailableError)."""
    return SentenceTransformerEmbedder(settings.embedding_model, device=settings.device, cache_dir=settings.cache_dir)


def open_dense_store(settings: Settings) -> ChromaStore:
    """The Chroma collection of this index (embedded, or on the configured server)."""
    return ChromaStore.open(dense_location(settings), collection=settings.chroma_collection)
