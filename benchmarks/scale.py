"""Scale: latency, memory, disk, ingest and opening of the index against N chunks.

For each N (default 1k, 10k, 100k and 1M chunks), in increasing order, each stage in a fresh process
(`scale_stages.py`; the corpus is `scale_corpus.py`, the report `scale_report.py`):

1. build: N synthetic Arabic chunks in N/10 article files, then their index written with the
   project's classes block by block: the manifest (files with their hashes and stats, articles, chunks
   with their analyzed terms, passage vectors), the lexical generation (tantivy), the vectors in
   Chroma (unit vectors of `--dim` dimensions, the project's HNSW graph) and state.json. Each stage is
   timed; memory stays flat at any N.
2. ours: `Retriever.open` in a fresh process (query vectors precomputed: encoding is excluded), the
   first question, 10 warm-up questions, then 200 timed questions (`retrieve(k=5)`, then
   `extract_answer`), and each part of a retrieval timed on its own; RSS after opening and after.
   For `--server-sizes`, the same again with the vectors in a `chroma run` server over the index's
   Chroma directory (started and warmed by one query first; its own memory is reported beside).
3. sync (for `--sync-sizes`): two no-op ingests through `ingest.sync.sync`, then one after rewriting
   1% of the article files, with a random-weight BERT of hidden size 384 whose encoding and loading
   time are measured and subtracted (the target is the project's own work). With `--sync-server`, the
   ingests reach the vectors in a `chroma run` server over the index's Chroma directory instead.
4. stock (for N up to `--stock-max`): LangChain's `EnsembleRetriever(BM25Retriever, Chroma)` on the
   same chunks and vectors (see `stage_stock`).
5. lexical (for `--lexical-sizes`): a lexical-only index of N chunks: build, disk, RSS, search.
6. encode (unless `--no-encode`): query encoding with the bundled model, as a question is encoded.

Every timing is wall-clock on a shared machine: the 1-minute load average is recorded beside each.
Command (from the repository root, with the project virtualenv and `pip install -e '.[bench]'`; run it
under `flock /tmp/heavy.lock` on a shared machine):

    python benchmarks/scale.py --sizes 1000,10000,100000,1000000 --lexical-sizes 10000000 --out docs/benchmarks.md

--out replaces the part of the file between `<!-- scale:start -->` and `<!-- scale:end -->` after every
stage; the raw results go to `--json` (default `<workdir>/results.json`), and `--render-only FILE`
rewrites the report from such a file.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from scale_corpus import vocabulary  # noqa: E402
from scale_report import target_lines, write_report  # noqa: E402
from scale_stages import STAGES, run_stage, tree_bytes  # noqa: E402

DEFAULT_SIZES = (1_000, 10_000, 100_000, 1_000_000)


def machine() -> dict[str, Any]:
    """CPU, cores, memory and the versions of what the numbers depend on."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    mem = next(
        int(line.split()[1]) * 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    packages = {}
    for name in ("chromadb", "tantivy", "numpy", "torch", "transformers", "langchain-core", "rank-bm25"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = "absent"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem / 2**30, 1),
        "python": platform.python_version(),
        "packages": packages,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    parser.add_argument("--sync-sizes", default="100000,1000000", help="sizes whose ingests are measured")
    parser.add_argument(
        "--server-sizes", default="", help="sizes also served with the vectors in a `chroma run` server"
    )
    parser.add_argument("--lexical-sizes", default="", help="sizes of lexical-only indexes (e.g. 10000000)")
    parser.add_argument("--stock-max", type=int, default=100_000, help="largest N the stock pipeline runs at")
    parser.add_argument("--stock-budget-s", type=float, default=240.0, help="time for stock queries per size")
    parser.add_argument(
        "--encode", action=argparse.BooleanOptionalAction, default=True, help="time query encoding (bundled model)"
    )
    parser.add_argument("--dim", type=int, default=384, help="vector dimension (384: multilingual-e5-small's)")
    parser.add_argument("--hnsw", choices=("project", "chroma-default"), default="project")
    parser.add_argument("--workers", type=int, default=2, help="processes for the analysis")
    parser.add_argument("--out", type=Path, default=None, help="markdown report (section between scale markers)")
    parser.add_argument("--json", type=Path, default=None, help="raw results (default <workdir>/results.json)")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch directory (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep each index after measuring it")
    parser.add_argument("--stage-timeout-s", type=float, default=7200.0)
    parser.add_argument("--profile", default=None, help="directory for pyinstrument profiles of the stages")
    parser.add_argument(
        "--sync-server",
        action="store_true",
        help="the ingests reach the vectors in a `chroma run` server over the index's Chroma directory, started "
        "and warmed before the first (embedded by default)",
    )
    parser.add_argument(
        "--sync-vectors",
        choices=("corpus", "model"),
        default="corpus",
        help="what the 1%% sync stores for the chunks it embeds: vectors of the corpus's mixture (like the graph's) "
        "or the random model's own, nearly parallel ones (before 2026-12-03 evening); the model runs either way",
    )
    parser.add_argument(
        "--resync",
        type=int,
        default=0,
        metavar="ROUND",
        help="on a --workdir kept by an earlier run: only the sync stage of --sync-sizes, the same 1%% of the "
        "articles rewritten with their ROUND-th new text (2, 3, ...)",
    )
    parser.add_argument("--render-only", type=Path, default=None, help="rewrite the report from a results file")
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--request", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)

    if options.stage:
        output = STAGES[options.stage](json.loads(options.request.read_text()))
        options.result.write_text(json.dumps(output))
        return 0
    if options.render_only:
        write_report(json.loads(options.render_only.read_text()), options.out)
        return 0

    def parse(text: str) -> list[int]:
        return sorted(int(s.replace("_", "")) for s in text.split(",") if s.strip())

    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="scale-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    json_path = options.json or workdir / "results.json"
    vocab = vocabulary()
    results: dict[str, Any] = {
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": "python benchmarks/scale.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(),
        "load_start": list(os.getloadavg()),
        "corpus": {"documents": vocab.documents, "tokens": vocab.tokens, "types": len(vocab.words)},
        "settings": {"dim": options.dim, "hnsw": options.hnsw, "workers": options.workers},
        "sizes": {},
        "lexical_only": {},
    }
    begin = time.perf_counter()

    def save() -> None:
        results["elapsed_min"] = (time.perf_counter() - begin) / 60
        json_path.write_text(json.dumps(results, indent=1))
        write_report(results, options.out)

    model = run_stage("model", {"n": "model", "directory": str(workdir / "bench-model")}, workdir, 600)
    if not model or "error" in model:
        print("could not build the random model", file=sys.stderr)
        return 1
    results["model"] = model
    sync_sizes = set(parse(options.sync_sizes))
    server_sizes = set(parse(options.server_sizes))
    sync_stage = "sync_server" if options.sync_server else "sync"
    if options.resync:
        for n in parse(options.sync_sizes):
            common = {
                "n": n,
                "dim": options.dim,
                "index_dir": str(workdir / f"index-{n}"),
                "docs_dir": str(workdir / f"docs-{n}"),
            }
            if not (workdir / f"index-{n}").is_dir():
                print(f"--resync: {workdir}/index-{n} does not exist (run once with --keep)", file=sys.stderr)
                return 1
            sync_args = {
                **common,
                "model": model["path"],
                "round": options.resync,
                "profile": options.profile,
                "sync_vectors": options.sync_vectors,
            }
            sync = run_stage(sync_stage, sync_args, workdir, options.stage_timeout_s)
            results["sizes"][str(n)] = {"n": n, "sync": sync}
            save()
        results["load_end"] = list(os.getloadavg())
        save()
        return 0
    for n in parse(options.sizes):
        entry: dict[str, Any] = {"n": n, "dim": options.dim, "hnsw": options.hnsw}
        results["sizes"][str(n)] = entry
        index_dir, docs_dir = workdir / f"index-{n}", workdir / f"docs-{n}"
        for path in (index_dir, docs_dir):
            shutil.rmtree(path, ignore_errors=True)
        common = {
            "n": n,
            "dim": options.dim,
            "index_dir": str(index_dir),
            "docs_dir": str(docs_dir),
            "model": model["path"],
        }
        ids_file = workdir / f"ids-{n}.json"
        build = run_stage(
            "build",
            {
                **common,
                "hnsw": options.hnsw,
                "workers": options.workers,
                "ids_file": str(ids_file),
                "profile": options.profile,
            },
            workdir,
            options.stage_timeout_s,
        )
        entry["build"] = build
        if build and "error" not in build:
            entry["disk"] = {
                "chroma": tree_bytes(index_dir / "chroma"),
                "lexical": tree_bytes(index_dir / "lexical"),
                "manifest": sum(tree_bytes(p) for p in index_dir.glob("manifest.sqlite3*")),
                "documents": tree_bytes(docs_dir),
            }
        save()
        if not build or "error" in build:
            break
        ids_of = json.loads(ids_file.read_text(encoding="utf-8"))
        entry["ours"] = run_stage(
            "ours", {**common, "ids_of": ids_of, "profile": options.profile}, workdir, options.stage_timeout_s
        )
        save()
        if n in server_sizes:
            entry["ours_server"] = run_stage(
                "ours_server", {**common, "ids_of": ids_of}, workdir, options.stage_timeout_s
            )
            save()
        if n in sync_sizes:
            sync_args = {**common, "profile": options.profile, "sync_vectors": options.sync_vectors}
            entry["sync"] = run_stage(sync_stage, sync_args, workdir, options.stage_timeout_s)
            save()
        if n <= options.stock_max:
            stock_args = {**common, "budget_s": options.stock_budget_s, "max_questions": 200, "bm25_only": False}
            entry["stock"] = run_stage("stock", stock_args, workdir, options.stage_timeout_s)
            save()
        if not options.keep:
            shutil.rmtree(index_dir, ignore_errors=True)
            shutil.rmtree(docs_dir, ignore_errors=True)
    for n in parse(options.lexical_sizes):
        index_dir = workdir / f"lexical-{n}"
        shutil.rmtree(index_dir, ignore_errors=True)
        results["lexical_only"][str(n)] = run_stage(
            "lexical",
            {"n": n, "index_dir": str(index_dir), "workers": options.workers},
            workdir,
            options.stage_timeout_s,
        )
        save()
        if not options.keep:
            shutil.rmtree(index_dir, ignore_errors=True)
    if options.encode:
        results["encode"] = run_stage("encode", {"n": "encode"}, workdir, options.stage_timeout_s)
        save()
    results["load_end"] = list(os.getloadavg())
    save()
    print(f"results: {json_path}", file=sys.stderr)
    for line in target_lines(results):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
