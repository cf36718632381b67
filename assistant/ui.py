"""The web chat (Gradio): a thin adapter over Assistant and ingest.

`create_app()` builds the Blocks without launching them, so tests can drive the app.
All state that belongs to a person (history, settings, last citations) lives in
per-browser-session `gr.State`; nothing is shared between sessions except the index.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from assistant.records import Answer, Citation
from assistant.rendering import escape_text, render_article, render_message, render_sources
from assistant.service import Assistant
from ingest.factories import load_embedder
from ingest.files import IndexBusyError, hash_bytes
from ingest.loading import READERS
from ingest.reports import SyncReport
from ingest.status import index_status
from ingest.sync import sync

logger = logging.getLogger(__name__)

MAX_UPLOAD_MB = 20
UPLOAD_TYPES = sorted(READERS)
EXAMPLES = [
    "ما مدة الرسالة الصوتية الجديدة للبغدادي؟",
    "كم عدد مقاتلي داعش بحسب تقديرات الأمم المتحدة؟",
    "بماذا هدد أبو الحسن المهاجر نيوزيلندا؟",
    "What did the coalition spokesman say about al-Baghdadi?",
    "Where was the last ISIS enclave in Syria?",
]
CSS = """
.msg { unicode-bidi: plaintext; line-height: 1.7; }
.msg[dir=rtl], .article[dir=rtl], .passage[dir=rtl] { text-align: right; }
.cite { font-weight: 600; color: var(--color-accent); unicode-bidi: isolate; }
.source { margin: 0.4em 0; }
.source .verified { color: #1a7f37; font-size: 0.85em; }
.source .unverified { color: #b35900; font-size: 0.85em; }
.passage mark, .article mark { background: #fff3b0; }
.article-body { max-height: 28em; overflow-y: auto; line-height: 1.8; }
#passage-highlight strong { background: #ffd54f; }
"""
SCROLL_TO_PASSAGE = (
    "() => { const m = document.getElementById('passage-highlight'); if (m) m.scrollIntoView({block: 'center'}); }"
)


@dataclass
class Session:
    """One browser session's own state."""

    turns: list[tuple[str, str]] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SavedUpload:
    """What happened to one uploaded file."""

    name: str
    message: str


def sanitize_filename(name: str) -> str:
    """A safe file name: no folders, no control or bidi characters, no leading dots; Arabic letters kept."""
    name = unicodedata.normalize("NFC", Path(name.replace("\\", "/")).name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"[\s]+", " ", re.sub(r'[<>:"/|?*]', "_", name)).strip(" .")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    stem = stem[:120] or "document"
    return f"{stem}.{suffix.lower()}" if suffix else stem


def save_uploads(paths: Sequence[str | Path], docs_dir: Path, max_mb: int = MAX_UPLOAD_MB) -> list[SavedUpload]:
    """Copy uploaded files into `docs_dir` (never outside it); refuse bad types and sizes; report duplicates."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    root = docs_dir.resolve()
    existing = {hash_bytes(p.read_bytes()): p.name for p in root.iterdir() if p.is_file()}
    results = []
    for raw in paths:
        path = Path(raw)
        name = sanitize_filename(path.name)
        if Path(name).suffix.lower() not in READERS:
            results.append(SavedUpload(name, f"refused: only {', '.join(UPLOAD_TYPES)} files can be indexed"))
            continue
        size = path.stat().st_size
        if size > max_mb * 1024 * 1024:
            results.append(SavedUpload(name, f"refused: larger than {max_mb} MB"))
            continue
        data = path.read_bytes()
        digest = hash_bytes(data)
        if digest in existing:
            results.append(SavedUpload(name, f"duplicate of {existing[digest]}: not added again"))
            continue
        target = _free_name(root, name)
        if target.resolve().parent != root:  # belt and braces: the sanitized name has no folders
            results.append(SavedUpload(name, "refused: invalid file name"))
            continue
        shutil.copyfile(path, target)
        existing[digest] = target.name
        results.append(SavedUpload(target.name, "saved"))
    return results


def _free_name(root: Path, name: str) -> Path:
    target = root / name
    stem, suffix = Path(name).stem, Path(name).suffix
    number = 1
    while target.exists():
        target = root / f"{stem}-{number}{suffix}"
        number += 1
    return target


def format_status(assistant: Assistant) -> str:
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
    return "\n".join(["| index | |", "|---|---|", *(f"| {k} | {escape_text(str(v))} |" for k, v in rows)])


def format_report(report: SyncReport, uploads: Sequence[SavedUpload] = ()) -> str:
    """An ingest summary for the documents panel (escaped Markdown)."""
    lines = [
        f"**{len(report.added)} added, {len(report.updated)} updated, {len(report.removed)} removed, "
        f"{len(report.unchanged)} unchanged** in {report.seconds:.1f} s — {report.documents} documents, "
        f"{report.chunks} chunks"
    ]
    lines += [f"- {escape_text(u.name)}: {escape_text(u.message)}" for u in uploads]
    lines += [f"- added: {escape_text(p)}" for p in report.added]
    lines += [f"- duplicate: {escape_text(d.path)} (same as {escape_text(d.duplicate_of)})" for d in report.duplicates]
    lines += [f"- skipped: {escape_text(s.path)}: {escape_text(s.reason)}" for s in report.skipped]
    lines += [f"- ⚠ {escape_text(w)}" for w in report.warnings]
    return "\n".join(lines)


def create_app(assistant: Assistant, *, max_upload_mb: int = MAX_UPLOAD_MB) -> Any:
    """The chat app as `gr.Blocks`, not launched."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    settings = assistant.settings
    docs_dir = settings.index.docs_dir
    ingest_lock = threading.Lock()

    def reindex(uploads: Sequence[SavedUpload] = (), progress: Any = None) -> str:
        if not ingest_lock.acquire(blocking=False):
            return "An ingest is already running; try again when it has finished."
        try:
            embedder = assistant.retriever.embedder  # reuse the loaded model instead of loading a second copy
            report = sync(
                replace(settings.index, lock_wait=30.0),
                [docs_dir],
                progress=progress is not None,
                embedder_factory=(lambda _s: embedder) if embedder is not None else load_embedder,
            )
        except IndexBusyError as error:
            return str(error)
        finally:
            ingest_lock.release()
        return format_report(report, uploads)

    def respond(
        message: str, chat: list[dict[str, Any]], session: Session, k: int, mode: str, sources: list[str]
    ) -> Iterator[tuple[list[dict[str, Any]], Session, Any, str]]:
        question = (message or "").strip()
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
                question, history=history, k=int(k), sources=sources or None, use_llm=(mode == "llm")
            ):
                if isinstance(item, Answer):
                    final = item
                else:
                    text += item
                    yield [*chat, {"role": "assistant", "content": render_message(text)}], session, gr.update(), ""
        except Exception as error:
            logger.exception("answering failed")
            chat.append({"role": "assistant", "content": render_message(f"Error: {error}")})
            yield chat, session, gr.update(), ""
            return
        assert final is not None
        chat.append({"role": "assistant", "content": render_message(final.text)})
        if final.note:
            chat.append({"role": "assistant", "content": render_message(final.note), "metadata": {"title": "Note"}})
        if final.citations:
            title = (
                f"Sources ({len(final.citations)})" if final.language == "en" else f"المصادر ({len(final.citations)})"
            )
            chat.append({"role": "assistant", "content": render_sources(final), "metadata": {"title": title}})
        new_session = Session([*session.turns, (question, final.text)][-10:], list(final.citations))
        choices = [(f"[{c.number}] {c.source} — {c.title}", str(i)) for i, c in enumerate(final.citations)]
        yield chat, new_session, gr.update(choices=choices, value=None), ""

    def open_source(choice: str | None, session: Session) -> str:
        if choice is None or not choice.isdigit() or int(choice) >= len(session.citations):
            return ""
        citation = session.citations[int(choice)]
        text = assistant.retriever.article_text(citation.source)
        if text is None:
            return render_message("This article is no longer in the index.")
        return render_article(citation, text)

    def upload(
        files: list[str] | None,
        progress: Any = gr.Progress(track_tqdm=True),  # noqa: B008 - Gradio injects the tracker
    ) -> tuple[str, str, Any, None]:
        saved = save_uploads(files or [], docs_dir, max_upload_mb)
        summary = reindex(saved, progress) if any(u.message == "saved" for u in saved) else format_uploads(saved)
        return summary, format_status(assistant), gr.update(choices=assistant.retriever.sources()), None

    def rebuild(
        progress: Any = gr.Progress(track_tqdm=True),  # noqa: B008 - Gradio injects the tracker
    ) -> tuple[str, str, Any]:
        summary = reindex((), progress)
        return summary, format_status(assistant), gr.update(choices=assistant.retriever.sources())

    def ask_api(question: str) -> dict[str, Any]:
        """Answer one question; the Answer as JSON (the shape of `assistant ask --json`)."""
        result: dict[str, Any] = json.loads(json.dumps(assistant.ask(question).to_dict(), ensure_ascii=False))
        return result

    llm_available = assistant.chat_model is not None
    with gr.Blocks(title="Arabic news assistant", analytics_enabled=False) as app:
        session = gr.State(Session())
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
                    k = gr.Slider(1, 10, value=settings.k, step=1, label="Passages", elem_id="k")
                    sources = gr.Dropdown(
                        assistant.retriever.sources(), multiselect=True, label="Only these documents", elem_id="filter"
                    )
                with gr.Accordion("Documents / الوثائق", open=True):
                    files = gr.File(
                        file_count="multiple", file_types=UPLOAD_TYPES, label="Add articles", elem_id="upload"
                    )
                    add = gr.Button("Add and index", elem_id="add")
                    reindex_button = gr.Button("Re-index folder", elem_id="reindex")
                    report = gr.Markdown(elem_id="ingest-report")
                    status = gr.Markdown(format_status(assistant), elem_id="status")

        ask_inputs = [question, chatbot, session, k, mode, sources]
        ask_outputs = [chatbot, session, source_choice, question]
        send.click(respond, ask_inputs, ask_outputs, api_visibility="private")
        question.submit(respond, ask_inputs, ask_outputs, api_visibility="private")
        clear.click(
            lambda: ([], Session(), gr.update(choices=[], value=None), ""),
            None,
            [chatbot, session, source_choice, viewer],
            api_visibility="private",
        )
        source_choice.change(open_source, [source_choice, session], viewer, api_visibility="private").then(
            None, None, None, js=SCROLL_TO_PASSAGE
        )
        add.click(upload, files, [report, status, sources, files], api_visibility="private")
        reindex_button.click(rebuild, None, [report, status, sources], api_visibility="private")
        gr.api(ask_api, api_name="ask", concurrency_limit=8)  # type: ignore[attr-defined]
    return app


def format_uploads(saved: Sequence[SavedUpload]) -> str:
    """The upload summary when nothing new was saved."""
    return "\n".join(f"- {escape_text(u.name)}: {escape_text(u.message)}" for u in saved) or "No files."


def launch(app: Any, host: str, port: int, auth: tuple[str, str] | None, *, block: bool = True) -> Any:
    """Serve the app: never a public share link; the theme's fonts are local (no requests to the internet)."""
    import gradio as gr

    theme = gr.themes.Default(font=["system-ui", "Noto Sans Arabic", "sans-serif"], font_mono=["monospace"])
    return app.launch(
        server_name=host,
        server_port=port,
        auth=auth,
        share=False,
        show_error=False,
        prevent_thread_lock=not block,
        max_file_size=f"{MAX_UPLOAD_MB}mb",
        theme=theme,
        css=CSS,
        footer_links=[],
        quiet=True,
    )
