"""Measure retrieval and answers on a question set: SQuAD JSON (indexed on the fly) or JSONL (the live index).

SQuAD files (ARCD, XQuAD): every unique paragraph becomes one document `pNNNNN.txt` of a
temporary index built with the configured embedding model; a question's relevant document is
the file of its paragraph. JSONL files (one `{"question", "sources"?, "answers"?}` per line)
are measured against the index named by the settings. Retrieval is ranked with k=10 passages;
the answer is the assistant's full answer (extractive or LLM) with the configured k.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from assistant.llm import build_chat_model
from assistant.notes import render_notes
from assistant.records import Answer
from assistant.settings import AssistantSettings
from ingest.analysis import normalize
from ingest.embedding import Embedder, EmbeddingUnavailableError, resolve_model
from ingest.factories import load_embedder
from ingest.settings import Settings
from ingest.sync import sync

logger = logging.getLogger(__name__)

RANK_DEPTH = 10
"""Passages retrieved per question for the ranking metrics."""
CUTOFFS = (1, 5, 10)

Format = Literal["squad", "jsonl"]

_MARKER = re.compile(r"\s*\[\d+(?:\s*[,،]\s*\d+)*\]")


class EvalFileError(ValueError):
    """The evaluation file cannot be read as SQuAD JSON or JSONL."""


@dataclass(frozen=True, slots=True)
class EvalItem:
    """One question with what counts as a right retrieval and a right answer."""

    question: str
    relevant: tuple[str, ...] | None
    """Sources that answer the question; None (or empty) leaves the item out of the ranking metrics."""
    answers: tuple[str, ...] | None
    """Gold answer texts; () marks an unanswerable question; None leaves the item out of the answer metrics."""


@dataclass(frozen=True, slots=True)
class EvalSet:
    """The questions of one file and, for SQuAD, the unique paragraphs to index (`paragraph_file(i)`)."""

    name: str
    format: Format
    items: tuple[EvalItem, ...]
    paragraphs: tuple[str, ...] = ()

    def head(self, limit: int | None) -> EvalSet:
        """The first `limit` questions (all of them when `limit` is None); the paragraphs stay whole."""
        return self if limit is None else replace(self, items=self.items[:limit])


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Retrieval and answer quality on one question set; `to_dict()` is the `eval --json` output."""

    file: str
    format: Format
    questions: int
    ranked_questions: int
    """Questions with relevant sources (the denominator of Recall@k and MRR@10)."""
    recall_at_1: float | None
    recall_at_5: float | None
    recall_at_10: float | None
    mrr_at_10: float | None
    answerable_questions: int
    answer_containment: float | None
    """Share of answerable questions whose answer contains a gold answer (normalized text)."""
    unanswerable_questions: int
    abstained_questions: int
    """Scored answers that abstained (the denominator of abstention precision)."""
    abstention_precision: float | None
    """Unanswerable among the abstained (None when nothing was abstained or no question is unanswerable)."""
    abstention_recall: float | None
    """Abstained among the unanswerable (None when no question is unanswerable)."""
    seconds_per_question: float
    """Mean wall-clock seconds per question: the k=10 retrieval plus the answer when it is scored."""
    mode: str
    dense: bool
    model: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SquadQuestion:
    """One question of a SQuAD file, with its paragraph (an index into `SquadFile.paragraphs`)."""

    id: str
    question: str
    paragraph: int
    answers: tuple[str, ...]
    """Gold answer texts; () for an unanswerable question (`is_impossible`)."""


@dataclass(frozen=True, slots=True)
class SquadFile:
    """A SQuAD v1.1/v2 file: its unique paragraphs (first-seen order), their article titles, its questions."""

    name: str
    paragraphs: tuple[str, ...]
    titles: tuple[str, ...]
    questions: tuple[SquadQuestion, ...]


# ---------------------------------------------------------------- metrics (pure)


Ranked = Sequence[str | Collection[str]]
"""Retrieved passages, best first: each one's source, or every source it stands for (its own and the other
copies of its wire story, listed under `also_in`: retrieval shows one copy of a story, so a relevant copy is
found when any of them is)."""


def stands_for(entry: str | Collection[str]) -> frozenset[str]:
    """The sources one ranked passage stands for."""
    return frozenset((entry,)) if isinstance(entry, str) else frozenset(entry)


def stood_for(passages: Iterable[Any]) -> list[frozenset[str]]:
    """Each retrieved passage as the sources it stands for: its own and those under its `also_in`."""
    return [frozenset((p.source, *(c.source for c in p.also_in))) for p in passages]


def first_relevant_rank(sources: Ranked, relevant: Iterable[str]) -> int:
    """1-based rank of the first passage from (or standing for) a relevant source; 0 when none is among `sources`."""
    gold = set(relevant)
    return next((rank for rank, entry in enumerate(sources, start=1) if not gold.isdisjoint(stands_for(entry))), 0)


def reciprocal_rank(rank: int, depth: int = max(CUTOFFS)) -> float:
    """1/rank within the first `depth` (0 beyond it, or when nothing relevant was found)."""
    return 1.0 / rank if 0 < rank <= depth else 0.0


def rank_metrics(
    ranked: Sequence[Ranked], relevant: Sequence[Sequence[str]], cutoffs: Sequence[int] = CUTOFFS
) -> dict[str, float | None]:
    """Recall@k for each cutoff and MRR@max(cutoffs), averaged over items (None for no items).

    `ranked[i]` is the source of each retrieved passage (or the sources it stands for: `Ranked`), best
    first (a source may repeat);
    Recall@k is the share of item i's relevant sources among its first k passages; MRR uses the
    first relevant passage.
    """
    if len(ranked) != len(relevant):
        raise ValueError(f"{len(ranked)} rankings for {len(relevant)} relevance sets; give one per item")
    depth = max(cutoffs)
    names = [f"recall_at_{k}" for k in cutoffs] + [f"mrr_at_{depth}"]
    if not ranked:
        return dict.fromkeys(names)
    sums = dict.fromkeys(names, 0.0)
    for sources, wanted in zip(ranked, relevant, strict=True):
        gold = set(wanted)
        if not gold:
            raise ValueError("an item has no relevant sources; leave it out of the ranking metrics")
        for k in cutoffs:
            found = frozenset().union(*(stands_for(entry) for entry in sources[:k]))
            sums[f"recall_at_{k}"] += len(gold & found) / len(gold)
        sums[f"mrr_at_{depth}"] += reciprocal_rank(first_relevant_rank(sources, gold), depth)
    return {name: total / len(ranked) for name, total in sums.items()}


def comparable(text: str) -> str:
    """Text as answers are compared: citation markers dropped, normalized, whitespace collapsed."""
    return " ".join(normalize(_MARKER.sub("", text)).split())


def contains_answer(answer: Answer, gold: Sequence[str]) -> bool:
    """True when the (non-abstained) answer contains any gold answer text, after `comparable()`."""
    if answer.abstained:
        return False
    text = comparable(answer.text)
    return any(g and g in text for g in (comparable(g) for g in gold))


def abstention_metrics(abstained: Sequence[bool], unanswerable: Sequence[bool]) -> dict[str, float | None]:
    """Precision and recall of abstaining, the positive class (None where the denominator is 0)."""
    if len(abstained) != len(unanswerable):
        raise ValueError(f"{len(abstained)} answers for {len(unanswerable)} labels; give one per item")
    both = sum(a and u for a, u in zip(abstained, unanswerable, strict=True))
    n_abstained, n_unanswerable = sum(abstained), sum(unanswerable)
    return {
        "abstention_precision": both / n_abstained if n_abstained else None,
        "abstention_recall": both / n_unanswerable if n_unanswerable else None,
    }


def mean(values: Sequence[float]) -> float | None:
    """The arithmetic mean, None for no values."""
    return sum(values) / len(values) if values else None


# ---------------------------------------------------------------- reading files


def paragraph_file(index: int) -> str:
    """The document name of the `index`-th unique SQuAD paragraph."""
    return f"p{index:05d}.txt"


def load_eval_set(path: Path) -> EvalSet:
    """Read a SQuAD JSON or JSONL question file (raises EvalFileError saying what is wrong)."""
    if not path.is_file():
        raise EvalFileError(f"{path} does not exist or is not a file; pass a SQuAD JSON or JSONL question file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise EvalFileError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from error
    return parse_eval_text(text, path.name)


def parse_eval_text(text: str, name: str) -> EvalSet:
    """Parse SQuAD JSON (a {"data": [...]} object) or else JSONL; `name` is used in messages."""
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict) and "data" in whole:
        return _parse_squad(whole, name)
    return _parse_jsonl(text, name)


def read_squad(path: Path) -> SquadFile:
    """The paragraphs, titles and questions of a SQuAD JSON file (raises EvalFileError saying what is wrong).

    The benchmarks read their question sets through this too, so they count exactly what `assistant eval` does.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EvalFileError(f"{path} cannot be read as SQuAD JSON ({error})") from error
    if not isinstance(document, dict) or "data" not in document:
        raise EvalFileError(f"{path.name} is not SQuAD JSON (no 'data' list)")
    return _squad_file(document, path.name)


def _squad_file(document: dict[str, Any], name: str) -> SquadFile:
    paragraph_index: dict[str, int] = {}
    titles: list[str] = []
    questions: list[SquadQuestion] = []
    for where, title, paragraph in _squad_paragraphs(document, name):
        context = paragraph.get("context")
        qas = paragraph.get("qas", [])
        if not isinstance(context, str) or not isinstance(qas, list):
            raise EvalFileError(f"{name} is not valid SQuAD JSON ({where} needs a 'context' string and a 'qas' list)")
        if context not in paragraph_index:
            paragraph_index[context] = len(paragraph_index)
            titles.append(title)
        for q, qa in enumerate(qas):
            questions.append(_squad_question(qa, f"{where}.qas[{q}]", paragraph_index[context], name))
    return SquadFile(name, tuple(paragraph_index), tuple(titles), tuple(questions))


def _parse_squad(document: dict[str, Any], name: str) -> EvalSet:
    squad = _squad_file(document, name)
    items = [
        # an unanswerable question has no paragraph that answers it, so it only counts for abstention
        EvalItem(q.question, (paragraph_file(q.paragraph),) if q.answers else None, q.answers)
        for q in squad.questions
    ]
    if not items:
        raise EvalFileError(f"{name} holds no questions; give a SQuAD file with at least one 'qas' entry")
    return EvalSet(name, "squad", tuple(items), squad.paragraphs)


def _squad_paragraphs(document: dict[str, Any], name: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    data = document["data"]
    if not isinstance(data, list):
        raise EvalFileError(f"{name} is not valid SQuAD JSON ('data' must be a list of articles)")
    for a, article in enumerate(data):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise EvalFileError(f"{name} is not valid SQuAD JSON (data[{a}] needs a 'paragraphs' list)")
        for p, paragraph in enumerate(paragraphs):
            if not isinstance(paragraph, dict):
                raise EvalFileError(f"{name} is not valid SQuAD JSON (data[{a}].paragraphs[{p}] is not an object)")
            yield f"data[{a}].paragraphs[{p}]", str(article.get("title", "")), paragraph


def _squad_question(qa: object, where: str, paragraph: int, name: str) -> SquadQuestion:
    if not isinstance(qa, dict) or not isinstance(qa.get("question"), str):
        raise EvalFileError(f"{name} is not valid SQuAD JSON ({where} needs a 'question' string)")
    answers = qa.get("answers", [])
    if not isinstance(answers, list) or not all(
        isinstance(a, dict) and isinstance(a.get("text"), str) for a in answers
    ):
        raise EvalFileError(f"{name} is not valid SQuAD JSON ({where}.answers must be a list of {{'text': ...}})")
    texts = () if qa.get("is_impossible") is True else tuple(a["text"] for a in answers if a["text"].strip())
    return SquadQuestion(str(qa.get("id", where)), qa["question"], paragraph, texts)


def _parse_jsonl(text: str, name: str) -> EvalSet:
    items: list[EvalItem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(_jsonl_item(line))
        except (json.JSONDecodeError, TypeError) as error:
            raise EvalFileError(f"{name} is not SQuAD JSON or JSONL (line {number}: {error})") from error
    if not items:
        raise EvalFileError(f"{name} holds no questions; give SQuAD JSON or one JSON object per line")
    return EvalSet(name, "jsonl", tuple(items))


def _jsonl_item(line: str) -> EvalItem:
    value = json.loads(line)
    if not isinstance(value, dict) or not isinstance(value.get("question"), str):
        raise TypeError('expected an object like {"question": "...", "sources": [...], "answers": [...]}')
    sources = _strings(value, "sources")
    answers = _strings(value, "answers")
    relevant = tuple(PurePosixPath(s.replace("\\", "/")).as_posix() for s in sources) if sources else None
    return EvalItem(value["question"], relevant, answers)


def _strings(value: dict[str, Any], key: str) -> tuple[str, ...] | None:
    if key not in value:
        return None
    items = value[key]
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise TypeError(f'"{key}" must be a list of strings')
    return tuple(items)


# ---------------------------------------------------------------- running


def evaluate(
    eval_set: EvalSet,
    settings: AssistantSettings,
    *,
    progress: bool = False,
    chat_model: Any | None = None,
    embedder_factory: Callable[[Settings], Embedder] = load_embedder,
) -> EvalReport:
    """Ask every question of `eval_set` and measure; SQuAD sets get a temporary index of their paragraphs."""
    if chat_model is None and settings.llm:  # fail before indexing, not after
        chat_model = build_chat_model(settings.llm, settings.llm_timeout)
    if eval_set.format == "jsonl":
        return _run(eval_set, settings, (), progress, chat_model, embedder_factory)
    with tempfile.TemporaryDirectory(prefix="assistant-eval-") as scratch:
        docs = Path(scratch) / "docs"
        docs.mkdir()
        for number, context in enumerate(eval_set.paragraphs):
            (docs / paragraph_file(number)).write_text(context, encoding="utf-8")
        index = replace(settings.index, docs_dir=docs, index_dir=Path(scratch) / "index")
        factory, unavailable = _load_once(embedder_factory, index)
        report = sync(index, [docs], progress=progress, embedder_factory=factory)
        # without a model, sync's only warning repeats `unavailable` (and its advice to ingest again does not apply)
        notes = (unavailable,) if unavailable else report.warnings
        notes += tuple(f"paragraph {s.path} was not indexed: {s.reason}" for s in report.skipped)
        return _run(eval_set, replace(settings, index=index), notes, progress, chat_model, factory)


def _load_once(
    embedder_factory: Callable[[Settings], Embedder], settings: Settings
) -> tuple[Callable[[Settings], Embedder], str]:
    """A factory giving one shared embedder to both indexing and retrieval, or why there is none."""
    try:
        embedder = embedder_factory(settings)
    except EmbeddingUnavailableError as error:
        reason = str(error)

        def unavailable(_: Settings) -> Embedder:
            raise EmbeddingUnavailableError(reason)  # already tried: do not load (or download) twice

        return unavailable, f"{reason} Measuring lexical retrieval only (dense: no)."
    return (lambda _: embedder), ""


def _run(
    eval_set: EvalSet,
    settings: AssistantSettings,
    notes: tuple[str, ...],
    progress: bool,
    chat_model: Any | None,
    embedder_factory: Callable[[Settings], Embedder],
) -> EvalReport:
    from assistant.service import Assistant

    assistant = Assistant.from_settings(settings, chat_model=chat_model, embedder_factory=embedder_factory)
    try:
        if eval_set.format == "jsonl":  # a temporary SQuAD index is dense unless `notes` already says why not
            rendered = render_notes(assistant.retriever.notes, "en")
            retriever_note = (rendered,) if rendered else ()
            notes = (*notes, *retriever_note, *_unknown_sources(eval_set, assistant.retriever.sources()))
        ranked: list[tuple[frozenset[str], ...]] = []
        relevant: list[tuple[str, ...]] = []
        answers: list[tuple[Answer, tuple[str, ...]]] = []
        seconds: list[float] = []
        for item in _progress(eval_set.items, progress):
            started = time.perf_counter()
            if item.relevant:
                passages = assistant.retriever.retrieve(item.question, RANK_DEPTH).passages
                ranked.append(tuple(stood_for(passages)))
                relevant.append(item.relevant)
            if item.answers is not None:
                answers.append((assistant.ask(item.question), item.answers))
            seconds.append(time.perf_counter() - started)
        mode, dense = assistant.mode, assistant.retriever.dense
    finally:
        assistant.close()
    fallbacks = sum(1 for answer, _ in answers if answer.mode == "extractive-fallback")
    if fallbacks:
        notes = (*notes, f"{fallbacks} answers fell back to extractive because the LLM failed (see the log)")
    ranking = rank_metrics(ranked, relevant)
    hits = [1.0 if contains_answer(answer, gold) else 0.0 for answer, gold in answers if gold]
    unanswerable = sum(1 for _, gold in answers if not gold)
    abstention = abstention_metrics([a.abstained for a, _ in answers], [not gold for _, gold in answers])
    return EvalReport(
        file=eval_set.name,
        format=eval_set.format,
        questions=len(eval_set.items),
        ranked_questions=len(ranked),
        recall_at_1=ranking["recall_at_1"],
        recall_at_5=ranking["recall_at_5"],
        recall_at_10=ranking["recall_at_10"],
        mrr_at_10=ranking["mrr_at_10"],
        answerable_questions=len(hits),
        answer_containment=mean(hits),
        unanswerable_questions=unanswerable,
        abstained_questions=sum(1 for answer, _ in answers if answer.abstained),
        abstention_precision=abstention["abstention_precision"] if unanswerable else None,
        abstention_recall=abstention["abstention_recall"],
        seconds_per_question=mean(seconds) or 0.0,
        mode=mode,
        dense=dense,
        model=resolve_model(settings.index.embedding_model).model_id,
        notes=notes,
    )


def _unknown_sources(eval_set: EvalSet, indexed: Sequence[str]) -> tuple[str, ...]:
    known = set(indexed)
    missing = sorted({s for item in eval_set.items for s in item.relevant or () if s not in known})
    if not missing:
        return ()
    shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
    return (
        f"{len(missing)} sources named in {eval_set.name} are not in the index ({shown}); "
        "give paths relative to the documents folder, as `assistant status` and citations show them",
    )


def _progress(items: Sequence[EvalItem], enabled: bool) -> Iterator[EvalItem]:
    if not enabled:
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, unit="question", desc="evaluating", dynamic_ncols=True)
