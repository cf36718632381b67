"""Cleaning scraped article text: general rules for the debris that news scrapers leave.

The rules work line by line and know nothing about particular sites: image-link
remnants, headlines repeated on consecutive lines, subscription/account footers,
"related articles" blocks, markdown syntax and invisible control characters.
"""

from __future__ import annotations

import re
import unicodedata

from ingest.analysis import normalize

TITLE_MAX_CHARS = 120

_CONTROL = re.compile("[\u0000-\u0008\u000b-\u001f\u007f\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u3000]+")
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:https?://|/)[^)]*\)")
_MD_HEADING = re.compile(r"^#{1,6}\s+")
_IMAGE_REMNANT = re.compile(r"^[\W_]*(?:[\w\-./%]*)\.(?:jpe?g|png|gif|webp|svg|bmp|avif)\b[\W_]*$", re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")
_SENTENCE_END = re.compile(r"[.!?؟…\"'»”)]\s*$")
_BYLINE_SEPARATORS = (" – ", " — ", " - ", " | ")

# Matched against normalize(line): no harakat, alef forms unified, ة -> ه, lower case.
_BOILERPLATE = re.compile(
    r"اشترك|تشترك|الاشتراك|نشراتنا|النشره البريديه|انشئ حساب|انشاء حساب|سجل الدخول|تسجيل الدخول"
    r"|جميع الحقوق محفوظه|subscribe|subscription|newsletter|sign up|sign in|log in"
    r"|create an account|create your account|all rights reserved|cookie"
)
_BOILERPLATE_MAX_WORDS = 30
_RELATED = re.compile(
    r"^\W*(?:اقرا(?:/ي)?\s+(?:ايضا|المزيد)|شاهد(?:/ي)?\s+ايضا|(?:مواضيع|مقالات|اخبار|قصص)\s+ذات\s+صله"
    r"|related(?:\s+(?:articles|stories|posts|news))?|read\s+(?:more|also|next)|see\s+also|more\s+on\s+this)"
    r"\s*[:：\-–]?\s*(.*)$"
)
_HEADLINE_MAX_WORDS = 16


def clean_text(raw: str) -> str:
    """Article text without scraping debris; paragraphs separated by a blank line."""
    lines = [_clean_line(line) for line in raw.splitlines()]
    kept: list[str] = []
    previous_key = ""
    in_related_block = False
    for line in lines:
        if not _LETTER.search(line) or _IMAGE_REMNANT.match(line):
            continue
        key = normalize(line)
        if key == previous_key:
            continue
        previous_key = key
        related = _RELATED.match(key)
        if related:
            in_related_block = not related.group(1).strip()
            continue
        if in_related_block:
            if _is_headline(line):
                continue
            in_related_block = False
        if _is_boilerplate(key):
            continue
        kept.append(line)
    return "\n\n".join(kept)


def find_title(text: str, fallback: str) -> str:
    """The article's title: a headline the scraper repeated, else the first meaningful line."""
    lines = [line for line in text.split("\n\n") if line]
    title = next((line for line in lines if not _is_byline(line)), fallback)
    return _shorten(title)


def find_title_in_raw(raw: str, cleaned: str, fallback: str) -> str:
    """Prefer a line repeated on consecutive lines of the raw text (a scraped headline)."""
    previous = None
    for line in (_clean_line(line) for line in raw.splitlines()):
        if line and line == previous and _LETTER.search(line) and line in cleaned:
            return _shorten(line)
        previous = line if line else previous
    return find_title(cleaned, fallback)


def _clean_line(line: str) -> str:
    line = unicodedata.normalize("NFC", line)
    line = _CONTROL.sub("", line)
    line = _MD_IMAGE.sub("", line)
    line = _MD_LINK.sub(r"\1", line)
    line = _MD_HEADING.sub("", line.strip())
    return _SPACES.sub(" ", line).strip()


def _is_boilerplate(key: str) -> bool:
    return len(key.split()) <= _BOILERPLATE_MAX_WORDS and bool(_BOILERPLATE.search(key))


def _is_headline(line: str) -> bool:
    return len(line.split()) <= _HEADLINE_MAX_WORDS and not _SENTENCE_END.search(line)


def _is_byline(line: str) -> bool:
    return len(line.split()) <= 6 and any(sep in line for sep in _BYLINE_SEPARATORS)


def _shorten(line: str) -> str:
    if len(line) <= TITLE_MAX_CHARS:
        return line
    cut = line.rfind(" ", 0, TITLE_MAX_CHARS)
    return line[: cut if cut > 0 else TITLE_MAX_CHARS].rstrip(" ,،:؛") + "…"
