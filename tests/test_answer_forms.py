"""The answer-form corpus: every form MetaMathQA states answers in, read the same way on the gold side
(`extract_answer` from response_en / response_vi) and on the completion side (`check_answer`,
`check_numbers`, `correctness` and eval's accuracy), with the reward each function must give.

Each case is one row: the English and Vietnamese final statements ("The answer is: X" / "Đáp án là: X";
None where the row lacks one), the gold answer `extract_answer` must store, the <SOLUTION> of a
completion (None: the completion has no solution block) and the three answer rewards. The scores are the
tutorial's: check_answer 3.0 exact / 1.5 the same answer written otherwise / -1.5 wrong / 0 no solution;
check_numbers 1.5 / -0.5 / 0 (no number, or a gold answer that is not made of numbers); correctness
2.0 / -1.0 / 0 (no solution).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import pytest

from workbench.answers import FORMS, MAX_ANSWER_CHARS, read_answer, read_gold
from workbench.data import extract_answer
from workbench.evaluation import Completion, score_row, summarize
from workbench.rewards import check_answer, check_numbers, correctness, grade


class Case(NamedTuple):
    form: str
    en: str | None
    vi: str | None
    gold: str
    solution: str | None
    check_answer: float
    check_numbers: float
    correctness: float


RIGHT, NUMBERS_ONLY, WRONG = (3.0, 1.5, 2.0), (1.5, 1.5, 2.0), (-1.5, -0.5, -1.0)
ESSAY = "Ta có " + "x cộng y bằng z, " * 30 + "vậy đáp số là 18"

CASES: list[Case] = [
    # ---- integers (GSM)
    Case("integer", "18", "18", "18", "18", *RIGHT),
    Case("integer", "18", "18", "18", " 18 ", *NUMBERS_ONLY),
    Case("integer", "18", "18", "18", "19", *WRONG),
    Case("integer", "18", "18", "18", "Đáp số: 18 quả", *NUMBERS_ONLY),
    Case("integer", "18", "18", "18", "\\boxed{18}", *NUMBERS_ONLY),
    Case("integer", "18", "18", "18", "$18$", *NUMBERS_ONLY),
    Case("integer", "18", "18", "18", "18.", *NUMBERS_ONLY),
    Case("integer", "42", "42", "42", "42.0", *NUMBERS_ONLY),
    Case("integer", "42", "42", "42", "+42", *NUMBERS_ONLY),
    Case("integer", "42", "42", "42", None, 0.0, 0.0, 0.0),
    Case("integer", "42", "42", "42", "", -1.5, 0.0, 0.0),
    Case("integer", "42", "42", "42", "không biết", -1.5, 0.0, -1.0),
    Case("integer", "7", "7", "7", "7 + 0 = 7", -1.5, 1.5, 2.0),
    Case("integer", "19", "18", "19", "19", *RIGHT),  # the English side wins
    Case("integer", None, "19", "19", "19", *RIGHT),
    Case("integer", None, "\\đóng hộp{12}", "12", "12", *RIGHT),  # translation artefact
    Case("integer", None, "$\\boxed{12}$", "12", "12", *RIGHT),
    # ---- signs
    Case("negative", "-7", "-7", "-7", "-7", *RIGHT),
    Case("negative", "-7", "-7", "-7", "−7", *NUMBERS_ONLY),
    Case("negative", "-7", "-7", "-7", "- 7", *NUMBERS_ONLY),
    Case("negative", "-7", "-7", "-7", "7", *WRONG),
    Case("negative", "-9", "-9", "-9", "x = -9", *NUMBERS_ONLY),
    Case("negative", "−12", "-12", "-12", "-12", *RIGHT),
    Case("negative", "-2.5", "-2,5", "-2.5", "-2,5", *NUMBERS_ONLY),
    Case("negative", "-1,200", "-1.200", "-1200", "-1,200", *NUMBERS_ONLY),  # settled by the gold, signed
    # ---- decimals: a decimal point in English, a decimal comma in Vietnamese
    Case("decimal", "2.5", "2,5", "2.5", "2.5", *RIGHT),
    Case("decimal", "2.5", "2,5", "2.5", "2,5", *NUMBERS_ONLY),
    Case("decimal", "2.5", "2,5", "2.5", "25", *WRONG),  # the tutorial stripped the comma
    Case("decimal", "2.5", "2,5", "2.5", "2.50", *NUMBERS_ONLY),
    Case("decimal", "0.125", "0,125", "0.125", "0,125", *NUMBERS_ONLY),
    Case("decimal", "0.125", "0,125", "0.125", "\\frac{1}{8}", *NUMBERS_ONLY),
    Case("decimal", "17.5", "17,5", "17.5", "17.6", *WRONG),
    Case("decimal", "1.05", "1,05", "1.05", "1.05", *RIGHT),
    Case("decimal", None, "12,75", "12.75", "12,75", *NUMBERS_ONLY),
    Case("decimal", None, "Câu trả lời là : 3,5", "3.5", "3.5", *RIGHT),
    Case("decimal", "0.5", "0,5", "0.5", "\\frac{1}{2}", *NUMBERS_ONLY),
    Case("decimal", "3.89", "3,89", "3.89", "3.9", *WRONG),
    # ---- thousands: 1,200 (en), 1.200 (vi), 1 200, LaTeX 9{,}500, 1,\!200, 1\,200
    Case("thousands", "9{,}500", "9.500", "9500", "9500", *RIGHT),
    Case("thousands", "9{,}500", "9.500", "9500", "9{,}500", *NUMBERS_ONLY),
    Case("thousands", "9{,}500", "9.500", "9500", "9.500", *NUMBERS_ONLY),
    Case("thousands", "9{,}500", "9.500", "9500", "9,500", *NUMBERS_ONLY),  # settled by the gold
    Case("thousands", "9{,}500", "9.500", "9500", "9 500", *NUMBERS_ONLY),
    Case("thousands", "9{,}500", "9.500", "9500", "9", *WRONG),  # the old reading of 9{,}500
    Case("thousands", "9{,}500", "9.500", "9500", "9,5", *WRONG),
    Case("thousands", "1,200", "1.200", "1200", "1.200 đồng", *NUMBERS_ONLY),
    Case("thousands", "1,\\!200", "1.200", "1200", "1,\\!200", *NUMBERS_ONLY),
    Case("thousands", "1\\,200", "1.200", "1200", "1\\,200", *NUMBERS_ONLY),
    Case("thousands", "1,234,567", "1.234.567", "1234567", "1.234.567", *NUMBERS_ONLY),
    Case("thousands", "1,234,567", "1.234.567", "1234567", "1234567", *RIGHT),
    Case("thousands", "1,200.5", "1.200,5", "1200.5", "1.200,5", *NUMBERS_ONLY),
    Case("thousands", "1,200.5", "1.200,5", "1200.5", "1200.5", *RIGHT),
    Case("thousands", None, "1.200", "1200", "1200", *RIGHT),
    Case("thousands", None, "1.200.000", "1200000", "1.200.000", *NUMBERS_ONLY),
    Case("thousands", "7,000", "7.000", "7000", "7000", *RIGHT),
    Case("thousands", "28000", "28.000", "28000", "28.000", *NUMBERS_ONLY),
    Case("thousands", "1.2", "1,2", "1.2", "1.200", *NUMBERS_ONLY),  # read two ways: the gold settles it
    Case("decimal", "5", "5", "5", "1,200", *WRONG),  # unsettled: the Vietnamese reading, 1.2
    # ---- money
    Case("money", "\\$12.50", "\\$12,50", "12.5", "12.5", *RIGHT),
    Case("money", "\\$12.50", "\\$12,50", "12.5", "\\$12.50", *NUMBERS_ONLY),
    Case("money", "\\$12.50", "\\$12,50", "12.5", "12,50 đô la", *NUMBERS_ONLY),
    Case("money", "\\$12.50", "\\$12,50", "12.5", "\\$12.05", *WRONG),
    Case("money", "$13", "$13", "13", "13 dollars", *NUMBERS_ONLY),
    Case("money", "$13", "$13", "13", "$13", *NUMBERS_ONLY),
    Case("money", "20000", "20.000", "20000", "20.000 đồng", *NUMBERS_ONLY),
    Case("money", "\\$1,\\!200", "\\$1.200", "1200", "1200 USD", *NUMBERS_ONLY),
    Case("money", "\\$0.75", "\\$0,75", "0.75", "75 cents", *WRONG),
    # ---- percent: 25% matches 25 and 0.25, as math-verify reads it
    Case("percent", "25\\%", "25\\%", "25\\%", "25\\%", *RIGHT),
    Case("percent", "25\\%", "25\\%", "25\\%", "25%", *NUMBERS_ONLY),
    Case("percent", "25\\%", "25\\%", "25\\%", "25", *NUMBERS_ONLY),
    Case("percent", "25\\%", "25\\%", "25\\%", "0.25", *NUMBERS_ONLY),
    Case("percent", "25\\%", "25\\%", "25\\%", "25 phần trăm", *NUMBERS_ONLY),
    Case("percent", "25\\%", "25\\%", "25\\%", "20\\%", *WRONG),
    Case("percent", "40", "40", "40", "40%", *NUMBERS_ONLY),
    Case("percent", "12.5\\%", "12,5\\%", "12.5\\%", "12,5%", *NUMBERS_ONLY),
    # ---- degrees
    Case("degrees", "45^\\circ", "45^\\circ", "45", "45", *RIGHT),
    Case("degrees", "45^\\circ", "45^\\circ", "45", "45^\\circ", *NUMBERS_ONLY),
    Case("degrees", "45^\\circ", "45^\\circ", "45", "45^{\\circ}", *NUMBERS_ONLY),
    Case("degrees", "45^\\circ", "45^\\circ", "45", "45°", *NUMBERS_ONLY),
    Case("degrees", "45^\\circ", "45^\\circ", "45", "45 độ", *NUMBERS_ONLY),
    Case("degrees", "45^{\\circ}", "45^{\\circ}", "45", "135^\\circ", *WRONG),
    # ---- units
    Case("units", "5\\text{ cm}", "5\\text{ cm}", "5", "5 cm", *NUMBERS_ONLY),
    Case("units", "5\\text{ cm}", "5\\text{ cm}", "5", "5\\mbox{ cm}", *NUMBERS_ONLY),
    Case("units", "5\\mbox{ inches}", "5\\mbox{ inch}", "5", "5", *RIGHT),
    Case("units", "5\\text{ cm}^2", "5\\text{ cm}^2", "5", "5 \\text{cm}^2", *NUMBERS_ONLY),
    Case("units", "60", "60", "60", "60 km/h", *NUMBERS_ONLY),
    Case("units", "18", "18", "18", "18 quả táo", *NUMBERS_ONLY),
    Case("units", "5\\text{ cm}", "5\\text{ cm}", "5", "6 cm", *WRONG),
    # ---- scientific notation
    Case("scientific", "1.5 \\times 10^{3}", "1,5 \\times 10^{3}", "1500", "1500", *RIGHT),
    Case("scientific", "1.5 \\times 10^{3}", "1,5 \\times 10^{3}", "1500", "1.5\\cdot10^3", *NUMBERS_ONLY),
    Case("scientific", "1.5 \\times 10^{3}", "1,5 \\times 10^{3}", "1500", "1.5e3", *NUMBERS_ONLY),
    Case(
        "scientific", "1.5 \\times 10^{3}", "1,5 \\times 10^{3}", "1500", "1,5 \\times 10^{3}", *NUMBERS_ONLY
    ),
    Case("scientific", "1.5 \\times 10^{3}", "1,5 \\times 10^{3}", "1500", "1.5 \\times 10^{4}", *WRONG),
    Case("scientific", "2 \\times 10^{-3}", "2 \\times 10^{-3}", "0.002", "0,002", *NUMBERS_ONLY),
    # ---- fractions: \frac, \dfrac, \tfrac, with and without braces, a/b
    Case("fraction", "\\frac{3}{4}", "\\frac{3}{4}", "\\frac{3}{4}", "\\frac{3}{4}", *RIGHT),
    Case("fraction", "\\frac{3}{4}", "\\frac{3}{4}", "\\frac{3}{4}", "\\dfrac{3}{4}", *NUMBERS_ONLY),
    Case("fraction", "\\frac{3}{4}", "\\frac{3}{4}", "\\frac{3}{4}", "\\tfrac34", *NUMBERS_ONLY),
    Case("fraction", "\\frac{3}{4}", "\\frac{3}{4}", "\\frac{3}{4}", "\\frac34", *NUMBERS_ONLY),
    Case("fraction", "\\frac{3}{4}", "\\frac{3}{4}", "\\frac{3}{4}", "\\frac{3}4", *NUMBERS_ONLY),
    Case("fraction", "\\frac{3}{4}", "\\frac{3}{4}", "\\frac{3}{4}", "3/4", *NUMBERS_ONLY),
    Case("fraction", "\\frac{3}{4}", "\\frac{3}{4}", "\\frac{3}{4}", "0.75", *NUMBERS_ONLY),
    Case("fraction", "\\frac{3}{4}", "\\frac{3}{4}", "\\frac{3}{4}", "0,75", *NUMBERS_ONLY),
    Case("fraction", "\\frac{3}{4}", "\\frac{3}{4}", "\\frac{3}{4}", "\\frac{6}{8}", *NUMBERS_ONLY),
    Case("fraction", "\\frac{3}{4}", "\\frac{3}{4}", "\\frac{3}{4}", "\\frac{4}{3}", *WRONG),
    Case("fraction", "\\frac{3}{4}", "\\frac{3}{4}", "\\frac{3}{4}", "\\boxed{\\frac{3}{4}}", *NUMBERS_ONLY),
    Case("fraction", "\\dfrac{37}{24}", "\\dfrac{37}{24}", "\\frac{37}{24}", "\\frac{37}{24}", *RIGHT),
    Case("fraction", "\\tfrac{5}{9}", "\\tfrac{5}{9}", "\\frac{5}{9}", "5/9", *NUMBERS_ONLY),
    Case("fraction", "-\\frac{3}{4}", "-\\frac{3}{4}", "-\\frac{3}{4}", "\\frac{-3}{4}", *NUMBERS_ONLY),
    Case("fraction", "-\\frac{3}{4}", "-\\frac{3}{4}", "-\\frac{3}{4}", "-0,75", *NUMBERS_ONLY),
    Case("fraction", "\\frac{1}{3}", "\\frac{1}{3}", "\\frac{1}{3}", "0.33", *WRONG),
    Case("fraction", "\\frac{1}{3}", "\\frac{1}{3}", "\\frac{1}{3}", "\\frac{2}{6}", *NUMBERS_ONLY),
    Case("fraction", "\\frac{8}{5}", "\\frac{8}{5}", "\\frac{8}{5}", "1,6", *NUMBERS_ONLY),
    # ---- mixed numbers
    Case("mixed number", "2\\frac{1}{2}", "2\\frac{1}{2}", "2\\frac{1}{2}", "2\\frac{1}{2}", *RIGHT),
    Case("mixed number", "2\\frac{1}{2}", "2\\frac{1}{2}", "2\\frac{1}{2}", "\\frac{5}{2}", *NUMBERS_ONLY),
    Case("mixed number", "2\\frac{1}{2}", "2\\frac{1}{2}", "2\\frac{1}{2}", "2,5", *NUMBERS_ONLY),
    Case("mixed number", "2\\frac{1}{2}", "2\\frac{1}{2}", "2\\frac{1}{2}", "2 \\tfrac12", *NUMBERS_ONLY),
    Case("mixed number", "2\\frac{1}{2}", "2\\frac{1}{2}", "2\\frac{1}{2}", "2\\frac{1}{3}", *WRONG),
    Case("mixed number", "2\\frac{1}{2}", "2\\frac{1}{2}", "2\\frac{1}{2}", "2", *WRONG),  # not the 2
    Case(
        "mixed number", "-1\\frac{3}{4}", "-1\\frac{3}{4}", "-1\\frac{3}{4}", "-\\frac{7}{4}", *NUMBERS_ONLY
    ),
    Case("mixed number", "\\frac{5}{2}", "\\frac{5}{2}", "\\frac{5}{2}", "2\\dfrac{1}{2}", *NUMBERS_ONLY),
    # ---- square roots (symbolic: math-verify decides correctness; check_numbers has no number to check)
    Case("square root", "2\\sqrt{3}", "2\\sqrt{3}", "2\\sqrt{3}", "2\\sqrt{3}", 3.0, 0.0, 2.0),
    Case("square root", "2\\sqrt{3}", "2\\sqrt{3}", "2\\sqrt{3}", "2 \\sqrt 3", 1.5, 0.0, 2.0),
    Case("square root", "2\\sqrt{3}", "2\\sqrt{3}", "2\\sqrt{3}", "\\sqrt{12}", -1.5, 0.0, 2.0),
    Case("square root", "2\\sqrt{3}", "2\\sqrt{3}", "2\\sqrt{3}", "3", -1.5, 0.0, -1.0),
    Case("square root", "2\\sqrt{3}", "2\\sqrt{3}", "2\\sqrt{3}", "3\\sqrt{2}", -1.5, 0.0, -1.0),
    Case("square root", "\\sqrt3", "\\sqrt3", "\\sqrt{3}", "\\sqrt{3}", 3.0, 0.0, 2.0),
    Case(
        "square root",
        "\\frac{\\sqrt{3}}{2}",
        "\\frac{\\sqrt{3}}{2}",
        "\\frac{\\sqrt{3}}{2}",
        "\\dfrac{\\sqrt3}{2}",
        1.5,
        0.0,
        2.0,
    ),
    Case(
        "square root",
        "\\frac{\\sqrt{3}}{2}",
        "\\frac{\\sqrt{3}}{2}",
        "\\frac{\\sqrt{3}}{2}",
        "\\frac{1}{2}\\sqrt{3}",
        -1.5,
        0.0,
        2.0,
    ),
    Case("square root", "3\\sqrt{2}", "3\\sqrt{2}", "3\\sqrt{2}", "√18", -1.5, 0.0, 2.0),
    # ---- pi
    Case("pi", "2\\pi", "2\\pi", "2\\pi", "2\\pi", 3.0, 0.0, 2.0),
    Case("pi", "2\\pi", "2\\pi", "2\\pi", "2 \\pi", 1.5, 0.0, 2.0),
    Case("pi", "2\\pi", "2\\pi", "2\\pi", "2π", 1.5, 0.0, 2.0),
    Case("pi", "2\\pi", "2\\pi", "2\\pi", "\\pi", -1.5, 0.0, -1.0),
    Case("pi", "\\frac{\\pi}{2}", "\\frac{\\pi}{2}", "\\frac{\\pi}{2}", "\\pi/2", -1.5, 0.0, 2.0),
    Case("pi", "36\\pi", "36\\pi", "36\\pi", "36 \\pi", 1.5, 0.0, 2.0),
    # ---- plus-minus: the set of both values
    Case("plus-minus", "\\pm 3", "\\pm 3", "\\pm 3", "\\pm 3", *RIGHT),
    Case("plus-minus", "\\pm 3", "\\pm 3", "\\pm 3", "±3", *NUMBERS_ONLY),
    Case("plus-minus", "\\pm 3", "\\pm 3", "\\pm 3", "3, -3", *NUMBERS_ONLY),
    Case("plus-minus", "\\pm 3", "\\pm 3", "\\pm 3", "-3 và 3", *NUMBERS_ONLY),
    Case("plus-minus", "\\pm 3", "\\pm 3", "\\pm 3", "3", *WRONG),
    Case("plus-minus", "1 \\pm 2", "1 \\pm 2", "1 \\pm 2", "3, -1", *NUMBERS_ONLY),
    Case(
        "plus-minus",
        "2 \\pm \\sqrt{3}",
        "2 \\pm \\sqrt{3}",
        "2\\pm\\sqrt{3}",
        "2 \\pm \\sqrt3",
        1.5,
        0.0,
        2.0,
    ),
    # ---- intervals: ends in order, brackets must agree; a union in any order
    Case("interval", "(-\\infty, 3]", "(-\\infty, 3]", "(-\\infty, 3]", "(-\\infty, 3]", *RIGHT),
    Case("interval", "(-\\infty, 3]", "(-\\infty, 3]", "(-\\infty, 3]", "(-\\infty,3]", *NUMBERS_ONLY),
    Case("interval", "(-\\infty, 3]", "(-\\infty, 3]", "(-\\infty, 3]", "(-∞, 3]", *NUMBERS_ONLY),
    Case("interval", "(-\\infty, 3]", "(-\\infty, 3]", "(-\\infty, 3]", "(-\\infty, 3)", -1.5, 1.5, -1.0),
    Case("interval", "(-\\infty, 3]", "(-\\infty, 3]", "(-\\infty, 3]", "[3, \\infty)", *WRONG),
    Case("interval", "[2, 5)", "[2; 5)", "[2, 5)", "[2,5)", *NUMBERS_ONLY),
    Case("interval", "[2, 5)", "[2; 5)", "[2, 5)", "(2, 5)", -1.5, 1.5, -1.0),
    Case(
        "interval",
        "[-\\frac{1}{2}, 2]",
        "[-\\frac{1}{2}; 2]",
        "[-\\frac{1}{2}, 2]",
        "[-0,5; 2]",
        *NUMBERS_ONLY,
    ),
    Case(
        "interval",
        "(-\\infty,-2)\\cup(3,\\infty)",
        "(-\\infty,-2)\\cup(3,\\infty)",
        "(-\\infty, -2) \\cup (3, \\infty)",
        "(-\\infty, -2) ∪ (3, ∞)",
        *NUMBERS_ONLY,
    ),
    Case(
        "interval",
        "(-\\infty,-2)\\cup(3,\\infty)",
        "(-\\infty,-2)\\cup(3,\\infty)",
        "(-\\infty, -2) \\cup (3, \\infty)",
        "(3,\\infty)\\cup(-\\infty,-2)",
        *NUMBERS_ONLY,
    ),
    # ---- tuples and coordinates: values in order
    Case("tuple", "(3, -4)", "(3, -4)", "(3, -4)", "(3, -4)", *RIGHT),
    Case("tuple", "(3, -4)", "(3, -4)", "(3, -4)", "(3,-4)", *NUMBERS_ONLY),
    Case("tuple", "(3, -4)", "(3, -4)", "(3, -4)", "(-4, 3)", *WRONG),
    Case("tuple", "(3, -4)", "(3; -4)", "(3, -4)", "(3; -4)", *NUMBERS_ONLY),
    Case("tuple", "(3, -4)", "(3, -4)", "(3, -4)", "3, -4", -1.5, 1.5, -1.0),  # a list, not a point
    Case(
        "tuple", "\\left(3, \\frac{1}{2}\\right)", "(3; 0,5)", "(3, \\frac{1}{2})", "(3; 0,5)", *NUMBERS_ONLY
    ),
    Case(
        "tuple", "\\left(3, \\frac{1}{2}\\right)", "(3; 0,5)", "(3, \\frac{1}{2})", "(3, 0.5)", *NUMBERS_ONLY
    ),
    Case("tuple", "(1,2,3)", "(1,2,3)", "(1, 2, 3)", "(1, 2, 3)", *RIGHT),
    Case("tuple", "(1,2,3)", "(1,2,3)", "(1, 2, 3)", "(1,2,3)", *NUMBERS_ONLY),
    Case("tuple", "(1,2,3)", "(1,2,3)", "(1, 2, 3)", "(1, 2)", *WRONG),
    Case(
        "tuple",
        "(2\\sqrt{2}, \\frac{\\pi}{4})",
        None,
        "(2\\sqrt{2}, \\frac{\\pi}{4})",
        "(2\\sqrt2, \\pi/4)",
        -1.5,
        0.0,
        2.0,
    ),
    # ---- lists of values: any order (issue 16's reproductions)
    Case("list", "-2, 3", "-2, 3", "-2, 3", "-2, 3", *RIGHT),
    Case("list", "-2, 3", "-2, 3", "-2, 3", "3, -2", *NUMBERS_ONLY),
    Case("list", "-2, 3", "-2, 3", "-2, 3", "-2.3", *WRONG),
    Case("list", "-2, 3", "-2, 3", "-2, 3", "-2,3", *WRONG),  # a Vietnamese decimal comma: -2.3
    Case("list", "-2, 3", "-2, 3", "-2, 3", "x = -2, x = 3", *NUMBERS_ONLY),
    Case("list", "-2, 3", "-2, 3", "-2, 3", "-2 và 3", *NUMBERS_ONLY),
    Case("list", "-2, 3", "-2, 3", "-2, 3", "-2; 3", *NUMBERS_ONLY),
    Case("list", "-2, 3", "-2, 3", "-2, 3", "-2", *WRONG),
    Case("list", "1331, 1728", "1331, 1728", "1331, 1728", "1331.1728", *WRONG),
    Case("list", "1331, 1728", "1331, 1728", "1331, 1728", "1728, 1331", *NUMBERS_ONLY),
    Case("list", "1,5", "1, 5", "1, 5", "1, 5", *RIGHT),  # an English comma that groups no three digits
    Case("list", "1,5", "1, 5", "1, 5", "1,5", *WRONG),
    Case("list", None, "1, 5", "1, 5", "5, 1", *NUMBERS_ONLY),
    Case("list", "2,4,6", "2, 4, 6", "2, 4, 6", "2, 4, 6", *RIGHT),
    Case("list", "1, 2, 3", "1, 2, 3", "1, 2, 3", "1, 2, 4", *WRONG),
    Case("list", "\\frac{1}{2}, 3", "\\frac{1}{2}, 3", "\\frac{1}{2}, 3", "3, 0,5", *NUMBERS_ONLY),
    # ---- matrices and vectors
    Case(
        "matrix",
        "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
        None,
        "\\begin{pmatrix}1 \\\\ 2\\end{pmatrix}",
        "\\begin{pmatrix}1\\\\2\\end{pmatrix}",
        *NUMBERS_ONLY,
    ),
    Case(
        "matrix",
        "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
        None,
        "\\begin{pmatrix}1 \\\\ 2\\end{pmatrix}",
        "\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}",
        *WRONG,
    ),
    Case(
        "matrix",
        "\\begin{pmatrix} \\frac{1}{2} & 0 \\\\ 0 & 1 \\end{pmatrix}",
        None,
        "\\begin{pmatrix}\\frac{1}{2} & 0 \\\\ 0 & 1\\end{pmatrix}",
        "\\begin{pmatrix} 0.5 & 0 \\\\ 0 & 1 \\end{pmatrix}",
        *NUMBERS_ONLY,
    ),
    # ---- assignments: the right-hand side
    Case("assignment", "x = 5", "x = 5", "5", "5", *RIGHT),
    Case("assignment", "x = 5", "x = 5", "5", "x=5", *NUMBERS_ONLY),
    Case("assignment", "5", "5", "5", "y = 5", *NUMBERS_ONLY),
    Case("assignment", "5", "5", "5", "x = 6", *WRONG),
    # ---- expressions (symbolic: math-verify decides)
    Case("expression", "x^2+2x+1", "x^2+2x+1", "x^2+2x+1", "x^2 + 2x + 1", 1.5, 0.0, 2.0),
    Case("expression", "x^2+2x+1", "x^2+2x+1", "x^2+2x+1", "(x+1)^2", -1.5, 0.0, 2.0),
    Case("expression", "x^2+2x+1", "x^2+2x+1", "x^2+2x+1", "x^2+1", -1.5, 0.0, -1.0),
    Case("expression", "5^{10}", "5^{10}", "5^{10}", "9765625", -1.5, 0.0, 2.0),
    Case("expression", "3x - 2", "3x - 2", "3x-2", "3x-2", 3.0, 0.0, 2.0),
    # ---- words and choices
    Case("text", "\\text{odd}", "\\text{odd}", "odd", "odd", 3.0, 0.0, 2.0),
    Case("text", "\\text{odd}", "\\text{odd}", "odd", "\\text{Odd}", 1.5, 0.0, 2.0),
    Case("text", "\\text{odd}", "\\text{odd}", "odd", "even", -1.5, 0.0, -1.0),
    Case("text", "\\text{(C)}", "\\text{(C)}", "C", "(C)", 1.5, 0.0, 2.0),
    Case("text", "\\text{(C)}", "\\text{(C)}", "C", "(D)", -1.5, 0.0, -1.0),
    Case("text", "Devon", "Devon", "Devon", "devon", 1.5, 0.0, 2.0),
    # ---- too long to be an answer: matches nothing; check_numbers still reads the first number
    Case("too long", "18", "18", "18", "1" * (MAX_ANSWER_CHARS + 1), -1.5, 0.0, -1.0),  # no readable number
    Case("too long", "18", "18", "18", ESSAY + " " * (MAX_ANSWER_CHARS - len(ESSAY) + 1), -1.5, 1.5, -1.0),
]


def _row(case: Case) -> tuple[str, str | None]:
    """response_vi and response_en of a row stating the case's answers (None: no English response)."""
    vi = "Ta tính từng bước.\n" + (f"Đáp án là: {case.vi}" if case.vi is not None else "Vậy là xong.")
    en = "We compute step by step.\n" + f"The answer is: {case.en}" if case.en is not None else None
    return vi, en


def _completion(solution: str | None) -> list[dict[str, str]]:
    body = "<thinking>\nTính toán.\n</thinking>\n"
    text = body + (f"<SOLUTION>{solution}</SOLUTION>" if solution is not None else "không có lời giải")
    return [{"role": "assistant", "content": text}]


def test_the_corpus_is_large_and_covers_every_form() -> None:
    assert len(CASES) >= 150
    assert {c.form for c in CASES} == set(FORMS)


def test_the_readme_table_lists_every_form() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert all(f"\n| {form} | " in readme for form in FORMS)


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c.form}" for i, c in enumerate(CASES)])
def test_answer_form(case: Case) -> None:
    vi, en = _row(case)
    assert extract_answer(vi, en) == case.gold
    completions, answer = [_completion(case.solution)], [case.gold]
    assert check_answer(completions=completions, answer=answer) == [case.check_answer]
    assert check_numbers(completions=completions, answer=answer) == [case.check_numbers]
    assert correctness(completions=completions, answer=answer) == [case.correctness]
    # Eval's accuracy is the training reward's verdict.
    record = score_row(
        {"answer": case.gold, "type": "MATH_AnsAug"},
        [Completion(_completion(case.solution)[0]["content"], 5)],
        0,
    )
    assert record["correct"] == [case.correctness > 0]
    # The form under test is the one read, on the gold side or the completion side.
    forms = set(read_gold(case.gold).forms) | set(read_answer(case.solution or "", "vi").forms)
    forms |= set(read_answer(case.en or "", "en").forms) | set(read_answer(case.vi or "", "vi").forms)
    assert case.form in forms, forms


@pytest.mark.parametrize("case", [c for c in CASES if c.en is not None], ids=lambda c: f"{c.form}:{c.en}")
def test_gold_is_canonical(case: Case) -> None:
    """A stored gold answer reads back as itself, so the rewards see exactly what extraction saw."""
    gold = read_gold(case.gold)
    assert gold.text == case.gold
    assert read_answer(case.en or "", "en").text == case.gold


# --------------------------------------------------------------------------- issue 16's reproductions


def test_a_list_answer_stays_a_list() -> None:
    assert extract_answer("… Đáp án là: -2, 3", "… The answer is: -2, 3") == "-2, 3"
    assert extract_answer("", "The answer is: 1331, 1728") == "1331, 1728"
    assert extract_answer("Đáp án là: 1, 5") == "1, 5"
    wrong, right = _completion("-2.3"), _completion("-2, 3")
    answer = ["-2, 3"] * 2
    assert check_answer(completions=[wrong, right], answer=answer) == [-1.5, 3.0]
    assert check_numbers(completions=[wrong, right], answer=answer) == [-0.5, 1.5]
    assert correctness(completions=[wrong, right], answer=answer) == [-1.0, 2.0]


def test_latex_thousands_read_as_one_number() -> None:
    assert extract_answer("", "The answer is: 9{,}500") == "9500"
    completions = [_completion("9500"), _completion("9{,}500"), _completion("9")]
    assert check_answer(completions=completions, answer=["9500"] * 3) == [3.0, 1.5, -1.5]
    assert check_numbers(completions=completions, answer=["9500"] * 3) == [1.5, 1.5, -0.5]


# --------------------------------------------------------------------------- scoring always ends

HANGING = (
    "<thinking>x</thinking><SOLUTION>\\boxed{\\dfrac{5^{\\left(5^{\\left(5^{\\left(5^5\\right)}\\right)}"
    " - 4\\right)} - 5}{16}}</SOLUTION>"
)
"""Issue 16's completion that hung `correctness` and `grpo-workbench eval` for ever (its gold answer: 5)."""


def test_the_hanging_completion_scores_wrong_within_the_limit() -> None:
    logged: list[tuple[str, float]] = []
    started = time.monotonic()
    scores = correctness(
        completions=[_completion("5")[0]["content"], HANGING],
        answer=["5", "5"],
        log_metric=lambda name, value: logged.append((name, value)),
    )
    assert time.monotonic() - started < 10
    assert scores == [2.0, -1.0]
    assert logged == [("scoring/timeouts", 1.0)]


def test_eval_scores_the_hanging_completion_wrong_and_counts_it() -> None:
    started = time.monotonic()
    record = score_row({"answer": "5", "type": "MATH_AnsAug"}, [Completion(HANGING, 40)], 0, timeout_s=2.0)
    assert time.monotonic() - started < 10
    assert record["correct"] == [False] and record["timed_out"] == [True]
    assert summarize([record])["overall"]["scoring_timeouts"] == 1


def test_the_time_limit_is_per_call_and_a_new_worker_takes_over() -> None:
    grades = grade(
        ["5", "2\\sqrt{3}"], [HANGING.split("<SOLUTION>")[1].split("</SOLUTION>")[0], "\\sqrt{12}"], 1.0
    )
    assert [(g.correct, g.timed_out) for g in grades] == [(False, True), (True, False)]


@pytest.mark.parametrize(
    "text",
    [
        "<thinking>" + "a" * 100_000 + "</thinking><SOLUTION>5</SOLUTION>",
        "<thinking>x</thinking><SOLUTION>" + "2, " * 33_000 + "</SOLUTION>",
        "<thinking>x</thinking><SOLUTION>" + "9" * 10_000 + "</SOLUTION>",
        "<thinking>x</thinking><SOLUTION>1 \\times 10^{" + "9" * 10_000 + "}</SOLUTION>",
        "<thinking>x</thinking><SOLUTION>" + "\\frac{" * 20_000 + "</SOLUTION>",
        "<SOLUTION>" * 10_000,
        "<thinking>a</thinking><SOLUTION>5</SOLUTION>" * 2_500,
        " " * 100_000,
    ],
    ids=[
        "100k thinking",
        "100k list",
        "10k digits",
        "10k-digit exponent",
        "open braces",
        "open tags",
        "many blocks",
        "spaces",
    ],
)
def test_every_reward_is_quick_on_pathological_completions(text: str) -> None:
    from workbench.rewards import REWARDS

    for name, fn in REWARDS.items():
        started = time.monotonic()
        fn(completions=[text], answer=["5"])
        assert time.monotonic() - started < 1.0, name
