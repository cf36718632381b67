"""`assistant chat --mcp`: Gradio's MCP server with the ask and search tools, driven by a real MCP client."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from assistant.cli import build_parser, settings_from
from assistant.service import Assistant
from assistant.settings import AssistantSettings
from assistant.ui import create_app, launch
from tests.conftest import free_port

AUTH = ("reader", "s3cret-pass")


@pytest.fixture(scope="module")
def assistant(lexical_seed_index: AssistantSettings) -> Iterator[Assistant]:
    assistant = Assistant.from_settings(lexical_seed_index)
    yield assistant
    assistant.close()


def serve(assistant: Assistant, *, mcp: bool, auth: tuple[str, str] | None = None) -> tuple[Any, str]:
    app = create_app(assistant, mcp=mcp)
    port = free_port()
    launch(app, "127.0.0.1", port, auth, block=False, mcp=mcp)
    return app, f"http://127.0.0.1:{port}"


def call(url: str, tool: str | None, arguments: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    """Connect with the MCP Python SDK's streamable HTTP client; list the tools, call `tool` when given."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def run() -> Any:
        async with (
            httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30, read=300)) as http,
            streamable_http_client(f"{url}/gradio_api/mcp/", http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = await session.list_tools()
            if tool is None:
                return tools.tools
            return await session.call_tool(tool, arguments)

    return asyncio.run(run())


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_tools_answer_and_search_with_citations(assistant: Assistant) -> None:
    app, url = serve(assistant, mcp=True)
    try:
        tools = {t.name: t for t in call(url, None, {})}
        assert set(tools) == {"ask", "search"}
        assert tools["ask"].inputSchema["required"] == ["question"]
        assert "citations" in (tools["ask"].description or "")
        result = call(url, "ask", {"question": "بماذا هدد المهاجر نيوزيلندا؟"})
        assert not result.isError
        answer = json.loads(result.content[0].text)
        assert answer["language"] == "ar" and not answer["abstained"]
        assert answer["citations"][0]["source"] == "004_13e14b1b79b6834b.txt"
        assert {"date", "outlet", "url", "also_in"} <= set(answer["citations"][0])
        found = json.loads(call(url, "search", {"question": "تفجير منبج", "k": 2}).content[0].text)
        assert len(found) == 2 and {"text", "source", "start", "end", "date", "outlet", "url"} <= set(found[0])
        refused = call(url, "search", {"question": "منبج", "k": 0})
        assert refused.isError and "ASSISTANT_K" not in refused.content[0].text and "k" in refused.content[0].text
        assert "Traceback" not in refused.content[0].text
    finally:
        app.close()


def test_off_by_default_even_with_gradio_variable(assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADIO_MCP_SERVER", "true")
    app, url = serve(assistant, mcp=False)
    try:
        response = httpx.post(f"{url}/gradio_api/mcp/", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert response.status_code == 404
    finally:
        app.close()


def test_behind_the_chat_login(assistant: Assistant) -> None:
    app, url = serve(assistant, mcp=True, auth=AUTH)
    try:
        for headers in ({}, basic("reader", "wrong"), basic("someone", AUTH[1])):
            response = httpx.post(
                f"{url}/gradio_api/mcp/",
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                headers={"Accept": "application/json, text/event-stream", **headers},
            )
            assert response.status_code == 401 and "basic" in response.headers["www-authenticate"].lower()
        with pytest.raises(BaseException):  # noqa: B017 - the SDK wraps the 401 in an exception group
            call(url, None, {})
        result = call(url, "ask", {"question": "ماذا حدث في منبج؟"}, headers=basic(*AUTH))
        assert not result.isError and json.loads(result.content[0].text)["citations"]
        assert httpx.post(f"{url}/gradio_api/call/ask", json={"data": ["منبج"]}).status_code == 401  # HTTP API too
    finally:
        app.close()


def test_cli_flag_and_default_host() -> None:
    args = build_parser().parse_args(["chat", "--mcp"])
    settings = settings_from(args)
    assert settings.mcp and settings.host == "127.0.0.1"
    assert not settings_from(build_parser().parse_args(["chat"])).mcp
