"""Vectors of each chunk and of each of its sentences, kept in the manifest beside the chunk.

Retrieval scores every candidate passage by meaning, including those only the lexical index found,
and at two grains: the whole chunk and its best sentence (a factoid question usually matches one
sentence; measured in docs/fusion.md). The extractive answerer reuses the sentence similarities to
pick the sentences to quote across languages without running the model again.

Stored compactly: int8 with one float32 scale per vector (cosine error about 1e-4 against float32).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ingest.analysis import Language, detect_language, split_sentences
from ingest.embedding import Embedder
from ingest.latent_terms import SparseTerms
from ingest.records import Chunk

VERSION = "2"
"""Recorded in the manifest when every chunk has its row; bump when the layout or the units change
(2: latent terms added; older rows are read without them and rewritten by the next ingest)."""
_MAGIC = 0xA2
"""First byte of a version-2 row; a version-1 row starts with its language byte (0 or 1)."""
_HEADER = struct.Struct("<BHH")  # language (0 ar, 1 en), dimension, sentence count
_LANGUAGES: tuple[Language, ...] = ("ar", "en")


@dataclass(frozen=True, slots=True)
class PassageVectors:
    """Unit vectors of a chunk and of its sentences (spans are offsets into the chunk's text)."""

    language: Language
    chunk: np.ndarray
    sentences: np.ndarray
    spans: tuple[tuple[int, int], ...]
    terms: SparseTerms | None = None
    """The chunk's latent terms, when the model makes them."""

    def similarities(self, query: np.ndarray) -> tuple[float, np.ndarray]:
        """Cosine of `query` with the chunk, and with each sentence."""
        chunk = float(np.clip(self.chunk @ query, -1.0, 1.0))
        sentences = np.clip(self.sentences @ query, -1.0, 1.0) if len(self.spans) else np.zeros(0, np.float32)
        return chunk, sentences


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The sentences of a chunk as the extractive answerer splits them (the whole text when it has none)."""
    return split_sentences(text) or ([(0, len(text))] if text.strip() else [])


def embed_passages(
    chunks: Sequence[Chunk],
    chunk_vectors: np.ndarray,
    embedder: Embedder,
    batch_size: int = 32,
    terms: Sequence[SparseTerms] | None = None,
    known: Mapping[str, np.ndarray] | None = None,
) -> list[PassageVectors]:
    """Sentence vectors for `chunks` (whose own vectors, and latent terms if any, are given), each distinct
    sentence embedded once; a sentence in `known` (text -> unit vector) takes that vector instead."""
    known = known or {}
    spans = [sentence_spans(c.text) for c in chunks]
    pairs = zip(chunks, spans, strict=True)
    texts = list(dict.fromkeys(chunk.text[s:e] for chunk, chunk_spans in pairs for s, e in chunk_spans))
    row = {text: i for i, text in enumerate(texts)}
    vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    lacking = [t for t in texts if t not in known]
    if lacking:
        vectors[[row[t] for t in lacking]] = embedder.embed_documents(lacking, batch_size=batch_size)
    for text in texts:
        if text in known:
            vectors[row[text]] = known[text]
    passages = []
    for n, (chunk, vector, chunk_spans) in enumerate(zip(chunks, chunk_vectors, spans, strict=True)):
        indexes = [row[chunk.text[s:e]] for s, e in chunk_spans]
        sentences = vectors[indexes] if indexes else np.zeros((0, len(vector)), dtype=np.float32)
        passages.append(
            PassageVectors(
                detect_language(chunk.text),
                np.asarray(vector, np.float32),
                sentences,
                tuple(chunk_spans),
                terms[n] if terms is not None else None,
            )
        )
    return passages


def encode(passage: PassageVectors) -> bytes:
    """The manifest's bytes for one chunk: magic, header, spans, scales, int8 rows (chunk first), terms."""
    matrix = np.vstack([passage.chunk[None, :], passage.sentences]).astype(np.float32)
    scales = np.abs(matrix).max(axis=1) / 127.0
    scales[scales == 0] = 1.0
    quantized = np.clip(np.rint(matrix / scales[:, None]), -127, 127).astype(np.int8)
    header = _HEADER.pack(_LANGUAGES.index(passage.language), matrix.shape[1], len(passage.spans))
    spans = np.asarray(passage.spans, dtype="<i4").reshape(-1)
    terms = passage.terms.encode() if passage.terms is not None else b""
    body = header + spans.tobytes() + scales.astype("<f4").tobytes() + quantized.tobytes()
    return bytes([_MAGIC]) + bytes(body) + terms


def decode(data: bytes) -> PassageVectors:
    """The inverse of `encode` (vectors renormalized to unit length); also reads version-1 rows."""
    offset = 1 if data[0] == _MAGIC else 0
    language, dimension, count = _HEADER.unpack_from(data, offset)
    offset += _HEADER.size
    spans = np.frombuffer(data, dtype="<i4", count=2 * count, offset=offset).reshape(count, 2)
    offset += 8 * count
    scales = np.frombuffer(data, dtype="<f4", count=count + 1, offset=offset)
    offset += 4 * (count + 1)
    quantized = np.frombuffer(data, dtype=np.int8, count=(count + 1) * dimension, offset=offset)
    offset += (count + 1) * dimension
    matrix = quantized.reshape(count + 1, dimension).astype(np.float32) * scales[:, None]
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    terms = SparseTerms.decode(data, offset)[0] if offset < len(data) else None
    return PassageVectors(_LANGUAGES[language], matrix[0], matrix[1:], tuple((int(s), int(e)) for s, e in spans), terms)
