"""One typed settings object, built by the entry point (from the environment and flags) and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ingest.embedding import DEFAULT_MODEL


@dataclass(frozen=True, slots=True)
class Settings:
    """Where documents and the index live, and how they are embedded and chunked."""

    docs_dir: Path = Path("seeds")
    """Documents folder (ASSISTANT_DOCS_DIR); sources are reported relative to it."""
    index_dir: Path = Path("vectorstore")
    """Index directory (ASSISTANT_INDEX_DIR): Chroma, the lexical index and the manifest."""
    embedding_model: str = DEFAULT_MODEL
    """Preset ("bundled", "bge-m3", "fast"), hub id or local path (ASSISTANT_EMBEDDING_MODEL)."""
    cache_dir: Path | None = None
    """Where the bundled model is built on first use (ASSISTANT_CACHE_DIR); default under the XDG cache dir."""
    device: str | None = None
    """Torch device for the embedder (ASSISTANT_DEVICE); default: GPU when present."""
    chunk_tokens: int = 200
    """Maximum chunk size in the embedding model's tokens (ASSISTANT_CHUNK_TOKENS)."""
    chunk_overlap_sentences: int = 1
    """Sentences repeated at the start of the next chunk (ASSISTANT_CHUNK_OVERLAP)."""
    batch_size: int = 32
    """Texts per embedding batch (ASSISTANT_BATCH_SIZE)."""
    chroma_url: str = ""
    """A Chroma server (ASSISTANT_CHROMA_URL, e.g. http://127.0.0.1:8000); empty: embedded store in the index dir."""
    chroma_collection: str = "articles"
    """Collection name (ASSISTANT_CHROMA_COLLECTION): give each index its own when they share a server."""
    lock_wait: float = 0.0
    """Seconds a second writer waits for the index lock before giving up (ASSISTANT_LOCK_WAIT)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ASSISTANT_* environment variables, then explicit (non-None) overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, variable in _ENVIRONMENT.items():
            if env.get(variable):
                values[name] = env[variable]
        values.update({key: value for key, value in overrides.items() if value is not None})
        settings = cls()
        types = {f.name: f.type for f in fields(cls)}
        converted = {key: _convert(types[key], value, key) for key, value in values.items()}
        return replace(settings, **converted)


_ENVIRONMENT = {
    "docs_dir": "ASSISTANT_DOCS_DIR",
    "index_dir": "ASSISTANT_INDEX_DIR",
    "embedding_model": "ASSISTANT_EMBEDDING_MODEL",
    "cache_dir": "ASSISTANT_CACHE_DIR",
    "device": "ASSISTANT_DEVICE",
    "chunk_tokens": "ASSISTANT_CHUNK_TOKENS",
    "chunk_overlap_sentences": "ASSISTANT_CHUNK_OVERLAP",
    "batch_size": "ASSISTANT_BATCH_SIZE",
    "lock_wait": "ASSISTANT_LOCK_WAIT",
    "chroma_url": "ASSISTANT_CHROMA_URL",
    "chroma_collection": "ASSISTANT_CHROMA_COLLECTION",
}


def _convert(type_name: object, value: Any, key: str) -> Any:
    kind = str(type_name)
    try:
        if kind.startswith("Path"):
            return Path(value).expanduser()
        if kind == "int":
            number = int(value)
            if number <= 0:
                raise ValueError
            return number
        if kind == "float":
            return float(value)
    except (TypeError, ValueError) as error:
        variable = _ENVIRONMENT.get(key, key)
        raise ValueError(f"{variable} must be a positive number, not {value!r}") from error
    return value
