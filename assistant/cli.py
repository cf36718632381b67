"""The `assistant` command line: parse flags, call the library, print the result."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import re
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from assistant.llm import LLMUnavailableError
from assistant.phrases import phrase
from assistant.records import Answer
from assistant.rendering import origin_text
from assistant.service import clean_question
from assistant.settings import AssistantSettings, all_settings, declared
from ingest.declarations import Declared, SettingError
from ingest.embedding import EmbeddingUnavailableError, ModelMismatchError
from ingest.files import IndexBusyError
from ingest.filters import ArticleFilter
from ingest.integrity import PartProblem
from ingest.metadata import safe_url
from ingest.panics import is_panic
from ingest.reader import IndexMissingError, ManifestDamagedError
from ingest.redaction import protect_logs, redact
from ingest.reports import SyncReport
from ingest.status import Status, index_status
from ingest.sync import EmptyFolderError, NoDocumentsError, sync

if TYPE_CHECKING:
    from assistant.evaluation import EvalReport

EXPECTED_ERRORS = (
    IndexBusyError,
    IndexMissingError,
    LLMUnavailableError,
    ManifestDamagedError,
    ModelMismatchError,
    NoDocumentsError,
    EmptyFolderError,
    EmbeddingUnavailableError,
    ValueError,
    OSError,
)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors that say what is allowed and where the help is."""

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"^argument ([^:]+): must ", r"\1 must ", message)
        self.exit(2, f"Error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to generate the CLI reference in the README).

    Options that set a setting come from its declaration (assistant/settings.py): flag, type, bounds, help.
    """
    parser = Parser(
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
    add_setting_options(ingest, "index_dir", "embedding_model")
    ingest.add_argument("--rebuild", action="store_true", help="delete the index and build it from scratch")
    ingest.add_argument(
        "--allow-empty",
        action="store_true",
        help="remove the documents of a folder that holds no file any more (refused otherwise: an unmounted disk?)",
    )
    add_setting_options(ingest, "lock_wait", "fields")
    ingest.add_argument("--json", action="store_true", help="print the summary as JSON")

    ask = commands.add_parser(
        "ask",
        help="answer a question with citations",
        description="Answer a question in Arabic or English from the indexed articles, citing each claim.",
    )
    ask.add_argument("question", help="the question (Arabic or English)")
    add_setting_options(ask, "index_dir", "k", "llm", "rerank", "embedding_model")
    ask.add_argument("--source", action="append", metavar="PATH", help="only answer from this document (repeatable)")
    ask.add_argument("--since", metavar="DATE", help="only articles dated on or after DATE (e.g. 2019-01-01)")
    ask.add_argument("--until", metavar="DATE", help="only articles dated on or before DATE (inclusive)")
    ask.add_argument(
        "--outlet", action="append", metavar="NAME", help="only articles of this outlet (repeatable), e.g. الحرة"
    )
    ask.add_argument("--json", action="store_true", help="print the Answer as JSON")

    chat = commands.add_parser(
        "chat",
        help="open the web chat",
        description="Index the documents folder if it changed, then serve the web chat (default http://127.0.0.1:7860).",
    )
    add_setting_options(
        chat, "host", "port", "auth", "docs_dir", "index_dir", "embedding_model", "llm", "concurrency", "mcp"
    )

    status = commands.add_parser(
        "status",
        help="show what the index holds and check it",
        description="Show what the index holds, and check every part of it: the manifest is read whole, each "
        "lexical index file is compared with the checksum recorded when it was written, Chroma's vector index "
        "is checked for consistency and its count against the manifest. Exits with 1 when a part is damaged, "
        "missing or out of step (each is named, with what to run).",
    )
    add_setting_options(status, "index_dir")
    status.add_argument("--json", action="store_true", help="print the status as JSON")

    evaluate = commands.add_parser(
        "eval",
        help="measure retrieval and answers on a question set",
        description="Measure Recall@1/5/10, MRR@10, answer containment and abstention on a question file. "
        "SQuAD JSON (ARCD, XQuAD): its paragraphs are indexed into a temporary index with the embedding model. "
        'JSONL, one {"question", "sources"?, "answers"?} per line: measured on the index (--index).',
    )
    evaluate.add_argument("file", type=Path, metavar="FILE", help="SQuAD JSON or JSONL question file")
    add_setting_options(evaluate, "index_dir", "k", "embedding_model", "llm")
    evaluate.add_argument("--limit", type=_positive_int, metavar="N", help="evaluate only the first N questions")
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def add_setting_options(parser: argparse.ArgumentParser, *names: str) -> None:
    """One option per named setting, from its declaration; the parsed value lands in `args.<name>`."""
    for name in names:
        item = declared(name)
        help_text = f"{item.spec.help} (env {item.spec.env}; default: {item.default_shown()})".replace("%", "%%")
        if item.kind is bool:
            parser.add_argument(
                item.spec.flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        else:
            parser.add_argument(
                item.spec.flag, dest=name, type=_flag_value(item), metavar=item.spec.metavar or None, help=help_text
            )


def _flag_value(item: Declared) -> Any:
    def parse(text: str) -> Any:
        try:
            return item.parse(text, item.spec.flag)
        except SettingError as error:
            raise argparse.ArgumentTypeError(str(error).removeprefix(f"{item.spec.flag} ")) from None

    parse.__name__ = item.name  # argparse names the type in some messages
    return parse


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {value!r}")
    return number


def settings_from(args: argparse.Namespace) -> AssistantSettings:
    """The environment's settings overridden by the options given on the command line."""
    given = {item.name: getattr(args, item.name) for item in all_settings() if hasattr(args, item.name)}
    return AssistantSettings.from_env(**given)


def configured_secrets(args: argparse.Namespace, environ: Any = os.environ) -> set[str]:
    """Credentials from the secret settings' variables and options, before the settings are even valid."""
    found: set[str] = set()
    for item in all_settings():
        found |= item.secrets_in(environ.get(item.spec.env, "")) | item.secrets_in(getattr(args, item.name, None))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `assistant` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    console = Console(configured_secrets(args))
    protect_logs(console.secrets)
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    if not args.verbose:  # model-loading progress bars are noise around a one-line answer
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        loaded = sys.modules.get("transformers")
        if loaded is not None and os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1":
            loaded.utils.logging.disable_progress_bar()  # imported before main() ran: it read the flag already
    if args.command == "ask" and not clean_question(args.question):
        console.err('Error: the question is empty; ask something, e.g. assistant ask "ماذا حدث في منبج؟"')
        return 2
    try:
        if args.command == "ingest":
            return _ingest(args, console)
        if args.command == "ask":
            return _ask(args, console)
        if args.command == "chat":
            return _chat(args, console)
        if args.command == "eval":
            return _eval(args, console)
        return _status(args, console)
    except SettingError as error:
        console.err(f"Error: {error}")
        return 2
    except EXPECTED_ERRORS as error:
        console.err(f"Error: {error}")
        return 1
    except KeyboardInterrupt:
        console.err("Interrupted; run the same command again to finish (the index repairs itself).")
        return 130
    except BaseException as error:
        if not isinstance(error, Exception) and not is_panic(error):
            raise
        logging.getLogger(__name__).info("unexpected error", exc_info=True)
        kept = " The previous index is intact and still answers;" if args.command in ("ingest", "chat") else ""
        console.err(
            f"Error: {args.command} failed: {type(error).__name__}: {redact(str(error), console.secrets)[:300]}."
            f"{kept} fix the cause (disk space, permissions, ...) and run the command again (-v shows details)."
        )
        return 1


class Console:
    """Everything the command line prints, with every secret it knows of redacted."""

    def __init__(self, secrets: set[str]) -> None:
        self.secrets = set(secrets)

    def out(self, text: str, stream: TextIO | None = None) -> None:
        """Print to stdout (or `stream`), redacted."""
        print(redact(text, self.secrets), file=stream or sys.stdout, flush=True)

    def err(self, text: str) -> None:
        """Print to stderr, redacted."""
        self.out(text, sys.stderr)

    def json(self, data: object) -> None:
        """Print `data` as JSON, every string in it redacted."""
        self.out(json.dumps(data, ensure_ascii=False, indent=2))


def _ingest(args: argparse.Namespace, console: Console) -> int:
    settings = settings_from(args).index
    progress = sys.stderr.isatty() and not args.json
    report = sync(settings, args.paths or None, rebuild=args.rebuild, allow_empty=args.allow_empty, progress=progress)
    if args.json:
        console.json(report.to_dict())
    else:
        console.out(format_report(report))
    for warning in report.warnings:
        console.err(f"Warning: {warning}")
    return 0


def _ask(args: argparse.Namespace, console: Console) -> int:
    from assistant.service import Assistant

    settings = settings_from(args)
    console.secrets |= settings.secrets()
    ArticleFilter.of(
        since=args.since, until=args.until, outlets=args.outlet
    )  # a bad value fails before the model loads
    assistant = Assistant.from_settings(settings)
    try:
        answer = assistant.ask(
            args.question, sources=args.source, since=args.since, until=args.until, outlets=args.outlet
        )
    finally:
        assistant.close()
    if args.json:
        console.json(answer.to_dict())
    else:
        console.out(format_answer(answer))
    return 0


def format_answer(answer: Answer) -> str:
    """The answer, then a numbered source list (file, title, quote)."""
    lines = [answer.text]
    if answer.citations:
        lines += ["", "Sources:" if answer.language == "en" else "المصادر:"]
        for citation in answer.citations:
            check = "" if citation.supported else " (not verified)"
            lines.append(f"[{citation.number}] {citation.source} — {citation.title}{check}")
            origin = " · ".join(p for p in (origin_text(citation.outlet, citation.date), safe_url(citation.url)) if p)
            if origin:
                lines.append(f"    {origin}")
            lines.append(f"    «{citation.quote}»")
            if citation.also_in:
                others = "; ".join(origin_text(c.outlet, c.date) or c.source for c in citation.also_in)
                lines.append(f"    {phrase('also_in', answer.language, count=str(len(citation.also_in)))}: {others}")
    if answer.note:
        lines += ["", f"({answer.note})"]
    return "\n".join(lines)


def _eval(args: argparse.Namespace, console: Console) -> int:
    from assistant.evaluation import evaluate, load_eval_set

    settings = settings_from(args)
    eval_set = load_eval_set(args.file).head(args.limit)
    report = evaluate(eval_set, settings, progress=sys.stderr.isatty())
    if args.json:
        console.json(report.to_dict())
    else:
        console.out(format_eval_report(report))
    for note in report.notes:
        console.err(f"Warning: {note}")
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


def _chat(args: argparse.Namespace, console: Console) -> int:
    from assistant.service import Assistant
    from assistant.ui import create_app, launch

    settings = settings_from(args)
    console.secrets |= settings.secrets()
    auth = parse_auth(settings.auth)
    check_port(settings.host, settings.port)  # before the ingest and the model load, not after
    warning = exposure_warning(settings.host, auth)
    if warning:
        console.err(f"Warning: {warning}")
    report = sync(settings.index, progress=sys.stderr.isatty())
    console.out(format_report(report))
    for warning in report.warnings:
        console.err(f"Warning: {warning}")
    assistant = Assistant.from_settings(settings)
    try:
        app = launch(
            create_app(assistant, mcp=settings.mcp),
            settings.host,
            settings.port,
            auth,
            block=False,
            max_threads=max(40, settings.concurrency + 16),
            mcp=settings.mcp,
        )
    except OSError as error:
        raise OSError(port_busy_message(settings.host, settings.port)) from error
    console.out(f"Open http://{settings.host}:{settings.port} in a browser (Ctrl+C to stop).")
    if settings.mcp:
        login = " (HTTP basic auth with the --auth credentials)" if auth else ""
        console.out(f"MCP tools ask and search: http://{settings.host}:{settings.port}/gradio_api/mcp/{login}")
    app.block_thread()
    return 0


def check_port(host: str, port: int) -> None:
    """Raise OSError (saying what to do) when `host`:`port` cannot be listened on."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise OSError(f"cannot listen on {host!r}: {error.strerror}; use --host 127.0.0.1 or another address") from None
    family, kind, protocol, _, address = infos[0]
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is no obstacle
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise OSError(port_busy_message(host, port)) from None
            raise OSError(
                f"cannot listen on {host}:{port} ({error.strerror}); choose another --host or --port"
            ) from None


def port_busy_message(host: str, port: int) -> str:
    """What to say when the chat's port is taken."""
    return (
        f"port {port} on {host} is already in use (another `assistant chat`?). Stop that server, or choose another "
        "port with --port N (or ASSISTANT_PORT)."
    )


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
        raise SettingError("--auth must be USER:PASSWORD (both non-empty)")
    return user, password


def _status(args: argparse.Namespace, console: Console) -> int:
    status = index_status(settings_from(args).index, deep=True)
    if args.json:
        console.json(status.to_dict())
    else:
        console.out(format_status(status))
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
        f"dense:      {_dense_line(status, [p for p in status.problems if p.part == 'dense'])}",
        f"lexical:    {'yes, verified' if status.lexical else 'no (run `assistant ingest` to rebuild it)'}",
        f"updated at: {status.updated_at}",
    ]
    lines.extend(f"problem:    {problem.part}: {problem.detail}" for problem in status.problems)
    return "\n".join(lines)


def _dense_line(status: Status, problems: Sequence[PartProblem]) -> str:
    if status.dense:
        return f"yes, {status.vectors} vectors, verified"
    if any(not p.repairable for p in problems):
        return "not checked (the Chroma server does not answer: see the problem below)"
    if problems:
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
    if report.sentences_reused:
        lines.append(f"sentence vectors: {report.sentences_reused} taken from the edited articles' earlier chunks")
    lines.extend(f"repaired: {repair}" for repair in report.repairs)
    for label, paths in (("added", report.added), ("updated", report.updated), ("removed", report.removed)):
        lines.extend(f"  {label}: {path}" for path in paths)
    lines.extend(f"  duplicate: {d.path} (same content as {d.duplicate_of})" for d in report.duplicates)
    lines.extend(f"  skipped: {s.path}: {s.reason}" for s in report.skipped)
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
