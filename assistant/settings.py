"""Settings of the read side, composed with the index settings into one object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from assistant.fusion import CROSS_LEXICAL_WEIGHT, LEXICAL_WEIGHT, SENTENCE_WEIGHT
from ingest.settings import Settings

DEFAULT_RERANKER = "BAAI/bge-reranker-v2-m3"


@dataclass(frozen=True, slots=True)
class AssistantSettings:
    """Index settings plus retrieval and answering settings."""

    index: Settings = field(default_factory=Settings)
    k: int = 5
    """Passages given to the answerer (ASSISTANT_K, --k)."""
    dense_depth: int = 30
    """Candidates taken from the dense retriever before fusion (ASSISTANT_DENSE_DEPTH)."""
    lexical_depth: int = 30
    """Candidates taken from the lexical retriever before fusion (ASSISTANT_LEXICAL_DEPTH)."""
    lexical_weight: float = LEXICAL_WEIGHT
    """Share of the lexical score in the fusion when question and passage share a language, 0..1
    (ASSISTANT_LEXICAL_WEIGHT; 0 ranks by meaning only, 1 by words only)."""
    cross_lexical_weight: float = CROSS_LEXICAL_WEIGHT
    """The same share across languages, e.g. an English question over Arabic text (ASSISTANT_CROSS_LEXICAL_WEIGHT)."""
    sentence_weight: float = SENTENCE_WEIGHT
    """Share of the best sentence's similarity in a passage's dense score, 0..1 (ASSISTANT_SENTENCE_WEIGHT)."""
    rerank: bool = False
    """Rerank fused candidates with a cross-encoder (ASSISTANT_RERANK=1, --rerank)."""
    reranker_model: str = DEFAULT_RERANKER
    """Cross-encoder by hub id or local path (ASSISTANT_RERANKER_MODEL)."""
    llm: str = ""
    """LangChain chat model as provider:model, or hf:<hub id or path>; empty for extractive (ASSISTANT_LLM, --llm)."""
    llm_timeout: float = 60.0
    """Seconds to wait for the LLM before answering extractively (ASSISTANT_LLM_TIMEOUT)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> AssistantSettings:
        """Defaults, then ASSISTANT_* variables, then explicit (non-None) overrides (index ones included)."""
        env = os.environ if environ is None else environ
        index_names = {f.name for f in fields(Settings)}
        index = Settings.from_env(env, **{k: v for k, v in overrides.items() if k in index_names})
        values: dict[str, Any] = {}
        for name, (variable, kind) in _ENVIRONMENT.items():
            if env.get(variable):
                values[name] = _convert(kind, env[variable], variable)
        for name, value in overrides.items():
            if name not in index_names and value is not None:
                values[name] = value
        return replace(cls(index=index), **values)


_ENVIRONMENT: dict[str, tuple[str, type]] = {
    "k": ("ASSISTANT_K", int),
    "dense_depth": ("ASSISTANT_DENSE_DEPTH", int),
    "lexical_depth": ("ASSISTANT_LEXICAL_DEPTH", int),
    "lexical_weight": ("ASSISTANT_LEXICAL_WEIGHT", float),
    "cross_lexical_weight": ("ASSISTANT_CROSS_LEXICAL_WEIGHT", float),
    "sentence_weight": ("ASSISTANT_SENTENCE_WEIGHT", float),
    "rerank": ("ASSISTANT_RERANK", bool),
    "reranker_model": ("ASSISTANT_RERANKER_MODEL", str),
    "llm": ("ASSISTANT_LLM", str),
    "llm_timeout": ("ASSISTANT_LLM_TIMEOUT", float),
}


def _convert(kind: type, value: str, variable: str) -> Any:
    if kind is bool:
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if kind is str:
        return value
    try:
        number = kind(value)
    except ValueError as error:
        raise ValueError(f"{variable} must be a number, not {value!r}") from error
    if variable.endswith("_WEIGHT"):
        if not 0.0 <= number <= 1.0:  # also refuses nan
            raise ValueError(f"{variable} must be a number from 0 to 1, not {value!r}")
    elif not number > 0:
        raise ValueError(f"{variable} must be positive, not {value!r}")
    return number
