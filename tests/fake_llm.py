"""A fake OpenAI-compatible chat server on 127.0.0.1: answers after a fixed latency, citing passage [1].

It speaks enough of `POST /v1/chat/completions` (streamed as server-sent events, or whole) for
LangChain's ChatOpenAI, and counts how many requests it serves at once.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PASSAGE_ONE = re.compile(r'<passage n="1"[^>]*>\n(.*?)\n</passage>', re.S)
_SENTENCE = re.compile(r"[^.!?؟؛;\n]+[.!?؟؛;]")


class FakeOpenAIServer:
    """Replies with the first sentence of passage 1 and its marker, `latency` seconds after each request."""

    def __init__(self, latency: float = 2.0) -> None:
        self.latency = latency
        self.requests = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reply(self, messages: list[dict[str, Any]]) -> str:
        """The answer to a chat request: passage 1's first sentence cited, or the follow-up rewrite."""
        prompt = "\n".join(str(m.get("content", "")) for m in messages)
        passage = _PASSAGE_ONE.search(prompt)
        if passage is None:  # a follow-up rewrite: the question unchanged
            return prompt.strip().splitlines()[-1]
        sentence = _SENTENCE.search(passage.group(1))
        text = (sentence.group(0) if sentence else passage.group(1)[:200]).strip()
        return f"{text.rstrip('.!?؟؛;')} [1]."

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                with server._lock:
                    server.requests += 1
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                try:
                    time.sleep(server.latency)
                    text = server.reply(body.get("messages", []))
                    if body.get("stream"):
                        self._stream(text, body.get("model", "fake"))
                    else:
                        self._whole(text, body.get("model", "fake"))
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _whole(self, text: str, model: str) -> None:
                payload = json.dumps(
                    {
                        "id": "fake-1",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": model,
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _stream(self, text: str, model: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                pieces = [text[i : i + 12] for i in range(0, len(text), 12)]
                for number, piece in enumerate([*pieces, None]):
                    delta = {"content": piece} if piece is not None else {}
                    if number == 0:
                        delta["role"] = "assistant"
                    chunk = {
                        "id": "fake-1",
                        "object": "chat.completion.chunk",
                        "created": int(time.time()),
                        "model": model,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": None if piece else "stop"}],
                    }
                    self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        return Handler
