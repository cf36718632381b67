"""Publication dates as ISO 8601: machine formats, English and Arabic text forms.

Arabic outlets write a date several ways: with the Syriac (Levantine, Iraqi) month names
(كانون الثاني … كانون الأول), the transliterated ones of Egypt and the Gulf (يناير … ديسمبر),
the French-derived ones of the Maghreb (جانفي, أفريل, جوان …), both at once (`أيلول/سبتمبر`,
`آذار (مارس)`), with a weekday, a trailing `م`, a Hijri date beside it, and Arabic-Indic digits.
`parse_date` reads all of these from a metadata value; a Hijri date alone is not converted.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from ingest.analysis import normalize

MIN_YEAR = 1800
MAX_YEAR = 2200

_SYRIAC = {
    "كانون الثاني": 1,
    "شباط": 2,
    "اذار": 3,
    "نيسان": 4,
    "ايار": 5,
    "حزيران": 6,
    "تموز": 7,
    "اب": 8,
    "ايلول": 9,
    "تشرين الاول": 10,
    "تشرين الثاني": 11,
    "كانون الاول": 12,
    "كانون ثاني": 1,
    "تشرين اول": 10,
    "تشرين ثاني": 11,
    "كانون اول": 12,
}
_TRANSLITERATED = {
    "يناير": 1,
    "فبراير": 2,
    "فيبراير": 2,
    "مارس": 3,
    "ابريل": 4,
    "ابرايل": 4,
    "مايو": 5,
    "يونيو": 6,
    "يونيه": 6,
    "يوليو": 7,
    "يوليه": 7,
    "اغسطس": 8,
    "اغسطوس": 8,
    "سبتمبر": 9,
    "اكتوبر": 10,
    "نوفمبر": 11,
    "ديسمبر": 12,
}
_MAGHREBI = {
    "جانفي": 1,
    "فيفري": 2,
    "افريل": 4,
    "ماي": 5,
    "جوان": 6,
    "جويليه": 7,
    "جويليا": 7,
    "يوليوز": 7,
    "اوت": 8,
    "غشت": 8,
    "شتنبر": 9,
    "نونبر": 11,
    "دجنبر": 12,
}
_ENGLISH = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
MONTHS: dict[str, int] = {**_SYRIAC, **_TRANSLITERATED, **_MAGHREBI, **_ENGLISH}
"""Every month name understood, normalized (ingest.analysis.normalize), to its number."""

_NAME = "|".join(sorted((re.escape(n) for n in MONTHS), key=len, reverse=True))
_MONTH = rf"(?<![^\W\d_])(?:{_NAME})(?![^\W\d_])"
# One month, or two names of it: "ايلول/سبتمبر", "اذار (مارس)", "اذار - مارس"; the second may be misspelled.
_MONTH_GROUP = rf"(?P<month>{_MONTH})\.?(?:\s*(?:/|\(|-|–)\s*(?P<second>[^\W\d_]+(?:\s+[^\W\d_]+)?)\s*\)?)?"
_YEAR = r"\s*[,،]?\s*(?:(?:عام|سنه)\s+)?(?P<year>\d{4})(?!\d)"
_DAY_FIRST = re.compile(rf"(?<!\d)(?P<day>\d{{1,2}})\s*(?:st|nd|rd|th)?\s+(?:من\s+)?{_MONTH_GROUP}{_YEAR}")
_MONTH_FIRST = re.compile(rf"{_MONTH_GROUP}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?{_YEAR}")
_ISO = re.compile(
    r"(?P<year>\d{4})-?(?P<month>\d{2})-?(?P<day>\d{2})"
    r"(?:[T\s](?P<hour>\d{2}):?(?P<minute>\d{2})(?::?(?P<second>\d{2})(?:[.,]\d+)?)?"
    r"\s*(?P<zone>Z|[+-]\d{2}(?::?\d{2})?)?)?$",
    re.IGNORECASE,
)
_YEAR_FIRST = re.compile(r"(?<!\d)(?P<year>\d{4})[/.\-](?P<month>\d{1,2})[/.\-](?P<day>\d{1,2})(?!\d)")
_DAY_FIRST_NUMERIC = re.compile(r"(?<!\d)(?P<day>\d{1,2})[/.\-](?P<month>\d{1,2})[/.\-](?P<year>\d{4})(?!\d)")


def parse_date(value: object) -> str | None:
    """`value` as an ISO 8601 date ("2019-03-23"), or date and time when it has one; None when it is no date.

    Numeric dates are read day first (23/03/2019), as Arabic outlets write them.
    """
    if isinstance(value, datetime):
        return _iso_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 1e8:
        return _from_timestamp(float(value))  # seconds (or milliseconds) since 1970; small numbers are no dates
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    if not text or len(text) > 200:
        return None
    return _parse_iso(text) or _parse_rfc2822(text) or _parse_text(normalize(text))


def date_key(iso: str | None) -> int | None:
    """The calendar day of an ISO date as a number (20190323), for range filters; None without a date."""
    if not iso or len(iso) < 10:
        return None
    try:
        day = date.fromisoformat(iso[:10])
    except ValueError:
        return None
    return day.year * 10_000 + day.month * 100 + day.day


def _parse_iso(text: str) -> str | None:
    match = _ISO.match(text)
    if not match:
        return None
    day = _day(match["year"], match["month"], match["day"])
    if day is None:
        return None
    if match["hour"] is None:
        return day.isoformat()
    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"] or 0)
    if hour > 23 or minute > 59 or second > 59:
        return day.isoformat()
    zone = None
    if match["zone"]:
        zone = _zone(match["zone"])
    moment = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=zone)
    return _iso_datetime(moment)


def _parse_rfc2822(text: str) -> str | None:
    if not re.search(r"\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{1,2}:\d{2}", text):
        return None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        return None
    return _iso_datetime(moment)


def _parse_text(text: str) -> str | None:
    """Dates written in words or digits inside a longer value (a weekday, a Hijri date beside it, ...).

    The first valid Gregorian date wins; a Hijri year (13xx-15xx) is below MIN_YEAR, so a Hijri date
    written beside the Gregorian one is passed over.
    """
    for pattern in (_DAY_FIRST, _MONTH_FIRST):
        for found in pattern.finditer(text):
            month = MONTHS[found["month"]]
            second = found["second"]
            if second is not None and second in MONTHS and MONTHS[second] != month:
                continue  # two month names that disagree: not a date to trust
            parsed = _day(found["year"], str(month), found["day"])
            if parsed is not None:
                return parsed.isoformat()
    for pattern in (_YEAR_FIRST, _DAY_FIRST_NUMERIC):
        for found in pattern.finditer(text):
            parsed = _day(found["year"], found["month"], found["day"])
            if parsed is not None:
                return parsed.isoformat()
    return None


def _day(year: str, month: str, day: str) -> date | None:
    try:
        parsed = date(int(year), int(month), int(day))
    except ValueError:
        return None
    return parsed if MIN_YEAR <= parsed.year <= MAX_YEAR else None


def _zone(text: str) -> timezone:
    if text.upper() == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _iso_datetime(moment: datetime) -> str:
    if moment.hour == moment.minute == moment.second == 0 and moment.tzinfo is None:
        return moment.date().isoformat()
    return moment.replace(microsecond=0).isoformat()


def _from_timestamp(seconds: float) -> str | None:
    if seconds > 1e11:  # milliseconds since the epoch, as JavaScript writes them
        seconds /= 1000
    try:
        moment = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return _iso_datetime(moment) if MIN_YEAR <= moment.year <= MAX_YEAR else None
