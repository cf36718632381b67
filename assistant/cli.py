"""The `assistant` command line: parse flags, call the library, print the result."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.llm import LLMUnavailableError, redact
from assistant.records import Answer
from ingest.embedding import EmbeddingUnavailableError, ModelMismatchError
from ingest.files import IndexBusyError
from ingest.panics import is_panic
from ingest.reader import IndexMissingError, ManifestDamagedError
from ingest.reports import SyncReport
from ingest.settings import Settings
from ingest.status import Status, index_status
from ingest.sync import NoDocumentsError, sync

if TYPE_CHECKING:
    from assistant.evaluation import EvalReport

EXPECTED_ERRORS = (
    IndexBusyError,
    IndexMissingError,
    LLMUnavailableError,
    ManifestDamagedError,
    ModelMismatchError,
    NoDocumentsError,
    EmbeddingUnavailableError,
    ValueError,
    OSError,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to generate the CLI reference in the README)."""
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="Cited question answering over Arabic and English news articles.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = commands.add_parser(
        "ingest",
        help="index new, changed and removed documents",
        description="Bring the index in line with the documents: embed new and changed files, "
        "drop removed ones, leave unchanged ones alone.",
    )
    ingest.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="folders or files to index (default: ASSISTANT_DOCS_DIR, else seeds/)",
    )
    _index_option(ingest)
    ingest.add_argument(
        "--model",
        help="embedding model: hub id, local path or 'fast' (env ASSISTANT_EMBEDDING_MODEL; default BAAI/bge-m3)",
    )
    ingest.add_argument("--rebuild", action="store_true", help="delete the index and build it from scratch")
    ingest.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="wait this long for another ingest to finish (default: fail at once)",
    )
    ingest.add_argument("--json", action="store_true", help="print the summary as JSON")

    ask = commands.add_parser(
        "ask",
        help="answer a question with citations",
        description="Answer a question in Arabic or English from the indexed articles, citing each claim.",
    )
    ask.add_argument("question", help="the question (Arabic or English)")
    _index_option(ask)
    ask.add_argument("--k", type=int, help="passages to answer from (env ASSISTANT_K; default 5)")
    ask.add_argument(
        "--llm", help="LangChain chat model, provider:model or hf:<id or path> (env ASSISTANT_LLM; default: extractive)"
    )
    ask.add_argument("--rerank", action="store_true", default=None, help="rerank passages with a cross-encoder")
    ask.add_argument("--model", help="embedding model (must be the one the index was built with)")
    ask.add_argument("--source", action="append", metavar="PATH", help="only answer from this document (repeatable)")
    ask.add_argument("--json", action="store_true", help="print the Answer as JSON")

    chat = commands.add_parser(
        "chat",
        help="open the web chat",
        description="Index the documents folder if it changed, then serve the web chat (default http://127.0.0.1:7860).",
    )
    chat.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    chat.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    chat.add_argument("--auth", metavar="USER:PASSWORD", help="require this login (env ASSISTANT_AUTH)")
    chat.add_argument(
        "--docs", type=Path, metavar="DIR", help="documents folder (env ASSISTANT_DOCS_DIR; default seeds/)"
    )
    _index_option(chat)
    chat.add_argument("--model", help="embedding model (env ASSISTANT_EMBEDDING_MODEL; default BAAI/bge-m3)")
    chat.add_argument("--llm", help="LangChain chat model, provider:model or hf:<id or path> (env ASSISTANT_LLM)")

    status = commands.add_parser(
        "status",
        help="show what the index holds and check it",
        description="Show what the index holds, and check every part of it: the manifest is read whole, each "
        "lexical index file is compared with the checksum recorded when it was written, Chroma's vector index "
        "is checked for consistency and its count against the manifest. Exits with 1 when a part is damaged, "
        "missing or out of step (each is named, with what to run).",
    )
    _index_option(status)
    status.add_argument("--json", action="store_true", help="print the status as JSON")

    evaluate = commands.add_parser(
        "eval",
        help="measure retrieval and answers on a question set",
        description="Measure Recall@1/5/10, MRR@10, answer containment and abstention on a question file. "
        "SQuAD JSON (ARCD, XQuAD): its paragraphs are indexed into a temporary index with the embedding model. "
        'JSONL, one {"question", "sources"?, "answers"?} per line: measured on the index (--index).',
    )
    evaluate.add_argument("file", type=Path, metavar="FILE", help="SQuAD JSON or JSONL question file")
    _index_option(evaluate)
    evaluate.add_argument("--k", type=_positive_int, help="passages to answer from (env ASSISTANT_K; default 5)")
    evaluate.add_argument("--model", help="embedding model (for JSONL: the one the index was built with)")
    evaluate.add_argument(
        "--llm", help="LangChain chat model, provider:model or hf:<id or path> (env ASSISTANT_LLM; default: extractive)"
    )
    evaluate.add_argument("--limit", type=_positive_int, metavar="N", help="evaluate only the first N questions")
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, not {value!r}")
    return number


def _index_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", type=Path, help="index directory (env ASSISTANT_INDEX_DIR; default vectorstore/)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `assistant` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    if not args.verbose:  # model-loading progress bars are noise around a one-line answer
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        if args.command == "ingest":
            return _ingest(args)
        if args.command == "ask":
            return _ask(args)
        if args.command == "chat":
            return _chat(args)
        if args.command == "eval":
            return _eval(args)
        return _status(args)
    except EXPECTED_ERRORS as error:
        print(f"Error: {redact(str(error))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted; run the same command again to finish (the index repairs itself).", file=sys.stderr)
        return 130
    except BaseException as error:
        if not isinstance(error, Exception) and not is_panic(error):
            raise
        logging.getLogger(__name__).info("unexpected error", exc_info=True)
        kept = " The previous index is intact and still answers;" if args.command in ("ingest", "chat") else ""
        print(
            f"Error: {args.command} failed: {type(error).__name__}: {redact(str(error)[:300])}.{kept} fix the cause "
            "(disk space, permissions, ...) and run the command again (-v shows details).",
            file=sys.stderr,
        )
        return 1


def _ingest(args: argparse.Namespace) -> int:
    settings = Settings.from_env(index_dir=args.index, embedding_model=args.model, lock_wait=args.wait)
    report = sync(settings, args.paths or None, rebuild=args.rebuild, progress=sys.stderr.isatty() and not args.json)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(format_report(report))
    for warning in report.warnings:
        print(f"Warning: {warning}", file=sys.stderr)
    return 0


def _ask(args: argparse.Namespace) -> int:
    from assistant.service import Assistant
    from assistant.settings import AssistantSettings

    settings = AssistantSettings.from_env(
        index_dir=args.index, embedding_model=args.model, k=args.k, llm=args.llm, rerank=args.rerank
    )
    assistant = Assistant.from_settings(settings)
    try:
        answer = assistant.ask(args.question, sources=args.source)
    finally:
        assistant.close()
    if args.json:
        _print_json(answer.to_dict())
    else:
        print(format_answer(answer))
    return 0


def format_answer(answer: Answer) -> str:
    """The answer, then a numbered source list (file, title, quote)."""
    lines = [answer.text]
    if answer.citations:
        lines += ["", "Sources:" if answer.language == "en" else "المصادر:"]
        for citation in answer.citations:
            check = "" if citation.supported else " (not verified)"
            lines.append(f"[{citation.number}] {citation.source} — {citation.title}{check}")
            lines.append(f"    «{citation.quote}»")
    if answer.note:
        lines += ["", f"({answer.note})"]
    return "\n".join(lines)


def _eval(args: argparse.Namespace) -> int:
    from assistant.evaluation import evaluate, load_eval_set
    from assistant.settings import AssistantSettings

    settings = AssistantSettings.from_env(index_dir=args.index, embedding_model=args.model, k=args.k, llm=args.llm)
    eval_set = load_eval_set(args.file).head(args.limit)
    report = evaluate(eval_set, settings, progress=sys.stderr.isatty())
    if args.json:
        _print_json(report.to_dict())
    else:
        print(format_eval_report(report))
    for note in report.notes:
        print(f"Warning: {note}", file=sys.stderr)
    return 0


def format_eval_report(report: EvalReport) -> str:
    """A small aligned table of the metrics, with how many questions each one is over."""

    def value(number: float | None, digits: int = 3) -> str:
        return "n/a" if number is None else f"{number:.{digits}f}"

    rows = [
        ("Recall@1", value(report.recall_at_1), report.ranked_questions),
        ("Recall@5", value(report.recall_at_5), report.ranked_questions),
        ("Recall@10", value(report.recall_at_10), report.ranked_questions),
        ("MRR@10", value(report.mrr_at_10), report.ranked_questions),
        ("answer containment", value(report.answer_containment), report.answerable_questions),
        ("abstention precision", value(report.abstention_precision), report.abstained_questions),
        ("abstention recall", value(report.abstention_recall), report.unanswerable_questions),
        ("seconds per question", value(report.seconds_per_question, 4), report.questions),
    ]
    dense = "yes" if report.dense else "no (lexical search only)"
    lines = [
        f"{report.file} ({report.format}, {report.questions} questions)",
        f"mode: {report.mode}; dense: {dense}; model: {report.model}",
        "",
        f"{'metric':<22}{'value':>8}{'questions':>11}",
    ]
    lines.extend(f"{name:<22}{shown:>8}{count:>11}" for name, shown, count in rows)
    return "\n".join(lines)


def _chat(args: argparse.Namespace) -> int:
    from assistant.service import Assistant
    from assistant.settings import AssistantSettings
    from assistant.ui import create_app, launch

    auth = parse_auth(args.auth or os.environ.get("ASSISTANT_AUTH", ""))
    warning = exposure_warning(args.host, auth)
    if warning:
        print(f"Warning: {warning}", file=sys.stderr)
    settings = AssistantSettings.from_env(
        docs_dir=args.docs, index_dir=args.index, embedding_model=args.model, llm=args.llm
    )
    report = sync(settings.index, progress=sys.stderr.isatty())
    print(format_report(report))
    for warning in report.warnings:
        print(f"Warning: {warning}", file=sys.stderr)
    assistant = Assistant.from_settings(settings)
    print(f"Open http://{args.host}:{args.port} in a browser (Ctrl+C to stop).", flush=True)
    launch(create_app(assistant), args.host, args.port, auth)
    return 0


def exposure_warning(host: str, auth: tuple[str, str] | None) -> str:
    """A warning when the chat would be reachable from other machines without a login."""
    if host in ("127.0.0.1", "localhost", "::1") or auth is not None:
        return ""
    return (
        f"serving on {host} without --auth: anyone who can reach this machine can read the documents "
        "and ask questions. Add --auth USER:PASSWORD (or ASSISTANT_AUTH)."
    )


def parse_auth(value: str) -> tuple[str, str] | None:
    """USER:PASSWORD as a pair; empty means no login."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth must be USER:PASSWORD (both non-empty)")
    return user, password


def _status(args: argparse.Namespace) -> int:
    settings = Settings.from_env(index_dir=args.index)
    status = index_status(settings, deep=True)
    if args.json:
        _print_json(status.to_dict())
    else:
        print(format_status(status))
    return 0 if status.healthy else 1


def format_status(status: Status) -> str:
    """The counts, each part's state and every problem found."""
    if not status.documents and status.healthy:
        return f"No documents indexed in {status.index}. Run `assistant ingest` to build the index."
    parts = {problem.part for problem in status.problems}
    lines = [
        f"index:      {status.index}",
        f"documents:  {status.documents}",
        f"chunks:     {status.chunks}",
        f"model:      {status.model}",
        f"generation: {status.generation}",
        f"manifest:   {'damaged' if 'manifest' in parts else 'verified'}",
        f"dense:      {_dense_line(status, 'dense' in parts)}",
        f"lexical:    {'yes, verified' if status.lexical else 'no (run `assistant ingest` to rebuild it)'}",
        f"updated at: {status.updated_at}",
    ]
    lines.extend(f"problem:    {problem.part}: {problem.detail}" for problem in status.problems)
    return "\n".join(lines)


def _dense_line(status: Status, damaged: bool) -> str:
    if status.dense:
        return f"yes, {status.vectors} vectors, verified"
    if damaged:
        return "no (damaged: run `assistant ingest` to repair it)"
    return "no (lexical search only)"


def format_report(report: SyncReport) -> str:
    """A human summary of one ingest."""
    lines = [
        f"{len(report.added)} added, {len(report.updated)} updated, {len(report.removed)} removed, "
        f"{len(report.unchanged)} unchanged, {len(report.duplicates)} duplicates, {len(report.skipped)} skipped "
        f"in {report.seconds:.2f} s",
        f"index: {report.documents} documents, {report.chunks} chunks; "
        f"{report.embedded} chunks embedded, {report.reused} reused, {report.kept} kept; "
        f"dense: {'yes' if report.dense else 'no'} ({report.model})",
    ]
    lines.extend(f"repaired: {repair}" for repair in report.repairs)
    if report.repaired and not report.repairs:
        lines.append("repaired an interrupted earlier ingest")
    for label, paths in (("added", report.added), ("updated", report.updated), ("removed", report.removed)):
        lines.extend(f"  {label}: {path}" for path in paths)
    lines.extend(f"  duplicate: {d.path} (same content as {d.duplicate_of})" for d in report.duplicates)
    lines.extend(f"  skipped: {s.path}: {s.reason}" for s in report.skipped)
    return "\n".join(lines)


def _print_json(data: object) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
