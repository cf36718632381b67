"""Fixed phrases of the answers in Arabic and English, read from assistant/prompts/phrases.json."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from assistant.records import Language


@cache
def _phrases() -> dict[str, dict[str, str]]:
    text = resources.files("assistant.prompts").joinpath("phrases.json").read_text(encoding="utf-8")
    data: dict[str, dict[str, str]] = json.loads(text)
    return data


def phrase(name: str, language: Language, **values: str) -> str:
    """The phrase `name` in `language`, with {placeholders} filled from `values`."""
    template = _phrases()[name][language]
    return template.format(**values) if values else template


def prompt(name: str, language: Language) -> str:
    """A prompt template file, assistant/prompts/<name>.<language>.txt."""
    return resources.files("assistant.prompts").joinpath(f"{name}.{language}.txt").read_text(encoding="utf-8")
