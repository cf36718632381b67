"""The chat's MCP tools (`assistant chat --mcp`): `ask` and `search`, served by Gradio's MCP server.

Gradio turns each function below into a tool: its name, its docstring (the description and, under
`Args:`, each parameter's) and its type hints (the input schema). Both return JSON text: an MCP
tool's result is text, and Gradio would otherwise show a dict as Python's repr.

Gradio's own login does not cover its MCP endpoint, and its MCP calls of queued functions cannot
log in. So the tools run outside the queue (at most ASSISTANT_CONCURRENCY at once, a limit of their
own), and with `--auth` every request to `/gradio_api/mcp` must carry the same credentials as HTTP
basic auth (`McpLoginGate`).
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from assistant.advice import advise
from assistant.langchain_retriever import passage_metadata
from assistant.service import Assistant
from ingest.analysis import detect_language
from ingest.redaction import redact_data

logger = logging.getLogger(__name__)

MCP_PATH = "/gradio_api/mcp"


def build_tools(assistant: Assistant, concurrency: int) -> list[Callable[..., str]]:
    """The `ask` and `search` tool functions over `assistant` (each a plain function Gradio can describe)."""
    import gradio as gr

    secrets = assistant.settings.secrets()
    slots = threading.BoundedSemaphore(concurrency)

    def reply(question: str, work: Callable[[], Any]) -> str:
        if not isinstance(question, str):
            raise gr.Error("The question must be text.")
        with slots:
            try:
                result = work()
            except Exception as error:
                logger.exception("MCP tool failed")
                raise gr.Error(advise(error, detect_language(question), secrets)) from None
        return json.dumps(redact_data(result, secrets), ensure_ascii=False)

    def ask(question: str, k: int = 5, since: str = "", until: str = "", outlets: str = "") -> str:
        """Answer a question in Arabic or English from the indexed news articles, citing every claim.

        Returns JSON: `text` (the answer, with [n] markers), `language`, `abstained` (true when the articles do not
        answer it), `mode`, `note`, and `citations`: for each [n] the article's `source`, `title`, `date`, `outlet`,
        `url`, the `quote` used, the `passage` it comes from with its `start`/`end` offsets, and `also_in` (the same
        wire story in other outlets).

        Args:
            question: the question, in Arabic or English
            k: how many passages the answer may draw on (1 to 50)
            since: only articles dated on or after this day, e.g. 2019-01-01 (empty: no limit)
            until: only articles dated on or before this day (empty: no limit)
            outlets: only articles of these outlets, names separated by commas (empty: all)
        """
        return reply(question, lambda: assistant.ask(question, k=k, **_filters(since, until, outlets)).to_dict())

    def search(question: str, k: int = 5, since: str = "", until: str = "", outlets: str = "") -> str:
        """Find the passages of the indexed news articles that best match a question, without answering it.

        Returns a JSON list, best first: each passage's `text`, `source`, `title`, `date`, `outlet`, `author`,
        `url`, `start`/`end` offsets into the article, `score`, and `also_in` (the same wire story in other outlets;
        one passage is given per story).

        Args:
            question: what to search for, in Arabic or English
            k: how many passages to return (1 to 50)
            since: only articles dated on or after this day, e.g. 2019-01-01 (empty: no limit)
            until: only articles dated on or before this day (empty: no limit)
            outlets: only articles of these outlets, names separated by commas (empty: all)
        """
        return reply(
            question,
            lambda: [
                {"text": p.text, **passage_metadata(p)}
                for p in assistant.search(question, k=k, **_filters(since, until, outlets))
            ],
        )

    default_k = assistant.settings.k
    ask.__defaults__ = search.__defaults__ = (default_k, "", "", "")  # k's default: the configured ASSISTANT_K
    return [ask, search]


def _filters(since: str, until: str, outlets: str) -> dict[str, Any]:
    """A tool's filter arguments (text) as `Assistant.ask`'s keywords."""
    names = [n.strip() for n in (outlets or "").split(",") if n.strip()]
    return {"since": (since or "").strip() or None, "until": (until or "").strip() or None, "outlets": names or None}


class McpLoginGate:
    """ASGI middleware: requests to the MCP endpoint need `Authorization: Basic base64(USER:PASSWORD)`."""

    def __init__(self, app: Any, user: str, password: str) -> None:
        self.app = app
        self._expected = b"Basic " + base64.b64encode(f"{user}:{password}".encode())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(MCP_PATH):
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"www-authenticate", b'Basic realm="assistant mcp", charset="UTF-8"'),
                            (b"content-type", b"text/plain; charset=utf-8"),
                        ],
                    }
                )
                body = b"Login required: send the chat's --auth USER:PASSWORD as HTTP basic auth.\n"
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
