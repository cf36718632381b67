"""The web chat (Gradio): a thin adapter over Assistant, the uploads library and the index writer.

`create_app()` builds the Blocks without launching them, so tests can drive the app.
All state that belongs to a person (history, settings, last citations) lives in
per-browser-session `gr.State`; nothing is shared between sessions except the index,
whose status and document list every session reads afresh (on load and every few seconds).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from assistant.advice import advise
from assistant.mcp_tools import McpLoginGate, build_tools
from assistant.provenance import locate, warning
from assistant.records import Answer, Citation, Language
from assistant.rendering import escape_text, render_article, render_message, render_sources
from assistant.service import Assistant
from ingest.analysis import detect_language
from ingest.factories import load_embedder
from ingest.redaction import redact, redact_data
from ingest.reports import SyncReport
from ingest.status import index_status
from ingest.uploads import MAX_UPLOAD_MB, UPLOAD_TYPES, SavedUpload, save_uploads
from ingest.writer import IndexWriter, IngestOutcome, WriterState

logger = logging.getLogger(__name__)

EXAMPLES = [
    "ما مدة الرسالة الصوتية الجديدة للبغدادي؟",
    "كم عدد مقاتلي داعش بحسب تقديرات الأمم المتحدة؟",
    "بماذا هدد أبو الحسن المهاجر نيوزيلندا؟",
    "What did the coalition spokesman say about al-Baghdadi?",
    "Where was the last ISIS enclave in Syria?",
]
REFRESH_SECONDS = 5.0
"""How often each open page re-reads the index status and the document list."""
CSS = """
.msg { unicode-bidi: plaintext; line-height: 1.7; }
.msg[dir=rtl], .article[dir=rtl], .passage[dir=rtl] { text-align: right; }
.cite { font-weight: 600; color: var(--color-accent); unicode-bidi: isolate; }
.unsupported { font-weight: 600; color: #b35900; unicode-bidi: isolate; }
.source { margin: 0.4em 0; }
.source .verified { color: #1a7f37; font-size: 0.85em; }
.source .unverified { color: #b35900; font-size: 0.85em; }
.passage mark, .article mark { background: #fff3b0; }
.article-warning { border-left: 4px solid #b35900; padding: 0.3em 0.6em; background: #fff4e5; }
.article-body { max-height: 28em; overflow-y: auto; line-height: 1.8; }
#passage-highlight strong, .article mark.quote-found { background: #ffd54f; }
"""
SCROLL_TO_PASSAGE = (
    "() => { const m = document.getElementById('passage-highlight'); if (m) m.scrollIntoView({block: 'center'}); }"
)
ANSWERS = "answers"
"""The concurrency group of every event that answers a question (chat and API share ASSISTANT_CONCURRENCY)."""


@dataclass
class Session:
    """One browser session's own state."""

    turns: list[tuple[str, str]] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    language: Language = "ar"
    """The language of the last answer (the source viewer speaks it)."""


@dataclass(frozen=True, slots=True)
class IndexView:
    """What a page shows of the shared index: the status panel and the document filter's choices."""

    status: str
    sources: tuple[str, ...]


class _IndexViews:
    """The current IndexView, read at most once a second however many pages ask."""

    def __init__(self, assistant: Assistant, writer: IndexWriter, ttl: float = 1.0) -> None:
        self._assistant, self._writer, self._ttl = assistant, writer, ttl
        self._lock = threading.Lock()
        self._cached: tuple[float, IndexView] | None = None

    def current(self) -> IndexView:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > self._ttl:
                view = IndexView(format_status(self._assistant, self._writer.state()), self._sources())
                self._cached = (time.monotonic(), view)
            return self._cached[1]

    def forget(self) -> None:
        with self._lock:
            self._cached = None

    def _sources(self) -> tuple[str, ...]:
        try:
            return tuple(self._assistant.retriever.sources())
        except Exception:
            logger.warning("cannot list the indexed documents", exc_info=True)
            return ()


def format_status(assistant: Assistant, writer: WriterState | None = None) -> str:
    """The index status panel (Markdown of escaped values)."""
    status = index_status(assistant.settings.index)
    rows = [
        ("documents", status.documents),
        ("chunks", status.chunks),
        ("model", status.model or "-"),
        ("dense", "yes" if status.dense else "no (lexical search only)"),
        ("lexical", "yes" if status.lexical else "no"),
        ("last update", status.updated_at or "-"),
        ("answers", assistant.mode),
    ]
    if writer is not None:
        rows.append(("ingest", describe_writer(writer)))
    return "\n".join(["| index | |", "|---|---|", *(f"| {k} | {escape_text(str(v))} |" for k, v in rows)])


def describe_writer(state: WriterState) -> str:
    """The writer's phase in words (for the status panel)."""
    if state.phase == "queued":
        return "queued: another ingest is writing to the index"
    return state.phase


def format_report(report: SyncReport, uploads: Sequence[SavedUpload] = ()) -> str:
    """An ingest summary for the documents panel (escaped Markdown); each saved upload says whether it was indexed."""
    indexed = {*report.added, *report.updated, *report.unchanged}
    skipped = {s.path: s.reason for s in report.skipped}
    lines = [
        f"**Indexed: {len(report.added)} added, {len(report.updated)} updated, {len(report.removed)} removed, "
        f"{len(report.unchanged)} unchanged** in {report.seconds:.1f} s — {report.documents} documents, "
        f"{report.chunks} chunks"
    ]
    for upload in uploads:
        if upload.outcome == "saved" and upload.name in indexed:
            message = "indexed"
        elif upload.outcome == "saved" and upload.name in skipped:
            message = f"saved but not indexed: {skipped[upload.name]}"
        else:
            message = upload.message if upload.outcome != "saved" else "saved"
        lines.append(f"- {escape_text(upload.name)}: {escape_text(message)}")
    lines += [f"- added: {escape_text(p)}" for p in report.added if p not in {u.name for u in uploads}]
    lines += [f"- duplicate: {escape_text(d.path)} (same as {escape_text(d.duplicate_of)})" for d in report.duplicates]
    lines += [f"- skipped: {escape_text(s.path)}: {escape_text(s.reason)}" for s in report.skipped]
    lines += [f"- ⚠ {escape_text(w)}" for w in report.warnings]
    return "\n".join(lines)


def format_uploads(saved: Sequence[SavedUpload], state: str = "") -> str:
    """The upload summary before indexing (or when nothing new was saved)."""
    lines = [f"**{escape_text(state)}**"] if state else []
    lines += [f"- {escape_text(u.name)}: {escape_text(u.message)}" for u in saved]
    return "\n".join(lines) or "No files."


def create_app(
    assistant: Assistant,
    *,
    writer: IndexWriter | None = None,
    max_upload_mb: int = MAX_UPLOAD_MB,
    refresh_seconds: float = REFRESH_SECONDS,
    mcp: bool = False,
) -> Any:
    """The chat app as `gr.Blocks`, not launched.

    Uploads and re-index clicks go to `writer` (by default one over the assistant's index that reuses its
    loaded embedding model): queued while another ingest holds the index, run as soon as it is free.
    With `mcp`, the `ask` and `search` tools of assistant/mcp_tools.py are added (launch them with `mcp=True`).
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    settings = assistant.settings
    secrets = settings.secrets()
    if writer is None:
        embedder = assistant.retriever.embedder  # reuse the loaded model instead of loading a second copy
        writer = IndexWriter(settings.index, (lambda _s: embedder) if embedder is not None else load_embedder)
    views = _IndexViews(assistant, writer)

    def shown(view: IndexView, selected: Sequence[str] | None = None) -> tuple[str, Any]:
        kept = [s for s in selected or () if s in view.sources]
        return view.status, gr.update(choices=list(view.sources), value=kept)

    def outlet_choices(selected: Sequence[str] | None = None) -> Any:
        choices = assistant.retriever.outlets()
        return gr.update(choices=choices, value=[o for o in selected or () if o in choices])

    def on_load() -> tuple[str, Any, Any, IndexView]:
        view = views.current()
        status, choices = shown(view)
        return status, choices, outlet_choices(), view

    def on_tick(
        seen: IndexView | None, selected: list[str] | None, outlets: list[str] | None
    ) -> tuple[Any, Any, Any, Any]:
        view = views.current()
        if view == seen:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        status, choices = shown(view, selected)
        outlet_update = outlet_choices(outlets)
        if seen is not None and view.sources == seen.sources:
            # an open dropdown is left alone when its choices did not change
            choices = outlet_update = gr.skip()
        return status, choices, outlet_update, view

    def respond(
        message: str,
        chat: list[dict[str, Any]],
        session: Session,
        k: float,
        mode: str,
        sources: list[str] | None,
        since: str = "",
        until: str = "",
        outlets: list[str] | None = None,
    ) -> Iterator[tuple[list[dict[str, Any]], Session, Any, str]]:
        question = (message or "").strip()
        language = detect_language(question)
        chat = [*chat, {"role": "user", "content": render_message(question or "…")}]
        pending = {"role": "assistant", "content": render_message("…")}
        yield [*chat, pending], session, gr.update(), ""
        history = [
            item
            for turn in session.turns
            for item in ({"role": "user", "content": turn[0]}, {"role": "assistant", "content": turn[1]})
        ]
        final: Answer | None = None
        text = ""
        try:
            for item in assistant.stream(
                question,
                history=history,
                k=int(k),
                sources=sources or None,
                use_llm=(mode == "llm"),
                since=(since or "").strip() or None,
                until=(until or "").strip() or None,
                outlets=outlets or None,
            ):
                if isinstance(item, Answer):
                    final = item
                else:
                    text += item
                    yield [*chat, {"role": "assistant", "content": render_message(text)}], session, gr.update(), ""
        except Exception as error:
            logger.exception("answering failed")
            chat.append({"role": "assistant", "content": render_message(advise(error, language, secrets))})
            yield chat, session, gr.update(), ""
            return
        assert final is not None
        chat.append({"role": "assistant", "content": render_message(final.text)})
        if final.note:
            note = render_message(redact(final.note, secrets))
            chat.append({"role": "assistant", "content": note, "metadata": {"title": "Note"}})
        if final.citations:
            title = (
                f"Sources ({len(final.citations)})" if final.language == "en" else f"المصادر ({len(final.citations)})"
            )
            chat.append({"role": "assistant", "content": render_sources(final), "metadata": {"title": title}})
        new_session = Session([*session.turns, (question, final.text)][-10:], list(final.citations), final.language)
        choices = [(f"[{c.number}] {c.source} — {c.title}", str(i)) for i, c in enumerate(final.citations)]
        yield chat, new_session, gr.update(choices=choices, value=None), ""

    def open_source(choice: str | None, session: Session) -> str:
        if choice is None or not choice.isdigit() or int(choice) >= len(session.citations):
            return ""
        citation = session.citations[int(choice)]
        try:
            article = assistant.retriever.article(citation.source, citation.content_hash)
        except Exception as error:
            logger.exception("cannot open %s", citation.source)
            return render_message(advise(error, session.language, secrets))
        located = locate(citation, article)
        if article is None:
            return render_message(warning(located, citation, session.language))
        note = warning(located, citation, session.language, article.source)
        return render_article(replace(citation, source=article.source), article.text, located, note)

    def run_ingest(saved: Sequence[SavedUpload]) -> Iterator[tuple[str, str, Any, IndexView]]:
        """Request an ingest and follow it: queued (another ingest holds the index), indexing, then done."""
        ticket = writer.request()
        started = time.monotonic()
        outcome: IngestOutcome | None = None
        last = ""
        while outcome is None:
            state = writer.state()
            phase = (
                "Indexing…"
                if state.phase == "indexing"
                else "Queued: another ingest is writing to the index; this one runs as soon as it finishes."
            )
            if phase != last:
                views.forget()
                view = views.current()
                yield format_uploads(saved, phase), view.status, gr.skip(), view
                last = phase
            outcome = writer.wait(ticket, timeout=0.5)
        views.forget()
        view = views.current()
        if outcome.error is not None:
            logger.warning("ingest failed after %.1f s: %s", time.monotonic() - started, outcome.error)
            summary = format_uploads(saved, advise(outcome.error, "en", secrets))
        else:
            assert outcome.report is not None
            summary = format_report(outcome.report, saved)
        yield redact(summary, secrets), view.status, gr.update(choices=list(view.sources)), view

    def upload(files: list[str] | None) -> Iterator[tuple[str, str, Any, IndexView, Any]]:
        try:
            saved = save_uploads(files or [], settings.index.docs_dir, max_upload_mb)
        except Exception as error:  # noqa: BLE001 - the person gets advice, the log the reason
            logger.warning("upload refused: %s", error)
            view = views.current()
            yield format_uploads((), advise(error, "en", secrets)), view.status, gr.skip(), view, None
            return
        if not any(u.outcome in ("saved", "duplicate") for u in saved):  # nothing that an ingest could add
            view = views.current()
            yield format_uploads(saved), view.status, gr.skip(), view, None
            return
        for summary, status, choices, view in run_ingest(saved):
            yield summary, status, choices, view, None

    def rebuild() -> Iterator[tuple[str, str, Any, IndexView]]:
        yield from run_ingest(())

    def ask_api(question: str) -> dict[str, Any]:
        """Answer one question; the Answer as JSON (the shape of `assistant ask --json`)."""
        if not isinstance(question, str):
            raise gr.Error("The question must be text.")
        try:
            answer = assistant.ask(question)
        except Exception as error:
            logger.exception("answering failed (API)")
            raise gr.Error(advise(error, detect_language(question), secrets)) from None
        result: dict[str, Any] = json.loads(json.dumps(redact_data(answer.to_dict(), secrets), ensure_ascii=False))
        return result

    llm_available = assistant.chat_model is not None
    initial = views.current()
    with gr.Blocks(title="Arabic news assistant", analytics_enabled=False) as app:
        session = gr.State(Session())
        seen = gr.State(None)
        gr.Markdown(
            "## Arabic news assistant\nAsk in Arabic or English; every claim cites its article. "
            "اسأل بالعربية أو بالإنجليزية؛ كل معلومة مع مصدرها."
        )
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Chat",
                    height=520,
                    latex_delimiters=[],
                    elem_id="chat",
                    buttons=["copy"],
                    feedback_options=None,
                )
                question = gr.Textbox(
                    placeholder="اكتب سؤالك هنا… / Type your question…",
                    show_label=False,
                    elem_id="question",
                    rtl=False,
                    autofocus=True,
                )
                with gr.Row():
                    send = gr.Button("Ask / اسأل", variant="primary", elem_id="send")
                    clear = gr.Button("Clear / مسح", elem_id="clear")
                gr.Examples(EXAMPLES, inputs=question, label="Examples / أمثلة")
                source_choice = gr.Dropdown(
                    label="Open a cited source / افتح مصدراً", choices=[], elem_id="source-choice"
                )
                viewer = gr.HTML(elem_id="viewer")
            with gr.Column(scale=1):
                with gr.Accordion("Settings / الإعدادات", open=False):
                    mode = gr.Radio(
                        ["extractive", "llm"] if llm_available else ["extractive"],
                        value="llm" if llm_available else "extractive",
                        label="Answer mode",
                        elem_id="mode",
                    )
                    k = gr.Slider(1, 10, value=min(settings.k, 10), step=1, label="Passages", elem_id="k")
                    sources = gr.Dropdown(
                        list(initial.sources), multiselect=True, label="Only these documents", elem_id="filter"
                    )
                    with gr.Row():
                        since = gr.Textbox(label="Since / منذ", placeholder="2019-01-01", elem_id="since")
                        until = gr.Textbox(label="Until / حتى", placeholder="2019-12-31", elem_id="until")
                    outlets = gr.Dropdown(
                        assistant.retriever.outlets(),
                        multiselect=True,
                        allow_custom_value=True,
                        label="Only these outlets / المنافذ",
                        elem_id="outlets",
                    )
                with gr.Accordion("Documents / الوثائق", open=True):
                    files = gr.File(
                        file_count="multiple", file_types=UPLOAD_TYPES, label="Add articles", elem_id="upload"
                    )
                    add = gr.Button("Add and index", elem_id="add")
                    reindex_button = gr.Button("Re-index folder", elem_id="reindex")
                    report = gr.Markdown(elem_id="ingest-report")
                    status = gr.Markdown(initial.status, elem_id="status")
        timer = gr.Timer(refresh_seconds)

        answering = {"concurrency_limit": settings.concurrency, "concurrency_id": ANSWERS, "api_visibility": "private"}
        ask_inputs = [question, chatbot, session, k, mode, sources, since, until, outlets]
        ask_outputs = [chatbot, session, source_choice, question]
        send.click(respond, ask_inputs, ask_outputs, **answering)  # type: ignore[arg-type]
        question.submit(respond, ask_inputs, ask_outputs, **answering)  # type: ignore[arg-type]
        clear.click(
            lambda: ([], Session(), gr.update(choices=[], value=None), ""),
            None,
            [chatbot, session, source_choice, viewer],
            api_visibility="private",
        )
        source_choice.change(open_source, [source_choice, session], viewer, api_visibility="private").then(
            None, None, None, js=SCROLL_TO_PASSAGE
        )
        documents = {"concurrency_limit": 4, "concurrency_id": "documents", "api_visibility": "private"}
        add.click(upload, files, [report, status, sources, seen, files], **documents)  # type: ignore[arg-type]
        reindex_button.click(rebuild, None, [report, status, sources, seen], **documents)  # type: ignore[arg-type]
        app.load(on_load, None, [status, sources, outlets, seen], api_visibility="private")
        timer.tick(
            on_tick,
            [seen, sources, outlets],
            [status, sources, outlets, seen],
            api_visibility="private",
            show_progress="hidden",
            concurrency_limit=4,
            concurrency_id="status",
        )
        gr.api(  # type: ignore[attr-defined]
            ask_api,
            api_name="ask",
            concurrency_limit=settings.concurrency,
            concurrency_id=ANSWERS,
            api_visibility="undocumented" if mcp else "public",  # with MCP, the `ask` tool documents it
        )
        if mcp:
            for tool in build_tools(assistant, settings.concurrency):
                gr.api(tool, api_name=f"mcp_{tool.__name__}", queue=False)  # type: ignore[attr-defined]
    return app


def launch(
    app: Any,
    host: str,
    port: int,
    auth: tuple[str, str] | None,
    *,
    block: bool = True,
    max_threads: int = 40,
    mcp: bool = False,
) -> Any:
    """Serve the app: never a public share link; the theme's fonts are local (no requests to the internet).

    The MCP server is on only with `mcp` (GRADIO_MCP_SERVER is ignored), behind the same login as the chat.
    """
    import gradio as gr
    from starlette.middleware import Middleware

    theme = gr.themes.Default(font=["system-ui", "Noto Sans Arabic", "sans-serif"], font_mono=["monospace"])
    app.launch(
        server_name=host,
        server_port=port,
        auth=auth,
        share=False,
        show_error=False,
        prevent_thread_lock=not block,
        max_file_size=f"{MAX_UPLOAD_MB}mb",
        max_threads=max_threads,
        theme=theme,
        css=CSS,
        footer_links=[],
        quiet=True,
        mcp_server=mcp,
        app_kwargs={"middleware": [Middleware(McpLoginGate, user=auth[0], password=auth[1])]} if mcp and auth else None,
    )
    return app
