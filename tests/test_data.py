"""Gold-answer extraction and number reading, against the tutorial's failure cases."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from workbench.config import DataSection
from workbench.data import (
    SYSTEM_PROMPT,
    DataError,
    extract_answer,
    format_prompt,
    load_rows,
    prepare,
)
from workbench.numbers import canonical_number, numbers_in, to_decimal


@pytest.mark.parametrize(
    ("response_vi", "response_en", "expected"),
    [
        # The tutorial's regex missed a `|`, so "câu trả lời là" never matched.
        ("Vậy tổng là 18. Câu trả lời là: 18", None, "18"),
        # It lowercased first; real rows are capitalised, and any case must match.
        ("Đáp án là: 42", None, "42"),
        ("đáp án là: 42", None, "42"),
        ("ĐÁP ÁN LÀ: 42", None, "42"),
        # Optional space before the colon.
        ("Câu trả lời là : 7", None, "7"),
        ("Đáp án là : 7", None, "7"),
        # The English side is preferred: it is the reliable one.
        ("Đáp án là: 19", "So she has 18 apples.\nThe answer is: 18", "18"),
        # The last statement wins.
        ("Đáp án là: 3\n...\nĐáp án là: 5", None, "5"),
        ("x\nThe answer is: 3\nmore\nThe answer is: 4", None, None),  # English only in response_en
        ("", "First. The answer is: 3\nThen. The answer is: 4", "4"),
        # Trailing punctuation and spaces are stripped.
        ("Đáp án là: 18.  ", None, "18"),
        ("Đáp án là: 18 !", None, "18"),
        # Decimal comma, dotted thousands.
        ("Câu trả lời là: 2,5", None, "2.5"),
        ("Đáp án là: 1.200", None, "1200"),
        ("Đáp án là: 1.200.000", None, "1200000"),
        ("Đáp án là: 12,75", None, "12.75"),
        ("Đáp án là: -7", None, "-7"),
        # An ambiguous 1,200 is settled by the English side, else left as written.
        ("Đáp án là: 1,200", "Total 1,200 dollars.", "1200"),
        ("Đáp án là: 1,200", None, "1,200"),
        # English answers use the English convention.
        ("", "The answer is: 1,200", "1200"),
        ("", "The answer is: 2.5", "2.5"),
        # LaTeX answers stay LaTeX; $...$ and \boxed{} are unwrapped; the \đóng hộp{ artefact is repaired.
        ("Đáp án là: \\frac{3}{4}", None, "\\frac{3}{4}"),
        ("Đáp án là: $\\boxed{12}$", None, "12"),
        ("Đáp án là: \\đóng hộp{12}", None, "12"),
        # Nothing stated: None.
        ("Lan có 5 quả táo.", None, None),
        ("Lan có 5 quả táo.", "She has 5 apples.", None),
    ],
)
def test_extract_answer(response_vi: str, response_en: str | None, expected: str | None) -> None:
    assert extract_answer(response_vi, response_en) == expected


def test_extract_answer_normalises_to_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Câu trả lời là: 9")
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    assert extract_answer(decomposed) == "9"


def test_numbers_keep_the_vietnamese_decimal_comma() -> None:
    # The tutorial stripped commas: 2,5 became 25.
    assert to_decimal("2,5", "vi") == to_decimal("2.5", "en")
    assert canonical_number("2,5", "vi") == "2.5"
    assert canonical_number("1.200,5", "vi") == "1200.5"
    assert canonical_number("1,200.50", "en") == "1200.5"
    assert canonical_number("0,125", "vi") == "0.125"
    assert canonical_number("1.2.3", "vi") is None
    assert canonical_number("abc") is None
    assert numbers_in("Giá 15.000 đồng và 2,5 kg, tổng 37.500.") == ["15000", "2.5", "37500"]


def _row(q: str, vi: str, en: str = "", kind: str = "GSM_AnsAug") -> dict[str, str]:
    return {"query_vi": q, "response_vi": vi, "query_en": "", "response_en": en, "type": kind}


def test_prepare_counts_drops_and_splits_deterministically() -> None:
    rows = [_row(f"Câu hỏi {i}?", f"Đáp án là: {i}") for i in range(20)]
    rows += [_row("Không có đáp án?", "Không nói gì.") for _ in range(3)]
    rows += [_row("", "Đáp án là: 1")]
    rows += [_row("Rất dài " * 200, "Đáp án là: 2", kind="MATH_SV")]
    section = DataSection(held_out=5, seed=1)
    prepared = prepare(
        rows, section, max_prompt_tokens=100, prompt_tokens=lambda p: len(p[1]["content"].split())
    )
    stats = prepared.stats
    assert (stats.kept, stats.dropped_no_answer, stats.dropped_empty_question, stats.dropped_too_long) == (
        20,
        3,
        1,
        1,
    )
    assert (stats.train, stats.held_out) == (15, 5)
    assert prepared.train[0]["prompt"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    again = prepare(
        rows, section, max_prompt_tokens=100, prompt_tokens=lambda p: len(p[1]["content"].split())
    )
    assert [r["answer"] for r in again.held_out] == [r["answer"] for r in prepared.held_out]
    held = {r["question"] for r in prepared.held_out}
    assert not held & {r["question"] for r in prepared.train}


def test_prepare_refuses_when_nothing_is_left_to_train_on() -> None:
    rows = [_row("Câu hỏi?", "Đáp án là: 1")] * 3
    with pytest.raises(DataError, match="data.held_out"):
        prepare(rows, DataSection(held_out=3))


def test_format_prompt_uses_the_tutorial_tags() -> None:
    prompt = format_prompt("  Tính 2+2?  ")
    assert prompt[1] == {"role": "user", "content": "Tính 2+2?"}
    for tag in ("<thinking>", "</thinking>", "<SOLUTION>", "</SOLUTION>"):
        assert tag in prompt[0]["content"]


def test_load_rows_reads_local_files_with_datasets(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(
        "\n".join(json.dumps(_row(f"Q{i}", f"Đáp án là: {i}"), ensure_ascii=False) for i in range(4)) + "\n",
        encoding="utf-8",
    )
    rows = load_rows(DataSection(source=str(path)))
    assert [r["query_vi"] for r in rows] == ["Q0", "Q1", "Q2", "Q3"]


def test_load_rows_names_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "wrong.jsonl"
    path.write_text(json.dumps({"question": "x", "answer": "1"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"lacks column\(s\) \['query_vi', 'response_vi'\]"):
        load_rows(DataSection(source=str(path)))


def test_load_rows_reports_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(b"\xff\xfe not json at all {{{")
    with pytest.raises(DataError, match="could not be loaded"):
        load_rows(DataSection(source=str(path)))


def test_bundled_sample_rows_have_answers() -> None:
    rows = load_rows(DataSection())
    prepared = prepare(rows, DataSection(held_out=16))
    assert prepared.stats.kept >= 0.95 * len(rows)
    assert prepared.stats.held_out == 16
    assert len(prepared.stats.by_type) == 8
