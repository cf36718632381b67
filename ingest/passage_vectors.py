"""Vectors of each chunk and of each of its sentences, kept in the manifest beside the chunk.

Retrieval scores every candidate passage by meaning, including those only the lexical index found,
and at two grains: the whole chunk and its best sentence (a factoid question usually matches one
sentence; measured in docs/fusion.md). The extractive answerer reuses the sentence similarities to
pick the sentences to quote across languages without running the model again.

Stored compactly: int8 with one float32 scale per vector (cosine error about 1e-4 against float32).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ingest.analysis import Language, detect_language, split_sentences
from ingest.embedding import Embedder
from ingest.records import Chunk

VERSION = "1"
"""Recorded in the manifest when every chunk has its row; bump when the layout or the units change."""
_HEADER = struct.Struct("<BHH")  # language (0 ar, 1 en), dimension, sentence count
_LANGUAGES: tuple[Language, ...] = ("ar", "en")


@dataclass(frozen=True, slots=True)
class PassageVectors:
    """Unit vectors of a chunk and of its sentences (spans are offsets into the chunk's text)."""

    language: Language
    chunk: np.ndarray
    sentences: np.ndarray
    spans: tuple[tuple[int, int], ...]

    def similarities(self, query: np.ndarray) -> tuple[float, np.ndarray]:
        """Cosine of `query` with the chunk, and with each sentence."""
        chunk = float(np.clip(self.chunk @ query, -1.0, 1.0))
        sentences = np.clip(self.sentences @ query, -1.0, 1.0) if len(self.spans) else np.zeros(0, np.float32)
        return chunk, sentences


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The sentences of a chunk as the extractive answerer splits them (the whole text when it has none)."""
    return split_sentences(text) or ([(0, len(text))] if text.strip() else [])


def embed_passages(
    chunks: Sequence[Chunk], chunk_vectors: np.ndarray, embedder: Embedder, batch_size: int = 32
) -> list[PassageVectors]:
    """Sentence vectors for `chunks` (whose own vectors are given), each distinct sentence embedded once."""
    spans = [sentence_spans(c.text) for c in chunks]
    texts = list(
        dict.fromkeys(c.text[s:e] for c, chunk_spans in zip(chunks, spans, strict=True) for s, e in chunk_spans)
    )
    vectors = embedder.embed_documents(texts, batch_size=batch_size) if texts else np.zeros((0, embedder.dimension))
    row = {text: i for i, text in enumerate(texts)}
    passages = []
    for chunk, vector, chunk_spans in zip(chunks, chunk_vectors, spans, strict=True):
        indexes = [row[chunk.text[s:e]] for s, e in chunk_spans]
        sentences = vectors[indexes] if indexes else np.zeros((0, len(vector)), dtype=np.float32)
        passages.append(
            PassageVectors(detect_language(chunk.text), np.asarray(vector, np.float32), sentences, tuple(chunk_spans))
        )
    return passages


def encode(passage: PassageVectors) -> bytes:
    """The manifest's bytes for one chunk: header, spans, scales, int8 rows (chunk first)."""
    matrix = np.vstack([passage.chunk[None, :], passage.sentences]).astype(np.float32)
    scales = np.abs(matrix).max(axis=1) / 127.0
    scales[scales == 0] = 1.0
    quantized = np.clip(np.rint(matrix / scales[:, None]), -127, 127).astype(np.int8)
    header = _HEADER.pack(_LANGUAGES.index(passage.language), matrix.shape[1], len(passage.spans))
    spans = np.asarray(passage.spans, dtype="<i4").reshape(-1)
    return bytes(header + spans.tobytes() + scales.astype("<f4").tobytes() + quantized.tobytes())


def decode(data: bytes) -> PassageVectors:
    """The inverse of `encode` (vectors renormalized to unit length)."""
    language, dimension, count = _HEADER.unpack_from(data)
    offset = _HEADER.size
    spans = np.frombuffer(data, dtype="<i4", count=2 * count, offset=offset).reshape(count, 2)
    offset += 8 * count
    scales = np.frombuffer(data, dtype="<f4", count=count + 1, offset=offset)
    offset += 4 * (count + 1)
    quantized = np.frombuffer(data, dtype=np.int8, count=(count + 1) * dimension, offset=offset)
    matrix = quantized.reshape(count + 1, dimension).astype(np.float32) * scales[:, None]
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return PassageVectors(_LANGUAGES[language], matrix[0], matrix[1:], tuple((int(s), int(e)) for s, e in spans))
