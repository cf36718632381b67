"""Generated news archives: stories from ARCD/XQuAD paragraphs and the seeds, wire copies with realistic edits.

A *story* is a few paragraphs on one subject (the paragraphs of one ARCD or XQuAD article, or one seed).
A *wire copy* is the story as another outlet ran it: a changed headline, an added byline or dateline,
trimmed closing paragraphs, a few words changed, other hamza/ة/ى spellings and harakat, other
punctuation and quote marks, paragraphs joined or split, the outlet's own "read also" footer.
Hard negatives are *roundups*: articles that reuse a background paragraph or a quote of another story
(at most a quarter of it) amid text of their own (at least 70% of the roundup: sentences drawn one by one
from all the other stories), which are not copies; and the two halves of each XQuAD article, two
stories on one subject in the same words.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from ingest.cleaning import clean_text

ROOT = Path(__file__).resolve().parent.parent
EVAL_DIR = ROOT.parent / "shared" / "eval"
SEEDS = ROOT / "seeds"

OUTLETS = (
    "الشرق الأوسط",
    "الحياة",
    "العربية",
    "الجزيرة",
    "الحرة",
    "سكاي نيوز عربية",
    "القدس العربي",
    "الترا عراق",
    "ارفع صوتك",
    "المصري اليوم",
    "النهار",
    "عنب بلدي",
)
AGENCIES = ("رويترز", "أ ف ب", "د ب أ", "الأناضول", "سبوتنيك", "أسوشيتد برس")
CITIES = ("بيروت", "بغداد", "القاهرة", "دمشق", "عمان", "واشنطن", "الموصل", "الرقة", "أربيل", "الرياض")
TRIM_KEEP = 0.6
"""A trimmed copy keeps at least this share of the story's text (outlets cut the tail, not the lede)."""
BORROWED_SHARE = 0.25
"""A roundup borrows at most this share of another story: a background paragraph or a quote, not the story."""
EDITS = ("headline", "byline", "trim", "words", "spelling", "punctuation", "reflow", "footer")
_HEADLINE_OPENERS = ("عاجل:", "بالفيديو:", "تقرير:", "خاص:", "عاجل |", "")
_SYNONYMS = {
    "قال": "أكد",
    "أكد": "قال",
    "أعلن": "أفاد",
    "الذي": "التي",
    "في": "فى",
    "على": "علي",
    "إلى": "الى",
    "أن": "ان",
    "بعد": "عقب",
    "كما": "وكذلك",
    "مدينة": "بلدة",
    "the": "a",
}


@dataclass(frozen=True)
class Story:
    """One story: an id, its headline and its paragraphs."""

    id: str
    title: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Doc:
    """One article of a generated archive; `story` names the story it copies (its own id when it is unique)."""

    name: str
    story: str
    text: str
    edits: tuple[str, ...] = ()


def public_stories(eval_dir: Path = EVAL_DIR) -> list[Story]:
    """ARCD articles (paragraphs merged by title) and XQuAD-ar articles split in two same-topic halves."""
    stories: list[Story] = []
    seen: set[str] = set()
    arcd: dict[str, list[str]] = {}
    for article in json.loads((eval_dir / "arcd" / "arcd.json").read_text(encoding="utf-8"))["data"]:
        paragraphs = arcd.setdefault(article["title"].strip(), [])
        for paragraph in article["paragraphs"]:
            text = " ".join(paragraph["context"].split())
            if text not in seen:
                seen.add(text)
                paragraphs.append(text)
    for number, (title, paragraphs) in enumerate(sorted(arcd.items())):
        if paragraphs:
            stories.append(Story(f"arcd-{number:03d}", title, tuple(paragraphs)))
    xquad = json.loads((eval_dir / "xquad" / "xquad.ar.json").read_text(encoding="utf-8"))["data"]
    for number, article in enumerate(xquad):
        paragraphs = [" ".join(p["context"].split()) for p in article["paragraphs"]]
        half = (len(paragraphs) + 1) // 2
        title = paragraphs[0].split("،")[0].split(".")[0][:60]
        for part, chunk in enumerate((paragraphs[:half], paragraphs[half:])):
            if chunk:
                stories.append(Story(f"xquad-{number:02d}-{part}", title, tuple(chunk)))
    return stories


def seed_stories(seeds: Path = SEEDS) -> list[Story]:
    """The five seed articles, one paragraph a line."""
    stories = []
    for path in sorted(seeds.glob("*.txt")):
        lines = [line for line in clean_text(path.read_text(encoding="utf-8")).split("\n\n") if line]
        stories.append(Story(f"seed-{path.stem[:3]}", lines[0][:80], tuple(lines[1:])))
    return stories


def render(title: str, paragraphs: Sequence[str]) -> str:
    """An article's text: headline, blank line, paragraphs separated by blank lines."""
    return "\n\n".join([title, *paragraphs]) + "\n"


def wire_copy(story: Story, rng: random.Random, edits: Sequence[str], vocabulary: Sequence[str]) -> str:
    """`story` as another outlet ran it, with `edits` (names from EDITS) applied."""
    title = story.title
    paragraphs = list(story.paragraphs)
    if "trim" in edits:
        paragraphs = _trim(paragraphs, rng)
    if "words" in edits:
        paragraphs = [_edit_words(p, rng, vocabulary) for p in paragraphs]
    if "spelling" in edits:
        paragraphs = [_respell(p, rng) for p in paragraphs]
    if "punctuation" in edits:
        paragraphs = [_repunctuate(p, rng) for p in paragraphs]
    if "reflow" in edits and len(paragraphs) > 2:
        at = rng.randrange(len(paragraphs) - 1)
        paragraphs[at : at + 2] = [paragraphs[at] + " " + paragraphs[at + 1]]
    if "headline" in edits:
        opener = rng.choice(_HEADLINE_OPENERS)
        words = title.split()
        title = f"{opener} {' '.join(words[: max(2, len(words) - 1)])} {rng.choice(vocabulary)}".strip()
    if "byline" in edits:
        city, agency = rng.choice(CITIES), rng.choice(AGENCIES)
        form = rng.randrange(3)
        if form == 0:
            paragraphs[0] = f"{city} - {agency}: {paragraphs[0]}"
        elif form == 1:
            paragraphs.insert(0, f"{city} ({agency})")
        else:
            paragraphs.insert(0, f"{rng.choice(OUTLETS)} – {agency}")
    if "footer" in edits:
        paragraphs.append(f"اقرأ أيضا: {rng.choice(vocabulary)} {rng.choice(vocabulary)} {rng.choice(vocabulary)}")
        paragraphs.append(f"© {rng.choice(OUTLETS)} جميع الحقوق محفوظة")
    return render(title, paragraphs)


def measured_set(
    stories: Sequence[Story],
    *,
    seed: int = 13,
    copy_share: float = 0.4,
    max_copies: int = 4,
    roundups: int = 60,
) -> list[Doc]:
    """Every story once, wire copies of `copy_share` of them (1 to `max_copies` each), and `roundups` hard negatives."""
    rng = random.Random(seed)
    vocabulary = sorted({w for s in stories for p in s.paragraphs for w in p.split() if len(w) > 3})
    docs = [Doc(f"{s.id}.txt", s.id, render(s.title, s.paragraphs)) for s in stories]
    copied = rng.sample(list(stories), round(len(stories) * copy_share))
    for story in copied:
        for number in range(rng.randint(1, max_copies)):
            edits = tuple(e for e in EDITS if rng.random() < 0.5) or (rng.choice(EDITS),)
            text = wire_copy(story, rng, edits, vocabulary)
            docs.append(Doc(f"{story.id}-copy{number}.txt", story.id, text, edits))
    long_enough = [s for s in stories if len(s.paragraphs) >= 3]
    sentences = [(s.id, t) for s in stories for p in s.paragraphs for t in p.split(". ") if len(t) > 40]
    for number in range(roundups):
        source = rng.choice(long_enough)
        background = _borrowed(source, rng)
        own: list[str] = []
        while sum(len(t) for t in own) < 2.5 * len(background):  # the roundup's own text: 70% or more
            origin, sentence = rng.choice(sentences)
            if origin != source.id:
                own.append(sentence.rstrip(".") + ".")
        paragraphs = [" ".join(own[i : i + 3]) for i in range(0, len(own), 3)]
        paragraphs.insert(rng.randrange(len(paragraphs) + 1), background)
        name = f"roundup-{number:03d}"
        docs.append(Doc(f"{name}.txt", name, render("ملف: " + source.title, paragraphs)))
    return docs


def pairwise_quality(truth: dict[str, str], predicted: dict[str, str]) -> tuple[float, float]:
    """Precision and recall of the pairs of articles put in one story (`predicted` may leave singletons out)."""
    true_pairs = _pairs(truth)
    found_pairs = _pairs(predicted)
    hits = len(true_pairs & found_pairs)
    precision = hits / len(found_pairs) if found_pairs else 1.0
    recall = hits / len(true_pairs) if true_pairs else 1.0
    return precision, recall


def _pairs(groups: dict[str, str]) -> set[tuple[str, str]]:
    members: dict[str, list[str]] = {}
    for name, group in groups.items():
        members.setdefault(group, []).append(name)
    return {pair for names in members.values() for pair in combinations(sorted(names), 2)}


def _trim(paragraphs: list[str], rng: random.Random, keep: float = TRIM_KEEP) -> list[str]:
    """The closing paragraphs dropped (one or two), or the last sentences, keeping at least `keep` of the text."""
    total = sum(len(p) for p in paragraphs)
    drop = rng.randint(1, 2)
    while drop and len(paragraphs) > 1 and sum(len(p) for p in paragraphs[:-drop]) >= keep * total:
        paragraphs = paragraphs[:-drop]
        return paragraphs
    sentences = paragraphs[-1].split(". ")
    while len(sentences) > 1 and sum(len(p) for p in paragraphs) - len(sentences[-1]) >= keep * total:
        sentences = sentences[:-1]
        paragraphs = [*paragraphs[:-1], ". ".join(sentences)]
    return paragraphs


def _borrowed(story: Story, rng: random.Random, share: float = BORROWED_SHARE) -> str:
    """A background paragraph of `story`, or its first sentences, at most `share` of the story's text."""
    limit = share * sum(len(p) for p in story.paragraphs)
    fitting = [p for p in story.paragraphs if len(p) <= limit]
    if fitting:
        return rng.choice(fitting)
    sentences = rng.choice(story.paragraphs).split(". ")
    piece = sentences[0]
    for sentence in sentences[1:]:
        if len(piece) + len(sentence) + 2 > limit:
            break
        piece = f"{piece}. {sentence}"
    return piece[: int(limit)]


def _edit_words(text: str, rng: random.Random, vocabulary: Sequence[str]) -> str:
    words = []
    for word in text.split():
        roll = rng.random()
        if word in _SYNONYMS and roll < 0.5:
            words.append(_SYNONYMS[word])
        elif roll < 0.03:
            words.append(rng.choice(vocabulary))
        elif roll < 0.05:
            continue
        else:
            words.append(word)
    return " ".join(words)


def _respell(text: str, rng: random.Random) -> str:
    out = []
    for word in text.split():
        roll = rng.random()
        if roll < 0.3:
            word = word.replace("أ", "ا").replace("إ", "ا").replace("آ", "ا")
        elif roll < 0.4 and word.endswith("ة"):
            word = word[:-1] + "ه"
        elif roll < 0.5 and word.endswith("ي"):
            word = word[:-1] + "ى"
        elif roll < 0.55 and len(word) > 3:
            word = word[:2] + "ـ" + word[2:]
        elif roll < 0.65 and len(word) > 2:
            word = word[0] + "َ" + word[1:]
        out.append(word)
    return " ".join(out)


def _repunctuate(text: str, rng: random.Random) -> str:
    swaps = [('"', "«"), ("«", '"'), ("»", '"'), (",", "،"), ("،", ","), (".", "."), (":", " -")]
    for old, new in swaps:
        if rng.random() < 0.5:
            text = text.replace(old, new)
    return text


OUTLET_DOMAINS = {
    "الشرق الأوسط": "aawsat.com",
    "الحياة": "alhayat.com",
    "العربية": "alarabiya.net",
    "الجزيرة": "aljazeera.net",
    "الحرة": "alhurra.com",
    "سكاي نيوز عربية": "skynewsarabia.com",
    "القدس العربي": "alquds.co.uk",
    "الترا عراق": "ultrairaq.ultrasawt.com",
    "ارفع صوتك": "irfaasawtak.com",
    "المصري اليوم": "almasryalyoum.com",
    "النهار": "annahar.com",
    "عنب بلدي": "enabbaladi.net",
}
_LEVANTINE = (
    "كانون الثاني",
    "شباط",
    "آذار",
    "نيسان",
    "أيار",
    "حزيران",
    "تموز",
    "آب",
    "أيلول",
    "تشرين الأول",
    "تشرين الثاني",
    "كانون الأول",
)
_EGYPTIAN: tuple[str, ...] = ("يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر")
_EGYPTIAN += ("أكتوبر", "نوفمبر", "ديسمبر")
_ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


Row = dict[str, str]


def archive_rows(count: int, *, seed: int = 2019, copy_share: float = 0.1, eval_dir: Path = EVAL_DIR) -> list[Row]:
    """A news archive of `count` rows (JSON objects), `copy_share` of them wire copies of another row.

    Distinct articles are 2-4 paragraphs of 5-9 clauses (the pieces between commas and full stops, of 4 to 20
    words) drawn from the paragraphs of ARCD, XQuAD-ar and the seeds: whole paragraphs or sentences would
    be reused by dozens of the 10,000 articles (the sets hold about 0.4 M characters, the archive 15 M), making
    "distinct" articles near-copies of each other. Each article has an outlet, a date in 2014-2020 written the ways
    archives write it (ISO, `23 آذار/مارس 2019`, `٢٣ مارس ٢٠١٩`, `23/03/2019`), a URL and sometimes an author.
    A wire copy is another outlet's version of one (tests/news_corpus.wire_copy edits), dated 0-3 days later.
    `story` holds the truth: the id of the article a copy was made from, else the row's own id.
    """
    import datetime

    rng = random.Random(seed)
    # Without the public sets beside the checkout (../shared/eval), the seeds alone make the archive.
    public = public_stories(eval_dir) if (eval_dir / "arcd" / "arcd.json").is_file() else []
    stories = public + seed_stories()
    pieces = (c.strip() for s in stories for p in s.paragraphs for c in _CLAUSE.split(p))
    clauses = sorted({part for c in pieces for part in _short(c) if len(part.split()) >= 4})
    vocabulary = sorted({w for c in clauses for w in c.split() if len(w) > 3})
    copies = round(count * copy_share)
    originals: list[tuple[Row, Story]] = []
    rows: list[Row] = []
    start = datetime.date(2014, 1, 1).toordinal()
    span = datetime.date(2020, 12, 31).toordinal() - start
    for number in range(count - copies):
        paragraphs = tuple(_paragraph(clauses, rng) for _ in range(rng.randint(2, 4)))
        title = " ".join(paragraphs[0].split()[: rng.randint(5, 10)])
        story = Story(f"a{number:05d}", title, paragraphs)
        outlet = rng.choice(OUTLETS)
        day = datetime.date.fromordinal(start + rng.randrange(span))
        row = _row(story.id, title, "\n\n".join(paragraphs), outlet, day, rng, story.id)
        originals.append((row, story))
        rows.append(row)
    for number in range(copies):
        source_row, story = rng.choice(originals)
        outlet = rng.choice([o for o in OUTLETS if o != source_row["site"]])
        day = datetime.date.fromisoformat(source_row["iso_date"]) + datetime.timedelta(days=rng.randint(0, 3))
        edits = tuple(e for e in EDITS if rng.random() < 0.5) or (rng.choice(EDITS),)
        text = wire_copy(story, rng, edits, vocabulary)
        title = text.split("\n", 1)[0]
        rows.append(_row(f"w{number:05d}", title, text.split("\n\n", 1)[1], outlet, day, rng, source_row["story"]))
    rng.shuffle(rows)
    return rows


_CLAUSE = re.compile(r"(?<=[.،,؛:!?؟])\s+")


def _short(clause: str, most: int = 20) -> list[str]:
    """A clause, or a long run-on one (a paragraph without commas) cut into pieces of at most `most` words."""
    words = clause.split()
    return [" ".join(words[i : i + most]) for i in range(0, len(words), most)]


def _paragraph(clauses: Sequence[str], rng: random.Random) -> str:
    """A paragraph of 5-9 random clauses, joined as sentences of two to three clauses."""
    picked = rng.sample(clauses, rng.randint(5, 9))
    return " ".join(c if c[-1] in ".،,؛:!?؟" else c + "." for c in picked)


def _row(identity: str, title: str, text: str, outlet: str, day: object, rng: random.Random, story: str) -> Row:
    import datetime

    assert isinstance(day, datetime.date)
    form = rng.random()
    if form < 0.5:
        written = day.isoformat()
    elif form < 0.7:
        written = f"{day.day} {_LEVANTINE[day.month - 1]}/{_EGYPTIAN[day.month - 1]} {day.year}"
    elif form < 0.85:
        written = f"{day.day} {_EGYPTIAN[day.month - 1]} {day.year}".translate(_ARABIC_DIGITS)
    else:
        written = f"{day.day:02d}/{day.month:02d}/{day.year}"
    row = {
        "id": identity,
        "headline": title,
        "body": text,
        "published_at": written,
        "site": outlet,
        "link": f"https://www.{OUTLET_DOMAINS[outlet]}/news/{identity}",
        "iso_date": day.isoformat(),
        "story": story,
    }
    if rng.random() < 0.4:
        row["byline"] = rng.choice(("فريق التحرير", "أحمد علي", "سارة حسن", "مراسل الموقع", "وكالات"))
    return row
