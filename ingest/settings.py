"""One typed settings object, built by the entry point (from the environment and flags) and passed down.

Each field is declared once with `setting()` (ingest/declarations.py): type, default, bounds,
environment variable, flag and help.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.declarations import checked_overrides, read_environment, setting, validate
from ingest.embedding import DEFAULT_MODEL
from ingest.metadata import FIELD_SPEC_NAMES

_FIELD = "|".join(FIELD_SPEC_NAMES)


@dataclass(frozen=True, slots=True)
class Settings:
    """Where documents and the index live, and how they are embedded and chunked."""

    docs_dir: Path = setting(
        Path("seeds"), env="ASSISTANT_DOCS_DIR", flag="--docs", metavar="DIR", help="documents folder"
    )
    """Documents folder; sources are reported relative to it."""
    index_dir: Path = setting(
        Path("vectorstore"),
        env="ASSISTANT_INDEX_DIR",
        flag="--index",
        metavar="DIR",
        help="index directory: Chroma, the lexical index and the manifest",
    )
    embedding_model: str = setting(
        DEFAULT_MODEL,
        env="ASSISTANT_EMBEDDING_MODEL",
        flag="--model",
        metavar="MODEL",
        pattern=r"\S(.*\S)?",
        allowed="a preset (bundled, bge-m3, fast), a hub id or a local model folder",
        help="embedding model; an index is queried with the model that built it",
    )
    cache_dir: Path | None = setting(
        None,
        env="ASSISTANT_CACHE_DIR",
        default_text="~/.cache/arabic-news-assistant",
        help="where the bundled model is built on first use",
    )
    device: str | None = setting(
        None,
        env="ASSISTANT_DEVICE",
        pattern=r"[a-z]+(:[0-9]+)?",
        allowed="a torch device such as cpu, cuda, cuda:1 or mps",
        default_text="GPU if present",
        help="torch device for embedding",
    )
    chunk_tokens: int = setting(
        200, env="ASSISTANT_CHUNK_TOKENS", minimum=16, maximum=8192, help="maximum chunk size in model tokens"
    )
    chunk_overlap_sentences: int = setting(
        1,
        env="ASSISTANT_CHUNK_OVERLAP",
        minimum=0,
        maximum=10,
        help="sentences repeated at the start of the next chunk",
    )
    batch_size: int = setting(32, env="ASSISTANT_BATCH_SIZE", minimum=1, maximum=4096, help="texts per embedding batch")
    chroma_url: str = setting(
        "",
        env="ASSISTANT_CHROMA_URL",
        pattern=r"(https?://[^\s/]+(/\S*)?)?",
        allowed="empty (the embedded store) or an http:// or https:// URL such as http://127.0.0.1:8000",
        default_text="embedded store",
        help="Chroma server; user:password@ in the URL is sent as HTTP basic auth and never shown",
    )
    chroma_collection: str = setting(
        "articles",
        env="ASSISTANT_CHROMA_COLLECTION",
        pattern=r"[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]",
        allowed="3 to 512 letters, digits, '.', '_' or '-', starting and ending with a letter or digit",
        help="collection name: give each index its own when they share a server",
    )
    fields: str = setting(
        "",
        env="ASSISTANT_FIELDS",
        flag="--fields",
        metavar="FIELD=COLUMN,...",
        pattern=rf"(({_FIELD})=[^,=]+(,({_FIELD})=[^,=]+)*)?",
        allowed=f"FIELD=COLUMN pairs separated by commas, FIELD one of {', '.join(FIELD_SPEC_NAMES)}, e.g. "
        "text=body,date=pubdate",
        default_text="common names: title/headline, text/body/content, date/published, url/link, outlet/source",
        help="columns of archive exports (.jsonl, .csv, .tsv) when they have other names",
    )
    lock_wait: float = setting(
        0.0,
        env="ASSISTANT_LOCK_WAIT",
        flag="--wait",
        metavar="SECONDS",
        minimum=0,
        maximum=86400,
        unit="seconds",
        default_text="0: fail at once",
        help="how long an ingest waits for another one to finish",
    )

    def __post_init__(self) -> None:
        validate(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ASSISTANT_* environment variables, then explicit (non-None) overrides."""
        env = os.environ if environ is None else environ
        return cls(**{**read_environment(cls, env), **checked_overrides(cls, overrides)})
