"""The bundled sample: regenerable byte for byte by its generator (`tools/generate_sample_data.py`, a
development tool the wheel does not ship), in the dataset's schema, with its promised quirks."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

from tools.generate_sample_data import KEYS, OUTPUT, dumps, generate_rows
from workbench import data, paths

SAMPLE = Path(__file__).resolve().parents[1] / "workbench" / "sample_data" / "vi_math_sample.jsonl"
TYPES = {f"{family}_{kind}" for family in ("GSM", "MATH") for kind in ("AnsAug", "Rephrased", "SV", "FOBAR")}
EN_ANSWER = re.compile(r"The answer is: (?P<answer>\S.*)\Z")
VI_ANSWER = re.compile(r"\n(?P<phrase>Đáp án là|Câu trả lời là ?|đáp án là): (?P<answer>[^\n]+)\Z")


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with SAMPLE.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def test_regenerating_the_sample_is_byte_identical_to_the_shipped_file(rows: list[dict[str, str]]) -> None:
    """The generator writes the file the runtime reads, and regenerating it reproduces it byte for byte."""
    assert OUTPUT == SAMPLE == paths.bundled_sample().resolve()
    generated = generate_rows()
    assert rows == generated, "run `python -m tools.generate_sample_data` to regenerate the sample"
    assert SAMPLE.read_text(encoding="utf-8") == dumps(generated)
    assert SAMPLE.read_bytes() == dumps(generated).encode("utf-8")  # what `main()` writes, newlines included


def test_generation_is_deterministic_and_seeded() -> None:
    assert generate_rows(40, seed=3) == generate_rows(40, seed=3)
    assert generate_rows(40, seed=3) != generate_rows(40, seed=4)


def test_schema(rows: list[dict[str, str]]) -> None:
    assert len(rows) >= 300
    for row in rows:
        assert (
            tuple(row)
            == KEYS
            == data.COLUMNS
            == ("query_vi", "response_vi", "query_en", "response_en", "type")
        )
        assert all(isinstance(value, str) and value.strip() for value in row.values())
        assert len(row["query_vi"]) < 600


def test_all_eight_types(rows: list[dict[str, str]]) -> None:
    counts = Counter(row["type"] for row in rows)
    assert set(counts) == TYPES
    gsm = sum(n for t, n in counts.items() if t.startswith("GSM_"))
    assert 0.6 <= gsm / len(rows) <= 0.8


def test_text_is_nfc(rows: list[dict[str, str]]) -> None:
    for row in rows:
        for value in row.values():
            assert unicodedata.is_normalized("NFC", value)


def test_english_response_ends_with_the_answer(rows: list[dict[str, str]]) -> None:
    for row in rows:
        match = EN_ANSWER.search(row["response_en"])
        assert match is not None, row["response_en"][-80:]
        assert match.group("answer").strip()


def _value(answer: str, lang: str) -> Fraction | str:
    """A comparable form of an answer: LaTeX fractions as written, numbers with their marks resolved."""
    if "\\frac" in answer:
        return answer
    if lang == "vi":
        return Fraction(answer.replace(".", "").replace(",", "."))
    return Fraction(answer.replace(",", ""))


def test_vietnamese_answers_match_english_and_quirks_are_present(rows: list[dict[str, str]]) -> None:
    endings: Counter[str] = Counter()
    for row in rows:
        english = EN_ANSWER.search(row["response_en"])
        assert english is not None
        vietnamese = VI_ANSWER.search(row["response_vi"])
        if vietnamese is None:
            endings["none"] += 1
            continue
        endings[vietnamese.group("phrase")] += 1
        answer = vietnamese.group("answer")
        if answer != answer.rstrip(". "):
            endings["trailing"] += 1
        assert _value(answer.rstrip(". "), "vi") == _value(english.group("answer"), "en")
    for phrase in ("Đáp án là", "Câu trả lời là", "Câu trả lời là ", "đáp án là", "none", "trailing"):
        assert endings[phrase] > 0, phrase
    text_vi = "\n".join(row["response_vi"] for row in rows)
    assert "\\đóng hộp{" in text_vi and "\\boxed{" in text_vi
    assert re.search(r"\d,\d", text_vi) and re.search(r"\d\.\d{3}", text_vi)
