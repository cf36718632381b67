"""Choose the lexical engine by measurement: tantivy, SQLite FTS5 and a segmented bm25s, on one analyzer.

All three index the same terms (`ingest.analysis` through `analyze_fields`: stemmed words and character
3-grams, two fields) and score BM25 (k1=1.2, b=0.75) with each field divided by its best score, summed:

* tantivy: the project's adapter (`ingest.tantivy_lexical`): segments, deletes and merges in tantivy,
  candidates from the words and the 4 rarest 3-grams scored exactly on both fields.
* fts5: one SQLite FTS5 table per field (the unicode61 tokenizer splits only at the spaces between the
  terms), a table of chunk ids; each field's best 100 by `bm25()`, fused. Deletes and adds are SQL.
* bm25s: bm25s 0.3 (the engine the project used), one index per field and per segment: an update
  adds a segment of the new chunks and marks removed ones; each segment keeps its own statistics.

Quality: ARCD-test and XQuAD-ar question -> paragraph retrieval (Recall@1/5/10, MRR@10, as
`assistant eval` computes them), each engine on one segment, and the segmented engines again after
an update that added the last 10% of the paragraphs as a second segment. Scale: N synthetic chunks
(`scale_corpus`), each engine in its own process: build, apply a change of 1% of N (removed and as
many added), open the result in a fresh process, the first question, 200 timed questions (top 30),
resident memory, disk.

Command (from the repository root; about 15 minutes on 2 cores at 100k chunks, an hour more with 1000000 in
--sizes; run it under `flock /tmp/heavy.lock` on a shared machine):

    python benchmarks/lexical_engines.py --sizes 100000 --out docs/lexical.md

--out replaces the part of the file between the engines markers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # this worktree's packages, before the helpers below import them

from reporting import publish  # noqa: E402
from scale_corpus import BLOCK, chunk_layout, chunk_texts, questions  # noqa: E402
from scale_stages import analyze_all, load1, memory, percentiles, tree_bytes  # noqa: E402

from assistant.evaluation import load_eval_set, paragraph_file, rank_metrics  # noqa: E402
from ingest.lexical import FIELDS, LexicalChange, LexicalDocument, analyze_fields, encode_terms  # noqa: E402

EVAL_DIR = REPO_ROOT.parent / "shared" / "eval"
DATASETS = {"arcd-test": EVAL_DIR / "arcd" / "arcd-test.json", "xquad.ar": EVAL_DIR / "xquad" / "xquad.ar.json"}
MARKER = "engines"
DEPTH = 30
FIELD_DEPTH = 100
"""Per-field candidates of the FTS5 engine before fusion."""
QUESTION_BUDGET_S = 120.0
"""At most this long for the timed questions of one engine at one N (at least 20 questions)."""


class Engine(Protocol):
    """What each candidate offers: build, apply a change, open, search."""

    name: str

    def build(self, documents: Iterable[LexicalDocument]) -> None: ...

    def apply(self, change: LexicalChange) -> None: ...

    def open(self) -> None: ...

    def search(self, query: str, k: int) -> list[str]: ...


# ---------------------------------------------------------------------------------------------------
# The engines
# ---------------------------------------------------------------------------------------------------
class Tantivy:
    """The project's engine (ingest.tantivy_lexical)."""

    name = "tantivy"

    def __init__(self, root: Path, params: Any = None) -> None:
        self.root = root
        self.params = params
        self.generation = 0
        self.record: Any = None
        self.index: Any = None

    def build(self, documents: Iterable[LexicalDocument]) -> None:
        from ingest.tantivy_lexical import write_generation

        self.generation = 1
        self.record = write_generation(self.root, 1, documents=documents)
        self._save()

    def apply(self, change: LexicalChange) -> None:
        from ingest.tantivy_lexical import read_record, remove_generations, write_generation

        record = read_record(self.root, (self.root / "LIVE").read_text())
        self.record = write_generation(self.root, record.generation + 1, base=record, change=change)
        remove_generations(self.root, keep={self.record.name})
        self._save()

    def open(self) -> None:
        from ingest.tantivy_lexical import TantivyLexicalIndex, check_generation, read_record

        self.record = read_record(self.root, (self.root / "LIVE").read_text())
        assert not check_generation(self.root, self.record)
        if self.params is None:
            self.index = TantivyLexicalIndex.open(self.root, self.record)
        else:
            self.index = TantivyLexicalIndex.open(self.root, self.record, self.params)

    def search(self, query: str, k: int) -> list[str]:
        return [hit.chunk_id for hit in self.index.search(query, k)]

    def _save(self) -> None:
        (self.root / "LIVE").write_text(self.record.name)


class Fts5:
    """SQLite FTS5, one table per field."""

    name = "fts5"

    def __init__(self, root: Path) -> None:
        self.path = root / "fts.sqlite3"
        self.db: sqlite3.Connection | None = None

    def build(self, documents: Iterable[LexicalDocument]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE ids (rowid INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE NOT NULL, source TEXT NOT NULL)")
        for field in FIELDS:
            db.execute(f"CREATE VIRTUAL TABLE {field} USING fts5(terms, tokenize='unicode61 remove_diacritics 0')")
        with db:
            self._insert(db, documents)
        db.close()

    def apply(self, change: LexicalChange) -> None:
        db = sqlite3.connect(self.path)
        with db:  # one transaction: it could be the manifest's own
            for chunk_id in change.removed:
                row = db.execute("SELECT rowid FROM ids WHERE chunk_id = ?", (chunk_id,)).fetchone()
                if row:
                    for field in ("ids", *FIELDS):
                        db.execute(f"DELETE FROM {field} WHERE rowid = ?", row)
            self._insert(db, change.added)
        db.close()

    def open(self) -> None:
        self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)

    def search(self, query: str, k: int) -> list[str]:
        assert self.db is not None
        fused: dict[int, float] = {}
        for field, terms in analyze_fields(query).items():
            if not terms:
                continue
            match = " OR ".join(f'"{term}"' for term in terms)
            rows = self.db.execute(
                f"SELECT rowid, -bm25({field}) AS score FROM {field} WHERE {field} MATCH ? ORDER BY rank LIMIT ?",
                (match, FIELD_DEPTH),
            ).fetchall()
            best = rows[0][1] if rows else 0.0
            if best <= 0:
                continue
            for rowid, score in rows:
                fused[rowid] = fused.get(rowid, 0.0) + score / best
        top = sorted(fused.items(), key=lambda pair: -pair[1])[:k]
        if not top:
            return []
        marks = ",".join("?" * len(top))
        ids = dict(self.db.execute(f"SELECT rowid, chunk_id FROM ids WHERE rowid IN ({marks})", [r for r, _ in top]))
        return [ids[rowid] for rowid, _ in top]

    @staticmethod
    def _insert(db: sqlite3.Connection, documents: Iterable[LexicalDocument]) -> None:
        for document in documents:
            cursor = db.execute(
                "INSERT INTO ids (chunk_id, source) VALUES (?, ?)", (document.chunk_id, document.source)
            )
            rowid = cursor.lastrowid
            for field, terms in zip(FIELDS, document.terms.split("\t"), strict=False):
                db.execute(f"INSERT INTO {field} (rowid, terms) VALUES (?, ?)", (rowid, terms))


class SegmentedBm25s:
    """bm25s in segments: an update is a new segment of the added chunks plus tombstones of the removed."""

    name = "bm25s (segmented)"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.segments: list[tuple[dict[str, Any], np.ndarray, np.ndarray]] = []

    def build(self, documents: Iterable[LexicalDocument]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._write_segment(0, list(documents))
        (self.root / "deleted.json").write_text("[]")

    def apply(self, change: LexicalChange) -> None:
        count = len([p for p in self.root.iterdir() if p.name.startswith("segment-")])
        self._write_segment(count, list(change.added))
        deleted = set(json.loads((self.root / "deleted.json").read_text()))
        deleted.update(change.removed)
        (self.root / "deleted.json").write_text(json.dumps(sorted(deleted)))

    def open(self) -> None:
        import bm25s

        deleted = set(json.loads((self.root / "deleted.json").read_text()))
        self.segments = []
        for directory in sorted(p for p in self.root.iterdir() if p.name.startswith("segment-")):
            ids = np.array(json.loads((directory / "ids.json").read_text()), dtype=object)
            alive = np.array([i not in deleted for i in ids], dtype=bool)
            retrievers = {
                field: bm25s.BM25.load(str(directory / field), mmap=True, show_progress=False)
                for field in FIELDS
                if (directory / field).is_dir()
            }
            self.segments.append((retrievers, ids, alive))

    def search(self, query: str, k: int) -> list[str]:
        fields = analyze_fields(query)
        per_field: dict[str, list[np.ndarray]] = {field: [] for field in FIELDS}
        for retrievers, ids, _ in self.segments:
            for field in FIELDS:
                retriever = retrievers.get(field)
                vocab = retriever.vocab_dict if retriever is not None else {}
                tokens = [vocab[t] for t in fields.get(field, []) if t in vocab]
                scores = np.zeros(len(ids), np.float32)
                if tokens and retriever is not None:
                    scores = np.asarray(retriever.get_scores(tokens), np.float32)
                per_field[field].append(scores)
        total = np.concatenate([np.zeros(len(ids), np.float32) for _, ids, _ in self.segments])
        for field in FIELDS:
            scores = np.concatenate(per_field[field])
            best = float(scores.max()) if scores.size else 0.0
            if best > 0:
                total += scores / best
        total *= np.concatenate([alive for _, _, alive in self.segments])
        every = np.concatenate([ids for _, ids, _ in self.segments])
        k = min(k, len(total))
        top = np.argpartition(-total, k - 1)[:k]
        ranked = top[np.argsort(-total[top], kind="stable")]
        return [str(every[i]) for i in ranked if total[i] > 0]

    def _write_segment(self, number: int, documents: list[LexicalDocument]) -> None:
        import logging

        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        directory = self.root / f"segment-{number:04d}"
        directory.mkdir()
        (directory / "ids.json").write_text(json.dumps([d.chunk_id for d in documents]))
        for position, field in enumerate(FIELDS):
            retriever = bm25s.BM25(k1=1.2, b=0.75)
            corpus = [_field_terms(d.terms, position) for d in documents]
            retriever.index(corpus, show_progress=False)
            retriever.save(str(directory / field), show_progress=False)


def _field_terms(encoded: str, position: int) -> list[str]:
    parts = encoded.split("\t")
    return parts[position].split() if position < len(parts) else []


ENGINES: dict[str, type[Tantivy] | type[Fts5] | type[SegmentedBm25s]] = {
    "tantivy": Tantivy,
    "fts5": Fts5,
    "bm25s": SegmentedBm25s,
}


# ---------------------------------------------------------------------------------------------------
# Quality
# ---------------------------------------------------------------------------------------------------
def quality(workdir: Path) -> list[dict[str, Any]]:
    """MRR@10 and recalls of every engine on both datasets, one segment and (segmented ones) two."""
    rows = []
    for name, path in DATASETS.items():
        eval_set = load_eval_set(path)
        documents = [
            LexicalDocument(paragraph_file(i), paragraph_file(i), encode_terms(analyze_fields(text)))
            for i, text in enumerate(eval_set.paragraphs)
        ]
        items = [item for item in eval_set.items if item.relevant]
        split = len(documents) - len(documents) // 10
        for engine_class in ENGINES.values():
            for layout in ("one segment", "90% + an update of 10%"):
                root = Path(tempfile.mkdtemp(dir=workdir))
                engine = engine_class(root)
                if layout == "one segment":
                    engine.build(documents)
                else:
                    engine.build(documents[:split])
                    engine.apply(LexicalChange(tuple(documents[split:]), ()))
                engine.open()
                ranked = [engine.search(item.question, 10) for item in items]
                metrics = rank_metrics(ranked, [item.relevant or () for item in items])
                rows.append({"dataset": name, "engine": engine.name, "layout": layout, **metrics})
                shutil.rmtree(root, ignore_errors=True)
    return rows


CANDIDATE_GRID = ((10, 2), (10, 4), (30, 2), (30, 3), (30, 4), (30, 8), (100, 16), (100_000, 100_000))
"""(candidates per query, rarest 3-grams that choose them) tried; the last scores every chunk of both sets."""


def candidate_depth(workdir: Path) -> list[dict[str, Any]]:
    """MRR@10 of the tantivy engine as its candidate depth and rare 3-grams vary (the default is 30, 4)."""
    from ingest.lexical import LexicalParams

    rows = []
    for name, path in DATASETS.items():
        eval_set = load_eval_set(path)
        documents = [
            LexicalDocument(paragraph_file(i), paragraph_file(i), encode_terms(analyze_fields(text)))
            for i, text in enumerate(eval_set.paragraphs)
        ]
        items = [item for item in eval_set.items if item.relevant]
        root = Path(tempfile.mkdtemp(dir=workdir))
        Tantivy(root).build(documents)
        for candidates, rare in CANDIDATE_GRID:
            engine = Tantivy(root, LexicalParams(candidates=candidates, rare_grams=rare))
            engine.open()
            ranked = [engine.search(item.question, 10) for item in items]
            metrics = rank_metrics(ranked, [item.relevant or () for item in items])
            rows.append({"dataset": name, "candidates": candidates, "rare_grams": rare, **metrics})
        shutil.rmtree(root, ignore_errors=True)
    return rows


# ---------------------------------------------------------------------------------------------------
# Scale (each engine and N in its own process)
# ---------------------------------------------------------------------------------------------------
def cached_terms(workdir: Path, n: int, workers: int) -> Path:
    """A SQLite file of (id, source, terms) of the first n + n/100 synthetic chunks, analyzed once for all engines."""
    path = workdir / "terms.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE IF NOT EXISTS t (i INTEGER PRIMARY KEY, id TEXT, source TEXT, terms TEXT)")
    have = int(db.execute("SELECT COUNT(*) FROM t").fetchone()[0])
    wanted = n + n // 100
    for start in range(have - have % BLOCK, wanted, BLOCK):
        texts = chunk_texts(start, min(wanted, start + BLOCK))
        ids, metadatas = chunk_layout(texts, start)
        fields = analyze_all(texts, workers)
        db.executemany(
            "INSERT OR REPLACE INTO t VALUES (?, ?, ?, ?)",
            [(start + j, ids[j], str(metadatas[j]["source"]), encode_terms(f)) for j, f in enumerate(fields)],
        )
        db.commit()
        print(f"  analyzed {start + len(texts):,}/{wanted:,} (load {load1()})", file=sys.stderr, flush=True)
    db.close()
    return path


def _documents(path: Path, first: int, stop: int) -> Iterator[LexicalDocument]:
    db = sqlite3.connect(path)
    try:
        for chunk_id, source, terms in db.execute(
            "SELECT id, source, terms FROM t WHERE i >= ? AND i < ? ORDER BY i", (first, stop)
        ):
            yield LexicalDocument(chunk_id, source, terms)
    finally:
        db.close()


def measure_build(engine_key: str, n: int, root: Path, terms: Path) -> dict[str, Any]:
    """Build N chunks, then apply a change of 1% (removed) and 1% (added)."""
    engine = ENGINES[engine_key](root)
    start = time.perf_counter()
    engine.build(_documents(terms, 0, n))
    build = time.perf_counter() - start
    build_load = load1()
    db = sqlite3.connect(terms)
    removed = tuple(row[0] for row in db.execute("SELECT id FROM t WHERE i < ? AND i % 100 = 0", (n,)))
    db.close()
    added = tuple(_documents(terms, n, n + n // 100))
    start = time.perf_counter()
    engine.apply(LexicalChange(added, removed))
    apply = time.perf_counter() - start
    return {
        "build_seconds": build,
        "build_load": build_load,
        "apply_seconds": apply,
        "apply_load": load1(),
        "changed": len(removed) + len(added),
        "build_peak_mb": _peak(),
        "disk_bytes": tree_bytes(root),
    }


def measure_queries(engine_key: str, n: int, root: Path) -> dict[str, Any]:
    """Open in this fresh process, the first question, then up to 200 timed questions."""
    engine = ENGINES[engine_key](root)
    before = memory()
    start = time.perf_counter()
    engine.open()
    opened = time.perf_counter() - start
    after_open = memory()
    qs = questions(n, 8)
    start = time.perf_counter()
    engine.search(qs[0].text, DEPTH)
    first = (time.perf_counter() - start) * 1000
    timings: list[float] = []
    spent = 0.0
    for q in qs:
        t0 = time.perf_counter()
        engine.search(q.text, DEPTH)
        timings.append(time.perf_counter() - t0)
        spent += timings[-1]
        if spent > QUESTION_BUDGET_S and len(timings) >= 20:
            break
    return {
        "open_seconds": opened,
        "first_query_ms": first,
        "search": percentiles(timings),
        "search_load": load1(),
        "rss_before": before,
        "rss_open": after_open,
        "rss_after": memory(),
    }


def _peak() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


def run_child(mode: str, engine: str, n: int, root: Path, terms: Path) -> dict[str, Any]:
    """One measurement in a fresh process (so open time and memory are a serving process's own)."""
    command = [sys.executable, __file__, "--child", mode, "--engine", engine, "--n", str(n), "--root", str(root)]
    completed = subprocess.run([*command, "--terms", str(terms)], capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        return {"error": completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else "failed"}
    loaded: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return loaded


# ---------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------
def render(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    out = [
        "Command (from the repository root; run started "
        + results["started"]
        + f", took {results['minutes']:.0f} min):",
        "",
        "```bash",
        results["command"],
        "```",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, shared with other jobs (1-minute load average "
        f"{results['load'][0]:.1f} at the start, {results['load'][1]:.1f} at the end; each timing has its own).",
        f"Versions: tantivy {m['tantivy']}, SQLite {m['sqlite']}, bm25s {m['bm25s']}, numpy {m['numpy']}.",
        "",
        "Quality (question -> paragraph, `rank_metrics` of `assistant eval`; one segment, and after an update that "
        "added the last 10% of the paragraphs):",
        "",
        "| dataset | engine | index | R@1 | R@5 | R@10 | MRR@10 |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for row in results["quality"]:
        out.append(
            f"| {row['dataset']} | {row['engine']} | {row['layout']} | {row['recall_at_1']:.3f} | "
            f"{row['recall_at_5']:.3f} | {row['recall_at_10']:.3f} | **{row['mrr_at_10']:.4f}** |"
        )
    out += [
        "",
        "The tantivy engine's candidates (per query, from the words and from the rarest 3-grams) against scoring "
        "every chunk (the last row):",
        "",
        "| dataset | candidates | rarest 3-grams | R@1 | R@10 | MRR@10 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in results.get("candidate_depth", []):
        every = row["candidates"] >= 100_000
        out.append(
            f"| {row['dataset']} | {'all' if every else row['candidates']} | {'all' if every else row['rare_grams']} "
            f"| {row['recall_at_1']:.3f} | {row['recall_at_10']:.3f} | **{row['mrr_at_10']:.4f}** |"
        )
    out += [
        "",
        "Scale (synthetic chunks of `benchmarks/scale_corpus.py`; build in one process, then a change of 1% removed "
        "and 1% added applied; open and questions, top 30, in a fresh process; RSS in MB: total / anonymous / "
        "mapped files):",
        "",
        "| N | engine | build (s) | apply 1% (s) | disk (MB) | B/chunk | open (s) | first (ms) | search p50 / p95 (ms) "
        "| questions | RSS after questions | load (build / search) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|---|",
    ]
    for key in sorted(results["scale"], key=lambda k: (int(k.split("/")[0]), k)):
        row = results["scale"][key]
        n, engine = key.split("/", 1)
        b, q = row.get("build", {}), row.get("queries", {})
        if "error" in b or "error" in q:
            out.append(f"| {int(n):,} | {engine} | {b.get('error', '')} {q.get('error', '')} |")
            continue
        rss = q["rss_after"]
        out.append(
            f"| {int(n):,} | {engine} | {b['build_seconds']:.0f} | {b['apply_seconds']:.1f} | "
            f"{b['disk_bytes'] / 1e6:,.0f} | {b['disk_bytes'] / int(n):,.0f} | {q['open_seconds']:.2f} | "
            f"{q['first_query_ms']:.0f} | {q['search']['p50']:.1f} / {q['search']['p95']:.1f} | "
            f"{q['search']['count']} | {rss['VmRSS']:,.0f} / {rss['RssAnon']:,.0f} / {rss['RssFile']:,.0f} | "
            f"{b['build_load']:.1f} / {q['search_load']:.1f} |"
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", choices=("build", "queries"), help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--terms", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.child:
        if options.child == "build":
            result = measure_build(options.engine, options.n, options.root, options.terms)
        else:
            result = measure_queries(options.engine, options.n, options.root)
        print(json.dumps(result))
        return 0

    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="lexical-engines-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started, begin, load_start = datetime.now().astimezone().isoformat(timespec="seconds"), time.time(), load1()
    results: dict[str, Any] = {
        "started": started,
        "command": "python benchmarks/lexical_engines.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": {
            "cpu": next(
                (
                    line.split(":", 1)[1].strip()
                    for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if "model name" in line
                ),
                "",
            ),
            "cores": os.cpu_count(),
            "tantivy": version("tantivy"),
            "sqlite": sqlite3.sqlite_version,
            "bm25s": version("bm25s"),
            "numpy": version("numpy"),
        },
        "quality": quality(workdir),
        "candidate_depth": candidate_depth(workdir),
        "scale": {},
    }
    engines = [e for e in options.engines.split(",") if e]
    for n in sorted(int(s) for s in options.sizes.split(",") if s):
        terms = cached_terms(workdir, n, options.workers)
        for engine in engines:
            root = workdir / f"{engine}-{n}"
            shutil.rmtree(root, ignore_errors=True)
            print(f"[{time.strftime('%H:%M:%S')}] {engine} at {n:,} (load {load1()})", file=sys.stderr, flush=True)
            build = run_child("build", engine, n, root, terms)
            queries = run_child("queries", engine, n, root, terms) if "error" not in build else {"error": "not built"}
            results["scale"][f"{n}/{ENGINES[engine].name}"] = {"build": build, "queries": queries}
            shutil.rmtree(root, ignore_errors=True)
            results["minutes"], results["load"] = (time.time() - begin) / 60, [load_start, load1()]
            (workdir / "results.json").write_text(json.dumps(results, indent=1))
    results["minutes"], results["load"] = (time.time() - begin) / 60, [load_start, load1()]
    (workdir / "results.json").write_text(json.dumps(results, indent=1))
    publish(render(results), options.out, MARKER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
