"""Chat models for the LLM answerer, built from a spec string through LangChain."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from ingest.redaction import redact

__all__ = ["LLMUnavailableError", "build_chat_model", "invoke_text", "redact", "stream_text"]

EXTRAS = {
    "ollama": ("langchain_ollama", "ollama"),
    "openai": ("langchain_openai", "openai"),
    "anthropic": ("langchain_anthropic", "anthropic"),
    "hf": ("langchain_huggingface", "hf"),
}


class LLMUnavailableError(RuntimeError):
    """The configured chat model cannot be built or did not answer."""


def build_chat_model(spec: str, timeout: float = 60.0) -> Any:
    """`provider:model` (any LangChain provider, e.g. ollama:qwen2.5:7b, openai:gpt-4o-mini) or `hf:<id or path>`."""
    provider, _, model = spec.partition(":")
    if not model:
        raise LLMUnavailableError(
            f"--llm {spec!r} is not provider:model; use e.g. ollama:qwen2.5:7b, openai:gpt-4o-mini or hf:<path>"
        )
    if provider == "hf":
        return _huggingface_chat_model(model)
    _require(provider)
    from langchain.chat_models import init_chat_model

    try:
        return init_chat_model(spec, timeout=timeout, max_retries=0)
    except ImportError as error:
        raise LLMUnavailableError(f"{error}. Install the LangChain package for {provider!r}.") from error
    except ValueError as error:
        raise LLMUnavailableError(f"cannot use --llm {spec!r}: {error}") from error


def _require(provider: str) -> None:
    if provider not in EXTRAS:
        return
    module, extra = EXTRAS[provider]
    try:
        __import__(module)
    except ImportError as error:
        raise LLMUnavailableError(
            f"The {provider!r} provider needs an extra package: pip install 'arabic-news-assistant[{extra}]'"
        ) from error


def _huggingface_chat_model(model: str) -> Any:
    _require("hf")
    from langchain_huggingface import ChatHuggingFace, HuggingFacePipeline
    from transformers import pipeline

    try:
        generator = pipeline(
            "text-generation", model=model, max_new_tokens=384, return_full_text=False, do_sample=False
        )
    except (OSError, ValueError) as error:
        raise LLMUnavailableError(f"cannot load the local model {model!r}: {str(error).splitlines()[0]}") from error
    return ChatHuggingFace(llm=HuggingFacePipeline(pipeline=generator))


def stream_text(model: Any, messages: Sequence[Any], timeout: float) -> Iterator[str]:
    """Text deltas of `model.stream(messages)`; raises LLMUnavailableError on error or after `timeout` seconds."""
    chunks: queue.Queue[tuple[str, Any]] = queue.Queue()

    def produce() -> None:
        try:
            for chunk in model.stream(list(messages)):
                chunks.put(("text", _content(chunk)))
            chunks.put(("end", None))
        except Exception as error:  # noqa: BLE001 - any provider failure becomes a fallback, not a traceback
            chunks.put(("error", error))

    threading.Thread(target=produce, daemon=True, name="llm-stream").start()
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            kind, value = chunks.get(timeout=max(remaining, 0.001))
        except queue.Empty:
            raise LLMUnavailableError(f"no answer within {timeout:g} s") from None
        if kind == "end":
            return
        if kind == "error":
            raise LLMUnavailableError(_describe(value)) from value
        if value:
            yield value


def invoke_text(model: Any, messages: Sequence[Any], timeout: float) -> str:
    """The whole reply as one string (same error handling as `stream_text`)."""
    return "".join(stream_text(model, messages, timeout))


def _content(chunk: Any) -> str:
    content = getattr(chunk, "content", chunk)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content)


def _describe(error: BaseException) -> str:
    text = redact(str(error).strip().splitlines()[0]) if str(error).strip() else ""  # redacted before it is cut
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__
