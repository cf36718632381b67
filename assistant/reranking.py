"""Optional cross-encoder reranking of fused candidates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from assistant.records import Passage
from ingest.embedding import EmbeddingUnavailableError


class Reranker:
    """A sentence-transformers CrossEncoder (default BAAI/bge-reranker-v2-m3), by hub id or local path."""

    def __init__(self, name: str, device: str | None = None) -> None:
        from sentence_transformers import CrossEncoder

        try:
            self._model: Any = CrossEncoder(name, device=device)
        except (OSError, ValueError) as error:
            where = "at that path" if Path(name).exists() else "in the local cache and could not be downloaded"
            raise EmbeddingUnavailableError(
                f"The reranker {name!r} is not available {where}. Connect once so it downloads, set "
                "ASSISTANT_RERANKER_MODEL to a local cross-encoder directory, or leave out --rerank."
            ) from error
        self.model_id = name

    def rerank(self, question: str, passages: Sequence[Passage]) -> list[Passage]:
        """Passages reordered by the cross-encoder's relevance score (which replaces `score`)."""
        scores = self._model.predict([(question, p.text) for p in passages], show_progress_bar=False)
        ranked = sorted(zip(passages, scores, strict=True), key=lambda pair: -float(pair[1]))
        return [replace(p, score=float(s), found_by=(*p.found_by, "rerank")) for p, s in ranked]
