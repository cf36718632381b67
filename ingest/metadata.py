"""Article metadata (title, date, outlet, author, url) from wherever an archive keeps it.

Sources, most trusted first: a sidecar `NAME.json` beside the file, then what the file itself
says: JSON-LD `NewsArticle` (or any schema.org Article), OpenGraph and `article:*` properties,
`<meta name="date">` and its Dublin Core / Parse.ly / Sailthru cousins, `<time datetime>`, the
canonical link; Markdown (YAML or TOML) front matter; the fields of an archive row. Every value
is checked: dates become ISO 8601 (ingest.dates), URLs are kept only when absolute http(s), and an
article with a URL but no outlet is credited to the URL's host.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from ingest.analysis import normalize
from ingest.dates import parse_date
from ingest.records import Metadata

logger = logging.getLogger(__name__)

FIELDS = ("title", "date", "outlet", "author", "url")
FIELD_SPEC_NAMES = ("text", *FIELDS, "id")
"""What `--fields` can name: the body, the metadata fields, and the column that keys an export's rows."""
MAX_VALUE_CHARS = 500
"""Longer values are not metadata (a body pasted into the wrong column); they are dropped."""
SIDECAR_SUFFIX = ".json"

FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "title": ("title", "headline", "heading", "articletitle"),
    "text": ("text", "body", "content", "article", "articlebody", "articletext", "fulltext", "maintext", "story"),
    "date": (
        "date",
        "published",
        "publishedat",
        "publishedtime",
        "publishdate",
        "publicationdate",
        "pubdate",
        "datepublished",
        "articlepublishedtime",
        "datetime",
        "created",
        "createdat",
        "datecreated",
        "time",
        "timestamp",
    ),
    "url": ("url", "link", "canonical", "canonicalurl", "permalink", "href", "uri", "articleurl", "sourceurl"),
    "outlet": (
        "outlet",
        "source",
        "site",
        "sitename",
        "publisher",
        "newspaper",
        "publication",
        "media",
        "channel",
        "domain",
    ),
    "author": ("author", "authors", "byline", "writer", "writers", "creator", "by", "journalist"),
    "id": ("id", "guid", "uuid", "articleid", "docid", "documentid", "key"),
}
"""Field names recognized in rows, sidecars and front matter, compared after `field_key`; earlier wins."""

_ARTICLE_TYPES = {
    "newsarticle",
    "article",
    "reportagenewsarticle",
    "analysisnewsarticle",
    "opinionnewsarticle",
    "backgroundnewsarticle",
    "reviewnewsarticle",
    "blogposting",
    "liveblogposting",
    "webpage",
    "report",
}
_META_NAMES: dict[str, tuple[str, ...]] = {
    "title": ("og:title", "twitter:title", "title", "dc.title", "dcterms.title", "headline", "sailthru.title"),
    "date": (
        "article:published_time",
        "og:article:published_time",
        "og:published_time",
        "datepublished",
        "date",
        "pubdate",
        "publishdate",
        "publish-date",
        "publication_date",
        "original-publish-date",
        "article.published",
        "dc.date.issued",
        "dc.date",
        "dcterms.issued",
        "dcterms.date",
        "dcterms.created",
        "citation_publication_date",
        "parsely-pub-date",
        "sailthru.date",
        "article:published",
    ),
    "outlet": ("og:site_name", "application-name", "publisher", "dc.publisher", "dcterms.publisher"),
    "author": ("author", "article:author", "dc.creator", "dcterms.creator", "parsely-author", "sailthru.author"),
    "url": ("og:url", "twitter:url", "url"),
}
_FRONT_MATTER = re.compile(r"\A\ufeff?(---|\+\+\+)[ \t]*\n(.*?)\n\1[ \t]*(?:\n|\Z)", re.DOTALL)
_NOT_KEY = re.compile(r"[\W_]+")


def field_key(name: str) -> str:
    """A field name compared loosely: case, spaces, '_', '-' and '@' ignored ("Published At" == "published_at")."""
    return _NOT_KEY.sub("", name.casefold())


def find_fields(names: Iterable[str]) -> dict[str, str]:
    """Which of `names` (a row's keys, a CSV header) holds each field: {"text": "body", "date": "pubdate", ...}."""
    by_key: dict[str, str] = {}
    for name in names:
        by_key.setdefault(field_key(name), name)
    found: dict[str, str] = {}
    for field, candidates in FIELD_NAMES.items():
        for candidate in candidates:
            if candidate in by_key and by_key[candidate] not in found.values():
                found[field] = by_key[candidate]
                break
    return found


def metadata_from_mapping(data: Mapping[str, Any], fields: Mapping[str, str] | None = None) -> Metadata:
    """Metadata from a JSON object, a front-matter block or an archive row.

    `fields` names the key of each field ({"date": "pubdate"}); the others are found by their usual names.
    """
    names = {**find_fields(data.keys()), **(fields or {})}
    values = {field: data.get(names[field]) for field in FIELDS if field in names}
    return _checked(
        title=_text(values.get("title")),
        date=_date(values.get("date")),
        outlet=_name(values.get("outlet")),
        author=_people(values.get("author")),
        url=_url(values.get("url")),
    )


def read_sidecar(path: Path) -> tuple[Metadata | None, str | None]:
    """The metadata in the sidecar of the document at `path`, if it has one, and a problem to report.

    The sidecar is `NAME.EXT.json` (e.g. `article.html.json`), else `NAME.json` (`article.json`).
    """
    sidecar = sidecar_path(path)
    if sidecar is None:
        return None, None
    try:
        data = sidecar.read_bytes()
    except OSError as error:
        return None, f"sidecar {sidecar.name} ignored: cannot be read ({error.strerror})"
    meta, problem = parse_sidecar(data, sidecar.name)
    return (None if problem else meta), problem


def parse_sidecar(data: bytes, name: str = "sidecar") -> tuple[Metadata, str | None]:
    """The metadata of a sidecar's bytes, and what is wrong with it (then the metadata is empty)."""
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as error:
        return Metadata(), f"{name} ignored: not readable JSON ({error})"
    if not isinstance(value, dict):
        return Metadata(), f'{name} ignored: it must hold a JSON object, e.g. {{"date": "2019-03-23"}}'
    return metadata_from_mapping(value), None


def sidecar_path(path: Path) -> Path | None:
    """The sidecar file of the document at `path`, when one exists."""
    for candidate in (path.with_name(path.name + SIDECAR_SUFFIX), path.with_suffix(SIDECAR_SUFFIX)):
        if candidate != path and candidate.is_file():
            return candidate
    return None


def split_front_matter(text: str) -> tuple[Metadata, str]:
    """Markdown front matter (YAML between `---` lines, or TOML between `+++`) as metadata, and the rest."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return Metadata(), text
    data = _parse_front_matter(match.group(1), match.group(2))
    if data is None:
        return Metadata(), text  # not front matter after all (a horizontal rule at the top): keep the text whole
    return metadata_from_mapping(data), text[match.end() :]


def html_metadata(soup: Any) -> Metadata:
    """Metadata of a parsed HTML page (BeautifulSoup): JSON-LD first, then meta tags, `<time>`, the canonical link."""
    linked = _json_ld(soup)
    tags = _meta_tags(soup)
    found = {
        field: next((tags[name] for name in names if tags.get(name)), None) for field, names in _META_NAMES.items()
    }
    base = _url(found["url"])
    canonical = soup.find("link", rel=lambda value: value is not None and "canonical" in _words(value), href=True)
    canonical_url = _url(urljoin(base or "", str(canonical["href"]))) if canonical is not None else None
    author = found["author"]
    from_tags = _checked(
        title=_text(found["title"]),
        date=_date(found["date"]) or _time_element(soup),
        outlet=_name(found["outlet"]),
        author=None if author is None or _url(author) else _people(author),  # article:author is often a profile URL
        url=canonical_url or base,
    )
    return linked.or_else(from_tags)


def outlet_from_url(url: str | None) -> str | None:
    """The host of `url` without `www.` ("aawsat.com"), for an article whose outlet is not given."""
    if not url:
        return None
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    return host or None


def with_outlet_from_url(meta: Metadata) -> Metadata:
    """`meta`, credited to its URL's host when it names no outlet."""
    if meta.outlet or not meta.url:
        return meta
    return meta.or_else(Metadata(outlet=outlet_from_url(meta.url)))


def outlet_key(outlet: str | None) -> str:
    """An outlet name as filters compare it: spelling variants and case unified ("الشرق الأوسط" == "الشرق الاوسط")."""
    return " ".join(normalize(outlet or "").split())


def safe_url(url: str | None) -> str | None:
    """`url` when it is an absolute http or https URL with a host, else None (never a javascript: or data: link)."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if any(c in url for c in "\x00\r\n\t\"'<> "):
        return None
    return url


# -- values --------------------------------------------------------------------------------------------------------
def _checked(**values: str | None) -> Metadata:
    kept = {k: v for k, v in values.items() if v is None or len(v) <= MAX_VALUE_CHARS}
    return Metadata(**{field: kept.get(field) for field in FIELDS})


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value")
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return text or None


def _name(value: Any) -> str | None:
    """An outlet: a name, a schema.org Organization, or a URL (then its host)."""
    if isinstance(value, dict):
        value = value.get("name") or value.get("legalName") or value.get("url") or value.get("@id")
    text = _text(value)
    if text is not None and _url(text):
        return outlet_from_url(text)
    return text


def _people(value: Any) -> str | None:
    """One author or several ("A, B"), from text, a schema.org Person, or a list of either."""
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        name = _text(item.get("name") if isinstance(item, dict) else item)
        if name and not _url(name) and name not in names:
            names.append(name)
    return ", ".join(names) or None


def _date(value: Any) -> str | None:
    if isinstance(value, list):
        value = next(iter(value), None)
    if isinstance(value, dict):
        value = value.get("@value")
    return parse_date(value)


def _url(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("@id") or value.get("url")
    text = _text(value)
    return safe_url(text) if text else None


def _words(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.lower().split()
    return [str(v).lower() for v in value] if isinstance(value, Sequence) else []


# -- formats -------------------------------------------------------------------------------------------------------
def _parse_front_matter(fence: str, body: str) -> dict[str, Any] | None:
    try:
        if fence == "+++":
            import tomllib

            data: Any = tomllib.loads(body)
        else:
            import yaml

            data = yaml.safe_load(body)
    except Exception as error:  # noqa: BLE001 - any parser error means "not front matter"
        logger.info("front matter not parsed: %s", error)
        return None
    return data if isinstance(data, dict) else None


def _json_ld(soup: Any) -> Metadata:
    """The first schema.org Article-like item in the page's JSON-LD blocks, as metadata."""
    for script in soup.find_all("script", type=lambda value: value is not None and "ld+json" in value.lower()):
        try:
            data = json.loads(script.string or script.get_text() or "")
        except ValueError:
            continue
        for item in _ld_items(data):
            types = item.get("@type")
            names = [types] if isinstance(types, str) else types if isinstance(types, list) else []
            if any(isinstance(t, str) and field_key(t) in _ARTICLE_TYPES for t in names):
                return _checked(
                    title=_text(item.get("headline") or item.get("name") or item.get("alternativeHeadline")),
                    date=_date(item.get("datePublished") or item.get("dateCreated")),
                    outlet=_name(item.get("publisher") or item.get("sourceOrganization")),
                    author=_people(item.get("author") or item.get("creator")),
                    url=_url(item.get("url")) or _url(item.get("mainEntityOfPage")),
                )
    return Metadata()


def _ld_items(data: Any, depth: int = 0) -> Iterable[dict[str, Any]]:
    if depth > 4:
        return
    if isinstance(data, list):
        for item in data:
            yield from _ld_items(item, depth + 1)
    elif isinstance(data, dict):
        yield data
        if "@graph" in data:
            yield from _ld_items(data["@graph"], depth + 1)


def _meta_tags(soup: Any) -> dict[str, str]:
    """`<meta>` values by lower-cased name, property or itemprop (the first of each wins)."""
    found: dict[str, str] = {}
    for tag in soup.find_all("meta"):
        content = tag.get("content")
        if not isinstance(content, str) or not content.strip():
            continue
        for attribute in ("property", "name", "itemprop"):
            key = tag.get(attribute)
            if isinstance(key, str):
                found.setdefault(key.strip().lower(), content.strip())
    return found


def _time_element(soup: Any) -> str | None:
    """The publication `<time datetime>`: one marked as such (pubdate, itemprop) first, else the first."""
    times = [t for t in soup.find_all("time") if t.get("datetime")]
    marked = [t for t in times if t.has_attr("pubdate") or "datepublished" in str(t.get("itemprop", "")).lower()]
    for element in marked or times[:1]:
        parsed = parse_date(str(element["datetime"]))
        if parsed:
            return parsed
    return None
