"""The report of the scale benchmark: the targets, then one table per measurement, from the results JSON."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from scale_corpus import CENTRES, CHUNK_WORDS

MARKER = "scale"
SECTION_TITLE = "## Scale: latency, memory, disk against N"
SPEEDUP_TARGET = "at least 20x faster than stock EnsembleRetriever at 100k (p50 and p95 ratios)"
MILLION = "1000000"


def ok(part: Any) -> bool:
    """True for a stage result that completed."""
    return isinstance(part, dict) and "error" not in part and "skipped" not in part


def _chroma_seconds(changed: dict[str, Any]) -> str:
    """Seconds inside ChromaStore's writes and vector reads (not recorded before they were timed)."""
    seconds = changed.get("chroma_write_seconds")
    return "-" if seconds is None else f"{seconds:.1f}"


def _vectors(sync: dict[str, Any]) -> str:
    """Where the ingest's vectors were (in this process, embedded, or a `chroma run` server: `--sync-server`),
    and which it stored: the random model's own (runs before `--sync-vectors`) or the corpus's mixture."""
    where = str(sync.get("vectors", "embedded"))
    return f"{where}, corpus vectors" if sync.get("sync_vectors") == "corpus" else f"{where}, model's vectors"


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, holds); holds is None when it was not measured."""
    sizes = results.get("sizes", {})
    rows: list[tuple[str, str, bool | None]] = []
    million = sizes.get(MILLION, {})
    ours, sync = million.get("ours"), million.get("sync")

    def add(name: str, measured: str | None, holds: bool | None) -> None:
        rows.append((name, measured if measured is not None else "not measured", holds))

    if ok(sync):
        c = sync["changed"]
        add(
            "a sync that changes 1% of chunks at 1M costs <= 10 s of project work, embedding excluded",
            f"{c['project_seconds']:.1f} s{_cpu(c, 'project_cpu_seconds')} ({c['seconds']:.1f} s in all, "
            f"{c['embedding_seconds']:.1f} s encoding, {c['model_load_seconds']:.1f} s loading the model; "
            f"vectors {_vectors(sync)}; load {c['load']:.1f})",
            c["project_seconds"] <= 10,
        )
    else:
        add("a sync that changes 1% of chunks at 1M costs <= 10 s of project work, embedding excluded", None, None)
    if ok(ours):
        add(
            "open <= 2 s at 1M",
            f"{ours['open_seconds']:.2f} s{_cpu(ours, 'open_cpu_seconds')}",
            ours["open_seconds"] <= 2,
        )
        first = ours["first_query_ms"]
        cpu = ours.get("first_query_cpu_ms")
        add(
            "first question <= 1 s after open at 1M",
            f"{first:.0f} ms" + ("" if cpu is None else f" (CPU {cpu:.0f} ms)") + f"; load {ours['load'][0]:.1f}",
            first <= 1000,
        )
        rss = ours["rss_after"]
        add(
            "serving RSS <= 2 GB at 1M",
            f"{rss['VmRSS'] / 1000:.2f} GB ({rss['RssAnon'] / 1000:.2f} GB anonymous, {rss['RssFile'] / 1000:.2f} GB "
            "mapped files)",
            rss["VmRSS"] <= 2000,
        )
        lexical = ours["components"]["lexical search (tantivy, top 30)"]
        add(
            "lexical search p95 <= 15 ms at 1M",
            f"{lexical['p95']:.1f} ms (p50 {lexical['p50']:.1f}; load {ours['load'][-1]:.1f})",
            lexical["p95"] <= 15,
        )
    else:
        for name in ("open <= 2 s at 1M", "first question <= 1 s after open at 1M", "serving RSS <= 2 GB at 1M"):
            add(name, None, None)
        add("lexical search p95 <= 15 ms at 1M", None, None)
    served = million.get("ours_server")
    if ok(served):
        server = served["server"]
        add(
            "first question <= 1 s after open at 1M, vectors in a `chroma run` server",
            f"{served['first_query_ms']:.0f} ms; load {served['load'][0]:.1f} (the server's own first query, once "
            f"per server start: {server['first_query_seconds']:.1f} s)",
            served["first_query_ms"] <= 1000,
        )
        rss = served["rss_after"]
        add(
            "serving RSS <= 2 GB at 1M, vectors in a `chroma run` server",
            f"{rss['VmRSS'] / 1000:.2f} GB (the server beside it: {server['rss_after']['VmRSS'] / 1000:.2f} GB)",
            rss["VmRSS"] <= 2000,
        )
    noop = sizes.get("100000", {}).get("sync")
    if ok(noop):
        best = min(noop["noop_1"]["seconds"], noop["noop_2"]["seconds"])
        add(
            "no-op sync of 10,000 files <= 0.6 s",
            f"{noop['noop_2']['seconds']:.2f} s{_cpu(noop['noop_2'], 'cpu_seconds')} (the first after the build: "
            f"{noop['noop_1']['seconds']:.2f} s; load {noop['noop_2']['load']:.1f})",
            best <= 0.6 and noop["noop_2"]["seconds"] <= 0.6,
        )
    else:
        add("no-op sync of 10,000 files <= 0.6 s", None, None)
    lexical_only = [e for e in results.get("lexical_only", {}).values() if ok(e)]
    if lexical_only:
        big = max(lexical_only, key=lambda e: e["n"])
        add(
            f"a lexical-only point at {_fmt_n(big['n'])} chunks, with disk and RSS",
            f"{big['disk_bytes'] / 1e9:.1f} GB on disk, RSS {big['rss_after']['VmRSS'] / 1000:.2f} GB, "
            f"search p95 {big['search']['p95']:.1f} ms",
            True,
        )
    else:
        add("a lexical-only point at 10M (or 3M) chunks, with disk and RSS", None, None)
    hundred = sizes.get("100000", {})
    if ok(hundred.get("ours")):
        p95 = hundred["ours"]["retrieval"]["p95"]
        add("our retrieval p95 <= 50 ms at 100k chunks (query encoding excluded)", f"{p95:.1f} ms", p95 <= 50)
    if ok(hundred.get("ours")) and ok(hundred.get("stock")):
        r50 = hundred["stock"]["retrieval"]["p50"] / hundred["ours"]["retrieval"]["p50"]
        r95 = hundred["stock"]["retrieval"]["p95"] / hundred["ours"]["retrieval"]["p95"]
        add(SPEEDUP_TARGET, f"{r50:.0f}x (p50), {r95:.0f}x (p95)", r50 >= 20 and r95 >= 20)
    return rows


def target_lines(results: dict[str, Any]) -> list[str]:
    """One PASS/FAIL line per target."""
    labels = {True: "PASS", False: "FAIL", None: "FAIL (not measured)"}
    return [f"{labels[holds]}: {name}: {measured}" for name, measured, holds in targets(results)]


def _fmt_n(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k" if n >= 1000 else str(n)


def _pair(part: Any) -> str:
    return f"{part['p50']:.1f} / {part['p95']:.1f}" if isinstance(part, dict) and "p50" in part else "-"


def render(results: dict[str, Any]) -> str:
    """The report's markdown."""
    m, c = results["machine"], results["corpus"]
    sizes = [results["sizes"][k] for k in sorted(results["sizes"], key=int)]
    out: list[str] = [
        f"Command (from the repository root; run started {results['started']}, took "
        f"{results.get('elapsed_min', 0):.0f} min):",
        "",
        "```bash",
        results["command"],
        "```",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, no GPU, shared with other jobs "
        f"(1-minute load average {results['load_start'][0]:.1f} at the start"
        + (f", {results['load_end'][0]:.1f} at the end" if "load_end" in results else "")
        + "; every timing below has the load average beside it).",
        "Versions: Python " + m["python"] + ", " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".",
        "",
        f"Corpus: synthetic Arabic chunks of {CHUNK_WORDS[0]}-{CHUNK_WORDS[1]} words, each word drawn independently "
        f"from the whitespace-token distribution of {c['documents']} texts (the unique contexts of ARCD and XQuAD-ar "
        f"and the 5 seed articles: {c['tokens']:,} tokens, {c['types']:,} types); 10 chunks per article, each "
        "article a file on disk. The vocabulary is capped at the observed types, so posting lists are longer than "
        f"in a real archive of the same size (pessimistic for lexical search). Vectors: unit vectors from a Gaussian "
        f"mixture ({CENTRES:,} centres), not model embeddings, with passage vectors (chunk and sentences) in the "
        "manifest as ingest keeps them. Questions: 200 per N, 5-8 words, half taken from a chunk (with that chunk's "
        "vector plus noise).",
        "",
        "### Targets",
        "",
        "| target | measured | holds |",
        "|---|---|---|",
    ]
    for name, measured, holds in targets(results):
        out.append(f"| {name} | {measured} | {'yes' if holds else 'no' if holds is False else 'not measured'} |")
    out += [
        "",
        "### Latency (ms per question, p50 / p95, one at a time, query encoding excluded)",
        "",
        "`retrieval` is `Retriever.retrieve(q, k=5)` in a fresh serving process; `answer` adds `extract_answer`. "
        "The parts are timed again one by one inside one snapshot.",
        "",
        "| N | dense | retrieval | answer | lexical search (tantivy, top 30) | dense search (Chroma, top 30) "
        "| fusion + passage lookup | stock retrieval | hit@5 | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in sizes:
        o = e.get("ours")
        if not ok(o):
            continue
        parts = list(o["components"].values())
        stock = _pair(e["stock"]["retrieval"]) if ok(e.get("stock")) else "-"
        out.append(
            f"| {e['n']:,} | {e['dim']}-d | **{_pair(o['retrieval'])}** | {_pair(o['full'])} | {_pair(parts[0])} | "
            f"{_pair(parts[1])} | {_pair(parts[2])} | {stock} | {o['source_chunk_in_top5']:.2f} | "
            f"{o['load'][0]:.1f}-{o['load'][-1]:.1f} |"
        )
    out += [
        "",
        "### Opening, first question, memory",
        "",
        "`open` is `Retriever.open` in a fresh process (manifest, lexical generation checked and memory-mapped, "
        "Chroma's files checked). The imports before it (the project's modules, chromadb and tantivy: what a serving "
        "process loads once, not per open) are shown apart, and `start to answer` is the whole of it: process start "
        "to the first answer. `first question` includes starting Chroma's client and its loading the HNSW graph. "
        "RSS in MB (10^6 bytes): total / anonymous / mapped files, after the timed questions.",
        "",
        "| N | imports (s) | open (s) | first question (ms) | start to answer (s) | RSS after open "
        "| RSS after questions |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in sizes:
        o = e.get("ours")
        if not ok(o):
            continue
        out.append(
            f"| {e['n']:,} | {o['imports_seconds']:.2f} | {o['open_seconds']:.2f} | {o['first_query_ms']:.0f} | "
            f"{_start_to_answer(o)} | {_rss(o['rss_open'])} | {_rss(o['rss_after'])} |"
        )
    served = [e for e in sizes if ok(e.get("ours_server"))]
    if served:
        out += [
            "",
            "#### With the vectors in a `chroma run` server",
            "",
            "The same serving process with `ASSISTANT_CHROMA_URL` set: a `chroma run` server over the index's Chroma "
            "directory on 127.0.0.1, started and warmed by one query from another process before the serving "
            "process starts (a server is started once and serves every process that opens the index). The server's "
            "RSS is read from /proc beside it. Latency in ms, p50 / p95.",
            "",
            "| N | server start (s) | server's first query (s) | open (s) | first question (ms) | retrieval | "
            "dense search | RSS after questions | server RSS after questions | server peak RSS (MB) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for e in served:
            o, v = e["ours_server"], e["ours_server"]["server"]
            dense = o["components"]["dense search (ChromaStore.search, top 30)"]
            out.append(
                f"| {e['n']:,} | {v['start_seconds']:.1f} | {v['first_query_seconds']:.1f} | "
                f"{o['open_seconds']:.2f} | {o['first_query_ms']:.0f} | {_pair(o['retrieval'])} | {_pair(dense)} | "
                f"{_rss(o['rss_after'])} | {_rss(v['rss_after'])} | {v['rss_peak_mb']:,.0f} |"
            )
    out += [
        "",
        "### Ingest: no-op and 1% changed",
        "",
        "`ingest.sync.sync` on the built index, in a fresh process, with a random-weight BERT (hidden 384, 1 layer; "
        "its encoding time is measured and subtracted, as is loading it). No-op: nothing changed (the first after "
        "the build hashes the files written within 2 s of their first hashing). Changed: 1% of the article files "
        "rewritten with new text (their round-th new text on a kept index, `--resync`). `of which Chroma` is the "
        "time inside the dense store's writes, vector reads and closing, where Chroma saves its vector index. "
        "`vectors`: embedded (the ingest's Chroma client loads the graph) or server (`--sync-server`: a `chroma run` "
        "server started and warmed before the first ingest keeps it); then which vectors the sync stored: the "
        "corpus's mixture, like the graph it joins (`--sync-vectors corpus`, the default), or the random model's "
        "own, nearly parallel to each other (mean cosine 0.99), which cost Chroma's insert twice as much.",
        "",
        "| N | vectors | files | no-op 1 (s) | no-op 2 (s) | changed files | chunks embedded | sync (s) "
        "| encoding (s) | model load (s) | token counting (s) | project work (s) | of which Chroma (s) "
        "| sync peak RSS (MB) | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in sizes:
        s = e.get("sync")
        if not ok(s):
            continue
        ch = s["changed"]
        out.append(
            f"| {e['n']:,} | {_vectors(s)} | {s['files']:,} | {s['noop_1']['seconds']:.2f} | "
            f"{s['noop_2']['seconds']:.2f} | "
            f"{ch['files']:,} | {ch['embedded']:,} | {ch['seconds']:.1f} | {ch['embedding_seconds']:.1f} | "
            f"{ch['model_load_seconds']:.1f} | {ch['token_counting_seconds']:.1f} | **{ch['project_seconds']:.1f}** | "
            f"{_chroma_seconds(ch)} | {ch['rss_peak_mb']:,.0f} | {ch['load']:.1f} |"
        )
    out += _disk_and_build(sizes)
    lexical_only = [results["lexical_only"][k] for k in sorted(results.get("lexical_only", {}), key=int)]
    if lexical_only:
        out += [
            "",
            "### Lexical only",
            "",
            "A lexical generation of N chunks alone (no manifest, no vectors): built in one process (analysis in "
            "the benchmark's worker processes), then opened and searched in the same process after the build.",
            "",
            "| N | build (s) | build peak RSS (MB) | disk (GB) | bytes per chunk | open (s) | first question (ms) "
            "| search p50 / p95 (ms) | RSS after questions | load |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for e in lexical_only:
            if not ok(e):
                out.append(f"| {e.get('n', '?')} | {e.get('error', e.get('skipped', ''))} |")
                continue
            out.append(
                f"| {e['n']:,} | {sum(e['build'].values()):.0f} | {e['build_peak_mb']:,.0f} | "
                f"{e['disk_bytes'] / 1e9:.2f} | {e['disk_bytes'] / e['n']:,.0f} | {e['open_seconds']:.3f} | "
                f"{e['first_query_ms']:.0f} | {_pair(e['search'])} | {_rss(e['rss_after'])} | {e['search_load']:.1f} |"
            )
    encode = results.get("encode")
    if encode is not None and ok(encode):
        out += [
            "",
            "### Query encoding",
            "",
            "What a question costs to encode before retrieval (excluded from the latency rows above), one question "
            f"at a time, {encode['threads']} torch threads (torch {encode['torch']}), the corpus's synthetic "
            "Arabic questions (10 warm-up, then timed). The bundled model runs as `Retriever` runs it "
            "(`query_with_terms`: vector and latent terms); bge-m3 cannot be loaded without the model hub, so "
            "its row is a random-weight BERT of its shape.",
            "",
            "| model | questions | tokens (mean) | p50 / p95 (ms) | load |",
            "|---|---|---|---|---|",
        ]
        for name, row in encode["models"].items():
            out.append(
                f"| {name} | {row['questions']} | {row['tokens']:.1f} | "
                f"{row['p50']:.1f} / {row['p95']:.1f} | {row['load']:.1f} |"
            )
    out += ["", "```", *target_lines(results), "```"]
    return "\n".join(out)


def _rss(memory: dict[str, float]) -> str:
    return f"{memory['VmRSS']:,.0f} / {memory['RssAnon']:,.0f} / {memory['RssFile']:,.0f}"


def _disk_and_build(sizes: list[dict[str, Any]]) -> list[str]:
    out = [
        "",
        "### Disk and build",
        "",
        "Apparent bytes per chunk. The build writes the index with the project's classes block by block (10,000 "
        "chunks at a time, so its memory stays flat); its stages in seconds.",
        "",
        "| N | chroma/ B/chunk | lexical/ B/chunk | manifest B/chunk | total | build (s) | of which Chroma insert (s) "
        "| ms per vector (last half) | build peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in sizes:
        b, d = e.get("build"), e.get("disk")
        if not ok(b) or not d or b is None:
            continue
        n = e["n"]
        total = d["chroma"] + d["lexical"] + d["manifest"]
        out.append(
            f"| {n:,} | {d['chroma'] / n:,.0f} | {d['lexical'] / n:,.0f} | {d['manifest'] / n:,.0f} | "
            f"{total / 1e9:.2f} GB | {sum(b['stages'].values()):.0f} | "
            f"{b['stages'].get('chroma insert (ChromaStore.add)', 0):.0f} | "
            f"{b['chroma_seconds_per_vector_tail'] * 1000:.2f} | {b['rss_peak_mb']:,.0f} |"
        )
    return out


def write_report(results: dict[str, Any], out: Path | None) -> None:
    """Rewrite the scale section of `out` (between the scale markers), creating the section when absent."""
    from reporting import write_section

    body = render(results)
    if out is None:
        print(body)
        return
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(f"# Benchmarks\n\n{SECTION_TITLE}\n", encoding="utf-8")
    elif f"<!-- {MARKER}:start -->" not in out.read_text(encoding="utf-8"):
        out.write_text(out.read_text(encoding="utf-8").rstrip("\n") + f"\n\n{SECTION_TITLE}\n", encoding="utf-8")
    write_section(out, body, MARKER)
    print(f"wrote {os.path.relpath(out)}", file=sys.stderr)


def _start_to_answer(ours: dict[str, Any]) -> str:
    """Process start to the first answer (absent from results of runs before it was measured)."""
    seconds = ours.get("start_to_first_answer_seconds")
    return "-" if seconds is None else f"{seconds:.2f}"


def _cpu(part: dict[str, Any], key: str) -> str:
    """ " (CPU x s)": the process's CPU time, all threads, which the machine's load does not stretch."""
    seconds = part.get(key)
    return "" if seconds is None else f" (CPU {seconds:.2f} s)"
