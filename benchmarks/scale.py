"""Scale curve: latency, memory and disk of the hybrid retriever against N chunks, beside stock LangChain.

For each N (default 1k, 10k, 100k and 1M chunks), in increasing order:

1. Corpus. N synthetic Arabic chunks of 60-120 words drawn independently from the word distribution
   observed in the contexts of ARCD (`../shared/eval/arcd/arcd.json`), XQuAD-ar
   (`../shared/eval/xquad/xquad.ar.json`) and the five articles of `seeds/`: whitespace tokens as they
   occur (punctuation attached, so sentence ends come at the observed rate), drawn with their observed
   frequencies (a Zipfian distribution; the fitted exponent is printed in the report). Chunks are grouped
   into synthetic articles of 10 chunks. Vectors are NOT model embeddings (encoding 1M chunks with
   bge-m3 would take days on this CPU): unit vectors from a Gaussian mixture (1,000 random unit centres
   plus isotropic noise of norm ~1, normalized) of bge-m3's dimension, 1024, unless the 1M point falls
   back to a smaller dimension (see 3). 200 questions per N: 5-8 words each; half are words taken from
   a random chunk (their query vector is that chunk's vector plus noise, so both retrievers have a
   hit), half are words drawn from the same distribution with a fresh mixture vector.
2. Our index, written directly with the project's classes instead of the ingest pipeline (which would
   re-run cleaning and chunking): `analyze_fields` on every chunk (in `--workers` processes),
   `Catalog.commit_changes` (files, articles, chunks with their `encode_terms` as ingest keeps them, and
   the meta that `Retriever.open` checks), `LexicalIndex.build(...).save(index/lexical)` with the
   manifest's generation, and `ChromaStore.open(index/chroma).add(ids, vectors, None, metadatas)` (no
   chunk text in Chroma, as ingest passes it).
   Each stage is timed. The index is then opened in a fresh process with `Retriever.open(settings,
   embedder_factory=...)` whose embedder returns the precomputed unit query vector, so query encoding
   is EXCLUDED; 10 warm-up questions, then the 200 questions are timed one by one:
   `retriever.retrieve(q, k=5)` (dense top 30 + lexical top 30, reciprocal-rank fusion, passage lookup
   in the manifest) and, after it, `extract_answer(q, passages, embedder=None)`.
3. Dense insert budget. Chroma's HNSW insert is by far the slowest build stage on 2 cores. Before each N
   from the second on, the insert time is estimated from the previous N's steady insert rate (the last
   half of its inserts) x N x 1.6 per tenfold N (measured growth of the time per vector from 100k to 1M);
   if the estimate exceeds `--dense-budget-min`, that N is built with the dense store at `--fallback-dim`
   (estimate scaled by the dimension ratio) and, if that is still over budget, with Chroma's default HNSW
   graph (`--fallback-hnsw`); the report says so on that row.
4. Stock LangChain on the same chunks, in a fresh process: `BM25Retriever.from_texts(texts, metadatas,
   ids, k=30)` (rank_bm25, whitespace split, built in memory, timed), `langchain_chroma.Chroma` on the
   SAME Chroma collection as ours (same vectors, same HNSW graph; `create_collection_if_not_exists=False`;
   the chunk texts are first added to its records, since LangChain reads each hit's text from Chroma and
   ingest no longer stores it there) with an `Embeddings` whose `embed_query` returns the same
   precomputed vector, as `as_retriever(search_kwargs={"k": 30})`, fused by `EnsembleRetriever([bm25,
   chroma], weights=[0.5, 0.5])`. Timed: `ensemble.invoke(q)`, then the full answer (the top 5 documents
   as passages, `extract_answer` as above). rank_bm25 scores every document in pure Python per question:
   from the second N on, its memory and time are estimated linearly from the previous full run; it runs
   in full when that fits (free memory less 3 GB, `--stock-stage-budget-s`), else as `BM25Retriever`
   alone (a lower bound of the pipeline) when that fits, else not at all, and at most as many questions
   as fit in `--stock-budget-s` (at least 20). The report says which; nothing is extrapolated in the
   tables.
5. Memory: VmRSS of each process after building or opening its index and after the timed queries
   (the serving processes only load what they need, so this is what a reader costs); the peak (VmHWM)
   of the build process. Disk: apparent bytes per chunk of chroma/, lexical/ and the manifest.
6. Query encoding, reported separately: one question at a time through a random-weight BERT of
   bge-m3's shape (24 layers, hidden 1024) and of multilingual-e5-small's shape (12 layers, hidden
   384), forward pass + mean pooling + normalization on the CPU, with a WordPiece tokenizer trained on
   the corpus (no weights can be downloaded here; the speed depends on the shape, not the weights).

Every timing is wall-clock on a shared machine: the 1-minute load average is recorded beside each.

Command (from the repository root, with the project virtualenv and `pip install -e '.[bench]'`; about
an hour on the 2-core machine when it is quiet, two when it is shared, most of it in Chroma's HNSW
insert and the 1M build):

    python benchmarks/scale.py --sizes 1000,10000,100000,1000000 --out docs/benchmarks.md

--out replaces the part of the file between `<!-- scale:start -->` and `<!-- scale:end -->` (the file
and section are created when absent) after every stage, so an interrupted run still leaves its
tables; the raw results go to `--json` (default: `<workdir>/results.json`) and `--render-only FILE`
rewrites the report from such a file. `--plot` is the figure (default docs/img/latency_vs_n.png).
`--profile DIR` writes a pyinstrument profile of every worker stage to DIR.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import argparse
import gc
import hashlib
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

EVAL_DIR = REPO_ROOT.parent / "shared" / "eval"
CORPUS_FILES = (EVAL_DIR / "arcd" / "arcd.json", EVAL_DIR / "xquad" / "xquad.ar.json")
SEEDS_DIR = REPO_ROOT / "seeds"
SEED = 20261121
BLOCK = 10_000  # chunks and vectors are generated in seeded blocks, so any range can be regenerated alike
CENTRES = 1_000
CHUNK_WORDS = (60, 120)
ARTICLE_CHUNKS = 10
QUESTIONS = 200
WARMUP = 10
K = 5
DEPTH = 30  # the project's dense_depth and lexical_depth; the stock retrievers get the same k
MODEL_ID = "bench-unit-vectors"
DEFAULT_SIZES = (1_000, 10_000, 100_000, 1_000_000)
MARKER = "scale"
SECTION_TITLE = "## Scale: latency, memory, disk against N"
CHROMA_DEFAULT_HNSW = {"space": "cosine", "max_neighbors": 16, "ef_construction": 100, "ef_search": 100}
INSERT_GROWTH = 1.6  # per tenfold N: Chroma's insert time per vector, 100k -> 1M (0.65 -> 1.04 ms, 384-d, measured)
SPEEDUP_TARGET = "at least 20x faster than stock EnsembleRetriever at 100k (p50 and p95 ratios)"
QUESTION_WORDS = ("ما", "من", "متى", "أين", "كم", "كيف", "لماذا", "هل")


# ---------------------------------------------------------------------------------------------------
# Synthetic corpus
# ---------------------------------------------------------------------------------------------------
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
    texts: list[str] = []
    for path in CORPUS_FILES:
        data = json.loads(path.read_text(encoding="utf-8"))
        texts.extend(p["context"] for article in data["data"] for p in article["paragraphs"])
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


def chunk_layout(texts: Sequence[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """Chunk ids (as ingest derives them) and the Chroma metadata of each chunk, grouped into articles."""
    from ingest.chunking import chunk_id

    ids: list[str] = []
    metadatas: list[dict[str, Any]] = []
    for number, (first, stop) in enumerate(article_layout(len(texts))):
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


# ---------------------------------------------------------------------------------------------------
# Measurement helpers
# ---------------------------------------------------------------------------------------------------
def proc_status_mb(field: str) -> float:
    """VmRSS / VmHWM of this process in MB (1e6 bytes)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


def mem_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def percentiles(values: Sequence[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64) * 1000.0
    return {
        "p50": float(np.percentile(array, 50)),
        "p95": float(np.percentile(array, 95)),
        "mean": float(array.mean()),
        "count": len(array),
    }


class Timer:
    """Wall time of named stages, with the load average at their end."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.load: dict[str, float] = {}

    def run(self, name: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        print(f"  {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        result = function(*args, **kwargs)
        self.seconds[name] = time.perf_counter() - start
        self.load[name] = load1()
        print(f"  {name}: {self.seconds[name]:.1f} s (load {self.load[name]})", file=sys.stderr, flush=True)
        return result


class _Profile:
    """pyinstrument around a worker stage when --profile is given."""

    def __init__(self, directory: str | None, name: str) -> None:
        self.directory = directory
        self.name = name
        self.profiler: Any = None

    def __enter__(self) -> _Profile:
        if self.directory:
            from pyinstrument import Profiler

            self.profiler = Profiler(interval=0.005)
            self.profiler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.profiler is not None:
            self.profiler.stop()
            Path(self.directory or ".").mkdir(parents=True, exist_ok=True)
            target = Path(self.directory or ".") / f"{self.name}.txt"
            target.write_text(self.profiler.output_text(unicode=True, color=False, show_all=False))
            print(f"  profile: {target}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------
# Stage: build our index (worker process)
# ---------------------------------------------------------------------------------------------------
_TEXTS: list[str] = []


def _analyze_range(bounds: tuple[int, int]) -> tuple[int, list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """analyze_fields of _TEXTS[start:stop], sent back compactly (a local vocabulary and id arrays)."""
    from ingest.lexical import analyze_fields

    start, stop = bounds
    local: dict[str, int] = {}
    words: list[int] = []
    grams: list[int] = []
    word_ends: list[int] = []
    gram_ends: list[int] = []
    for text in _TEXTS[start:stop]:
        fields = analyze_fields(text)
        words.extend(local.setdefault(t, len(local)) for t in fields["words"])
        grams.extend(local.setdefault(t, len(local)) for t in fields.get("grams", []))
        word_ends.append(len(words))
        gram_ends.append(len(grams))
    return (
        start,
        list(local),
        np.asarray(words, dtype=np.int32),
        np.asarray(word_ends, dtype=np.int64),
        np.asarray(grams, dtype=np.int32),
        np.asarray(gram_ends, dtype=np.int64),
    )


def analyze_all(texts: list[str], workers: int) -> list[dict[str, list[str]]]:
    """analyze_fields of every text, in `workers` processes; equal terms share one string object."""
    global _TEXTS
    _TEXTS = texts
    step = 2_000
    ranges = [(s, min(len(texts), s + step)) for s in range(0, len(texts), step)]
    fields: list[dict[str, list[str]]] = [{} for _ in texts]
    interned: dict[str, str] = {}

    def unpack(part: tuple[int, list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> None:
        start, local, words, word_ends, grams, gram_ends = part
        lookup = np.empty(len(local), dtype=object)
        lookup[:] = [interned.setdefault(t, t) for t in local]
        word_terms, gram_terms = lookup[words], lookup[grams]
        w0 = g0 = 0
        for i, (w1, g1) in enumerate(zip(word_ends.tolist(), gram_ends.tolist(), strict=True)):
            fields[start + i] = {"words": word_terms[w0:w1].tolist(), "grams": gram_terms[g0:g1].tolist()}
            w0, g0 = w1, g1

    if workers <= 1:
        for bounds in ranges:
            unpack(_analyze_range(bounds))
    else:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for part in pool.imap_unordered(_analyze_range, ranges, chunksize=1):
                unpack(part)
    _TEXTS = []
    return fields


def stage_build(args: dict[str, Any]) -> dict[str, Any]:
    from assistant.settings import AssistantSettings
    from ingest.analysis import ANALYZER_VERSION
    from ingest.catalog import Catalog, FileRecord
    from ingest.chroma_store import COLLECTION, HNSW, ChromaStore
    from ingest.chunking import ChunkerSettings
    from ingest.indexing import CHROMA_DIR, LEXICAL_DIR, MANIFEST
    from ingest.lexical import LexicalIndex, encode_terms
    from ingest.records import Article, Chunk

    n, dim, workers = int(args["n"]), int(args["dim"]), int(args["workers"])
    index_dir = Path(args["index_dir"])
    settings = AssistantSettings.from_env({}, index_dir=index_dir, embedding_model=MODEL_ID).index
    timer = Timer()
    result: dict[str, Any] = {"n": n, "dim": dim, "workers": workers, "hnsw": args["hnsw"]}
    result["rss_start_mb"] = proc_status_mb("VmRSS")

    texts: list[str] = timer.run("generate texts", lambda: chunk_texts(0, n))
    result["avg_words"] = float(np.mean([len(t.split()) for t in texts[:20_000]]))
    fingerprint = ChunkerSettings(
        max_tokens=settings.chunk_tokens, overlap_sentences=settings.chunk_overlap_sentences, tokenizer=MODEL_ID
    ).fingerprint()

    def records() -> tuple[list[tuple[FileRecord, Article, list[Chunk]]], list[str], list[dict[str, Any]]]:
        ids, metadatas = chunk_layout(texts)
        articles = []
        for first, stop in article_layout(n):
            meta = metadatas[first]
            source, title = str(meta["source"]), str(meta["title"])
            body = "\n".join(texts[first:stop])
            chunks = [
                Chunk(ids[i], source, title, i - first, metadatas[i]["start"], metadatas[i]["end"], texts[i])
                for i in range(first, stop)
            ]
            digest = hashlib.sha256(body.encode()).hexdigest()
            record = FileRecord(source, f"/synthetic/{source}", digest, len(body.encode()), None, title, fingerprint)
            articles.append((record, Article(source, title, body, digest), chunks))
        return articles, ids, metadatas

    with _Profile(args.get("profile"), f"build-{n}"):
        articles, ids, metadatas = timer.run("records", records)
        fields = timer.run(f"analysis (analyze_fields, {workers} processes)", analyze_all, texts, workers)
        result["rss_after_analysis_mb"] = proc_status_mb("VmRSS")
        terms = timer.run("encode terms (encode_terms)", list, map(encode_terms, fields))

        def commit(articles: list[tuple[FileRecord, Article, list[Chunk]]], terms: list[str]) -> int:
            catalog = Catalog(index_dir / MANIFEST)
            meta = {
                "model": MODEL_ID,
                "analyzer_version": ANALYZER_VERSION,
                "chunk_tokens": str(settings.chunk_tokens),
                "chunk_overlap_sentences": str(settings.chunk_overlap_sentences),
                "dense": "1",
                "terms_version": ANALYZER_VERSION,
                "dimension": str(dim),
                "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            rows: list[tuple[FileRecord, Article, list[Chunk], list[str]]] = []
            position = 0
            for record, article, chunks in articles:  # each chunk's analyzed terms are kept, as ingest does
                rows.append((record, article, chunks, terms[position : position + len(chunks)]))
                position += len(chunks)
            generation = catalog.commit_changes([], rows, [], meta)
            catalog.close()
            return generation

        generation = timer.run("manifest (Catalog.commit_changes)", commit, articles, terms)
        del articles, terms
        gc.collect()
        lexical = timer.run("bm25s index (LexicalIndex.build)", LexicalIndex.build, ids, fields, generation=generation)
        result["rss_after_bm25s_mb"] = proc_status_mb("VmRSS")
        timer.run("lexical save", lexical.save, index_dir / LEXICAL_DIR)
        del fields, lexical
        gc.collect()

        if args["hnsw"] != "project":  # pre-create the collection with another graph; ChromaStore.open reuses it
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            client = chromadb.PersistentClient(
                path=str(index_dir / CHROMA_DIR), settings=ChromaSettings(anonymized_telemetry=False)
            )
            client.get_or_create_collection(
                COLLECTION,
                configuration={"hnsw": CHROMA_DEFAULT_HNSW},  # type: ignore[arg-type]
                embedding_function=None,
            )
        store = ChromaStore.open(index_dir / CHROMA_DIR)
        result["hnsw_config"] = dict(HNSW) if args["hnsw"] == "project" else dict(CHROMA_DEFAULT_HNSW)
        batches: list[tuple[int, float]] = []
        step = BLOCK

        def insert() -> None:
            for start in range(0, n, step):
                stop = min(n, start + step)
                vectors = unit_vectors(dim, start, stop)
                begin = time.perf_counter()
                store.add(ids[start:stop], vectors, None, metadatas[start:stop])  # no text in Chroma, as ingest
                batches.append((stop, time.perf_counter() - begin))
                if len(batches) % 5 == 0 or stop == n:
                    done = sum(s for _, s in batches)
                    print(f"    chroma {stop}/{n}: {done:.0f} s (load {load1()})", file=sys.stderr, flush=True)

        timer.run("chroma insert (ChromaStore.add)", insert)
        timer.seconds["chroma insert (ChromaStore.add)"] = sum(s for _, s in batches)  # without vector generation
        store.set_metadata(
            {
                "model": MODEL_ID,
                "dimension": dim,
                "analyzer_version": ANALYZER_VERSION,
                "chunk_tokens": settings.chunk_tokens,
                "chunk_overlap_sentences": settings.chunk_overlap_sentences,
            }
        )
        probe = unit_vectors(dim, 0, 1)[0]
        timer.run("chroma first query", lambda: store.search(probe, DEPTH))
        result["chroma_count"] = store.count()
    Path(args["ids_file"]).write_text("\n".join(ids), encoding="utf-8")
    # steady insert rate: seconds per vector over the last half of the inserts
    half = [(stop, s) for stop, s in batches if stop > n // 2] or batches
    inserted = half[-1][0] - (half[0][0] - min(step, half[0][0])) if half else 0
    result["chroma_seconds_per_vector_tail"] = sum(s for _, s in half) / max(1, inserted)
    result["chroma_batches"] = batches
    result["stages"] = timer.seconds
    result["stage_load"] = timer.load
    result["rss_end_mb"] = proc_status_mb("VmRSS")
    result["rss_peak_mb"] = proc_status_mb("VmHWM")
    return result


# ---------------------------------------------------------------------------------------------------
# Stage: query our index (worker process)
# ---------------------------------------------------------------------------------------------------
class PrecomputedEmbedder:
    """The project's Embedder protocol; embed_query returns the question's precomputed unit vector."""

    def __init__(self, dimension: int, vectors: dict[str, np.ndarray]) -> None:
        self.model_id = MODEL_ID
        self.dimension = dimension
        self.max_tokens = 8192
        self._vectors = vectors

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    def embed_documents(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        raise RuntimeError("the benchmark writes chunk vectors directly")

    def embed_query(self, text: str) -> np.ndarray:
        return self._vectors[text]


def components(retriever: Any, qs: Sequence[Question], settings: Any) -> dict[str, dict[str, float]]:
    """Each part of Retriever.retrieve timed on its own (a second pass, after the timed questions)."""
    from assistant.fusion import fuse_scores

    lexical, store, catalog = retriever._lexical, retriever.store(), retriever._catalog
    parts: dict[str, list[float]] = {
        "lexical search (LexicalIndex.search, top 30)": [],
        "dense search (ChromaStore.search, top 30)": [],
        "fusion + passage lookup (passage vectors of the candidates, fuse_scores, Catalog.chunks of the top 5)": [],
    }
    names = list(parts)
    for q in qs:
        t0 = time.perf_counter()
        lexical_hits = lexical.search(q.text, settings.lexical_depth)
        t1 = time.perf_counter()
        dense_hits = store.search(q.vector, settings.dense_depth)
        t2 = time.perf_counter()
        candidates = list(dict.fromkeys([*(h.chunk_id for h in lexical_hits), *(h.chunk_id for h in dense_hits)]))
        catalog.vectors(candidates)
        fused = fuse_scores(
            candidates,
            {h.chunk_id: h.score for h in lexical_hits},
            {h.chunk_id: h.similarity for h in dense_hits},
            settings.lexical_weight,
        )
        list(catalog.chunks([cid for cid, _ in fused[:K]]))
        t3 = time.perf_counter()
        for name, seconds in zip(names, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            parts[name].append(seconds)
    return {name: percentiles(values) for name, values in parts.items()}


def stage_ours(args: dict[str, Any]) -> dict[str, Any]:
    from assistant.extractive import extract_answer
    from assistant.retrieval import Retriever
    from assistant.settings import AssistantSettings

    n, dim = int(args["n"]), int(args["dim"])
    settings = AssistantSettings.from_env({}, index_dir=Path(args["index_dir"]), embedding_model=MODEL_ID)
    qs = questions(n, dim)
    embedder = PrecomputedEmbedder(dim, {q.text: q.vector for q in qs})
    result: dict[str, Any] = {"n": n, "dim": dim, "rss_before_open_mb": proc_status_mb("VmRSS")}
    start = time.perf_counter()
    retriever = Retriever.open(settings, embedder_factory=lambda _settings: embedder)
    result["open_seconds"] = time.perf_counter() - start
    result["rss_open_mb"] = proc_status_mb("VmRSS")
    assert retriever.dense, "the dense part must be searched"
    start = time.perf_counter()
    retriever.retrieve(qs[0].text, k=K)
    result["first_query_ms"] = (time.perf_counter() - start) * 1000
    for q in qs[1:WARMUP]:
        retriever.retrieve(q.text, k=K)
    result["rss_warm_mb"] = proc_status_mb("VmRSS")
    retrieval: list[float] = []
    full: list[float] = []
    hits = abstained = dense_used = 0
    loads = [load1()]
    with _Profile(args.get("profile"), f"ours-{n}"):
        for q in qs:
            t0 = time.perf_counter()
            found = retriever.retrieve(q.text, k=K)
            t1 = time.perf_counter()
            answer = extract_answer(q.text, found.passages, embedder=None)
            t2 = time.perf_counter()
            retrieval.append(t1 - t0)
            full.append(t2 - t0)
            dense_used += found.dense
            abstained += answer.abstained
            if q.chunk >= 0:
                hits += any(p.chunk_id == args["ids_of"].get(str(q.chunk)) for p in found.passages)
    loads.append(load1())
    result["components"] = components(retriever, qs, settings)
    result.update(
        retrieval=percentiles(retrieval),
        full=percentiles(full),
        answer_only=percentiles([f - r for f, r in zip(full, retrieval, strict=True)]),
        source_chunk_in_top5=hits / max(1, sum(q.chunk >= 0 for q in qs)),
        abstained=abstained / len(qs),
        dense_used=dense_used / len(qs),
        load=loads,
        rss_after_queries_mb=proc_status_mb("VmRSS"),
    )
    retriever.close()
    return result


# ---------------------------------------------------------------------------------------------------
# Stage: the stock LangChain pipeline (worker process)
# ---------------------------------------------------------------------------------------------------
def _stock_ensemble(
    index_dir: Path, bm25: Any, embeddings: Any, ids: list[str], texts: list[str], result: dict[str, Any]
) -> Any:
    """EnsembleRetriever([bm25, Chroma retriever]) on our collection, after adding the chunk texts to it."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma
    from langchain_classic.retrievers import EnsembleRetriever

    from ingest.chroma_store import COLLECTION
    from ingest.indexing import CHROMA_DIR

    n = len(ids)
    client = chromadb.PersistentClient(
        path=str(index_dir / CHROMA_DIR), settings=ChromaSettings(anonymized_telemetry=False)
    )
    # LangChain's Chroma reads each hit's text from Chroma, and ingest no longer stores it there: add the texts
    # to the same records (same vectors, same graph). Collection.update insists on an embedding function when
    # given documents without embeddings, so this goes one level down, to the server API under the collection.
    collection = client.get_collection(COLLECTION)
    start = time.perf_counter()
    step = int(client.get_max_batch_size())
    for first in range(0, n, step):
        collection._client._update(
            collection.id,
            ids[first : first + step],
            None,
            None,
            texts[first : first + step],
            None,
            collection.tenant,
            collection.database,
        )
    result["documents_seconds"] = time.perf_counter() - start
    store = Chroma(
        client=client, collection_name=COLLECTION, embedding_function=embeddings, create_collection_if_not_exists=False
    )
    dense = store.as_retriever(search_kwargs={"k": DEPTH})
    return EnsembleRetriever(retrievers=[bm25, dense], weights=[0.5, 0.5])


def stage_stock(args: dict[str, Any]) -> dict[str, Any]:
    import warnings

    warnings.filterwarnings("ignore", message=".*langchain-community.*", category=DeprecationWarning)
    from langchain_community.retrievers import BM25Retriever
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings

    from assistant.extractive import extract_answer
    from assistant.records import Passage

    n, dim, budget = int(args["n"]), int(args["dim"]), float(args["budget_s"])
    max_questions = int(args.get("max_questions", QUESTIONS))
    qs = questions(n, dim)
    vectors = {q.text: q.vector.tolist() for q in qs}

    class PrecomputedEmbeddings(Embeddings):
        """embed_query returns the question's precomputed unit vector (query encoding excluded)."""

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            raise RuntimeError("the vectors are already in Chroma")

        def embed_query(self, text: str) -> list[float]:
            vector: list[float] = vectors[text]
            return vector

    result: dict[str, Any] = {"n": n, "dim": dim, "rss_base_mb": proc_status_mb("VmRSS")}
    texts = chunk_texts(0, n)
    ids, metadatas = chunk_layout(texts)
    result["rss_texts_mb"] = proc_status_mb("VmRSS")
    start = time.perf_counter()
    bm25 = BM25Retriever.from_texts(texts, metadatas=metadatas, ids=ids, k=DEPTH)
    result["build_seconds"] = time.perf_counter() - start
    result["build_load"] = load1()
    result["rss_bm25_mb"] = proc_status_mb("VmRSS")
    result["mode"] = "bm25-only" if args.get("bm25_only") else "full"
    retriever: Any = bm25
    if not args.get("bm25_only"):
        retriever = _stock_ensemble(Path(args["index_dir"]), bm25, PrecomputedEmbeddings(), ids, texts, result)
    del texts
    gc.collect()

    def passages(docs: list[Document]) -> list[Passage]:
        out = []
        for rank, doc in enumerate(docs[:K]):
            meta = doc.metadata
            out.append(
                Passage(
                    str(doc.id or meta.get("chunk_id", "")),
                    str(meta.get("source", "")),
                    str(meta.get("title", "")),
                    doc.page_content,
                    int(meta.get("start", 0)),
                    int(meta.get("end", len(doc.page_content))),
                    1.0 / (rank + 1),
                    None,
                    None,
                    (),
                )
            )
        return out

    start = time.perf_counter()
    retriever.invoke(qs[0].text)
    result["first_query_ms"] = (time.perf_counter() - start) * 1000
    for q in qs[1 : 3 if args.get("bm25_only") else WARMUP]:
        retriever.invoke(q.text)
    result["rss_open_mb"] = proc_status_mb("VmRSS")
    retrieval: list[float] = []
    full: list[float] = []
    hits = 0
    loads = [load1()]
    began = time.perf_counter()
    with _Profile(args.get("profile"), f"stock-{n}"):
        for q in qs[:max_questions]:
            t0 = time.perf_counter()
            docs = retriever.invoke(q.text)
            t1 = time.perf_counter()
            extract_answer(q.text, passages(docs), embedder=None)
            t2 = time.perf_counter()
            retrieval.append(t1 - t0)
            full.append(t2 - t0)
            if q.chunk >= 0:
                hits += any(d.id == ids[q.chunk] for d in docs[:K])
            if len(retrieval) >= 20 and time.perf_counter() - began > budget:
                break
    loads.append(load1())
    measured = qs[: len(retrieval)]
    result.update(
        retrieval=percentiles(retrieval),
        full=percentiles(full),
        source_chunk_in_top5=hits / max(1, sum(q.chunk >= 0 for q in measured)),
        load=loads,
        rss_after_queries_mb=proc_status_mb("VmRSS"),
        rss_peak_mb=proc_status_mb("VmHWM"),
    )
    return result


# ---------------------------------------------------------------------------------------------------
# Stage: query encoding with random-weight models of the presets' shapes (worker process)
# ---------------------------------------------------------------------------------------------------
def stage_encode(args: dict[str, Any]) -> dict[str, Any]:
    import torch
    from transformers import BertConfig, BertModel

    from tests.tiny_models import train_wordpiece

    torch.manual_seed(0)
    torch.set_num_threads(2)
    fast = train_wordpiece(chunk_texts(0, 5_000), 30_000, 512)
    qs = [q.text for q in questions(10_000, 8)][: int(args.get("count", 30))]
    shapes = {
        "bge-m3 shape (24 layers, hidden 1024, 16 heads)": (24, 1024, 16, 4096),
        "multilingual-e5-small shape (12 layers, hidden 384, 12 heads)": (12, 384, 12, 1536),
    }
    result: dict[str, Any] = {"torch": torch.__version__, "threads": torch.get_num_threads(), "models": {}}
    for name, (layers, hidden, heads, intermediate) in shapes.items():
        config = BertConfig(
            vocab_size=fast.vocab_size,
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=intermediate,
            max_position_embeddings=512,
        )
        model = BertModel(config)
        model.train(False)
        timings: list[float] = []
        tokens: list[int] = []
        with torch.inference_mode():
            for i, text in enumerate(qs):
                t0 = time.perf_counter()
                batch = fast([text], return_tensors="pt", truncation=True, max_length=512)
                hidden_states = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden_states.dtype)
                pooled = (hidden_states * mask).sum(1) / mask.sum(1)
                torch.nn.functional.normalize(pooled, dim=-1)
                if i >= 5:
                    timings.append(time.perf_counter() - t0)
                    tokens.append(int(batch["input_ids"].shape[1]))
        result["models"][name] = {**percentiles(timings), "tokens": float(np.mean(tokens)), "load": load1()}
        del model
        gc.collect()
    return result


STAGES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "build": stage_build,
    "ours": stage_ours,
    "stock": stage_stock,
    "encode": stage_encode,
}


def run_stage(name: str, args: dict[str, Any], workdir: Path, timeout: float) -> dict[str, Any] | None:
    """Run one stage in a fresh Python process; its result, or None when it failed."""
    request = workdir / f"{name}-{args.get('n', 'x')}.request.json"
    answer = workdir / f"{name}-{args.get('n', 'x')}.result.json"
    request.write_text(json.dumps(args))
    answer.unlink(missing_ok=True)
    print(f"[{time.strftime('%H:%M:%S')}] stage {name} n={args.get('n')} (load {load1()})", file=sys.stderr, flush=True)
    try:
        completed = subprocess.run(
            [sys.executable, __file__, "--stage", name, "--request", str(request), "--result", str(answer)],
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        print(f"  stage {name} timed out after {timeout:.0f} s", file=sys.stderr, flush=True)
        return {"error": f"timed out after {timeout:.0f} s"}
    if completed.returncode != 0 or not answer.is_file():
        return {"error": f"exit status {completed.returncode}"}
    loaded: dict[str, Any] = json.loads(answer.read_text())
    return loaded


# ---------------------------------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) * 1024
    packages = {}
    for name in ("chromadb", "bm25s", "rank-bm25", "langchain-core", "langchain-community", "langchain-classic"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = "absent"
    for name in ("langchain-chroma", "numpy", "torch", "transformers"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = "absent"
    return {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "ram_gib": round(mem / 2**30, 1),
        "python": platform.python_version(),
        "packages": packages,
    }


def choose_dense(
    n: int, previous: dict[str, Any] | None, options: argparse.Namespace
) -> tuple[int, str, str, float | None]:
    """(dimension, hnsw, reason, estimated minutes at the default dimension) for size n.

    Estimate: the previous size's steady insert time per vector x n x INSERT_GROWTH per tenfold N (a deeper
    graph and a larger working set), scaled by the dimension ratio for the fallback dimension (the distance
    computations dominate the insert).
    """
    if previous is None or "chroma_seconds_per_vector_tail" not in previous:
        return options.dim, "project", "", None
    rate = float(previous["chroma_seconds_per_vector_tail"])
    prev_dim = int(previous["dim"])
    if previous.get("hnsw") != "project" or prev_dim != options.dim:
        return options.fallback_dim, options.fallback_hnsw, "as the previous size", None
    growth = INSERT_GROWTH ** max(0.0, float(np.log10(n / float(previous["n"]))))
    estimate = rate * n * growth / 60.0
    if estimate <= options.dense_budget_min:
        return options.dim, "project", "", estimate
    estimate_fallback = estimate * options.fallback_dim / options.dim
    hnsw = "project" if estimate_fallback <= options.dense_budget_min else options.fallback_hnsw
    reason = (
        f"estimated Chroma insert at {options.dim}-d with the project's HNSW graph: {estimate:.0f} min "
        f"({rate * 1000:.1f} ms per vector at N={previous['n']:,}, x {n:,} vectors, x {growth:.2f} for the larger "
        f"graph) > {options.dense_budget_min:.0f} min; at {options.fallback_dim}-d about {estimate_fallback:.0f} min"
    )
    if hnsw != "project":
        reason += ", still over, so Chroma's default graph"
    return options.fallback_dim, hnsw, reason, estimate


def stock_plan(n: int, previous: dict[str, Any] | None, options: argparse.Namespace) -> tuple[str, int, str]:
    """(mode, max questions, reason): "full", "bm25-only" (BM25Retriever alone, no Chroma) or "skip".

    Estimated linearly from the previous full run (rank_bm25 keeps and scores every document; adding the texts
    to Chroma is linear too). "full" when its memory fits (free memory less 3 GB) and its time fits in
    --stock-stage-budget-s; else "bm25-only" when BM25Retriever alone fits both (its time per question is taken
    as the whole pipeline's, an upper bound); else "skip".
    """
    if previous is None or "retrieval" not in previous:
        return "full", QUESTIONS, ""
    scale = n / float(previous["n"])
    build = float(previous["build_seconds"]) * scale
    documents = float(previous.get("documents_seconds", 0.0)) * scale
    per_query = previous["retrieval"]["mean"] / 1000.0 * scale
    base = float(previous.get("rss_base_mb", 300.0))
    mem_full = (float(previous["rss_peak_mb"]) - base) * scale + base
    mem_bm25 = (float(previous["rss_bm25_mb"]) - base) * scale + base
    available = mem_available_mb() - 3_000
    fit = max(20, min(QUESTIONS, int(options.stock_budget_s / max(per_query, 1e-6))))
    basis = (
        f"estimated from N={previous['n']:,}: BM25Retriever build {build / 60:.1f} min and "
        f"{mem_bm25 / 1000:.1f} GB, adding the texts to Chroma {documents / 60:.0f} min, whole pipeline "
        f"{mem_full / 1000:.1f} GB and {per_query:.1f} s per question; free memory {available / 1000 + 3:.1f} GB"
    )
    if 20 * per_query > 3 * options.stock_budget_s:
        return "skip", 0, f"{basis}: 20 questions would take over 3x the time budget"
    if mem_full <= available and build + documents + fit * per_query <= options.stock_stage_budget_s:
        return "full", fit, ""
    if mem_bm25 <= available and build + fit * per_query <= options.stock_stage_budget_s:
        limit = "memory (free less 3 GB)" if mem_full > available else f"{options.stock_stage_budget_s / 60:.0f} min"
        return "bm25-only", fit, f"{basis}; the whole pipeline would exceed the {limit}"
    return "skip", 0, f"{basis}: even BM25Retriever alone would not fit"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    parser.add_argument("--out", type=Path, default=None, help="markdown report (section between scale markers)")
    parser.add_argument("--plot", type=Path, default=REPO_ROOT / "docs" / "img" / "latency_vs_n.png")
    parser.add_argument("--json", type=Path, default=None, help="raw results (default <workdir>/results.json)")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch directory (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep each index after measuring it")
    parser.add_argument("--workers", type=int, default=2, help="processes for the analysis stage")
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--fallback-dim", type=int, default=384)
    parser.add_argument("--fallback-hnsw", choices=("project", "chroma-default"), default="chroma-default")
    parser.add_argument("--dense-budget-min", type=float, default=40.0)
    parser.add_argument("--stock-budget-s", type=float, default=240.0, help="time for stock queries per size")
    parser.add_argument(
        "--stock-stage-budget-s", type=float, default=900.0, help="above this estimate: BM25Retriever alone"
    )
    parser.add_argument("--stage-timeout-s", type=float, default=5400.0)
    parser.add_argument("--no-encode", action="store_true", help="skip the query-encoding note")
    parser.add_argument("--profile", default=None, help="directory for pyinstrument profiles of the stages")
    parser.add_argument("--render-only", type=Path, default=None, help="rewrite the report from a results file")
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--request", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)

    if options.stage:
        stage_args = json.loads(options.request.read_text())
        output = STAGES[options.stage](stage_args)
        options.result.write_text(json.dumps(output))
        return 0

    if options.render_only:
        write_report(json.loads(options.render_only.read_text()), options.out, options.plot)
        return 0

    sizes = sorted(int(s.replace("_", "")) for s in options.sizes.split(","))
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="scale-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    json_path = options.json or workdir / "results.json"
    vocab = vocabulary()
    results: dict[str, Any] = {
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": "python benchmarks/scale.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "load_start": list(os.getloadavg()),
        "corpus": {
            "documents": vocab.documents,
            "tokens": vocab.tokens,
            "types": len(vocab.words),
            "zipf_exponent": vocab.zipf_exponent,
            "sentence_end_share": vocab.sentence_end_share,
        },
        "settings": {
            "dim": options.dim,
            "fallback_dim": options.fallback_dim,
            "fallback_hnsw": options.fallback_hnsw,
            "dense_budget_min": options.dense_budget_min,
            "stock_budget_s": options.stock_budget_s,
            "workers": options.workers,
        },
        "sizes": {},
    }
    begin = time.perf_counter()

    def save() -> None:
        results["elapsed_min"] = (time.perf_counter() - begin) / 60
        json_path.write_text(json.dumps(results, indent=1))
        write_report(results, options.out, options.plot)

    if not options.no_encode:
        results["encode"] = run_stage("encode", {"n": "encode"}, workdir, options.stage_timeout_s)
        save()
    previous_build: dict[str, Any] | None = None
    previous_stock: dict[str, Any] | None = None
    for n in sizes:
        entry: dict[str, Any] = {"n": n}
        results["sizes"][str(n)] = entry
        dim, hnsw, reason, estimate = choose_dense(n, previous_build, options)
        entry.update(dim=dim, hnsw=hnsw, dense_reason=reason, dense_estimate_min=estimate)
        if reason:
            print(f"  N={n}: dense store at {dim}-d, HNSW {hnsw}: {reason}", file=sys.stderr, flush=True)
        index_dir = workdir / f"index-{n}"
        shutil.rmtree(index_dir, ignore_errors=True)
        build_args = {
            "n": n,
            "dim": dim,
            "hnsw": hnsw,
            "workers": options.workers,
            "index_dir": str(index_dir),
            "ids_file": str(workdir / f"ids-{n}.txt"),
            "profile": options.profile,
        }
        build = run_stage("build", build_args, workdir, options.stage_timeout_s)
        entry["build"] = build
        if build and "error" not in build:
            entry["disk"] = {
                "chroma": tree_bytes(index_dir / "chroma"),
                "lexical": tree_bytes(index_dir / "lexical"),
                "manifest": sum(tree_bytes(p) for p in index_dir.glob("manifest.sqlite3*")),
            }
            previous_build = build
        save()
        if not build or "error" in build:
            break
        ids = (workdir / f"ids-{n}.txt").read_text(encoding="utf-8").split("\n")
        qs = questions(n, dim)
        ids_of = {str(q.chunk): ids[q.chunk] for q in qs if q.chunk >= 0}
        entry["ours"] = run_stage(
            "ours",
            {"n": n, "dim": dim, "index_dir": str(index_dir), "ids_of": ids_of, "profile": options.profile},
            workdir,
            options.stage_timeout_s,
        )
        save()
        mode, max_questions, why = stock_plan(n, previous_stock, options)
        if why:
            print(f"  stock pipeline at N={n}: {mode}: {why}", file=sys.stderr, flush=True)
        if mode != "skip":
            stock = run_stage(
                "stock",
                {
                    "n": n,
                    "dim": dim,
                    "index_dir": str(index_dir),
                    "budget_s": options.stock_budget_s,
                    "max_questions": max_questions,
                    "bm25_only": mode == "bm25-only",
                    "profile": options.profile,
                },
                workdir,
                options.stage_timeout_s,
            )
            if stock is not None and "error" not in stock:
                stock["mode_reason"] = why
                if mode == "full":
                    previous_stock = stock
                    entry["disk_chroma_with_documents"] = tree_bytes(index_dir / "chroma")
            entry["stock"] = stock
        else:
            entry["stock"] = {"skipped": why}
        del ids
        save()
        if not options.keep:
            shutil.rmtree(index_dir, ignore_errors=True)
    results["load_end"] = list(os.getloadavg())
    save()
    print(f"results: {json_path}", file=sys.stderr)
    for line in target_lines(results):
        print(line)
    return 0


# ---------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------
def _ok(part: Any) -> bool:
    return isinstance(part, dict) and "error" not in part and "skipped" not in part


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, holds); holds is None when it was not measured."""
    sizes = results.get("sizes", {})
    hundred = sizes.get("100000", {})
    ours = hundred.get("ours")
    stock = hundred.get("stock")
    rows: list[tuple[str, str, bool | None]] = []
    if _ok(ours):
        p95 = ours["retrieval"]["p95"]
        rows.append(("our retrieval p95 <= 50 ms at 100k chunks (query encoding excluded)", f"{p95:.1f} ms", p95 <= 50))
    else:
        rows.append(("our retrieval p95 <= 50 ms at 100k chunks (query encoding excluded)", "not measured", None))
    if _ok(ours) and _ok(stock):
        r50 = stock["retrieval"]["p50"] / ours["retrieval"]["p50"]
        r95 = stock["retrieval"]["p95"] / ours["retrieval"]["p95"]
        rows.append(
            (
                SPEEDUP_TARGET,
                f"{r50:.0f}x (p50), {r95:.0f}x (p95)",
                r50 >= 20 and r95 >= 20,
            )
        )
    else:
        rows.append((SPEEDUP_TARGET, "not measured", None))
    million = sizes.get("1000000", {})
    done = _ok(million.get("build")) and _ok(million.get("ours"))
    if done:
        b = million["build"]
        what = f"built in {sum(b['stages'].values()) / 60:.0f} min, {million['ours']['retrieval']['count']} questions"
    else:
        what = "not completed" if million else "not run"
    rows.append(("the 1M-chunk point completes on this machine", what, done))
    return rows


def target_lines(results: dict[str, Any]) -> list[str]:
    labels = {True: "PASS", False: "FAIL", None: "FAIL (not measured)"}
    return [f"{labels[holds]}: {name}: {measured}" for name, measured, holds in targets(results)]


def _fmt_n(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k" if n >= 1000 else str(n)


def _ms(part: Any, key: str, stat: str) -> str:
    return f"{part[key][stat]:.1f}" if _ok(part) and key in part else "-"


def render(results: dict[str, Any], plot_rel: str | None) -> str:
    m = results["machine"]
    c = results["corpus"]
    s = results["settings"]
    sizes = [results["sizes"][k] for k in sorted(results["sizes"], key=int)]
    pk = m["packages"]
    out: list[str] = []
    elapsed = results.get("elapsed_min", 0)
    out.append(f"Command (from the repository root; run started {results['started']}, took {elapsed:.0f} min):")
    out.append("")
    out.append("```bash")
    out.append(results["command"])
    out.append("```")
    out.append("")
    out.append(
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, no GPU, shared with other jobs "
        f"(1-minute load average {results['load_start'][0]:.1f} at the start"
        + (f", {results['load_end'][0]:.1f} at the end" if "load_end" in results else "")
        + "; every timing below has the load average beside it)."
    )
    out.append("Versions: Python " + m["python"] + ", " + ", ".join(f"{name} {v}" for name, v in pk.items()) + ".")
    out.append("")
    out.append(
        f"Corpus: synthetic Arabic chunks of {CHUNK_WORDS[0]}-{CHUNK_WORDS[1]} words (uniform), each word drawn "
        f"independently from the whitespace-token distribution of {c['documents']} texts (the unique contexts of "
        f"ARCD and XQuAD-ar and the 5 seed articles: {c['tokens']:,} tokens, {c['types']:,} types, rank-frequency "
        f"slope {c['zipf_exponent']:.2f} over the top 1,000 ranks, {100 * c['sentence_end_share']:.1f}% of tokens "
        f"end a sentence); 10 chunks per synthetic article in the manifest. The corpus of N is the first N chunks "
        f"of one seeded sequence. The vocabulary is capped at the observed {c['types']:,} types, so posting "
        "lists are longer than in a real archive of the same size (a pessimistic case for lexical search). "
        f"Vectors: random unit vectors from a Gaussian mixture ({CENTRES:,} centres, noise of norm ~1) of "
        f"dimension {s['dim']} (bge-m3's), not model embeddings: encoding 1M chunks with bge-m3 would take days "
        "on this CPU. Questions: 200 per N, 5-8 words (a question word and words drawn from a chunk, or from "
        "the distribution, alternately); a question taken from a chunk gets that chunk's vector plus noise."
    )
    out.append("")
    dims = {int(e["dim"]) for e in sizes}
    fallback = [e for e in sizes if e.get("dense_reason")]
    if fallback:
        for e in fallback:
            graph = (
                "the project's HNSW graph"
                if e["hnsw"] == "project"
                else "Chroma's default HNSW graph " + str(CHROMA_DEFAULT_HNSW)
            )
            out.append(
                f"**N = {e['n']:,} was run with the dense store at {e['dim']} dimensions and {graph}**, not at "
                f"{s['dim']} dimensions with the project's graph: {e['dense_reason']}. Its dense latency and "
                "memory are therefore lower than a 1024-d index would have."
            )
            out.append("")
    elif len(dims) == 1:
        out.append(f"Every N used {s['dim']}-d vectors and the project's HNSW graph {_project_hnsw()}.")
        out.append("")

    # latency
    out.append("### Latency (ms per question, one at a time, query encoding excluded)")
    out.append("")
    out.append(
        "`retrieval` is `Retriever.retrieve(q, k=5)` (ours) or `EnsembleRetriever.invoke(q)` (stock); `answer` "
        "adds `extract_answer(q, top 5 passages, embedder=None)` to it. `x` is stock / ours. `hit` is the share "
        "of chunk-derived questions whose source chunk is in the top 5."
    )
    out.append("")
    out.append(
        "| N | dense | ours retrieval p50 / p95 | ours answer p50 / p95 | stock retrieval p50 / p95 "
        "| stock answer p50 / p95 | x p50 / p95 | questions (ours / stock) | hit (ours / stock) "
        "| load (ours / stock) |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for e in sizes:
        ours, stock = e.get("ours"), e.get("stock")
        ratio = "-"
        alone = _ok(stock) and stock.get("mode") == "bm25-only"
        if _ok(ours) and _ok(stock):
            ratio = (
                f"{'>= ' if alone else ''}{stock['retrieval']['p50'] / ours['retrieval']['p50']:.0f}x / "
                f"{'>= ' if alone else ''}{stock['retrieval']['p95'] / ours['retrieval']['p95']:.0f}x"
            )
        note = ""
        if isinstance(stock, dict) and "skipped" in stock:
            note = f"not run: {stock['skipped']}"
        elif isinstance(stock, dict) and "error" in stock:
            note = f"failed: {stock['error']}"
        stock_r = f"{_ms(stock, 'retrieval', 'p50')} / {_ms(stock, 'retrieval', 'p95')}" if _ok(stock) else note or "-"
        if alone:
            stock_r = f"BM25Retriever alone: {stock_r}"
        stock_a = f"{_ms(stock, 'full', 'p50')} / {_ms(stock, 'full', 'p95')}" if _ok(stock) else "-"
        q_ours = ours["retrieval"]["count"] if _ok(ours) else "-"
        q_stock = stock["retrieval"]["count"] if _ok(stock) else "-"
        hit = (
            f"{ours['source_chunk_in_top5']:.2f} / " + (f"{stock['source_chunk_in_top5']:.2f}" if _ok(stock) else "-")
            if _ok(ours)
            else "-"
        )
        load = (
            f"{max(ours['load']):.1f} / " + (f"{max(stock['load']):.1f}" if _ok(stock) else "-") if _ok(ours) else "-"
        )
        out.append(
            f"| {e['n']:,} | {e['dim']}-d{'' if e['hnsw'] == 'project' else ', Chroma default graph'} "
            f"| **{_ms(ours, 'retrieval', 'p50')}** / **{_ms(ours, 'retrieval', 'p95')}** "
            f"| {_ms(ours, 'full', 'p50')} / {_ms(ours, 'full', 'p95')} | {stock_r} | {stock_a} | {ratio} "
            f"| {q_ours} / {q_stock} | {hit} | {load} |"
        )
    out.append("")
    for e in sizes:
        stock = e.get("stock")
        if _ok(stock) and stock.get("mode") == "bm25-only":
            out.append(
                f"At N = {e['n']:,} the stock pipeline was measured as `BM25Retriever` alone (no Chroma, no "
                f"ensemble; its answer uses BM25's top 5), which is a lower bound of the whole stock pipeline: "
                f"{stock.get('mode_reason', '')}. The ratio is therefore a lower bound too."
            )
            out.append("")
        elif isinstance(stock, dict) and "skipped" in stock:
            out.append(f"At N = {e['n']:,} the stock pipeline was not run: {stock['skipped']}.")
            out.append("")
    with_parts = [e for e in sizes if _ok(e.get("ours")) and "components" in e["ours"]]
    if with_parts:
        names = list(with_parts[0]["ours"]["components"])
        out.append(
            "Where our time goes: each part of `retrieve` timed on its own in a second pass over the same questions "
            "(ms, p50 / p95), and `extract_answer` alone (answer minus retrieval, from the timed pass):"
        )
        out.append("")
        out.append("| N | " + " | ".join(names) + " | extract_answer |")
        out.append("|---|" + "---|" * (len(names) + 1))
        for e in with_parts:
            timed = e["ours"]["components"]
            cells = [f"{timed[n]['p50']:.1f} / {timed[n]['p95']:.1f}" for n in names]
            answer = e["ours"].get("answer_only")
            cells.append(f"{answer['p50']:.1f} / {answer['p95']:.1f}" if answer else "-")
            out.append(f"| {e['n']:,} | " + " | ".join(cells) + " |")
        out.append("")
    cold = [
        f"{_fmt_n(e['n'])}: {e['ours']['open_seconds']:.1f} s to open, "
        f"first question {e['ours']['first_query_ms']:.0f} ms"
        for e in sizes
        if _ok(e.get("ours"))
    ]
    if cold:
        out.append(
            "Opening our index (`Retriever.open`: manifest, lexical index, and the chunk -> source table of the "
            "document filter) and the first question (Chroma loads its HNSW files then): " + "; ".join(cold) + "."
        )
        out.append("")
    if plot_rel:
        out.append(f"![Retrieval latency against N, ours and stock, log-log]({plot_rel})")
        out.append("")

    # memory and disk
    out.append("### Memory and disk")
    out.append("")
    out.append(
        "RSS in MB (10^6 bytes) of each serving process after opening its index and 10 warm-up questions "
        "(`ours`: `Retriever.open` + Chroma's HNSW loaded; `stock`: `BM25Retriever` built in memory + Chroma on the "
        "same collection) and after all the timed questions; `build peak` is the high-water RSS of our build "
        "process. Disk: apparent bytes per chunk."
    )
    out.append("")
    out.append(
        "| N | dense | ours RSS open / after | stock RSS open / after | stock BM25 build peak | our build peak "
        "| chroma/ B/chunk | lexical/ B/chunk | manifest B/chunk | total B/chunk | total |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for e in sizes:
        ours, stock, build, disk = e.get("ours"), e.get("stock"), e.get("build"), e.get("disk")
        o = f"{ours['rss_warm_mb']:,.0f} / {ours['rss_after_queries_mb']:,.0f}" if _ok(ours) else "-"
        st = f"{stock['rss_open_mb']:,.0f} / {stock['rss_after_queries_mb']:,.0f}" if _ok(stock) else "-"
        sp = f"{stock['rss_peak_mb']:,.0f}" if _ok(stock) else "-"
        bp = f"{build['rss_peak_mb']:,.0f}" if _ok(build) else "-"
        if disk:
            n = e["n"]
            total = sum(disk.values())
            d = (
                f"{disk['chroma'] / n:,.0f} | {disk['lexical'] / n:,.0f} | {disk['manifest'] / n:,.0f} "
                f"| **{total / n:,.0f}** | {total / 1e9:.2f} GB"
            )
        else:
            d = "- | - | - | - | -"
        out.append(f"| {e['n']:,} | {e['dim']}-d | {o} | {st} | {sp} | {bp} | {d} |")
    out.append("")

    # build time
    out.append("### Build time of our index, per stage (seconds, wall clock)")
    out.append("")
    out.append(
        "`records` makes the FileRecord/Article/Chunk objects and chunk ids; `analysis` is `analyze_fields` of every "
        f"chunk in {s['workers']} processes (sent back as id arrays) and `encode_terms` of the result; `manifest` is "
        "one `Catalog.commit_changes` with the chunks and their terms; `bm25s` is `LexicalIndex.build` (both "
        "fields) and `save` its write; `chroma` is `ChromaStore.add` in batches of 10,000 (vectors generated "
        "outside the timing), "
        "`chroma ms/vector` its steady rate over the last half of the inserts. The stock column is "
        "`BM25Retriever.from_texts` + adding the chunk texts to the Chroma records (LangChain's Chroma reads each "
        "hit's text from Chroma; ingest no longer stores it there), its only build steps: its vectors and HNSW "
        "graph are ours."
    )
    out.append("")
    out.append(
        "| N | dense | generate | records | manifest | analysis | bm25s | save | chroma | chroma ms/vector "
        "| total (without generate) | stock BM25 build | load at the end of chroma |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for e in sizes:
        build, stock = e.get("build"), e.get("stock")
        if not _ok(build):
            out.append(f"| {e['n']:,} | {e['dim']}-d | {build.get('error', '-') if build else '-'} |" + " - |" * 10)
            continue
        st = build["stages"]

        def g(prefix: str, stages: dict[str, float] = st) -> float:
            return sum(v for k, v in stages.items() if k.startswith(prefix))

        total = sum(st.values()) - g("generate")
        load_chroma = next((v for k, v in build["stage_load"].items() if k.startswith("chroma insert")), 0.0)
        stock_build = "-"
        if _ok(stock):
            stock_build = f"{stock['build_seconds']:.1f}" + (
                f" + {stock['documents_seconds']:.1f}" if "documents_seconds" in stock else " (BM25 alone)"
            )
        out.append(
            f"| {e['n']:,} | {e['dim']}-d | {g('generate'):.1f} | {g('records'):.1f} | {g('manifest'):.1f} "
            f"| {g('analysis') + g('encode terms'):.1f} | {g('bm25s'):.1f} | {g('lexical save'):.1f} "
            f"| {g('chroma insert'):.1f} "
            f"| {1000 * build['chroma_seconds_per_vector_tail']:.2f} | **{total:.0f}** | {stock_build} "
            f"| {load_chroma:.1f} |"
        )
    out.append("")

    enc: dict[str, Any] = results.get("encode") or {}
    if enc and _ok(enc):
        parts = [
            f"{name}: p50 {v['p50']:.0f} ms, p95 {v['p95']:.0f} ms ({v['tokens']:.0f} tokens per question, "
            f"load {v['load']:.1f})"
            for name, v in enc["models"].items()
        ]
        out.append(
            "**Query encoding, not included above** (one question at a time, random-weight BERT of the preset's "
            f"shape, tokenizer trained on the corpus, torch {enc['torch']} on {enc['threads']} threads, forward "
            "pass + mean pooling + normalization): " + "; ".join(parts) + ". A real question costs this on top of the "
            "retrieval latency; it is the same for both pipelines."
        )
        out.append("")

    out.append("### Targets")
    out.append("")
    out.append("| target | measured | holds |")
    out.append("|---|---|---|")
    for name, measured, holds in targets(results):
        out.append(f"| {name} | {measured} | {'PASS' if holds else 'FAIL' if holds is False else 'not measured'} |")
    out.append("")
    out.append("```")
    out.extend(target_lines(results))
    out.append("```")
    return "\n".join(out)


def _project_hnsw() -> str:
    from ingest.chroma_store import HNSW

    return str(HNSW)


def plot(results: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install -e '.[bench]')", file=sys.stderr)
        return False
    sizes = [results["sizes"][k] for k in sorted(results["sizes"], key=int)]
    fig, ax = plt.subplots(figsize=(7.5, 5))
    series = (("ours", "retrieval", "tab:blue", "ours"), ("stock", "retrieval", "tab:red", "stock LangChain"))
    drawn = False
    for key, field, colour, label in series:
        points = [(e["n"], e[key][field]) for e in sizes if _ok(e.get(key)) and e[key].get("mode") != "bm25-only"]
        if points:
            xs = [p[0] for p in points]
            ax.plot(xs, [p[1]["p50"] for p in points], "o-", color=colour, label=f"{label} retrieval p50")
            ax.plot(xs, [p[1]["p95"] for p in points], "s--", color=colour, label=f"{label} retrieval p95")
            drawn = True
        alone = [(e["n"], e[key][field]) for e in sizes if _ok(e.get(key)) and e[key].get("mode") == "bm25-only"]
        if alone:
            xs = [p[0] for p in alone]
            ax.plot(
                xs, [p[1]["p50"] for p in alone], "o", mfc="none", color=colour, label="stock BM25Retriever alone p50"
            )
            ax.plot(
                xs, [p[1]["p95"] for p in alone], "s", mfc="none", color=colour, label="stock BM25Retriever alone p95"
            )
    for e in sizes:
        if e.get("dense_reason") and _ok(e.get("ours")):
            ax.annotate(
                f"{e['dim']}-d vectors",
                (e["n"], e["ours"]["retrieval"]["p50"]),
                textcoords="offset points",
                xytext=(-40, -18),
                fontsize=8,
            )
    if not drawn:
        plt.close(fig)
        return False
    ax.axhline(50, color="grey", linewidth=0.8, linestyle=":", label="50 ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("chunks in the index (N)")
    ax.set_ylabel("ms per question (query encoding excluded)")
    ax.set_title("Hybrid retrieval latency against N (2-core CPU, shared)")
    ax.grid(True, which="both", linewidth=0.3)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_report(results: dict[str, Any], out: Path | None, plot_path: Path | None) -> None:
    """Rewrite the scale section of `out` (between the scale markers), creating the section when absent."""
    from reporting import write_section

    plot_rel = None
    if plot_path is not None and plot(results, plot_path) and out is not None:
        plot_rel = os.path.relpath(plot_path.resolve(), out.resolve().parent)
    body = render(results, plot_rel)
    if out is None:
        print(body)
        return
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(f"# Benchmarks\n\n{SECTION_TITLE}\n", encoding="utf-8")
    elif f"<!-- {MARKER}:start -->" not in out.read_text(encoding="utf-8"):
        out.write_text(out.read_text(encoding="utf-8").rstrip("\n") + f"\n\n{SECTION_TITLE}\n", encoding="utf-8")
    write_section(out, body, MARKER)


if __name__ == "__main__":
    raise SystemExit(main())
