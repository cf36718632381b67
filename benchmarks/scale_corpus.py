"""The synthetic corpus of the scale benchmark: Arabic chunks, articles, vectors and questions.

Chunks are 60-120 whitespace tokens drawn independently from the token distribution of the unique
contexts of ARCD and XQuAD-ar and the five seed articles; ten chunks make an article. Vectors are unit
vectors from a Gaussian mixture, not model embeddings. Everything is generated in seeded blocks, so any
range of the corpus of any size comes out the same.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
EVAL_DIR = REPO_ROOT.parent / "shared" / "eval"
CORPUS_FILES = (EVAL_DIR / "arcd" / "arcd.json", EVAL_DIR / "xquad" / "xquad.ar.json")
SEEDS_DIR = REPO_ROOT / "seeds"
SEED = 20261121
BLOCK = 10_000  # chunks and vectors are generated in seeded blocks, so any range can be regenerated alike
CENTRES = 1_000
CHUNK_WORDS = (60, 120)
ARTICLE_CHUNKS = 10
QUESTIONS = 200
QUESTION_WORDS = ("ما", "من", "متى", "أين", "كم", "كيف", "لماذا", "هل")


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Whitespace tokens of the source corpora with their observed probabilities."""

    words: list[str]
    cdf: np.ndarray
    documents: int
    tokens: int
    zipf_exponent: float
    sentence_end_share: float
    clean_words: list[str]
    clean_cdf: np.ndarray


@cache
def vocabulary() -> Vocabulary:
    """The observed word distribution (ARCD + XQuAD-ar contexts + seeds), most frequent first."""
    from assistant.evaluation import read_squad

    texts: list[str] = []
    for path in CORPUS_FILES:
        texts.extend(read_squad(path).paragraphs)  # unique paragraphs, as `assistant eval` reads them
    texts = list(dict.fromkeys(texts))
    texts.extend(p.read_text(encoding="utf-8") for p in sorted(SEEDS_DIR.glob("*.txt")))
    counts = Counter(token for text in texts for token in text.split())
    ranked = counts.most_common()
    words = [w for w, _ in ranked]
    freq = np.array([c for _, c in ranked], dtype=np.float64)
    ranks = np.arange(1, min(1_000, len(freq)) + 1)
    slope = np.polyfit(np.log(ranks), np.log(freq[: len(ranks)]), 1)[0]
    ends = sum(c for w, c in ranked if w.endswith((".", "؟", "?", "!")))
    clean: Counter[str] = Counter()  # letters-only words of 2+ characters, for questions
    for w, c in ranked:
        for part in re.findall(r"[^\W\d_]{2,}", w):
            clean[part] += c
    clean_ranked = clean.most_common()
    return Vocabulary(
        words=words,
        cdf=np.cumsum(freq) / freq.sum(),
        documents=len(texts),
        tokens=int(freq.sum()),
        zipf_exponent=float(-slope),
        sentence_end_share=ends / float(freq.sum()),
        clean_words=[w for w, _ in clean_ranked],
        clean_cdf=np.cumsum([c for _, c in clean_ranked]) / sum(c for _, c in clean_ranked),
    )


def _draw(cdf: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(cdf) - 1)


def _block_texts(block: int) -> list[str]:
    vocab = vocabulary()
    rng = np.random.default_rng([SEED, 1, block])
    lengths = rng.integers(CHUNK_WORDS[0], CHUNK_WORDS[1] + 1, BLOCK)
    drawn = _draw(vocab.cdf, rng, int(lengths.sum())).tolist()
    words = vocab.words
    texts: list[str] = []
    offset = 0
    for length in lengths.tolist():
        texts.append(" ".join([words[i] for i in drawn[offset : offset + length]]))
        offset += length
    return texts


def chunk_texts(start: int, stop: int) -> list[str]:
    """Texts of chunks [start, stop) (the same for every N: the corpus of N is the first N chunks)."""
    texts: list[str] = []
    for block in range(start // BLOCK, (stop - 1) // BLOCK + 1 if stop > start else start // BLOCK):
        base = block * BLOCK
        texts.extend(_block_texts(block)[max(start, base) - base : min(stop, base + BLOCK) - base])
    return texts


@cache
def _centres(dim: int) -> np.ndarray:
    rng = np.random.default_rng([SEED, 2, dim])
    centres = rng.standard_normal((CENTRES, dim), dtype=np.float32)
    unit: np.ndarray = centres / np.linalg.norm(centres, axis=1, keepdims=True)
    return unit


def _mixture(rng: np.random.Generator, count: int, dim: int) -> np.ndarray:
    centres = _centres(dim)
    vectors = centres[rng.integers(0, CENTRES, count)]
    vectors = vectors + rng.standard_normal((count, dim), dtype=np.float32) / np.float32(np.sqrt(dim))
    unit: np.ndarray = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    return unit


def unit_vectors(dim: int, start: int, stop: int) -> np.ndarray:
    """Unit vectors of chunks [start, stop), Gaussian mixture, float32."""
    parts = []
    for block in range(start // BLOCK, (stop - 1) // BLOCK + 1):
        base = block * BLOCK
        vectors = _mixture(np.random.default_rng([SEED, 3, dim, block]), BLOCK, dim)
        parts.append(vectors[max(start, base) - base : min(stop, base + BLOCK) - base])
    return np.concatenate(parts) if parts else np.zeros((0, dim), dtype=np.float32)


def text_vectors(texts: Sequence[str], dim: int) -> np.ndarray:
    """Unit vectors of the corpus's mixture for any texts, each drawn from a seed of its text (float32).

    What the sync stage stores for the chunks it embeds: the random model's own vectors are nearly parallel
    (mean cosine 0.99 between chunks), unlike the graph they join, and cost Chroma's insert twice as much.
    """
    seeds = [int.from_bytes(hashlib.blake2b(t.encode()).digest()[:8]) for t in texts]
    rows = [_mixture(np.random.default_rng([SEED, 4, dim, seed]), 1, dim) for seed in seeds]
    return np.concatenate(rows) if rows else np.zeros((0, dim), dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Question:
    """A question, its unit query vector and the chunk it was taken from (-1: none)."""

    text: str
    vector: np.ndarray
    chunk: int


def questions(n: int, dim: int) -> list[Question]:
    """200 questions for the corpus of the first n chunks (half of them taken from a chunk)."""
    vocab = vocabulary()
    rng = np.random.default_rng([SEED, 4, n])
    blocks = rng.choice((n - 1) // BLOCK + 1, size=min(3, (n - 1) // BLOCK + 1), replace=False)
    block_texts = {int(b): _block_texts(int(b)) for b in blocks}
    block_vectors = {int(b): unit_vectors(dim, int(b) * BLOCK, int(b) * BLOCK + BLOCK) for b in blocks}
    out: list[Question] = []
    for i in range(QUESTIONS):
        length = int(rng.integers(5, 9)) - 1  # plus a question word
        lead = QUESTION_WORDS[int(rng.integers(0, len(QUESTION_WORDS)))]
        if i % 2 == 0:
            block = int(blocks[int(rng.integers(0, len(blocks)))])
            limit = min(BLOCK, n - block * BLOCK)
            local = int(rng.integers(0, limit))
            words = list(dict.fromkeys(re.findall(r"[^\W\d_]{3,}", block_texts[block][local])))
            picked = [words[j] for j in rng.choice(len(words), size=min(length, len(words)), replace=False)]
            noise = rng.standard_normal(dim).astype(np.float32)
            vector = block_vectors[block][local] + 0.8 * noise / np.linalg.norm(noise)
            chunk = block * BLOCK + local
        else:
            picked = [vocab.clean_words[j] for j in _draw(vocab.clean_cdf, rng, length)]
            vector = _mixture(rng, 1, dim)[0]
            chunk = -1
        vector = (vector / np.linalg.norm(vector)).astype(np.float32)
        out.append(Question(" ".join([lead, *picked]) + "؟", vector, chunk))
    return out


def chunk_layout(texts: Sequence[str], start: int = 0) -> tuple[list[str], list[dict[str, Any]]]:
    """Chunk ids (as ingest derives them) and the Chroma metadata of chunks [start, start + len(texts)).

    `start` is a multiple of ARTICLE_CHUNKS: articles are numbered from the first chunk of the corpus.
    """
    from ingest.chunking import chunk_id

    ids: list[str] = []
    metadatas: list[dict[str, Any]] = []
    for number, (first, stop) in enumerate(article_layout(len(texts)), start=start // ARTICLE_CHUNKS):
        source = source_name(number)
        title = " ".join(texts[first].split()[:6])
        offset = 0
        for position, text in enumerate(texts[first:stop]):
            ids.append(chunk_id(source, offset, text))
            metadatas.append(
                {"source": source, "title": title, "chunk": position, "start": offset, "end": offset + len(text)}
            )
            offset += len(text) + 1
    return ids, metadatas


def article_layout(n: int) -> Iterator[tuple[int, int]]:
    """(first chunk, stop) of each synthetic article."""
    for start in range(0, n, ARTICLE_CHUNKS):
        yield start, min(n, start + ARTICLE_CHUNKS)


def source_name(article: int) -> str:
    return f"synthetic/{article // 1000:04d}/article-{article:07d}.txt"


def article_body(texts: Sequence[str]) -> str:
    """An article's text: its chunks one per line (chunk_layout's offsets assume exactly this)."""
    return "\n".join(texts)


def changed_texts(article: int, round_number: int = 1) -> list[str]:
    """New text for article `article` when a sync benchmark rewrites it (the `round_number`-th time on a kept
    index): 10 chunks drawn afresh."""
    vocab = vocabulary()
    rng = np.random.default_rng([SEED, 5, article] if round_number == 1 else [SEED, 5, article, round_number])
    texts = []
    for length in rng.integers(CHUNK_WORDS[0], CHUNK_WORDS[1] + 1, ARTICLE_CHUNKS).tolist():
        texts.append(" ".join(vocab.words[i] for i in _draw(vocab.cdf, rng, length).tolist()))
    return texts
