"""Settings of the read side and the chat, composed with the index settings into one object.

Each field is declared once with `setting()` (ingest/declarations.py): the environment, the
command line, the Python API and the README's settings table all use that declaration.
Adding a setting is adding one such field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from assistant.followup import FOLLOW_UPS
from assistant.fusion import CROSS_LEXICAL_WEIGHT, LEXICAL_WEIGHT, SENTENCE_WEIGHT, TERMS_WEIGHT
from ingest.declarations import (
    Declared,
    SettingError,
    checked_overrides,
    declarations,
    read_environment,
    secret_values,
    setting,
    validate,
)
from ingest.settings import Settings

DEFAULT_RERANKER = "BAAI/bge-reranker-v2-m3"


@dataclass(frozen=True, slots=True)
class AssistantSettings:
    """Index settings plus retrieval, answering and chat settings."""

    index: Settings = field(default_factory=Settings)
    k: int = setting(5, env="ASSISTANT_K", flag="--k", minimum=1, maximum=50, help="passages given to the answerer")
    dense_depth: int = setting(
        30, env="ASSISTANT_DENSE_DEPTH", minimum=1, maximum=1000, help="candidates from the dense retriever"
    )
    lexical_depth: int = setting(
        30, env="ASSISTANT_LEXICAL_DEPTH", minimum=1, maximum=1000, help="candidates from the lexical retriever"
    )
    lexical_weight: float = setting(
        LEXICAL_WEIGHT,
        env="ASSISTANT_LEXICAL_WEIGHT",
        minimum=0,
        maximum=1,
        help="share of the lexical score in the fusion when question and passage share a language "
        "(0: meaning only, 1: words only)",
    )
    cross_lexical_weight: float = setting(
        CROSS_LEXICAL_WEIGHT,
        env="ASSISTANT_CROSS_LEXICAL_WEIGHT",
        minimum=0,
        maximum=1,
        help="the same share across languages, e.g. an English question over Arabic text",
    )
    sentence_weight: float = setting(
        SENTENCE_WEIGHT,
        env="ASSISTANT_SENTENCE_WEIGHT",
        minimum=0,
        maximum=1,
        help="share of a passage's best sentence in its dense score (the rest is the whole passage's)",
    )
    terms_weight: float = setting(
        TERMS_WEIGHT,
        env="ASSISTANT_TERMS_WEIGHT",
        minimum=0,
        maximum=1,
        help="share of the latent terms (the bundled model's sparse head) in the meaning side of the fusion",
    )
    follow_ups: str = setting(
        "auto",
        env="ASSISTANT_FOLLOW_UPS",
        pattern="|".join(FOLLOW_UPS),
        allowed="auto, off or always",
        help="without an LLM, how a question uses the earlier ones: auto (joined when it refers back and "
        "cannot stand alone), off (each question alone), always",
    )
    rerank: bool = setting(False, env="ASSISTANT_RERANK", flag="--rerank", help="rerank passages with a cross-encoder")
    reranker_model: str = setting(
        DEFAULT_RERANKER,
        env="ASSISTANT_RERANKER_MODEL",
        pattern=r"\S(.*\S)?",
        allowed="a hub id or a local cross-encoder folder",
        help="cross-encoder for --rerank",
    )
    llm: str = setting(
        "",
        env="ASSISTANT_LLM",
        flag="--llm",
        metavar="SPEC",
        pattern=r"([A-Za-z0-9_.-]+:\S.*)?",
        allowed="empty (extractive answers) or provider:model, e.g. ollama:qwen2.5:7b, openai:gpt-4o-mini "
        "or hf:<hub id or path>",
        default_text="extractive answers",
        help="LangChain chat model that writes the answers",
    )
    llm_timeout: float = setting(
        60.0,
        env="ASSISTANT_LLM_TIMEOUT",
        minimum=0.1,
        maximum=3600,
        unit="seconds",
        help="seconds before falling back to the extractive answer",
    )
    host: str = setting(
        "127.0.0.1",
        env="ASSISTANT_HOST",
        flag="--host",
        pattern=r"\S+",
        allowed="an address such as 127.0.0.1, ::1 or 0.0.0.0",
        help="address the chat listens on; 127.0.0.1 is this machine only",
    )
    port: int = setting(7860, env="ASSISTANT_PORT", flag="--port", minimum=1, maximum=65535, help="port of the chat")
    auth: str = setting(
        "",
        env="ASSISTANT_AUTH",
        flag="--auth",
        metavar="USER:PASSWORD",
        pattern=r"([^:\s]+:.+)?",
        allowed="USER:PASSWORD (both non-empty)",
        default_text="no login",
        secret=True,
        help="login required by the chat",
    )
    mcp: bool = setting(
        False,
        env="ASSISTANT_MCP",
        flag="--mcp",
        help="also serve the ask and search tools to MCP clients at /gradio_api/mcp/ (behind --auth when given)",
    )
    concurrency: int = setting(
        8,
        env="ASSISTANT_CONCURRENCY",
        flag="--concurrency",
        metavar="N",
        minimum=1,
        maximum=64,
        help="questions the chat and its API answer at once; more wait their turn",
    )

    def __post_init__(self) -> None:
        validate(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> AssistantSettings:
        """Defaults, then ASSISTANT_* variables, then explicit (non-None) overrides (index ones included)."""
        env = os.environ if environ is None else environ
        index_names = {f.name for f in fields(Settings)}
        index = Settings.from_env(env, **{k: v for k, v in overrides.items() if k in index_names})
        own = {k: v for k, v in overrides.items() if k not in index_names}
        return cls(index=index, **{**read_environment(cls, env), **checked_overrides(cls, own)})

    def secrets(self) -> set[str]:
        """Every credential these settings hold (to redact from messages and logs)."""
        return secret_values(self) | secret_values(self.index)


def all_settings() -> tuple[Declared, ...]:
    """Every declared setting: the index ones, then the read side's and the chat's."""
    return declarations(Settings) + declarations(AssistantSettings)


def declared(name: str) -> Declared:
    """The declaration of the setting `name`."""
    for item in all_settings():
        if item.name == name:
            return item
    raise KeyError(name)


def check_k(k: int | None) -> int | None:
    """A per-question `k` (None: the configured one), checked like ASSISTANT_K."""
    return None if k is None else int(declared("k").check(k, "k"))


def check_sources(sources: Sequence[str] | None) -> tuple[str, ...] | None:
    """A per-question document filter: None, or a list of document paths (a bare string is refused)."""
    if sources is None:
        return None
    if isinstance(sources, str | bytes) or not isinstance(sources, Sequence | set | frozenset):
        raise SettingError(f"sources must be a list of document paths, e.g. [{sources!r}], not {sources!r}")
    if not all(isinstance(s, str) and s.strip() for s in sources):
        raise SettingError(f"sources must hold document paths (non-empty text), not {list(sources)!r}")
    return tuple(sources) or None


def settings_table() -> str:
    """The README's table of settings, generated from the declarations."""
    rows = ["| variable | flag | default | allowed | meaning |", "|---|---|---|---|---|"]
    for item in all_settings():
        flag = f"`{item.spec.flag}`" if item.spec.flag else ""
        allowed = item.describe().replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
        default = item.spec.default_text or f"`{item.default_shown()}`"
        rows.append(f"| `{item.spec.env}` | {flag} | {default} | {allowed} | {item.spec.help} |")
    return "\n".join(rows)
