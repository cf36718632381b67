"""Secrets kept out of every message, note, log record and JSON document.

What is hidden: the user:password@ part of any URL, configured secrets (declared `secret`
settings, passwords inside URL settings), values of environment variables named like
credentials (API keys, tokens, passwords), and key-shaped strings (sk-..., Bearer ...).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import traceback
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
MIN_SECRET_CHARS = 4
"""Shorter configured secrets are not replaced (they would garble every message); URLs are masked whatever
their password's length."""
_SECRET_NAMES = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|AUTH|CREDENTIAL)", re.IGNORECASE)
_SECRET_SHAPES = re.compile(
    r"\b(?:sk|pk|hf|gsk|xai|ghp|gho|glpat)[-_][A-Za-z0-9_\-]{8,}|\bBearer\s+\S+",
    re.IGNORECASE,
)
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^\s/@'\"<>]+)@")


def strip_userinfo(url: str) -> str:
    """`url` with its user:password@ replaced by ***@ (for showing where a server is)."""
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", url)


def environment_secrets(environ: Mapping[str, str] | None = None) -> set[str]:
    """Values of environment variables named like credentials, and passwords inside URL-valued variables."""
    env = os.environ if environ is None else environ
    found = set()
    for name, value in env.items():
        if _SECRET_NAMES.search(name) and len(value) >= 6:
            found.add(value)
        for match in _USERINFO.finditer(value):
            _, sep, password = match.group("userinfo").partition(":")
            if sep and password:
                found.add(password)
    return found


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with URL userinfo, `secrets`, credential-named environment values and key shapes replaced by ***."""
    return _redact(text, _known(secrets))


def redact_data(data: Any, secrets: Iterable[str] = ()) -> Any:
    """A JSON-ready structure with every string in it redacted (a new structure; `data` is not changed)."""
    known = _known(secrets)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return _redact(value, known)
        if isinstance(value, Mapping):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [walk(item) for item in value]
        return value

    return walk(data)


def _known(secrets: Iterable[str]) -> list[str]:
    """Every secret to replace, longest first ("user:password" before "password")."""
    found = {s for s in (*secrets, *_registered(), *environment_secrets()) if len(s) >= MIN_SECRET_CHARS}
    return sorted(found, key=len, reverse=True)


def _redact(text: str, known: list[str]) -> str:
    text = strip_userinfo(text)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return _SECRET_SHAPES.sub(MASK, text)


_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False


def _registered() -> frozenset[str]:
    with _lock:
        return frozenset(_secrets)


def protect_logs(secrets: Iterable[str] = ()) -> None:
    """Redact every log record of this process from now on (any logger, any handler), also hiding `secrets`.

    Called by the entry points (CLI, chat) and by `Assistant.from_settings` with the configured secrets;
    calling it again adds secrets.
    """
    global _installed
    with _lock:
        _secrets.update(s for s in secrets if s)
        if _installed:
            return
        _installed = True
        previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            record.msg, record.args = redact(record.getMessage()), None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is left for logging to report
            pass
        return record

    logging.setLogRecordFactory(factory)
