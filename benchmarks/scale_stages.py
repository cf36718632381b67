"""The stages of the scale benchmark, each run in a fresh process by `scale.py` (see its docstring).

build: the index of N chunks, written with the project's classes (manifest, lexical generation,
Chroma, state.json) and the N/10 article files it was made from; ours: open it and time questions;
sync: no-op and 1%-changed ingests through `ingest.sync.sync` with a random-weight model; lexical:
a lexical-only index of N chunks; stock: LangChain's pipeline on the same chunks; encode: query
encoding with the bundled model (real weights) and a random model of bge-m3's shape.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from scale_corpus import (
    ARTICLE_CHUNKS,
    BLOCK,
    QUESTIONS,
    Question,
    article_body,
    article_layout,
    changed_texts,
    chunk_layout,
    chunk_texts,
    questions,
    source_name,
    text_vectors,
    unit_vectors,
)
from timed_embedder import TimedEmbedder

SCALE_SCRIPT = Path(__file__).with_name("scale.py")
WARMUP = 10
K = 5
DEPTH = 30  # the project's dense_depth and lexical_depth; the stock retrievers get the same k
CHROMA_DEFAULT_HNSW = {"space": "cosine", "max_neighbors": 16, "ef_construction": 100, "ef_search": 100}
CHANGED_SHARE = 0.01
"""The share of articles (and so of chunks) the changed sync rewrites."""


# ---------------------------------------------------------------------------------------------------
# Measurement helpers
# ---------------------------------------------------------------------------------------------------
def memory() -> dict[str, float]:
    """This process's resident memory in MB (1e6 bytes): all of it, anonymous, and mapped files."""
    return {field: proc_status_mb(field) for field in ("VmRSS", "RssAnon", "RssFile")}


def proc_status_mb(field: str, pid: int | None = None) -> float:
    """VmRSS / VmHWM ... of this process (or of `pid`) in MB (1e6 bytes)."""
    for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


def mem_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


def cpu_seconds() -> float:
    """CPU time of this process, all threads, user + system: the part of a timing that load does not stretch."""
    return time.process_time()


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

    def add(self, name: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `function`, adding its time to stage `name` (for stages done in many blocks)."""
        start = time.perf_counter()
        result = function(*args, **kwargs)
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
        self.load[name] = load1()
        return result

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
    """Write the N/10 article files, then their manifest, lexical generation, vectors and state.json."""
    from chromadb.config import Settings as ChromaSettings

    from ingest import passage_vectors
    from ingest.analysis import ANALYZER_VERSION
    from ingest.catalog import Catalog, FileStat
    from ingest.chroma_store import COLLECTION, HNSW, ChromaStore
    from ingest.chunking import ChunkerSettings
    from ingest.embedding import resolve_model
    from ingest.layout import IndexLayout
    from ingest.lexical import LexicalDocument, encode_terms
    from ingest.settings import Settings
    from ingest.stories import refresh_stories, sign_articles
    from ingest.sync import publish_generation
    from ingest.tantivy_lexical import write_generation

    n, dim, workers = int(args["n"]), int(args["dim"]), int(args["workers"])
    index_dir, docs_dir = Path(args["index_dir"]), Path(args["docs_dir"])
    settings = Settings.from_env({}, index_dir=index_dir, docs_dir=docs_dir, embedding_model=args["model"])
    model = resolve_model(settings.embedding_model)
    layout = IndexLayout(index_dir)
    timer = Timer()
    result: dict[str, Any] = {"n": n, "dim": dim, "workers": workers, "hnsw": args["hnsw"]}
    fingerprint = ChunkerSettings(
        max_tokens=settings.chunk_tokens, overlap_sentences=settings.chunk_overlap_sentences, tokenizer=model.model_id
    ).fingerprint()

    def write_files() -> None:
        for start in range(0, n, BLOCK):
            texts = chunk_texts(start, min(n, start + BLOCK))
            _, metadatas = chunk_layout(texts, start)
            for first, stop in article_layout(len(texts)):
                path = docs_dir / str(metadatas[first]["source"])
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(article_body(texts[first:stop]), encoding="utf-8")

    timer.run("article files", write_files)
    catalog = Catalog(layout.manifest)
    if args["hnsw"] != "project":  # pre-create the collection with another graph; ChromaStore.open reuses it
        import chromadb

        client: Any = chromadb.PersistentClient(
            path=str(layout.chroma), settings=ChromaSettings(anonymized_telemetry=False)
        )
        client.get_or_create_collection(
            COLLECTION, configuration={"hnsw": CHROMA_DEFAULT_HNSW}, embedding_function=None
        )
        client.close()
    store = ChromaStore.open(layout.chroma)
    store.save_after(n)  # as an ingest of n new chunks plans its writes
    result["hnsw_config"] = dict(HNSW) if args["hnsw"] == "project" else dict(CHROMA_DEFAULT_HNSW)
    meta = {
        "model": model.model_id,
        "analyzer_version": ANALYZER_VERSION,
        "chunk_tokens": str(settings.chunk_tokens),
        "chunk_overlap_sentences": str(settings.chunk_overlap_sentences),
        "dense": "1",
        "terms_version": ANALYZER_VERSION,
        "vectors": passage_vectors.VERSION,
        "dimension": str(dim),
    }
    batches: list[tuple[int, float]] = []
    rng = np.random.default_rng(7)
    ids_of_questions: dict[str, str] = {}
    wanted = {q.chunk for q in questions(n, dim) if q.chunk >= 0}
    with _Profile(args.get("profile"), f"build-{n}"):
        for start in range(0, n, BLOCK):
            stop = min(n, start + BLOCK)
            texts = timer.add("generate", chunk_texts, start, stop)
            ids, metadatas = chunk_layout(texts, start)
            ids_of_questions.update({str(i): ids[i - start] for i in wanted if start <= i < stop})
            fields = timer.add(f"analysis ({workers} processes)", analyze_all, texts, workers)
            terms = [encode_terms(f) for f in fields]
            vectors = timer.add("generate", unit_vectors, dim, start, stop)

            rows = timer.add(
                "records (read and hash the files)", article_rows, docs_dir, texts, ids, metadatas, terms, fingerprint
            )
            stats = {r.source: FileStat.of((docs_dir / r.source).stat(), r.hash, time.time_ns()) for r, *_ in rows}
            encoded = timer.add("passage vectors", passage_rows, [c for _, _, cs, _ in rows for c in cs], vectors, rng)
            meta["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
            generation = timer.add(
                "manifest (Catalog.commit_changes)", catalog.commit_changes, [], rows, [], meta, stats, encoded
            )
            sources = [r.source for r, *_ in rows]  # signed as ingest signs the articles it commits
            timer.add("wire-story signatures (ingest.wire.signature)", sign_articles, catalog, sources)
            begin = time.perf_counter()
            store.add(ids, vectors, None, [{"source": m["source"]} for m in metadatas])  # what ingest stores
            batches.append((stop, time.perf_counter() - begin))
            timer.seconds["chroma insert (ChromaStore.add)"] = sum(s for _, s in batches)
            if len(batches) % 5 == 0 or stop == n:
                print(
                    f"    {stop}/{n} chunks, chroma {sum(s for _, s in batches):.0f} s (load {load1()})",
                    file=sys.stderr,
                    flush=True,
                )
            del texts, fields, terms, rows, encoded
        store.set_metadata(
            {
                "model": model.model_id,
                "model_checksum": "",
                "dimension": dim,
                "analyzer_version": ANALYZER_VERSION,
                "chunk_tokens": settings.chunk_tokens,
                "chunk_overlap_sentences": settings.chunk_overlap_sentences,
            }
        )
        result["chroma_count"] = store.count()
        begin = time.perf_counter()
        store.close()  # where Chroma saves what a write over the cap left unsaved
        timer.seconds["chroma insert (ChromaStore.add)"] += time.perf_counter() - begin

        def lexical() -> Any:
            documents = (LexicalDocument(i, s, t) for i, s, _, t in catalog.chunk_terms() if t is not None)
            return write_generation(layout.lexical, generation, documents=documents)

        record = timer.run("lexical generation (tantivy, write_generation)", lexical)
        timer.run("wire stories grouped (refresh_stories)", refresh_stories, catalog)
        catalog.checkpoint()
        catalog.close()
        timer.run("state.json (publish_generation)", publish_generation, settings, generation, record)
    Path(args["ids_file"]).write_text(json.dumps(ids_of_questions), encoding="utf-8")
    half = [(stop, s) for stop, s in batches if stop > n // 2] or batches
    inserted = half[-1][0] - (half[0][0] - min(BLOCK, half[0][0])) if half else 0
    result["chroma_seconds_per_vector_tail"] = sum(s for _, s in half) / max(1, inserted)
    result["stages"] = timer.seconds
    result["stage_load"] = timer.load
    result["rss_peak_mb"] = proc_status_mb("VmHWM")
    return result


def article_rows(
    docs_dir: Path,
    texts: list[str],
    ids: list[str],
    metadatas: list[dict[str, Any]],
    terms: list[str],
    fingerprint: str,
) -> list[tuple[Any, Any, list[Any], list[str]]]:
    """The manifest rows of a block of articles, each file read and hashed as a first ingest would."""
    from ingest.catalog import FileRecord
    from ingest.records import Article, Chunk

    rows = []
    for first, last in article_layout(len(texts)):
        source, title = str(metadatas[first]["source"]), str(metadatas[first]["title"])
        path = docs_dir / source
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        record = FileRecord(source, str(path), digest, len(data), None, title, fingerprint)
        chunks = [
            Chunk(ids[i], source, title, i - first, metadatas[i]["start"], metadatas[i]["end"], texts[i])
            for i in range(first, last)
        ]
        rows.append((record, Article(source, title, data.decode("utf-8"), digest), chunks, terms[first:last]))
    return rows


def passage_rows(chunks: Sequence[Any], vectors: np.ndarray, rng: np.random.Generator) -> dict[str, bytes]:
    """Passage vectors as ingest stores them: the chunk's vector, and one near it per sentence."""
    from ingest.analysis import detect_language
    from ingest.passage_vectors import PassageVectors, encode, sentence_spans

    rows: dict[str, bytes] = {}
    for chunk, vector in zip(chunks, vectors, strict=True):
        spans = sentence_spans(chunk.text)
        noise = rng.standard_normal((len(spans), len(vector))).astype(np.float32) / np.float32(np.sqrt(len(vector)))
        sentences = vector[None, :] + noise
        sentences /= np.linalg.norm(sentences, axis=1, keepdims=True)
        rows[chunk.id] = encode(PassageVectors(detect_language(chunk.text), vector, sentences, tuple(spans)))
    return rows


# ---------------------------------------------------------------------------------------------------
# Stage: query our index (worker process)
# ---------------------------------------------------------------------------------------------------
class PrecomputedEmbedder:
    """The project's Embedder protocol; embed_query returns the question's precomputed unit vector."""

    def __init__(self, model_id: str, dimension: int, vectors: dict[str, np.ndarray]) -> None:
        self.model_id = model_id
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
    parts: dict[str, list[float]] = {
        "lexical search (tantivy, top 30)": [],
        "dense search (ChromaStore.search, top 30)": [],
        "fusion + passage lookup (passage vectors, fuse_scores, chunks of the top 5)": [],
    }
    names = list(parts)
    for q in qs:
        with retriever.reader.snapshot() as snapshot:
            t0 = time.perf_counter()
            lexical_hits = {h.chunk_id: h.score for h in snapshot.lexical_search(q.text, settings.lexical_depth)}
            t1 = time.perf_counter()
            dense_hits = {h.chunk_id: h.similarity for h in snapshot.dense_search(q.vector, settings.dense_depth)}
            t2 = time.perf_counter()
            candidates = list(dict.fromkeys([*lexical_hits, *dense_hits]))
            evidence = retriever._dense_evidence(snapshot, q.vector, candidates)
            fused = retriever._fuse(q.text, candidates, lexical_hits, dense_hits, evidence)
            snapshot.chunks([cid for cid, _ in fused[:K]])
            t3 = time.perf_counter()
        for name, seconds in zip(names, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            parts[name].append(seconds)
    return {name: percentiles(values) for name, values in parts.items()}


def stage_ours(args: dict[str, Any]) -> dict[str, Any]:
    """Open the index in this fresh process, then the first question, warm-up and 200 timed questions."""
    started = time.perf_counter()
    from assistant.extractive import extract_answer
    from assistant.retrieval import Retriever
    from assistant.settings import AssistantSettings

    project_imports = time.perf_counter() - started
    # The libraries a serving process holds once started (the reader imports chromadb on first use): paid once
    # per process, not per open, so timed apart from the open and the first question, and reported.
    import chromadb  # noqa: F401
    import tantivy  # noqa: F401

    imports = time.perf_counter() - started
    n, dim = int(args["n"]), int(args["dim"])
    url = {"chroma_url": args["chroma_url"]} if args.get("chroma_url") else {}
    settings = AssistantSettings.from_env({}, index_dir=Path(args["index_dir"]), embedding_model=args["model"], **url)
    qs = questions(n, dim)
    from ingest.embedding import resolve_model

    embedder = PrecomputedEmbedder(resolve_model(args["model"]).model_id, dim, {q.text: q.vector for q in qs})
    result: dict[str, Any] = {
        "n": n,
        "dim": dim,
        "imports_seconds": imports,
        "project_imports_seconds": project_imports,
        "rss_before_open": memory(),
    }
    start, cpu = time.perf_counter(), cpu_seconds()
    retriever = Retriever.open(settings, embedder_factory=lambda _settings: embedder)
    result["open_seconds"] = time.perf_counter() - start
    result["open_cpu_seconds"] = cpu_seconds() - cpu
    result["rss_open"] = memory()
    assert retriever.dense, "the dense part must be searched"
    start, cpu = time.perf_counter(), cpu_seconds()
    first = retriever.retrieve(qs[0].text, k=K)
    result["first_query_ms"] = (time.perf_counter() - start) * 1000
    result["first_query_cpu_ms"] = (cpu_seconds() - cpu) * 1000
    result["start_to_first_answer_seconds"] = time.perf_counter() - started
    result["first_query_notes"] = [n.detail for n in first.notes]
    for q in qs[1:WARMUP]:
        retriever.retrieve(q.text, k=K)
    result["rss_warm"] = memory()
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
        rss_after=memory(),
    )
    retriever.close()
    return result


@contextmanager
def _chroma_server(index_dir: Path, dim: int) -> Iterator[tuple[str, dict[str, Any], int]]:
    """`chroma run` over the index's Chroma directory, started and warmed by one query from another
    process (it loads the HNSW graph then, once per server start): yields its URL, its start and first
    query times, and its pid (its memory is read from /proc beside it)."""
    import socket
    import urllib.request

    from ingest.chroma_store import COLLECTION

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).parent / "chroma"), "run", "--path", str(index_dir / "chroma")]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    started = time.perf_counter()
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.perf_counter() - started > 300:
                    raise RuntimeError("chroma run did not start") from None
                time.sleep(0.2)
        server_start = time.perf_counter() - started
        warm = (
            "import sys, time, chromadb, numpy as np\n"
            "c = chromadb.HttpClient(host='127.0.0.1', port=int(sys.argv[1])).get_collection(sys.argv[2])\n"
            "t = time.perf_counter(); c.query(query_embeddings=[np.ones(int(sys.argv[3]), dtype=np.float32)],"
            " n_results=30); print(time.perf_counter() - t)\n"
        )
        warmed = subprocess.run(
            [sys.executable, "-c", warm, str(port), COLLECTION, str(dim)],
            capture_output=True,
            text=True,
            check=True,
            timeout=1800,
        )
        yield url, {"start_seconds": server_start, "first_query_seconds": float(warmed.stdout.split()[-1])}, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _server_memory(pid: int) -> dict[str, Any]:
    return {
        "rss_after": {field: proc_status_mb(field, pid) for field in ("VmRSS", "RssAnon", "RssFile")},
        "rss_peak_mb": proc_status_mb("VmHWM", pid),
    }


def stage_ours_server(args: dict[str, Any]) -> dict[str, Any]:
    """`stage_ours` with the vectors served by `chroma run` over the same index's Chroma directory: this
    process is the serving process of `stage_ours`, reaching the vectors over HTTP (ASSISTANT_CHROMA_URL)."""
    with _chroma_server(Path(args["index_dir"]), int(args["dim"])) as (url, started, pid):
        result = stage_ours({**args, "chroma_url": url})
        result["server"] = {**started, **_server_memory(pid)}
        return result


def stage_sync_server(args: dict[str, Any]) -> dict[str, Any]:
    """`stage_sync` with the vectors in a `chroma run` server over the index's Chroma directory, started
    and warmed before the first ingest: no ingest loads the graph, the server keeps it."""
    with _chroma_server(Path(args["index_dir"]), int(args["dim"])) as (url, started, pid):
        result = stage_sync({**args, "chroma_url": url})
        result["server"] = {**started, **_server_memory(pid)}
        return result


# ---------------------------------------------------------------------------------------------------
# Stage: ingests of the built index (worker process)
# ---------------------------------------------------------------------------------------------------
def stage_sync(args: dict[str, Any]) -> dict[str, Any]:
    """Two no-op ingests, then one after rewriting 1% of the articles (so 1% of the chunks)."""
    from ingest.embedding import SentenceTransformerEmbedder
    from ingest.settings import Settings
    from ingest.sync import sync

    n = int(args["n"])
    docs_dir = Path(args["docs_dir"])
    url = {"chroma_url": args["chroma_url"]} if args.get("chroma_url") else {}
    settings = Settings.from_env(
        {}, index_dir=Path(args["index_dir"]), docs_dir=docs_dir, embedding_model=args["model"], **url
    )
    loaded: list[tuple[TimedEmbedder, float, float]] = []  # each model loaded, and loading's wall and CPU seconds

    def factory(s: Settings) -> Any:
        start, cpu = time.perf_counter(), cpu_seconds()
        dim = int(args.get("dim", 384))
        corpus = args.get("sync_vectors", "model") == "corpus"
        vectors = (lambda texts: text_vectors(texts, dim)) if corpus else None
        embedder = TimedEmbedder(SentenceTransformerEmbedder(s.embedding_model, device="cpu"), vectors)
        loaded.append((embedder, time.perf_counter() - start, cpu_seconds() - cpu))
        return embedder

    result: dict[str, Any] = {
        "n": n,
        "files": n // ARTICLE_CHUNKS,
        "vectors": "server" if url else "embedded",
        "sync_vectors": args.get("sync_vectors", "model"),
    }
    for name in ("noop_1", "noop_2"):
        with _Profile(args.get("profile") if name == "noop_2" else None, f"sync-noop-{n}"):
            start, cpu = time.perf_counter(), cpu_seconds()
            report = sync(settings, embedder_factory=factory)
            seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        result[name] = {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "unchanged": len(report.unchanged),
            "changed": len(report.added) + len(report.updated) + len(report.removed),
            "model_loaded": bool(loaded),
            "load": load1(),
        }
    articles = n // ARTICLE_CHUNKS
    step = round(1 / CHANGED_SHARE)
    changed = list(range(0, articles, step))
    round_number = int(args.get("round", 1))
    for article in changed:
        text = article_body(changed_texts(article, round_number))
        (docs_dir / source_name(article)).write_text(text, encoding="utf-8")
    loaded.clear()
    with _Profile(args.get("profile"), f"sync-{n}"), _TimedChromaWrites() as chroma:
        start, cpu = time.perf_counter(), cpu_seconds()
        report = sync(settings, embedder_factory=factory)
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    embedder, loading, loading_cpu = loaded[0] if loaded else (None, 0.0, 0.0)
    embedding = embedder.embed_seconds if embedder else 0.0
    embedding_cpu = embedder.embed_cpu if embedder else 0.0
    result["changed"] = {
        "files": len(changed),
        "updated": len(report.updated),
        "embedded": report.embedded,
        "reused": report.reused,
        "kept": report.kept,
        "chunks": report.chunks,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "embedding_seconds": embedding,
        "model_load_seconds": loading,
        "token_counting_seconds": embedder.count_seconds if embedder else 0.0,
        "project_seconds": seconds - embedding - loading,
        "project_cpu_seconds": cpu - embedding_cpu - loading_cpu,
        "chroma_write_seconds": chroma.seconds,
        "round": round_number,
        "load": load1(),
        "rss_peak_mb": proc_status_mb("VmHWM"),
    }
    return result


class _TimedChromaWrites:
    """Wall seconds inside ChromaStore's writes (add, delete, and close, where a capped write is saved) and
    reads of stored vectors, while the block runs: Chroma's own work within a sync's project work."""

    NAMES = ("add", "delete", "embeddings", "close")

    def __init__(self) -> None:
        self.seconds = 0.0
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> _TimedChromaWrites:
        from ingest.chroma_store import ChromaStore

        for name in self.NAMES:
            original = getattr(ChromaStore, name)
            self._saved[name] = original

            def timed(*a: Any, _original: Any = original, **k: Any) -> Any:
                started = time.perf_counter()
                try:
                    return _original(*a, **k)
                finally:
                    self.seconds += time.perf_counter() - started

            setattr(ChromaStore, name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        from ingest.chroma_store import ChromaStore

        for name, original in self._saved.items():
            setattr(ChromaStore, name, original)


# ---------------------------------------------------------------------------------------------------
# Stage: a lexical-only index (worker process)
# ---------------------------------------------------------------------------------------------------
def stage_lexical(args: dict[str, Any]) -> dict[str, Any]:
    """Build a lexical generation of N chunks (no manifest, no vectors), then open it and time questions."""
    from ingest.lexical import LexicalDocument, encode_terms
    from ingest.tantivy_lexical import write_generation

    n, workers = int(args["n"]), int(args["workers"])
    root = Path(args["index_dir"]) / "lexical"
    timer = Timer()

    def documents() -> Iterator[LexicalDocument]:
        for start in range(0, n, BLOCK):
            texts = chunk_texts(start, min(n, start + BLOCK))
            ids, metadatas = chunk_layout(texts, start)
            fields = analyze_all(texts, workers)
            for chunk_id, meta, field in zip(ids, metadatas, fields, strict=True):
                yield LexicalDocument(chunk_id, str(meta["source"]), encode_terms(field))
            if (start // BLOCK) % 50 == 0:
                print(f"    lexical {start + len(texts)}/{n} (load {load1()})", file=sys.stderr, flush=True)

    record = timer.run(
        "analysis + tantivy (write_generation)", lambda: write_generation(root, 1, documents=documents())
    )
    result: dict[str, Any] = {"n": n, "build_peak_mb": proc_status_mb("VmHWM"), "disk_bytes": tree_bytes(root)}
    result["build"] = timer.seconds
    result["build_load"] = load1()
    return {**result, **_lexical_queries(root, record, n)}


def _lexical_queries(root: Path, record: Any, n: int) -> dict[str, Any]:
    """Open the generation and time 200 questions (in this process, after the build released its memory)."""
    from ingest.tantivy_lexical import TantivyLexicalIndex, check_generation

    gc.collect()
    result: dict[str, Any] = {"rss_before_open": memory()}
    start = time.perf_counter()
    problems = check_generation(root, record)
    index = TantivyLexicalIndex.open(root, record)
    result["open_seconds"] = time.perf_counter() - start
    result["open_problems"] = problems
    result["rss_open"] = memory()
    qs = questions(n, 8)
    start = time.perf_counter()
    index.search(qs[0].text, DEPTH)
    result["first_query_ms"] = (time.perf_counter() - start) * 1000
    for q in qs[1:WARMUP]:
        index.search(q.text, DEPTH)
    timings = []
    for q in qs:
        t0 = time.perf_counter()
        index.search(q.text, DEPTH)
        timings.append(time.perf_counter() - t0)
    result["search"] = percentiles(timings)
    result["search_load"] = load1()
    result["rss_after"] = memory()
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
    from ingest.layout import CHROMA_DIR

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
# Stage: query encoding, with the bundled model and a random model of bge-m3's shape (worker process)
# ---------------------------------------------------------------------------------------------------
def stage_encode(args: dict[str, Any]) -> dict[str, Any]:
    """Time what a question costs to encode, as `Retriever.retrieve` encodes it (one at a time).

    The bundled multilingual-e5-small is the real model (its vector and latent terms, through
    `query_with_terms`, the serving path). bge-m3 cannot be loaded without the model hub, so its row is a
    random-weight BERT of its shape (24 layers, hidden 1024): the cost of the arithmetic, not of its weights.
    """
    import torch
    from transformers import BertConfig, BertModel

    from ingest.embedding import SentenceTransformerEmbedder, query_with_terms
    from ingest.random_models import train_wordpiece

    torch.manual_seed(0)
    qs = [q.text for q in questions(10_000, 8)]  # 200 synthetic Arabic questions: 10 warm-up, 190 timed
    result: dict[str, Any] = {"torch": torch.__version__, "threads": torch.get_num_threads(), "models": {}}

    start = time.perf_counter()
    embedder = SentenceTransformerEmbedder("bundled")
    load_s = time.perf_counter() - start
    timings: list[float] = []
    for i, text in enumerate(qs):
        t0 = time.perf_counter()
        query_with_terms(embedder, text)
        if i >= 10:
            timings.append(time.perf_counter() - t0)
    tokens = embedder.count_tokens(qs[10:])
    result["models"]["bundled multilingual-e5-small (real weights, vector and latent terms)"] = {
        **percentiles(timings),
        "tokens": float(np.mean(tokens)),
        "questions": len(timings),
        "load_s": load_s,
        "load": load1(),
    }
    del embedder
    gc.collect()

    fast = train_wordpiece(chunk_texts(0, 5_000), 30_000, 512)
    config = BertConfig(
        vocab_size=fast.vocab_size,
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=4096,
        max_position_embeddings=512,
    )
    model = BertModel(config)
    model.train(False)
    timings, lengths = [], []
    with torch.inference_mode():
        for i, text in enumerate(qs[:40]):
            t0 = time.perf_counter()
            batch = fast([text], return_tensors="pt", truncation=True, max_length=512)
            hidden_states = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden_states.dtype)
            pooled = (hidden_states * mask).sum(1) / mask.sum(1)
            torch.nn.functional.normalize(pooled, dim=-1)
            if i >= 5:
                timings.append(time.perf_counter() - t0)
                lengths.append(int(batch["input_ids"].shape[1]))
    result["models"]["bge-m3 shape (random weights: 24 layers, hidden 1024)"] = {
        **percentiles(timings),
        "tokens": float(np.mean(lengths)),
        "questions": len(timings),
        "load": load1(),
    }
    return result


def stage_model(args: dict[str, Any]) -> dict[str, Any]:
    """A random-weight sentence-transformer for the sync stage: hidden 384 (the 1M point's vectors), 1 layer."""
    from ingest.random_models import Shape, build_sentence_transformer

    shape = Shape(vocab_size=8_000, hidden=384, layers=1, heads=4, intermediate=1536, max_positions=512)
    start = time.perf_counter()
    path = build_sentence_transformer(Path(args["directory"]), chunk_texts(0, 5_000), shape=shape)
    return {"path": str(path), "seconds": time.perf_counter() - start, "shape": asdict(shape)}


STAGES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "model": stage_model,
    "build": stage_build,
    "ours": stage_ours,
    "ours_server": stage_ours_server,
    "sync_server": stage_sync_server,
    "sync": stage_sync,
    "lexical": stage_lexical,
    "stock": stage_stock,
    "encode": stage_encode,
}


def run_stage(name: str, args: dict[str, Any], workdir: Path, timeout: float) -> dict[str, Any] | None:
    """Run one stage in a fresh Python process (`scale.py --stage`); its result, or None when it failed."""
    request = workdir / f"{name}-{args.get('n', 'x')}.request.json"
    answer = workdir / f"{name}-{args.get('n', 'x')}.result.json"
    request.write_text(json.dumps(args))
    answer.unlink(missing_ok=True)
    print(f"[{time.strftime('%H:%M:%S')}] stage {name} n={args.get('n')} (load {load1()})", file=sys.stderr, flush=True)
    try:
        completed = subprocess.run(
            [sys.executable, str(SCALE_SCRIPT), "--stage", name, "--request", str(request), "--result", str(answer)],
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
