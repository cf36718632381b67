"""Synthetic Arabic articles made from the seed sentences, for tests that need many files."""

from __future__ import annotations

import random
from pathlib import Path

from ingest.analysis import split_sentences
from ingest.cleaning import clean_text

SEED_QUESTIONS = (
    "ما مدة الرسالة الصوتية الجديدة للبغدادي؟",
    "كم عدد أفراد تنظيم داعش بحسب تقديرات الأمم المتحدة؟",
    "كم كانت مدة التسجيل الصوتي لأبي الحسن المهاجر؟",
    "من هو لاهور طالباني؟",
    "بماذا هدد المهاجر نيوزيلندا؟",
    "ماذا حدث في تفجير منبج؟",
)
"""Six Arabic questions that the seed articles answer."""


def seed_sentences(seeds: Path) -> list[str]:
    """Every sentence of the cleaned seed articles."""
    sentences: list[str] = []
    for path in sorted(seeds.glob("*.txt")):
        text = clean_text(path.read_text(encoding="utf-8"))
        sentences.extend(text[s:e] for s, e in split_sentences(text))
    return sentences


def write_articles(
    folder: Path, count: int, sentences: list[str], seed: int = 0, prefix: str = "article"
) -> list[Path]:
    """`count` distinct articles of 8-20 shuffled sentences each."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        body = rng.sample(sentences, rng.randint(8, min(20, len(sentences))))
        path = folder / f"{prefix}-{seed}-{number:04d}.txt"
        path.write_text(f"خبر رقم {number} من المجموعة {seed}\n" + "\n".join(body) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
