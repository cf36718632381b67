"""Golden tests of the Arabic/English analyzer on real strings (from the seed articles where possible)."""

from __future__ import annotations

import pytest

from ingest.analysis import (
    analyze,
    char_ngrams,
    detect_language,
    normalize,
    plain_spelling,
    split_sentences,
    stem_arabic_light10,
    tokenize,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("أبو بكر", "ابو بكر"),  # hamza on alef
        ("إقليم", "اقليم"),  # hamza below alef
        ("آخر", "اخر"),  # madda
        ("ٱلله", "الله"),  # wasla
        ("مُسْتَشْفَى", "مستشفي"),  # harakat and alef maqsura
        ("الدولةُ الإسلاميةُ", "الدوله الاسلاميه"),  # ta marbuta and damma
        ("حساباً", "حسابا"),  # tanween
        ("داعـــش", "داعش"),  # tatweel
        ("٢٠١٩ و۲۰۱۸", "2019 و2018"),  # Arabic-Indic and Persian digits
        ("Baghouz ISIS", "baghouz isis"),
    ],
)
def test_normalize_unifies_spelling_variants(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_plain_spelling_drops_marks_and_eastern_digits_but_keeps_letters() -> None:
    # The embedding model's input: harakat, shadda and tatweel go, digits become ASCII; hamza, ة and ى stay
    # (unlike `normalize`), and so do punctuation and Latin text.
    assert plain_spelling("مَا عُمْقُ المِنْطَقَةِ العَازِلَةِ الَّتِي تُرِيدُهَا تُرْكِيَا؟") == "ما عمق المنطقة العازلة التي تريدها تركيا؟"
    assert plain_spelling("أعلنـــت إدارة ترامب في ٢٠١٨ و۲۰۱۹ (ISIS)") == "أعلنت إدارة ترامب في 2018 و2019 (ISIS)"
    assert plain_spelling("مستشفى الدولة") == "مستشفى الدولة"


def test_tokenize_splits_digits_from_letters_and_drops_punctuation() -> None:
    assert tokenize("«داعش» قُتل في 2004م، (الرقة).") == ["داعش", "قتل", "في", "2004", "م", "الرقه"]


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("والمكتبات", "مكتب"),  # و + ال + ات
        ("بالمدرسة", "مدرس"),  # بال + ة
        ("للمدرسة", "مدرس"),  # لل
        ("المقاتلين", "مقتل"),  # ال + ين, then the inner ا of a five-letter stem
        ("مقاتليه", "مقتل"),
        ("وقتل", "قتل"),
        ("أبو", "ابو"),
        ("أبي", "ابو"),  # the genitive of أبو
        ("أبا", "ابو"),  # the accusative of أبو
    ],
)
def test_light_stemming_strips_clitics_and_suffixes(word: str, stem: str) -> None:
    assert analyze(word) == [stem]


def test_kunya_forms_match_each_other() -> None:
    assert analyze("أبي الحسن المهاجر") == analyze("ابو الحسن المهاجر") == ["ابو", "حسن", "مهجر"]


def test_query_and_document_forms_meet() -> None:
    document = analyze("وأشارت رسالة البغدادي إلى الفيليبين")
    question = analyze("ماذا قالت رسالةُ بغدادي عن الفيليبين؟")
    assert {"رسال", "بغدد", "فلب"} <= set(document) & set(question)


def test_stopwords_are_removed_but_names_that_look_like_them_stay() -> None:
    assert analyze("في من إلى هذا") == []
    # على is not a stopword: it normalizes to علي, the name Ali, which must stay searchable
    assert analyze("محمد علي") == ["محمد", "عل"]


def test_function_words_after_the_conjunction_are_stopwords_too() -> None:
    # the stemmer strips و only from words of four letters or more: these three-letter forms were terms
    assert analyze("وكم كانت مدة التسجيل؟") == analyze("كم كانت مدة التسجيل؟") == ["مد", "تسجل"]
    assert analyze("ومتى وأين وكيف وهل ولماذا وماذا") == []
    assert analyze("ولي العهد") == ["ول", "عهد"]  # a word that only looks like one stays a term


def test_english_words_are_lowercased_and_stemmed() -> None:
    assert analyze("The Battles of Mosul were fought") == ["battl", "mosul", "fought"]


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("أمريكياً", "أميركيين"),  # tanween alif; أمريك / أميرك
        ("الأمريكية", "الأميركية"),
        ("فلبينية", "الفيليبين"),
        ("الديمقراطية", "الديموقراطية"),
        ("عاماً", "عام"),
        ("شخصاً", "شخص"),
    ],
)
def test_spellings_that_vary_with_the_vowels_meet(one: str, other: str) -> None:
    assert analyze(one) == analyze(other)


@pytest.mark.parametrize(("one", "other"), [("كبير", "كبر"), ("سعيد", "سعد"), ("قتيل", "قتل"), ("جديد", "جدد")])
def test_four_letter_stems_keep_their_vowels(one: str, other: str) -> None:
    assert analyze(one) != analyze(other)


def test_plain_light10_is_unchanged() -> None:
    """The stemmer the recipes compare against (docs/lexical.md, recipe 6) keeps Larkey's rules."""
    assert stem_arabic_light10("مقاتلين") == "مقاتل" and stem_arabic_light10("امريكيا") == "امريكيا"


def test_stemmer_keeps_short_words_whole() -> None:
    assert stem_arabic_light10("قتل") == "قتل"
    assert stem_arabic_light10("ها") == "ها"


def test_char_ngrams_bridge_joined_and_split_spellings() -> None:
    joined = set(char_ngrams("أبوبكر البغدادي"))
    split = set(char_ngrams("أبو بكر البغدادي"))
    assert {"بكر", "بغد", "غدا", "داد", "ادي"} <= joined & split


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("ما هي رسالة البغدادي؟", "ar"),
        ("What did al-Baghdadi say?", "en"),
        ("ماذا قال ISIS عن الباغوز؟", "ar"),  # mixed: Arabic letters are the majority
        ("Who leads داعش in Syria and Iraq?", "en"),
        ("2019?", "en"),
    ],
)
def test_detect_language_by_majority_of_letters(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_split_sentences_on_arabic_and_latin_punctuation() -> None:
    text = 'قال المهاجر: "انتصرنا". هل هذا صحيح؟ نعم؛ العدد 3.5 مليون!\nسطر جديد… Done! ok'
    sentences = [text[s:e] for s, e in split_sentences(text)]
    assert sentences == [
        'قال المهاجر: "انتصرنا".',
        "هل هذا صحيح؟",
        "نعم؛",
        "العدد 3.5 مليون!",
        "سطر جديد…",
        "Done!",
        "ok",
    ]


def test_split_sentences_returns_trimmed_spans() -> None:
    text = "  أولاً.  \n\n ثانياً  "
    assert [text[s:e] for s, e in split_sentences(text)] == ["أولاً.", "ثانياً"]
