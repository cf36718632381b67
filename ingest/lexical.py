"""The Arabic-aware BM25 index: a word field and a character n-gram field, built with bm25s.

On disk, `<index>/lexical/CURRENT` names the live generation directory; a new
generation is written beside it and becomes live by an atomic replace of CURRENT, so a
reader never sees a half-written index.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ingest.analysis import ANALYZER_VERSION, DEFAULT_ANALYZER, AnalyzerConfig, analyze, char_ngrams
from ingest.files import write_atomic

logger = logging.getLogger(__name__)

FIELDS = ("words", "grams")


@dataclass(frozen=True, slots=True)
class LexicalHit:
    """One chunk found by the lexical index."""

    chunk_id: str
    score: float


@dataclass(frozen=True, slots=True)
class LexicalParams:
    """BM25 and field-fusion parameters (chosen by measurement, docs/lexical.md)."""

    k1: float = 1.2
    b: float = 0.75
    grams_weight: float = 1.0
    """Weight of the max-normalized n-gram field score added to the word field's."""


DEFAULT_PARAMS = LexicalParams()


def analyze_fields(text: str, config: AnalyzerConfig = DEFAULT_ANALYZER) -> dict[str, list[str]]:
    """Terms of every field for one text (used for documents and queries alike)."""
    fields = {"words": analyze(text, config)}
    if config.char_ngram:
        fields["grams"] = char_ngrams(text, config)
    return fields


def encode_terms(fields: dict[str, list[str]]) -> str:
    """Analyzed fields as one string for the manifest (terms never contain whitespace)."""
    return "\t".join(" ".join(fields.get(field, [])) for field in FIELDS)


def decode_terms(text: str) -> dict[str, list[str]]:
    """The inverse of `encode_terms`."""
    return {field: part.split() for field, part in zip(FIELDS, text.split("\t"), strict=False)}


class LexicalIndex:
    """A loaded, immutable lexical index over chunk ids."""

    def __init__(
        self,
        ids: Sequence[str],
        retrievers: dict[str, Any],
        config: AnalyzerConfig,
        params: LexicalParams,
        generation: int,
    ) -> None:
        self.ids = list(ids)
        self._retrievers = retrievers
        self.config = config
        self.params = params
        self.generation = generation

    @classmethod
    def build(
        cls,
        ids: Sequence[str],
        fields: Sequence[dict[str, list[str]]],
        *,
        config: AnalyzerConfig = DEFAULT_ANALYZER,
        params: LexicalParams = DEFAULT_PARAMS,
        generation: int = 0,
    ) -> LexicalIndex:
        """Index the pre-analyzed `fields` of each chunk (aligned with `ids`)."""
        bm25s = _import_bm25s()
        retrievers: dict[str, Any] = {}
        if ids:
            for field in FIELDS:
                if field == "grams" and not config.char_ngram:
                    continue
                retriever = bm25s.BM25(k1=params.k1, b=params.b)
                retriever.index([f.get(field, []) for f in fields], show_progress=False)
                retrievers[field] = retriever
        return cls(ids, retrievers, config, params, generation)

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: str, k: int = 10, allowed: np.ndarray | None = None) -> list[LexicalHit]:
        """The `k` best chunks for `query`; `allowed` is an optional boolean mask over chunks."""
        if not self.ids or k <= 0:
            return []
        total = np.zeros(len(self.ids), dtype=np.float32)
        query_fields = analyze_fields(query, self.config)
        for field, retriever in self._retrievers.items():
            vocab = retriever.vocab_dict
            token_ids = [vocab[t] for t in query_fields.get(field, []) if t in vocab]
            if not token_ids:
                continue
            scores = np.asarray(retriever.get_scores(token_ids), dtype=np.float32)
            top = float(scores.max())
            if top <= 0:
                continue
            weight = 1.0 if field == "words" else self.params.grams_weight
            total += weight * scores / top
        if allowed is not None:
            total = np.where(allowed, total, 0.0)
        k = min(k, len(total))
        candidates = np.argpartition(-total, k - 1)[:k]
        ranked = candidates[np.argsort(-total[candidates], kind="stable")]
        return [LexicalHit(self.ids[i], float(total[i])) for i in ranked if total[i] > 0]

    def save(self, root: Path) -> None:
        """Write this index as a new generation under `root` and make it live atomically."""
        root.mkdir(parents=True, exist_ok=True)
        name = f"gen-{self.generation:08d}-{os.getpid()}"
        target = root / name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir()
        for field, retriever in self._retrievers.items():
            retriever.save(str(target / field), show_progress=False)
        meta = {
            "generation": self.generation,
            "analyzer_version": ANALYZER_VERSION,
            "analyzer": asdict(self.config),
            "params": asdict(self.params),
            "fields": sorted(self._retrievers),
        }
        write_atomic(target / "ids.json", json.dumps(self.ids, ensure_ascii=False))
        write_atomic(target / "meta.json", json.dumps(meta, ensure_ascii=False, indent=1))
        _fsync_dir(target)
        write_atomic(root / "CURRENT", name)
        _remove_stale_generations(root, keep=name)

    @classmethod
    def load(cls, root: Path) -> LexicalIndex | None:
        """The live index under `root`, or None when there is none yet."""
        bm25s = _import_bm25s()
        current = root / "CURRENT"
        if not current.is_file():
            return None
        directory = root / current.read_text(encoding="utf-8").strip()
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        if meta.get("analyzer_version") != ANALYZER_VERSION:
            logger.info("lexical index was built by analyzer %s; it will be rebuilt", meta.get("analyzer_version"))
            return None
        ids = json.loads((directory / "ids.json").read_text(encoding="utf-8"))
        retrievers = {
            field: bm25s.BM25.load(str(directory / field), show_progress=False, verbosity=0) for field in meta["fields"]
        }
        return cls(
            ids,
            retrievers,
            AnalyzerConfig(**meta["analyzer"]),
            LexicalParams(**meta["params"]),
            int(meta["generation"]),
        )


def live_generation(root: Path) -> int | None:
    """Generation number of the live index under `root` without loading it (None if absent)."""
    current = root / "CURRENT"
    if not current.is_file():
        return None
    try:
        meta = json.loads((root / current.read_text(encoding="utf-8").strip() / "meta.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("analyzer_version") != ANALYZER_VERSION:
        return None
    return int(meta["generation"])


def _import_bm25s() -> Any:
    import bm25s

    # bm25s sets its own logger to DEBUG at import; let the application's logging config decide instead.
    logging.getLogger("bm25s").setLevel(logging.NOTSET)
    return bm25s


def _remove_stale_generations(root: Path, keep: str) -> None:
    for entry in root.iterdir():
        if entry.is_dir() and entry.name.startswith("gen-") and entry.name != keep:
            shutil.rmtree(entry, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    for entry in path.rglob("*"):
        if entry.is_file():
            with open(entry, "rb") as handle:
                os.fsync(handle.fileno())
