"""Deterministic generator of `vi_math_sample.jsonl`, a stand-in for the Vietnamese MetaMathQA translation.

Why this exists: the workbench must run (tests, demos, a first training run) without downloading
`5CD-AI/Vietnamese-meta-math-MetaMathQA-40K-gg-translated`. The rows here use that dataset's exact schema
(`query_vi, response_vi, query_en, response_en, type`, all strings) and reproduce the quirks of its
machine translation that the answer extractor has to survive:

- `response_en` always ends with `The answer is: X`;
- `response_vi` ends with `Đáp án là: X`, `Câu trả lời là: X`, `Câu trả lời là : X`, `đáp án là: X`,
  or with no answer phrase at all (then only the English side has the answer);
- Vietnamese numbers use a decimal comma and dotted thousands (2,5 and 15.000), English the reverse;
- in some Vietnamese MATH solutions `\\boxed{` became `\\đóng hộp{`;
- a few Vietnamese answers carry a trailing period or space.

Every problem comes from a template that computes its numbers in code (exact `Fraction` arithmetic), so
the worked solutions are correct. The module is stdlib-only and deterministic: all randomness flows from
one `random.Random(seed)`.

A development tool, not part of the installed package: the wheel ships only its output,
`workbench/sample_data/vi_math_sample.jsonl`, and `tests/test_sample_data.py` checks that regenerating it
is byte-identical. From the repository root, rewrite the file with

    python -m tools.generate_sample_data
"""

from __future__ import annotations

import json
import random
import unicodedata
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass
from fractions import Fraction
from math import gcd, lcm
from pathlib import Path
from typing import NamedTuple

OUTPUT = Path(__file__).resolve().parents[1] / "workbench" / "sample_data" / "vi_math_sample.jsonl"
"""Where `main()` writes the rows: the package data `workbench.paths.bundled_sample()` reads."""
WARMSTART_OUTPUT = OUTPUT.with_name("vi_math_warmstart.jsonl")
"""Where `main()` writes the tiny model's warm-start rows (`workbench.paths.warmstart_sample()`)."""

KEYS = ("query_vi", "response_vi", "query_en", "response_en", "type")
"""The dataset's columns, in the order each JSON line lists them."""

KINDS = ("AnsAug", "Rephrased", "SV", "FOBAR")
"""MetaMathQA's augmentation kinds; a row's type is `GSM_<kind>` or `MATH_<kind>`."""

ENDINGS: tuple[tuple[str, int], ...] = (
    ("Đáp án là: ", 45),
    ("Câu trả lời là: ", 40),
    ("Câu trả lời là : ", 5),
    ("đáp án là: ", 5),
    ("", 5),
)
"""Vietnamese answer phrases and their share in percent; "" means the row states no final answer."""

TRAILING_SHARE = 3
"""Percent of rows (among those with a Vietnamese answer phrase) whose answer has a trailing '.' or ' '."""

Number = Fraction | int


# --------------------------------------------------------------------------------------------------
# Number formatting: Vietnamese (2,5 / 15.000) and English (2.5 / 15,000) conventions.
# --------------------------------------------------------------------------------------------------


def _terminating(value: Fraction) -> bool:
    """True when `value` has a finite decimal expansion (its denominator has only factors 2 and 5)."""
    den = value.denominator
    for prime in (2, 5):
        while den % prime == 0:
            den //= prime
    return den == 1


def _group(digits: str, sep: str) -> str:
    """`digits` with `sep` between groups of three, counted from the right."""
    groups = []
    while len(digits) > 3:
        groups.append(digits[-3:])
        digits = digits[:-3]
    groups.append(digits)
    return sep.join(reversed(groups))


def _fmt(value: Number, thousands: str, point: str, grouped: bool) -> str:
    """A number in one convention; a non-terminating fraction is written p/q."""
    value = Fraction(value)
    if not _terminating(value):
        return f"{value.numerator}/{value.denominator}"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    places = 0
    while (magnitude * 10**places).denominator != 1:
        places += 1
    whole, frac = divmod(int(magnitude * 10**places), 10**places)
    digits = _group(str(whole), thousands) if grouped else str(whole)
    return sign + digits + (point + f"{frac:0{places}d}" if places else "")


def vi_number(value: Number) -> str:
    """A number the Vietnamese way, dotted thousands and a decimal comma: 15.000 and 2,5.

    Vietnamese text uses it in prose, LaTeX and answers alike.
    """
    return _fmt(value, ".", ",", True)


def en_number(value: Number) -> str:
    """A number the English prose way, comma thousands and a decimal point: 15,000 and 2.5."""
    return _fmt(value, ",", ".", True)


def plain_number(value: Number) -> str:
    """A number with no thousands separator, as MetaMathQA writes English answers and LaTeX: 15000 and 2.5."""
    return _fmt(value, ",", ".", False)


def vi_times_var(coef: Number, var: str = "x") -> str:
    """A coefficient times a variable in Vietnamese text: x, 12.000x, 2,5x or (3/10)x."""
    coef = Fraction(coef)
    if coef == 1:
        return var
    return f"({vi_number(coef)}){var}" if not _terminating(coef) else f"{vi_number(coef)}{var}"


def en_times_var(coef: Number, var: str = "x") -> str:
    """A coefficient times a variable in English text: x, 12,000x, 2.5x or (3/10)x."""
    coef = Fraction(coef)
    if coef == 1:
        return var
    return f"({en_number(coef)}){var}" if not _terminating(coef) else f"{en_number(coef)}{var}"


def _wrap(text: str, value: Number) -> str:
    """Parenthesise a divisor written as p/q, so `18 / (3/10)` cannot be misread."""
    return f"({text})" if not _terminating(Fraction(value)) else text


def ratio(value: Number) -> str:
    """A fraction in plain text (3/10), or an integer."""
    value = Fraction(value)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def tex_frac(value: Number) -> str:
    """A rational in LaTeX as MetaMathQA answers write it: 7, -7, \\frac{3}{4} or -\\frac{3}{4}."""
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return sign + frac(abs(value.numerator), value.denominator)


def frac(num: object, den: object) -> str:
    """LaTeX `\\frac{num}{den}` without fighting f-string braces."""
    return "\\frac{" + str(num) + "}{" + str(den) + "}"


def cdot(left: object, right: object) -> str:
    """LaTeX product `left \\cdot right` (f-string expressions cannot hold a backslash before 3.12)."""
    return f"{left} \\cdot {right}"


def div(left: object, right: object) -> str:
    """LaTeX quotient `left \\div right`."""
    return f"{left} \\div {right}"


def boxed(inner: str) -> str:
    """LaTeX `\\boxed{inner}`."""
    return "\\boxed{" + inner + "}"


def paren_if_negative(value: int) -> str:
    """An integer inside a LaTeX product: negative ones get parentheses, as in 3 \\cdot (-2)."""
    return f"({value})" if value < 0 else str(value)


def signed(values: Sequence[int]) -> str:
    """Integers joined as a sum with explicit signs: [18, -6, 5] -> '18 - 6 + 5'."""
    text = str(values[0])
    for value in values[1:]:
        text += f" + {value}" if value >= 0 else f" - {-value}"
    return text


def linear_tex(coef: int, const: int, var: str = "x") -> str:
    """A linear expression in LaTeX: 5x + 3, x - 4, 2x."""
    term = var if coef == 1 else f"{coef}{var}"
    if const > 0:
        return f"{term} + {const}"
    if const < 0:
        return f"{term} - {-const}"
    return term


def join_vi(items: Sequence[str]) -> str:
    """A Vietnamese list: '7,5; 8; 9 và 6' (semicolons, since commas are decimal marks)."""
    return "; ".join(items[:-1]) + " và " + items[-1]


def join_en(items: Sequence[str]) -> str:
    """An English list: '7.5, 8, 9 and 6'."""
    return ", ".join(items[:-1]) + " and " + items[-1]


# --------------------------------------------------------------------------------------------------
# The problem model: a template returns both languages of one problem, forward and (maybe) backward.
# --------------------------------------------------------------------------------------------------


class Bilingual(NamedTuple):
    """One piece of text in Vietnamese and English."""

    vi: str
    en: str


def join_bilingual(*parts: Bilingual) -> Bilingual:
    """Join bilingual pieces with spaces, each language separately, skipping empty ones."""
    return Bilingual(" ".join(p.vi for p in parts if p.vi), " ".join(p.en for p in parts if p.en))


@dataclass(frozen=True)
class Answer:
    """A final answer and how each language writes it."""

    value: Fraction
    as_fraction: bool = False
    """MATH answers such as 3/4 are written `\\frac{3}{4}`; otherwise as decimals."""

    def vi(self) -> str:
        if self.as_fraction and self.value.denominator != 1:
            return tex_frac(self.value)
        return vi_number(self.value)

    def en(self) -> str:
        if self.as_fraction and self.value.denominator != 1:
            return tex_frac(self.value)
        return plain_number(self.value)


@dataclass(frozen=True)
class Backward:
    """The SV / FOBAR version: one given quantity becomes the unknown x (GSM) or X (MATH)."""

    question: Bilingual
    """FOBAR: the question with the unknown in it (the "answer is ..." suffix is added later)."""
    statement: Bilingual
    """SV: the problem told as facts with the unknown, the result stated."""
    meaning: Bilingual
    """What the unknown stands for, for the SV opening sentence."""
    steps: list[Bilingual]
    value: Fraction


@dataclass(frozen=True)
class Problem:
    """One generated problem, in both languages."""

    context: Bilingual
    """The facts (GSM); empty for MATH, whose `ask` is the whole question."""
    ask: Bilingual
    rephrased: Bilingual
    """A full rephrased query (MetaMathQA's *_Rephrased)."""
    steps: list[Bilingual]
    answer: Answer
    backward: Backward | None = None


def gsm_backward(
    xcontext: Bilingual,
    ask: Bilingual,
    claim: Bilingual,
    meaning: Bilingual,
    steps: list[Bilingual],
    value: Number,
) -> Backward:
    """A GSM backward problem: the facts with x, asked forward (FOBAR) or with the result stated (SV)."""
    return Backward(
        join_bilingual(xcontext, ask), join_bilingual(xcontext, claim), meaning, steps, Fraction(value)
    )


MATH_MEANING = Bilingual("giá trị chưa biết trong đề bài", "the unknown value in the problem")


def math_backward(
    question: Bilingual,
    answer: Answer,
    steps: list[Bilingual],
    value: Number,
    meaning: Bilingual = MATH_MEANING,
) -> Backward:
    """A MATH backward problem; SV states the answer MetaMathQA's way ("... The answer is 7.")."""
    stated = Bilingual(f"Câu trả lời là {answer.vi()}.", f"The answer is {answer.en()}.")
    return Backward(question, join_bilingual(question, stated), meaning, steps, Fraction(value))


def solve_linear(a: Number, b: Number, rhs: Number, expect: Number, var: str = "x") -> list[Bilingual]:
    """The lines solving `b + a*var = rhs` (an equation the caller has already written down).

    Why a helper: most GSM backward solutions end in the same two algebra steps; doing them in one place
    keeps the printed arithmetic consistent, and the assertion ties it to the template's true value.
    """
    a, b, rhs = Fraction(a), Fraction(b), Fraction(rhs)
    lines: list[Bilingual] = []
    if a > 0:
        num = rhs - b
        if b > 0:
            lines.append(
                Bilingual(
                    f"Suy ra {vi_times_var(a, var)} = {vi_number(rhs)} - {vi_number(b)} = {vi_number(num)}.",
                    f"So {en_times_var(a, var)} = {en_number(rhs)} - {en_number(b)} = {en_number(num)}.",
                )
            )
        elif b < 0:
            lines.append(
                Bilingual(
                    f"Suy ra {vi_times_var(a, var)} = {vi_number(rhs)} + {vi_number(-b)} = {vi_number(num)}.",
                    f"So {en_times_var(a, var)} = {en_number(rhs)} + {en_number(-b)} = {en_number(num)}.",
                )
            )
    else:
        num = b - rhs
        lines.append(
            Bilingual(
                f"Suy ra {vi_times_var(-a, var)} = {vi_number(b)} - {vi_number(rhs)} = {vi_number(num)}.",
                f"So {en_times_var(-a, var)} = {en_number(b)} - {en_number(rhs)} = {en_number(num)}.",
            )
        )
    coef = abs(a)
    value = num / coef
    if coef != 1:
        lines.append(
            Bilingual(
                f"Do đó {var} = {vi_number(num)} / {_wrap(vi_number(coef), coef)} = {vi_number(value)}.",
                f"Therefore, {var} = {en_number(num)} / {_wrap(en_number(coef), coef)} = {en_number(value)}.",
            )
        )
    if value != Fraction(expect):
        raise AssertionError(f"linear solution {value} != expected {expect}")
    return lines


# --------------------------------------------------------------------------------------------------
# Names and people.
# --------------------------------------------------------------------------------------------------

NAMES: tuple[tuple[str, bool], ...] = (
    ("An", False),
    ("Bình", False),
    ("Lan", True),
    ("Minh", False),
    ("Hoa", True),
    ("Hùng", False),
    ("Mai", True),
    ("Nam", False),
    ("Linh", True),
    ("Tuấn", False),
    ("Hương", True),
    ("Dũng", False),
    ("Thảo", True),
    ("Quân", False),
    ("Ngọc", True),
    ("Khoa", False),
    ("Trang", True),
    ("Phúc", False),
    ("Vy", True),
    ("Long", False),
    ("Hà", True),
    ("Sơn", False),
    ("Yến", True),
    ("Đức", False),
    ("Nga", True),
    ("Huy", False),
    ("Nhung", True),
    ("Tâm", False),
    ("Châu", True),
    ("Việt", False),
)
"""(name, is_female): the gender only picks English pronouns and Vietnamese titles."""


@dataclass(frozen=True)
class Person:
    """A named person with the pronouns the English text needs."""

    name: str
    female: bool

    @property
    def he(self) -> str:
        return "she" if self.female else "he"

    @property
    def He(self) -> str:
        return "She" if self.female else "He"

    @property
    def his(self) -> str:
        return "her" if self.female else "his"

    @property
    def Adult(self) -> str:
        """`adult` at the start of a sentence: 'Chị Lan' / 'Anh Minh'."""
        return f"{'Chị' if self.female else 'Anh'} {self.name}"

    @property
    def adult(self) -> str:
        """A Vietnamese title for an adult: 'chị Lan' / 'anh Minh'."""
        return f"{'chị' if self.female else 'anh'} {self.name}"


def person(rng: random.Random) -> Person:
    return Person(*rng.choice(NAMES))


def two_people(rng: random.Random) -> tuple[Person, Person]:
    first, second = rng.sample(NAMES, 2)
    return Person(*first), Person(*second)


# --------------------------------------------------------------------------------------------------
# Templates. Each builds one problem; GSM ones read like grade-school word problems, MATH ones use
# LaTeX. `need_backward` asks for numbers that make the SV / FOBAR version well posed.
# --------------------------------------------------------------------------------------------------

Builder = Callable[[random.Random, bool], Problem]


@dataclass(frozen=True)
class Template:
    """A registered template: its family (GSM or MATH) and whether it has a backward version."""

    name: str
    family: str
    build: Builder
    backward: bool


TEMPLATES: list[Template] = []


def template(family: str, backward: bool = True) -> Callable[[Builder], Builder]:
    """Register a template function under its name."""

    def register(build: Builder) -> Builder:
        TEMPLATES.append(Template(build.__name__.lstrip("_"), family, build, backward))
        return build

    return register


# ---------------------------------------------------------------------------------------- GSM ----

STATIONERY = (
    # classifier, noun, English plural, lowest price, highest price, step (đồng)
    ("quyển", "vở", "notebooks", 8000, 16000, 500),
    ("cây", "bút bi", "ballpoint pens", 3000, 7000, 500),
    ("hộp", "bút màu", "boxes of crayons", 20000, 45000, 1000),
    ("cuốn", "truyện tranh", "comic books", 15000, 30000, 1000),
    ("cái", "thước kẻ", "rulers", 4000, 9000, 500),
    ("cục", "tẩy", "erasers", 2000, 5000, 500),
    ("cây", "bút chì", "pencils", 3000, 6000, 500),
)


@template("GSM")
def _shopping_change(rng: random.Random, need_backward: bool) -> Problem:
    """Buying two kinds of stationery and getting change from a banknote: multi-step money arithmetic."""
    p = person(rng)
    (c1, n1, e1, lo1, hi1, st1), (c2, n2, e2, lo2, hi2, st2) = rng.sample(STATIONERY, 2)
    a, b = rng.randint(2, 6), rng.randint(2, 5)
    p1, p2 = rng.randrange(lo1, hi1 + 1, st1), rng.randrange(lo2, hi2 + 1, st2)
    cost1, cost2 = a * p1, b * p2
    total = cost1 + cost2
    note = next(v for v in (50000, 100000, 200000, 500000) if v > total)
    change = note - total

    def facts(qty: str, qty_en: str) -> Bilingual:
        return Bilingual(
            f"{p.name} mua {qty} {c1} {n1}, mỗi {c1} giá {vi_number(p1)} đồng, và {b} {c2} {n2}, mỗi {c2} "
            "giá "
            f"{vi_number(p2)} đồng. {p.name} đưa cho người bán hàng tờ tiền {vi_number(note)} đồng.",
            f"{p.name} buys {qty_en} {e1} at {en_number(p1)} VND each and {b} {e2} at {en_number(p2)} VND "
            "each. "
            f"{p.He} pays with a {en_number(note)} VND note.",
        )

    ask = Bilingual(f"Hỏi {p.name} được trả lại bao nhiêu tiền?", f"How much change does {p.name} get back?")
    rephrased = Bilingual(
        f"Nếu {p.name} mua {a} {c1} {n1} giá {vi_number(p1)} đồng một {c1} và {b} {c2} {n2} giá "
        f"{vi_number(p2)} đồng "
        f"một {c2}, rồi trả bằng tờ {vi_number(note)} đồng, thì {p.name} sẽ nhận lại bao nhiêu tiền thừa?",
        f"If {p.name} buys {a} {e1} for {en_number(p1)} VND each and {b} {e2} for {en_number(p2)} VND each, "
        "and pays "
        f"with a {en_number(note)} VND note, how much change should {p.he} receive?",
    )
    steps = [
        Bilingual(
            f"Số tiền mua {n1} là {a} * {vi_number(p1)} = {vi_number(cost1)} đồng.",
            f"The {e1} cost {a} * {en_number(p1)} = {en_number(cost1)} VND.",
        ),
        Bilingual(
            f"Số tiền mua {n2} là {b} * {vi_number(p2)} = {vi_number(cost2)} đồng.",
            f"The {e2} cost {b} * {en_number(p2)} = {en_number(cost2)} VND.",
        ),
        Bilingual(
            f"Tổng số tiền phải trả là {vi_number(cost1)} + {vi_number(cost2)} = {vi_number(total)} đồng.",
            f"In total, {p.name} pays {en_number(cost1)} + {en_number(cost2)} = {en_number(total)} VND.",
        ),
        Bilingual(
            f"Số tiền được trả lại là {vi_number(note)} - {vi_number(total)} = {vi_number(change)} đồng.",
            f"So {p.name} gets back {en_number(note)} - {en_number(total)} = {en_number(change)} VND in "
            "change.",
        ),
    ]
    rest = note - cost2
    xsteps = [
        Bilingual(
            f"Số tiền mua x {c1} {n1} là {vi_times_var(p1)} đồng.", f"The x {e1} cost {en_times_var(p1)} VND."
        ),
        steps[1],
        Bilingual(
            f"Tổng số tiền phải trả là {vi_times_var(p1)} + {vi_number(cost2)} đồng.",
            f"In total, {p.name} pays {en_times_var(p1)} + {en_number(cost2)} VND.",
        ),
        Bilingual(
            f"Số tiền được trả lại là {vi_number(note)} - ({vi_times_var(p1)} + {vi_number(cost2)}) = "
            f"{vi_number(rest)} - {vi_times_var(p1)} đồng.",
            f"The change is {en_number(note)} - ({en_times_var(p1)} + {en_number(cost2)}) = "
            f"{en_number(rest)} - {en_times_var(p1)} VND.",
        ),
        Bilingual(
            f"Ta biết số tiền được trả lại là {vi_number(change)} đồng, nên {vi_number(rest)} - "
            f"{vi_times_var(p1)} = {vi_number(change)}.",
            f"We know the change is {en_number(change)} VND, so {en_number(rest)} - {en_times_var(p1)} = "
            f"{en_number(change)}.",
        ),
        *solve_linear(-p1, rest, change, a),
    ]
    backward = gsm_backward(
        facts("x", "x"),
        ask,
        Bilingual(
            f"{p.name} được trả lại {vi_number(change)} đồng.",
            f"{p.name} gets back {en_number(change)} VND in change.",
        ),
        Bilingual(f"số {c1} {n1} mà {p.name} đã mua", f"the number of {e1} {p.name} buys"),
        xsteps,
        a,
    )
    return Problem(facts(str(a), str(a)), ask, rephrased, steps, Answer(Fraction(change)), backward)


@template("GSM")
def _ages(rng: random.Random, need_backward: bool) -> Problem:
    """A child's and a parent's ages some years from now: multiplication, then addition."""
    p = person(rng)
    parent, parent_en = rng.choice((("bố", "father"), ("mẹ", "mother")))
    while True:
        a, k = rng.randint(5, 14), rng.randint(3, 6)
        if 26 <= a * k <= 48:
            break
    y = rng.randint(2, 12)
    pa = a * k
    total = a + pa + 2 * y

    def facts(age: str, age_en: str) -> Bilingual:
        return Bilingual(
            f"Năm nay {p.name} {age} tuổi. Tuổi của {parent} {p.name} gấp {k} lần tuổi của {p.name}.",
            f"{p.name} is {age_en} years old this year. {p.name}'s {parent_en} is {k} times as old as "
            f"{p.name}.",
        )

    ask = Bilingual(
        f"Hỏi {y} năm nữa, tổng số tuổi của hai {parent} con là bao nhiêu?",
        f"What will be the sum of their ages in {y} years?",
    )
    rephrased = Bilingual(
        f"Nếu năm nay {p.name} {a} tuổi và {parent} của {p.name} có số tuổi gấp {k} lần {p.name}, thì sau "
        f"{y} năm nữa tổng số tuổi của hai {parent} con là bao nhiêu?",
        f"If {p.name} is currently {a} years old and {p.his} {parent_en} is {k} times {p.his} age, what will "
        f"their combined age be {y} years from now?",
    )
    steps = [
        Bilingual(
            f"Năm nay {parent} {p.name} có số tuổi là {k} * {a} = {pa} tuổi.",
            f"This year {p.name}'s {parent_en} is {k} * {a} = {pa} years old.",
        ),
        Bilingual(
            f"Sau {y} năm nữa, {p.name} có số tuổi là {a} + {y} = {a + y} tuổi.",
            f"In {y} years, {p.name} will be {a} + {y} = {a + y} years old.",
        ),
        Bilingual(
            f"Sau {y} năm nữa, {parent} {p.name} có số tuổi là {pa} + {y} = {pa + y} tuổi.",
            f"In {y} years, {p.his} {parent_en} will be {pa} + {y} = {pa + y} years old.",
        ),
        Bilingual(
            f"Tổng số tuổi của hai {parent} con khi đó là {a + y} + {pa + y} = {total} tuổi.",
            f"The sum of their ages will then be {a + y} + {pa + y} = {total}.",
        ),
    ]
    xsteps = [
        Bilingual(
            f"Năm nay {parent} {p.name} có số tuổi là {k}x.", f"This year {p.name}'s {parent_en} is {k}x."
        ),
        Bilingual(
            f"Sau {y} năm nữa, {p.name} có số tuổi là x + {y}, còn {parent} {p.name} có số tuổi là "
            f"{k}x + {y}.",
            f"In {y} years, {p.name} will be x + {y} and {p.his} {parent_en} will be {k}x + {y}.",
        ),
        Bilingual(
            f"Tổng số tuổi khi đó là (x + {y}) + ({k}x + {y}) = {k + 1}x + {2 * y}.",
            f"The sum of their ages will be (x + {y}) + ({k}x + {y}) = {k + 1}x + {2 * y}.",
        ),
        Bilingual(
            f"Ta biết tổng số tuổi là {total}, nên {k + 1}x + {2 * y} = {total}.",
            f"We know the sum is {total}, so {k + 1}x + {2 * y} = {total}.",
        ),
        *solve_linear(k + 1, 2 * y, total, a),
    ]
    backward = gsm_backward(
        facts("x", "x"),
        ask,
        Bilingual(
            f"Sau {y} năm nữa, tổng số tuổi của hai {parent} con là {total}.",
            f"In {y} years, the sum of their ages will be {total}.",
        ),
        Bilingual(f"số tuổi năm nay của {p.name}", f"{p.name}'s age this year"),
        xsteps,
        a,
    )
    return Problem(facts(str(a), str(a)), ask, rephrased, steps, Answer(Fraction(total)), backward)


VEHICLES = (
    ("ô tô", "car", 40, 80),
    ("xe máy", "motorbike", 30, 50),
    ("tàu hỏa", "train", 50, 90),
    ("xe đạp", "bicycle", 10, 18),
)
HOURS = ("0.5", "0.75", "1.25", "1.5", "1.75", "2.25", "2.5", "3.5", "1.2", "2.4", "3", "4")


@template("GSM")
def _distance(rng: random.Random, need_backward: bool) -> Problem:
    """Distance = speed * time with a decimal number of hours, so answers are often decimals."""
    p = person(rng)
    veh, veh_en, lo, hi = rng.choice(VEHICLES)
    v, t = rng.randint(lo, hi), Fraction(rng.choice(HOURS))
    d = v * t

    def facts(speed: str) -> Bilingual:
        return Bilingual(
            f"{p.name} đi {veh} với vận tốc {speed} km/giờ trong {vi_number(t)} giờ.",
            f"{p.name} travels by {veh_en} at {speed} km/h for {en_number(t)} hours.",
        )

    ask = Bilingual(
        f"Hỏi {p.name} đi được quãng đường dài bao nhiêu ki-lô-mét?",
        f"How many kilometres does {p.he} travel?",
    )
    rephrased = Bilingual(
        f"Nếu {p.name} đi {veh} liên tục trong {vi_number(t)} giờ với vận tốc {v} km/giờ, thì quãng đường "
        f"{p.name} đi được dài bao nhiêu km?",
        f"If {p.name} travels by {veh_en} for {en_number(t)} hours at a steady {v} km/h, what distance "
        f"does {p.he} cover, in kilometres?",
    )
    steps = [
        Bilingual("Quãng đường = vận tốc * thời gian.", "Distance = speed * time."),
        Bilingual(
            f"Quãng đường {p.name} đi được là {v} * {vi_number(t)} = {vi_number(d)} km.",
            f"{p.name} travels {v} * {en_number(t)} = {en_number(d)} km.",
        ),
    ]
    xsteps = [
        Bilingual(
            f"Quãng đường {p.name} đi được là x * {vi_number(t)} = {vi_times_var(t)} km.",
            f"{p.name} travels x * {en_number(t)} = {en_times_var(t)} km.",
        ),
        Bilingual(
            f"Ta biết quãng đường là {vi_number(d)} km, nên {vi_times_var(t)} = {vi_number(d)}.",
            f"We know the distance is {en_number(d)} km, so {en_times_var(t)} = {en_number(d)}.",
        ),
        *solve_linear(t, 0, d, v),
    ]
    backward = gsm_backward(
        facts("x"),
        ask,
        Bilingual(
            f"{p.name} đi được quãng đường dài {vi_number(d)} km.", f"{p.He} travels {en_number(d)} km."
        ),
        Bilingual(f"vận tốc của {p.name} (km/giờ)", f"{p.name}'s speed in km/h"),
        xsteps,
        v,
    )
    return Problem(facts(str(v)), ask, rephrased, steps, Answer(d), backward)


ROUTES = (
    ("từ nhà {n} đến nhà bà ngoại", "from {n}'s house to {his} grandmother's house"),
    ("từ thị xã đến thành phố", "from the town to the city"),
    ("từ nhà {n} đến khu cắm trại", "from {n}'s house to the campsite"),
    ("từ trường đến khu du lịch", "from the school to the resort"),
)


@template("GSM")
def _travel_time(rng: random.Random, need_backward: bool) -> Problem:
    """Time = distance / speed; speeds divisible by 4 make quarter-hour (decimal) answers exact."""
    p = person(rng)
    route_vi, route_en = rng.choice(ROUTES)
    route_vi, route_en = route_vi.format(n=p.name), route_en.format(n=p.name, his=p.his)
    v = rng.choice((32, 36, 40, 44, 48, 52, 56, 60))
    t = Fraction(rng.choice(("0.5", "0.75", "1.25", "1.5", "1.75", "2.25", "2.5", "3.5", "2", "3")))
    d = int(v * t)

    def facts(dist: str) -> Bilingual:
        return Bilingual(
            f"Quãng đường {route_vi} dài {dist} km. Gia đình {p.name} đi ô tô với vận tốc {v} km/giờ.",
            f"The distance {route_en} is {dist} km. {p.name}'s family drives at {v} km/h.",
        )

    ask = Bilingual(
        f"Hỏi gia đình {p.name} đi hết quãng đường đó trong bao nhiêu giờ?",
        "How many hours does the trip take?",
    )
    rephrased = Bilingual(
        f"Nếu quãng đường {route_vi} dài {d} km và gia đình {p.name} đi ô tô với vận tốc không đổi "
        f"{v} km/giờ, thì họ cần bao nhiêu giờ để đi hết quãng đường?",
        f"If the distance {route_en} is {d} km and {p.name}'s family drives at a steady {v} km/h, "
        "how many hours will the trip take?",
    )
    steps = [
        Bilingual("Thời gian = quãng đường / vận tốc.", "Time = distance / speed."),
        Bilingual(
            f"Thời gian đi hết quãng đường là {d} / {v} = {vi_number(t)} giờ.",
            f"The trip takes {d} / {v} = {en_number(t)} hours.",
        ),
    ]
    xsteps = [
        Bilingual(f"Thời gian đi hết quãng đường là x / {v} giờ.", f"The trip takes x / {v} hours."),
        Bilingual(
            f"Ta biết thời gian là {vi_number(t)} giờ, nên x / {v} = {vi_number(t)}.",
            f"We know the trip takes {en_number(t)} hours, so x / {v} = {en_number(t)}.",
        ),
        Bilingual(f"Do đó x = {vi_number(t)} * {v} = {d}.", f"Therefore, x = {en_number(t)} * {v} = {d}."),
    ]
    backward = gsm_backward(
        facts("x"),
        ask,
        Bilingual(
            f"Gia đình {p.name} đi hết quãng đường đó trong {vi_number(t)} giờ.",
            f"The trip takes {en_number(t)} hours.",
        ),
        Bilingual("độ dài quãng đường (km)", "the length of the route in kilometres"),
        xsteps,
        d,
    )
    return Problem(facts(str(d)), ask, rephrased, steps, Answer(t), backward)


PRICEY = (
    ("chiếc", "áo khoác", "jacket", 200000, 600000),
    ("đôi", "giày thể thao", "pair of sneakers", 300000, 900000),
    ("chiếc", "balo", "backpack", 150000, 450000),
    ("chiếc", "quạt điện", "electric fan", 250000, 700000),
    ("chiếc", "nồi cơm điện", "rice cooker", 400000, 1200000),
    ("chiếc", "đồng hồ đeo tay", "wristwatch", 300000, 1500000),
)


@template("GSM")
def _discount(rng: random.Random, need_backward: bool) -> Problem:
    """A percentage discount on a list price: percent of a quantity, then a subtraction."""
    p = person(rng)
    clf, item, item_en, lo, hi = rng.choice(PRICEY)
    price = rng.randrange(lo, hi + 1, 20000)
    r = rng.choice((10, 15, 20, 25, 30, 35, 40, 45, 50))
    off = price * r // 100
    pay = price - off

    def facts(rate: str) -> Bilingual:
        return Bilingual(
            f"Một {clf} {item} có giá niêm yết {vi_number(price)} đồng. Nhân dịp khai trương, cửa hàng giảm "
            "giá "
            f"{rate}% cho tất cả các mặt hàng.",
            f"A {item_en} has a list price of {en_number(price)} VND. For its grand opening, the shop gives "
            "a "
            f"{rate}% discount on everything.",
        )

    ask = Bilingual(
        f"Hỏi {p.name} phải trả bao nhiêu tiền để mua {clf} {item} đó?",
        f"How much does {p.name} pay for the {item_en}?",
    )
    rephrased = Bilingual(
        f"Nếu {p.name} mua một {clf} {item} có giá niêm yết {vi_number(price)} đồng và được giảm giá {r}%, "
        f"thì {p.name} phải trả bao nhiêu tiền?",
        f"If {p.name} buys a {item_en} listed at {en_number(price)} VND with a {r}% discount, how much does "
        f"{p.he} have to pay?",
    )
    steps = [
        Bilingual(
            f"Số tiền được giảm là {r}% * {vi_number(price)} = {r}/100 * {vi_number(price)} = "
            f"{vi_number(off)} đồng.",
            f"The discount is {r}% * {en_number(price)} = {r}/100 * {en_number(price)} = {en_number(off)} "
            "VND.",
        ),
        Bilingual(
            f"Số tiền {p.name} phải trả là {vi_number(price)} - {vi_number(off)} = {vi_number(pay)} đồng.",
            f"{p.name} pays {en_number(price)} - {en_number(off)} = {en_number(pay)} VND.",
        ),
    ]
    c = Fraction(price, 100)
    xsteps = [
        Bilingual(
            f"Số tiền được giảm là x% * {vi_number(price)} = {vi_times_var(c)} đồng.",
            f"The discount is x% * {en_number(price)} = {en_times_var(c)} VND.",
        ),
        Bilingual(
            f"Số tiền phải trả là {vi_number(price)} - {vi_times_var(c)} đồng.",
            f"The price paid is {en_number(price)} - {en_times_var(c)} VND.",
        ),
        Bilingual(
            f"Ta biết số tiền phải trả là {vi_number(pay)} đồng, nên {vi_number(price)} - {vi_times_var(c)} "
            f"= {vi_number(pay)}.",
            f"We know {p.name} pays {en_number(pay)} VND, so {en_number(price)} - {en_times_var(c)} = "
            f"{en_number(pay)}.",
        ),
        *solve_linear(-c, price, pay, r),
    ]
    backward = gsm_backward(
        facts("x"),
        ask,
        Bilingual(
            f"{p.name} phải trả {vi_number(pay)} đồng để mua {clf} {item} đó.",
            f"{p.name} pays {en_number(pay)} VND for the {item_en}.",
        ),
        Bilingual("số phần trăm được giảm giá", "the discount percentage"),
        xsteps,
        r,
    )
    return Problem(facts(str(r)), ask, rephrased, steps, Answer(Fraction(pay)), backward)


CLUBS = (("bóng đá", "football"), ("cờ vua", "chess"), ("bơi lội", "swimming"), ("cầu lông", "badminton"))


@template("GSM")
def _fraction_group(rng: random.Random, need_backward: bool) -> Problem:
    """Fractions of a class, then a fraction of the rest: chained 'fraction of a group' reasoning."""
    while True:
        q, s = rng.choice((3, 4, 5)), rng.choice((2, 3, 4))
        pn, r = rng.randint(1, q - 1), rng.randint(1, s - 1)
        n = rng.randint(20, 48)
        if gcd(pn, q) == 1 and gcd(r, s) == 1 and n % q == 0 and (n - n * pn // q) % s == 0:
            break
    cls = f"{rng.randint(4, 9)}{rng.choice('ABCDE')}"
    club, club_en = rng.choice(CLUBS)
    girls = n * pn // q
    boys = n - girls
    members = boys * r // s
    rest = boys - members

    def facts(count: str) -> Bilingual:
        return Bilingual(
            f"Lớp {cls} có {count} học sinh, trong đó {pn}/{q} số học sinh là nữ. Trong số học sinh nam, "
            f"có {r}/{s} số bạn tham gia câu lạc bộ {club}.",
            f"Class {cls} has {count} students, and {pn}/{q} of them are girls. Of the boys, {r}/{s} are "
            f"in the {club_en} club.",
        )

    ask = Bilingual(
        f"Hỏi lớp {cls} có bao nhiêu học sinh nam không tham gia câu lạc bộ {club}?",
        f"How many boys in class {cls} are not in the {club_en} club?",
    )
    rephrased = Bilingual(
        f"Nếu lớp {cls} có {n} học sinh, {pn}/{q} trong số đó là nữ và {r}/{s} số học sinh nam tham gia "
        f"câu lạc bộ {club}, thì có bao nhiêu học sinh nam không tham gia câu lạc bộ này?",
        f"If class {cls} has {n} students, {pn}/{q} of whom are girls, and {r}/{s} of the boys are in "
        f"the {club_en} club, how many boys are not in the club?",
    )
    steps = [
        Bilingual(
            f"Số học sinh nữ là {n} * {pn}/{q} = {girls}.",
            f"The number of girls is {n} * {pn}/{q} = {girls}.",
        ),
        Bilingual(
            f"Số học sinh nam là {n} - {girls} = {boys}.", f"The number of boys is {n} - {girls} = {boys}."
        ),
        Bilingual(
            f"Số học sinh nam tham gia câu lạc bộ {club} là {boys} * {r}/{s} = {members}.",
            f"The number of boys in the {club_en} club is {boys} * {r}/{s} = {members}.",
        ),
        Bilingual(
            f"Số học sinh nam không tham gia câu lạc bộ là {boys} - {members} = {rest}.",
            f"So {boys} - {members} = {rest} boys are not in the club.",
        ),
    ]
    coef = Fraction(q - pn, q) * Fraction(s - r, s)
    xsteps = [
        Bilingual(
            f"Số học sinh nữ là ({pn}/{q})x, nên số học sinh nam là x - ({pn}/{q})x = ({q - pn}/{q})x.",
            f"There are ({pn}/{q})x girls, so there are x - ({pn}/{q})x = ({q - pn}/{q})x boys.",
        ),
        Bilingual(
            f"Số học sinh nam không tham gia câu lạc bộ chiếm {s - r}/{s} số học sinh nam, tức là "
            f"{s - r}/{s} * ({q - pn}/{q})x = ({ratio(coef)})x.",
            f"The boys not in the club are {s - r}/{s} of the boys, that is "
            f"{s - r}/{s} * ({q - pn}/{q})x = ({ratio(coef)})x.",
        ),
        Bilingual(
            f"Ta biết có {rest} học sinh nam không tham gia câu lạc bộ, nên ({ratio(coef)})x = {rest}.",
            f"We know {rest} boys are not in the club, so ({ratio(coef)})x = {rest}.",
        ),
        Bilingual(
            f"Do đó x = {rest} * {ratio(1 / coef)} = {n}.",
            f"Therefore, x = {rest} * {ratio(1 / coef)} = {n}.",
        ),
    ]
    if rest * coef.denominator / Fraction(coef.numerator) != n:
        raise AssertionError("fraction_group backward")
    backward = gsm_backward(
        facts("x"),
        ask,
        Bilingual(
            f"Lớp {cls} có {rest} học sinh nam không tham gia câu lạc bộ {club}.",
            f"{rest} boys in class {cls} are not in the {club_en} club.",
        ),
        Bilingual(f"số học sinh của lớp {cls}", f"the number of students in class {cls}"),
        xsteps,
        n,
    )
    return Problem(facts(str(n)), ask, rephrased, steps, Answer(Fraction(rest)), backward)


@template("GSM")
def _fence_cost(rng: random.Random, need_backward: bool) -> Problem:
    """Perimeter of a rectangle times a price per metre: geometry feeding a large money answer."""
    p = person(rng)
    length = rng.randint(12, 40)
    width = rng.randint(6, length - 2)
    c = rng.randrange(25000, 90001, 5000)
    per = 2 * (length + width)
    cost = per * c

    def facts(size: str) -> Bilingual:
        return Bilingual(
            f"Một mảnh vườn hình chữ nhật có chiều dài {size} m, chiều rộng {width} m. Bác {p.name} muốn "
            f"rào xung quanh mảnh vườn, mỗi mét hàng rào có giá {vi_number(c)} đồng.",
            f"A rectangular garden is {size} m long and {width} m wide. {p.name} wants to put a fence "
            f"around the garden, and each metre of fence costs {en_number(c)} VND.",
        )

    ask = Bilingual(
        f"Hỏi bác {p.name} phải trả bao nhiêu tiền để rào hết mảnh vườn?",
        f"How much will {p.name} pay to fence the whole garden?",
    )
    rephrased = Bilingual(
        f"Nếu bác {p.name} rào xung quanh một mảnh vườn hình chữ nhật dài {length} m, rộng {width} m "
        f"với giá {vi_number(c)} đồng cho mỗi mét hàng rào, thì tổng chi phí là bao nhiêu?",
        f"If {p.name} fences a rectangular garden that is {length} m by {width} m at {en_number(c)} VND per "
        "metre, what is the total cost?",
    )
    steps = [
        Bilingual(
            f"Chu vi mảnh vườn là ({length} + {width}) * 2 = {per} m.",
            f"The perimeter of the garden is ({length} + {width}) * 2 = {per} m.",
        ),
        Bilingual(
            f"Số tiền làm hàng rào là {per} * {vi_number(c)} = {vi_number(cost)} đồng.",
            f"The fence costs {per} * {en_number(c)} = {en_number(cost)} VND.",
        ),
    ]
    xsteps = [
        Bilingual(
            f"Chu vi mảnh vườn là (x + {width}) * 2 = 2x + {2 * width} m.",
            f"The perimeter of the garden is (x + {width}) * 2 = 2x + {2 * width} m.",
        ),
        Bilingual(
            f"Số tiền làm hàng rào là (2x + {2 * width}) * {vi_number(c)} = {vi_times_var(2 * c)} + "
            f"{vi_number(2 * width * c)} đồng.",
            f"The fence costs (2x + {2 * width}) * {en_number(c)} = {en_times_var(2 * c)} + "
            f"{en_number(2 * width * c)} VND.",
        ),
        Bilingual(
            f"Ta biết số tiền làm hàng rào là {vi_number(cost)} đồng, nên {vi_times_var(2 * c)} + "
            f"{vi_number(2 * width * c)} = "
            f"{vi_number(cost)}.",
            f"We know the fence costs {en_number(cost)} VND, so {en_times_var(2 * c)} + "
            f"{en_number(2 * width * c)} = {en_number(cost)}.",
        ),
        *solve_linear(2 * c, 2 * width * c, cost, length),
    ]
    backward = gsm_backward(
        facts("x"),
        ask,
        Bilingual(
            f"Bác {p.name} phải trả {vi_number(cost)} đồng để rào hết mảnh vườn.",
            f"{p.name} pays {en_number(cost)} VND to fence the whole garden.",
        ),
        Bilingual("chiều dài mảnh vườn (m)", "the length of the garden in metres"),
        xsteps,
        length,
    )
    return Problem(facts(str(length)), ask, rephrased, steps, Answer(Fraction(cost)), backward)


@template("GSM")
def _floor_tiles(rng: random.Random, need_backward: bool) -> Problem:
    """Tiling a floor: area, a unit conversion (m² to cm²) and a division."""
    s = rng.choice((20, 25, 40, 50))
    sizes = [v for v in range(3, 11) if (100 * v) % s == 0]
    length, width = rng.choice(sizes), rng.choice(sizes)
    area = length * width
    tile = s * s
    tiles = area * 10000 // tile

    def facts(size: str) -> Bilingual:
        return Bilingual(
            f"Nền một căn phòng hình chữ nhật có chiều dài {size} m, chiều rộng {width} m. Người ta lát kín "
            f"nền phòng bằng những viên gạch hình vuông cạnh {s} cm.",
            f"A rectangular room floor is {size} m long and {width} m wide. It is covered completely with "
            f"square tiles of side {s} cm.",
        )

    ask = Bilingual(
        "Hỏi cần bao nhiêu viên gạch để lát kín nền căn phòng đó? (Coi như mạch vữa không đáng kể.)",
        "How many tiles are needed to cover the floor? (Ignore the grout between tiles.)",
    )
    rephrased = Bilingual(
        f"Nếu lát kín nền một căn phòng dài {length} m, rộng {width} m bằng các viên gạch vuông cạnh "
        f"{s} cm thì cần tất cả bao nhiêu viên gạch?",
        f"If a {length} m by {width} m floor is tiled with square tiles measuring {s} cm on each side, "
        "how many tiles are needed in total?",
    )
    steps = [
        Bilingual(
            f"Diện tích nền căn phòng là {length} * {width} = {area} m² = {vi_number(area * 10000)} cm².",
            f"The floor area is {length} * {width} = {area} m² = {en_number(area * 10000)} cm².",
        ),
        Bilingual(
            f"Diện tích một viên gạch là {s} * {s} = {vi_number(tile)} cm².",
            f"Each tile covers {s} * {s} = {en_number(tile)} cm².",
        ),
        Bilingual(
            f"Số viên gạch cần dùng là {vi_number(area * 10000)} / {vi_number(tile)} = {vi_number(tiles)} "
            "viên.",
            f"The number of tiles is {en_number(area * 10000)} / {en_number(tile)} = {en_number(tiles)}.",
        ),
    ]
    coef = Fraction(width * 10000, tile)
    xsteps = [
        Bilingual(
            f"Diện tích nền căn phòng là {width}x m² = {vi_times_var(width * 10000)} cm².",
            f"The floor area is {width}x m² = {en_times_var(width * 10000)} cm².",
        ),
        steps[1],
        Bilingual(
            f"Số viên gạch cần dùng là {vi_times_var(width * 10000)} / {vi_number(tile)} = "
            f"{vi_times_var(coef)}.",
            f"The number of tiles is {en_times_var(width * 10000)} / {en_number(tile)} = "
            f"{en_times_var(coef)}.",
        ),
        Bilingual(
            f"Ta biết cần {vi_number(tiles)} viên gạch, nên {vi_times_var(coef)} = {vi_number(tiles)}.",
            f"We know {en_number(tiles)} tiles are needed, so {en_times_var(coef)} = {en_number(tiles)}.",
        ),
        *solve_linear(coef, 0, tiles, length),
    ]
    backward = gsm_backward(
        facts("x"),
        ask,
        Bilingual(
            f"Cần {vi_number(tiles)} viên gạch để lát kín nền căn phòng đó.",
            f"{en_number(tiles)} tiles are needed to cover the floor.",
        ),
        Bilingual("chiều dài căn phòng (m)", "the length of the room in metres"),
        xsteps,
        length,
    )
    return Problem(facts(str(length)), ask, rephrased, steps, Answer(Fraction(tiles)), backward)


SUBJECTS = (("Toán", "math"), ("Tiếng Việt", "Vietnamese"), ("Tiếng Anh", "English"), ("Khoa học", "science"))


@template("GSM")
def _average_scores(rng: random.Random, need_backward: bool) -> Problem:
    """The mean of test scores (halves allowed): sums and a division with a decimal result."""
    p = person(rng)
    subject, subject_en = rng.choice(SUBJECTS)
    k = rng.choice((4, 5))
    scores = [Fraction(rng.randint(10, 20), 2) for _ in range(k)]
    total = sum(scores, Fraction(0))
    mean = total / k
    last = scores[-1]
    head = total - last

    def facts(items_vi: list[str], items_en: list[str]) -> Bilingual:
        return Bilingual(
            f"Trong học kì này, {p.name} được các điểm kiểm tra môn {subject} là {join_vi(items_vi)}.",
            f"This term {p.name} got the following {subject_en} test scores: {join_en(items_en)}.",
        )

    ask = Bilingual(
        f"Hỏi điểm trung bình các bài kiểm tra môn {subject} của {p.name} là bao nhiêu?",
        f"What is {p.name}'s average {subject_en} test score?",
    )
    score_vi, score_en = [vi_number(v) for v in scores], [en_number(v) for v in scores]
    rephrased = Bilingual(
        f"Nếu {p.name} đạt các điểm {join_vi(score_vi)} trong {k} bài kiểm tra môn {subject}, thì điểm "
        f"trung bình của {p.name} là bao nhiêu?",
        f"If {p.name} scored {join_en(score_en)} on {k} {subject_en} tests, what is {p.his} average score?",
    )
    steps = [
        Bilingual(
            f"Tổng số điểm là {' + '.join(score_vi)} = {vi_number(total)}.",
            f"The scores add up to {' + '.join(score_en)} = {en_number(total)}.",
        ),
        Bilingual(
            f"Điểm trung bình là {vi_number(total)} / {k} = {vi_number(mean)}.",
            f"The average score is {en_number(total)} / {k} = {en_number(mean)}.",
        ),
    ]
    xsteps = [
        Bilingual(
            f"Tổng số điểm là {' + '.join(score_vi[:-1])} + x = {vi_number(head)} + x.",
            f"The scores add up to {' + '.join(score_en[:-1])} + x = {en_number(head)} + x.",
        ),
        Bilingual(
            f"Điểm trung bình là ({vi_number(head)} + x) / {k}.",
            f"The average is ({en_number(head)} + x) / {k}.",
        ),
        Bilingual(
            f"Ta biết điểm trung bình là {vi_number(mean)}, nên ({vi_number(head)} + x) / {k} = "
            f"{vi_number(mean)}.",
            f"We know the average is {en_number(mean)}, so ({en_number(head)} + x) / {k} = "
            f"{en_number(mean)}.",
        ),
        Bilingual(
            f"Suy ra {vi_number(head)} + x = {vi_number(mean)} * {k} = {vi_number(total)}.",
            f"So {en_number(head)} + x = {en_number(mean)} * {k} = {en_number(total)}.",
        ),
        Bilingual(
            f"Do đó x = {vi_number(total)} - {vi_number(head)} = {vi_number(last)}.",
            f"Therefore, x = {en_number(total)} - {en_number(head)} = {en_number(last)}.",
        ),
    ]
    backward = gsm_backward(
        facts(score_vi[:-1] + ["x"], score_en[:-1] + ["x"]),
        ask,
        Bilingual(
            f"Điểm trung bình các bài kiểm tra môn {subject} của {p.name} là {vi_number(mean)}.",
            f"{p.name}'s average {subject_en} test score is {en_number(mean)}.",
        ),
        Bilingual("điểm của bài kiểm tra cuối cùng", "the score of the last test"),
        xsteps,
        last,
    )
    return Problem(facts(score_vi, score_en), ask, rephrased, steps, Answer(mean), backward)


RECIPES = (
    ("chiếc", "bánh bông lan", "sponge cake", "sponge cakes", "bột mì", "flour"),
    ("mẻ", "bánh quy", "batch of cookies", "batches of cookies", "bơ", "butter"),
    ("ổ", "bánh mì", "loaf of bread", "loaves of bread", "bột mì", "flour"),
    ("nồi", "chè đậu xanh", "pot of mung bean sweet soup", "pots of mung bean sweet soup", "đường", "sugar"),
)


@template("GSM")
def _baking_flour(rng: random.Random, need_backward: bool) -> Problem:
    """Grams per item times a count, converted to kilograms: a unit conversion with decimal answers."""
    p = person(rng)
    clf, noun, sing, plural, ingr, ingr_en = rng.choice(RECIPES)
    g = rng.choice((120, 125, 150, 175, 180, 200, 225, 250, 275, 350, 375, 400, 450))
    n = rng.randint(3, 16)
    grams = g * n
    kg = Fraction(grams, 1000)

    def facts(count: str) -> Bilingual:
        return Bilingual(
            f"Để làm một {clf} {noun}, {p.name} cần {g} g {ingr}. {p.name} muốn làm {count} {clf} {noun}.",
            f"To make one {sing}, {p.name} needs {g} g of {ingr_en}. {p.He} wants to make {count} {plural}.",
        )

    ask = Bilingual(
        f"Hỏi {p.name} cần tất cả bao nhiêu ki-lô-gam {ingr}?",
        f"How many kilograms of {ingr_en} does {p.he} need in total?",
    )
    rephrased = Bilingual(
        f"Nếu mỗi {clf} {noun} cần {g} g {ingr} thì để làm {n} {clf} {noun}, {p.name} cần bao nhiêu "
        f"ki-lô-gam {ingr}?",
        f"If each {sing} requires {g} g of {ingr_en}, how many kilograms of {ingr_en} does {p.name} "
        f"need to make {n} {plural}?",
    )
    steps = [
        Bilingual(
            f"Số {ingr} cần dùng là {n} * {g} = {vi_number(grams)} g.",
            f"{p.name} needs {n} * {g} = {en_number(grams)} g of {ingr_en}.",
        ),
        Bilingual(
            f"Vì 1 kg = 1.000 g nên {vi_number(grams)} g = {vi_number(grams)} / 1.000 = {vi_number(kg)} kg.",
            f"Since 1 kg = 1,000 g, {en_number(grams)} g = {en_number(grams)} / 1,000 = {en_number(kg)} kg.",
        ),
    ]
    xsteps = [
        Bilingual(f"Số {ingr} cần dùng là {g}x g.", f"{p.name} needs {g}x g of {ingr_en}."),
        Bilingual(
            f"Đổi {vi_number(kg)} kg = {vi_number(kg)} * 1.000 = {vi_number(grams)} g.",
            f"Convert {en_number(kg)} kg = {en_number(kg)} * 1,000 = {en_number(grams)} g.",
        ),
        Bilingual(
            f"Ta có phương trình {g}x = {vi_number(grams)}.",
            f"So we have the equation {g}x = {en_number(grams)}.",
        ),
        *solve_linear(g, 0, grams, n),
    ]
    backward = gsm_backward(
        facts("x"),
        ask,
        Bilingual(
            f"{p.name} cần tất cả {vi_number(kg)} kg {ingr}.",
            f"{p.He} needs {en_number(kg)} kg of {ingr_en} in total.",
        ),
        Bilingual(f"số {clf} {noun} mà {p.name} muốn làm", f"the number of {plural} {p.name} makes"),
        xsteps,
        n,
    )
    return Problem(facts(str(n)), ask, rephrased, steps, Answer(kg), backward)


JOBS = (
    ("sơn xong bức tường", "paint the wall"),
    ("dọn sạch khu vườn", "clean up the garden"),
    ("gặt xong thửa ruộng", "harvest the field"),
    ("đóng gói xong lô hàng", "pack the shipment"),
)
WORK_PAIRS = tuple(
    (a, b)
    for a in range(2, 25)
    for b in range(a, 41)
    if _terminating(Fraction(a * b, a + b)) and (Fraction(a * b, a + b) * 100).denominator == 1
)


@template("GSM")
def _work_rate(rng: random.Random, need_backward: bool) -> Problem:
    """Two people working together: adding rates (fractions of a job per hour), then inverting."""
    first, second = two_people(rng)
    task, task_en = rng.choice(JOBS)
    a, b = rng.choice(WORK_PAIRS)
    if rng.random() < 0.5:
        a, b = b, a
    rate = Fraction(1, a) + Fraction(1, b)
    t = 1 / rate

    def facts(hours: str) -> Bilingual:
        return Bilingual(
            f"Nếu làm một mình, {first.name} {task} trong {a} giờ, còn {second.name} {task} trong {hours} "
            "giờ.",
            f"Working alone, {first.name} can {task_en} in {a} hours, while {second.name} can do it in "
            f"{hours} hours.",
        )

    ask = Bilingual(
        f"Hỏi nếu cả hai cùng làm thì sau bao nhiêu giờ sẽ {task}?",
        f"If they work together, how many hours will it take them to {task_en}?",
    )
    rephrased = Bilingual(
        f"Nếu {first.name} có thể {task} một mình trong {a} giờ và {second.name} có thể làm việc đó một "
        f"mình trong {b} giờ, thì khi hai người cùng làm, họ cần bao nhiêu giờ?",
        f"If {first.name} can {task_en} alone in {a} hours and {second.name} can do it alone in {b} "
        "hours, how long will it take them working together, in hours?",
    )
    if t.denominator == 1:
        inv_vi = inv_en = f"1 / ({ratio(rate)}) = {t}"
    else:
        inv_vi = f"1 / ({ratio(rate)}) = {ratio(t)} = {vi_number(t)}"
        inv_en = f"1 / ({ratio(rate)}) = {ratio(t)} = {en_number(t)}"
    steps = [
        Bilingual(
            f"Trong 1 giờ, {first.name} làm được 1/{a} công việc, {second.name} làm được 1/{b} công việc.",
            f"In 1 hour, {first.name} does 1/{a} of the job and {second.name} does 1/{b} of the job.",
        ),
        Bilingual(
            f"Trong 1 giờ, cả hai làm được 1/{a} + 1/{b} = {ratio(rate)} công việc.",
            f"Together they do 1/{a} + 1/{b} = {ratio(rate)} of the job per hour.",
        ),
        Bilingual(
            f"Thời gian để cả hai cùng làm xong là {inv_vi} giờ.", f"So together they need {inv_en} hours."
        ),
    ]
    xsteps = [
        Bilingual(
            f"Trong 1 giờ, {first.name} làm được 1/{a} công việc, {second.name} làm được 1/x công việc.",
            f"In 1 hour, {first.name} does 1/{a} of the job and {second.name} does 1/x of the job.",
        ),
        Bilingual(
            f"Cả hai cùng làm xong trong {vi_number(t)} giờ, nên trong 1 giờ cả hai làm được 1 / "
            f"{vi_number(t)} = "
            f"{ratio(rate)} công việc.",
            f"Together they finish in {en_number(t)} hours, so they do 1 / {en_number(t)} = {ratio(rate)} of "
            "the job per "
            "hour.",
        ),
        Bilingual(f"Ta có phương trình 1/{a} + 1/x = {ratio(rate)}.", f"So 1/{a} + 1/x = {ratio(rate)}."),
        Bilingual(
            f"Suy ra 1/x = {ratio(rate)} - 1/{a} = {ratio(rate - Fraction(1, a))}.",
            f"Then 1/x = {ratio(rate)} - 1/{a} = {ratio(rate - Fraction(1, a))}.",
        ),
        Bilingual(f"Do đó x = {b}.", f"Therefore, x = {b}."),
    ]
    if rate - Fraction(1, a) != Fraction(1, b):
        raise AssertionError("work_rate backward")
    backward = gsm_backward(
        facts("x"),
        ask,
        Bilingual(
            f"Nếu cả hai cùng làm thì sau {vi_number(t)} giờ sẽ {task}.",
            f"Working together, they {task_en} in {en_number(t)} hours.",
        ),
        Bilingual(
            f"số giờ {second.name} cần để làm một mình",
            f"the number of hours {second.name} needs working alone",
        ),
        xsteps,
        b,
    )
    return Problem(facts(str(b)), ask, rephrased, steps, Answer(t), backward)


@template("GSM")
def _think_number(rng: random.Random, need_backward: bool) -> Problem:
    """'I think of a number': undoing operations, the simplest linear equation in words."""
    p = person(rng)
    m, n, c = rng.randint(2, 9), rng.randint(3, 40), rng.randint(3, 50)
    add = rng.random() < 0.5 or m * n <= c
    op_vi, op_en, op_ing, sign = (
        ("cộng thêm", "adds", "adding", "+") if add else ("trừ đi", "subtracts", "subtracting", "-")
    )
    res = m * n + c if add else m * n - c

    def facts(const: str) -> Bilingual:
        return Bilingual(
            f"{p.name} nghĩ ra một số. Nếu lấy số đó nhân với {m} rồi {op_vi} {const} thì được {res}.",
            f"{p.name} thinks of a number. If {p.he} multiplies it by {m} and then {op_en} {const}, {p.he} "
            f"gets {res}.",
        )

    ask = Bilingual(f"Hỏi số {p.name} nghĩ là bao nhiêu?", f"What number is {p.name} thinking of?")
    rephrased = Bilingual(
        f"Nếu nhân một số với {m} rồi {op_vi} {c} thì được {res}, vậy số đó là bao nhiêu?",
        f"If multiplying a number by {m} and then {op_ing} {c} gives {res}, what is the number?",
    )
    undo = "-" if add else "+"
    steps = [
        Bilingual(
            f"Gọi số cần tìm là n. Ta có n * {m} {sign} {c} = {res}.",
            f"Let n be the number. Then n * {m} {sign} {c} = {res}.",
        ),
        Bilingual(
            f"Suy ra n * {m} = {res} {undo} {c} = {m * n}.", f"So n * {m} = {res} {undo} {c} = {m * n}."
        ),
        Bilingual(f"Do đó n = {m * n} / {m} = {n}.", f"Therefore, n = {m * n} / {m} = {n}."),
    ]
    solve = (
        Bilingual(f"Do đó x = {res} - {m * n} = {c}.", f"Therefore, x = {res} - {m * n} = {c}.")
        if add
        else Bilingual(f"Do đó x = {m * n} - {res} = {c}.", f"Therefore, x = {m * n} - {res} = {c}.")
    )
    xsteps = [
        Bilingual(
            f"Gọi số {p.name} nghĩ là n. Ta có n * {m} {sign} x = {res}.",
            f"Let n be the number. Then n * {m} {sign} x = {res}.",
        ),
        Bilingual(
            f"Ta biết n = {n}, nên {n} * {m} {sign} x = {res}, tức là {m * n} {sign} x = {res}.",
            f"We know n = {n}, so {n} * {m} {sign} x = {res}, that is {m * n} {sign} x = {res}.",
        ),
        solve,
    ]
    backward = gsm_backward(
        facts("x"),
        ask,
        Bilingual(f"Số {p.name} nghĩ là {n}.", f"The number {p.name} is thinking of is {n}."),
        Bilingual(f"số được {op_vi}", f"the number that is {'added' if add else 'subtracted'}"),
        xsteps,
        c,
    )
    return Problem(facts(str(c)), ask, rephrased, steps, Answer(Fraction(n)), backward)


@template("GSM")
def _ratio_split(rng: random.Random, need_backward: bool) -> Problem:
    """Sharing money in a ratio: parts, value of one part, then the requested share."""
    first, second = two_people(rng)
    giver, giver_en = rng.choice((("Bà", "Grandma"), ("Ông", "Grandpa"), ("Mẹ", "Mom"), ("Bố", "Dad")))
    while True:
        a, b = rng.randint(1, 7), rng.randint(2, 7)
        if a != b and gcd(a, b) == 1:
            break
    unit = rng.randrange(5000, 60001, 1000)
    total = (a + b) * unit
    share = b * unit

    def facts(amount: str, amount_en: str) -> Bilingual:
        return Bilingual(
            f"{giver} chia {amount} đồng tiền mừng tuổi cho {first.name} và {second.name} theo tỉ lệ "
            f"{a} : {b}.",
            f"{giver_en} shares {amount_en} VND of lucky money between {first.name} and {second.name} in "
            f"the ratio {a} : {b}.",
        )

    ask = Bilingual(
        f"Hỏi {second.name} nhận được bao nhiêu tiền?", f"How much money does {second.name} receive?"
    )
    rephrased = Bilingual(
        f"Nếu {vi_number(total)} đồng được chia cho {first.name} và {second.name} theo tỉ lệ {a} : {b}, thì "
        f"phần của {second.name} là bao nhiêu tiền?",
        f"If {en_number(total)} VND is divided between {first.name} and {second.name} in the ratio {a}:{b}, "
        f"how much is {second.name}'s share?",
    )
    steps = [
        Bilingual(
            f"Tổng số phần bằng nhau là {a} + {b} = {a + b} phần.", f"There are {a} + {b} = {a + b} parts."
        ),
        Bilingual(
            f"Giá trị của mỗi phần là {vi_number(total)} / {a + b} = {vi_number(unit)} đồng.",
            f"Each part is worth {en_number(total)} / {a + b} = {en_number(unit)} VND.",
        ),
        Bilingual(
            f"{second.name} nhận được {b} * {vi_number(unit)} = {vi_number(share)} đồng.",
            f"{second.name} receives {b} * {en_number(unit)} = {en_number(share)} VND.",
        ),
    ]
    xsteps = [
        Bilingual(
            f"Tổng số phần bằng nhau là {a} + {b} = {a + b} phần, nên {second.name} nhận được {b}/{a + b} "
            f"số tiền, tức là ({b}/{a + b})x đồng.",
            f"There are {a} + {b} = {a + b} parts, so {second.name} receives {b}/{a + b} of the money, "
            f"that is ({b}/{a + b})x VND.",
        ),
        Bilingual(
            f"Ta biết {second.name} nhận được {vi_number(share)} đồng, nên ({b}/{a + b})x = "
            f"{vi_number(share)}.",
            f"We know {second.name} receives {en_number(share)} VND, so ({b}/{a + b})x = {en_number(share)}.",
        ),
        Bilingual(
            f"Do đó x = {vi_number(share)} * {a + b} / {b} = {vi_number(total)}.",
            f"Therefore, x = {en_number(share)} * {a + b} / {b} = {en_number(total)}.",
        ),
    ]
    backward = gsm_backward(
        facts("x", "x"),
        ask,
        Bilingual(
            f"{second.name} nhận được {vi_number(share)} đồng.",
            f"{second.name} receives {en_number(share)} VND.",
        ),
        Bilingual("tổng số tiền được chia", "the total amount of money shared"),
        xsteps,
        total,
    )
    return Problem(
        facts(vi_number(total), en_number(total)), ask, rephrased, steps, Answer(Fraction(share)), backward
    )


PACKING = (
    ("quả trứng", "quả", "eggs", "khay", "tray", "trays", (6, 10, 12, 30)),
    ("chiếc bánh", "chiếc", "cakes", "hộp", "box", "boxes", (4, 6, 8, 9)),
    ("chai nước", "chai", "bottles of water", "thùng", "crate", "crates", (12, 20, 24)),
    ("cây bút chì", "cây", "pencils", "hộp", "box", "boxes", (10, 12, 15)),
)


@template("GSM", backward=False)
def _remainder_packing(rng: random.Random, need_backward: bool) -> Problem:
    """Packing into boxes: division with remainder, asking for the leftover or the boxes needed."""
    full, clf, items, box, box_en, boxes, sizes = rng.choice(PACKING)
    k = rng.choice(sizes)
    while True:
        n = rng.randint(50, 400)
        if n % k:
            break
    q, r = divmod(n, k)
    context = Bilingual(
        f"Một cửa hàng có {n} {full}. Người ta xếp {full} vào các {box}, mỗi {box} {k} {clf}.",
        f"A shop has {n} {items}. They are packed into {boxes}, {k} per {box_en}.",
    )
    division = Bilingual(f"Ta có {n} / {k} = {q} (dư {r}).", f"{n} / {k} = {q} with remainder {r}.")
    if rng.random() < 0.5:
        ask = Bilingual(
            f"Hỏi sau khi xếp được nhiều {box} đầy nhất có thể thì còn thừa bao nhiêu {full}?",
            f"After filling as many {boxes} as possible, how many {items} are left over?",
        )
        rephrased = Bilingual(
            f"Nếu xếp {n} {full} vào các {box}, mỗi {box} {k} {clf}, thì sau khi xếp đầy được nhiều {box} "
            f"nhất sẽ còn lại bao nhiêu {full}?",
            f"If {n} {items} are packed into {boxes} of {k}, how many {items} remain after filling as "
            f"many {boxes} as possible?",
        )
        steps = [
            division,
            Bilingual(
                f"Vậy xếp được {q} {box} đầy và còn thừa {r} {full}.",
                f"So {q} {boxes} are filled and {r} {items} are left over.",
            ),
        ]
        answer = r
    else:
        ask = Bilingual(
            f"Hỏi cần ít nhất bao nhiêu {box} để xếp hết số {full} đó?",
            f"What is the least number of {boxes} needed to hold all the {items}?",
        )
        rephrased = Bilingual(
            f"Nếu mỗi {box} chứa được {k} {full}, thì cần ít nhất bao nhiêu {box} để chứa {n} {full}?",
            f"If each {box_en} holds {k} {items}, what is the smallest number of {boxes} needed for "
            f"{n} {items}?",
        )
        steps = [
            division,
            Bilingual(
                f"Xếp được {q} {box} đầy, còn thừa {r} {clf} nên cần thêm 1 {box} nữa.",
                f"That fills {q} {boxes}, and the {r} left over need 1 more.",
            ),
            Bilingual(
                f"Vậy cần ít nhất {q} + 1 = {q + 1} {box}.",
                f"So at least {q} + 1 = {q + 1} {boxes} are needed.",
            ),
        ]
        answer = q + 1
    return Problem(context, ask, rephrased, steps, Answer(Fraction(answer)))


@template("GSM")
def _daily_savings(rng: random.Random, need_backward: bool) -> Problem:
    """Savings growing by a fixed amount each day: the sum of an arithmetic sequence."""
    p = person(rng)
    a, d, n = rng.randrange(2000, 10001, 1000), rng.choice((500, 1000, 1500, 2000)), rng.randint(5, 15)
    last = a + (n - 1) * d
    total = (a + last) * n // 2
    extra = n * (n - 1) * d // 2

    def facts(first: str, first_en: str) -> Bilingual:
        return Bilingual(
            f"{p.name} bắt đầu bỏ ống heo tiết kiệm. Ngày đầu tiên {p.name} bỏ vào {first} đồng, "
            f"mỗi ngày sau "
            f"đó bỏ vào nhiều hơn ngày trước {vi_number(d)} đồng.",
            f"{p.name} starts saving in a piggy bank. On the first day {p.he} puts in {first_en} VND, and "
            f"each day after that {p.he} puts in {en_number(d)} VND more than the day before.",
        )

    ask = Bilingual(
        f"Hỏi sau {n} ngày, {p.name} đã tiết kiệm được tất cả bao nhiêu tiền?",
        f"How much money has {p.name} saved after {n} days?",
    )
    rephrased = Bilingual(
        f"Nếu {p.name} tiết kiệm {vi_number(a)} đồng vào ngày đầu tiên và mỗi ngày tiếp theo tiết kiệm nhiều "
        f"hơn ngày trước {vi_number(d)} đồng, thì sau {n} ngày {p.name} có tổng cộng bao nhiêu tiền?",
        f"If {p.name} saves {en_number(a)} VND on the first day and {en_number(d)} VND more each following "
        "day than "
        f"the day before, how much will {p.he} have saved in total after {n} days?",
    )
    steps = [
        Bilingual(
            f"Số tiền bỏ vào ngày thứ {n} là {vi_number(a)} + ({n} - 1) * {vi_number(d)} = {vi_number(last)} "
            "đồng.",
            f"On day {n}, {p.name} puts in {en_number(a)} + ({n} - 1) * {en_number(d)} = {en_number(last)} "
            "VND.",
        ),
        Bilingual(
            f"Số tiền mỗi ngày tạo thành một dãy số cách đều, nên tổng số tiền sau {n} ngày là "
            f"({vi_number(a)} + {vi_number(last)}) * {n} / 2 = {vi_number(total)} đồng.",
            f"The daily amounts form an arithmetic sequence, so the total after {n} days is "
            f"({en_number(a)} + {en_number(last)}) * {n} / 2 = {en_number(total)} VND.",
        ),
    ]
    step = (n - 1) * d
    xsteps = [
        Bilingual(
            f"Số tiền bỏ vào ngày thứ {n} là x + ({n} - 1) * {vi_number(d)} = x + {vi_number(step)} đồng.",
            f"On day {n}, {p.name} puts in x + ({n} - 1) * {en_number(d)} = x + {en_number(step)} VND.",
        ),
        Bilingual(
            f"Tổng số tiền sau {n} ngày là (x + x + {vi_number(step)}) * {n} / 2 = {n}x + {vi_number(extra)} "
            "đồng.",
            f"The total after {n} days is (x + x + {en_number(step)}) * {n} / 2 = {n}x + {en_number(extra)} "
            "VND.",
        ),
        Bilingual(
            f"Ta biết tổng số tiền là {vi_number(total)} đồng, nên {n}x + {vi_number(extra)} = "
            f"{vi_number(total)}.",
            f"We know the total is {en_number(total)} VND, so {n}x + {en_number(extra)} = "
            f"{en_number(total)}.",
        ),
        *solve_linear(n, extra, total, a),
    ]
    backward = gsm_backward(
        facts("x", "x"),
        ask,
        Bilingual(
            f"Sau {n} ngày, {p.name} đã tiết kiệm được tất cả {vi_number(total)} đồng.",
            f"After {n} days, {p.name} has saved {en_number(total)} VND.",
        ),
        Bilingual(
            f"số tiền {p.name} bỏ vào ống heo ngày đầu tiên", f"the amount {p.name} puts in on the first day"
        ),
        xsteps,
        a,
    )
    return Problem(
        facts(vi_number(a), en_number(a)), ask, rephrased, steps, Answer(Fraction(total)), backward
    )


WORKPLACES = (
    ("quán cà phê", "coffee shop"),
    ("tiệm bánh", "bakery"),
    ("nhà sách", "bookshop"),
    ("cửa hàng tiện lợi", "convenience store"),
)


@template("GSM")
def _wages(rng: random.Random, need_backward: bool) -> Problem:
    """Hourly pay over days and weeks: repeated multiplication into large numbers."""
    p = person(rng)
    place, place_en = rng.choice(WORKPLACES)
    w, h, d, k = rng.randrange(20000, 40001, 2500), rng.randint(3, 6), rng.randint(3, 6), rng.randint(2, 4)
    day, week = h * w, d * h * w
    total = k * week

    def facts(hours: str) -> Bilingual:
        return Bilingual(
            f"{p.Adult} làm thêm ở một {place} với mức lương {vi_number(w)} đồng mỗi giờ. Mỗi ngày "
            f"{p.adult} làm {hours} giờ và mỗi tuần làm {d} ngày.",
            f"{p.name} works part-time at a {place_en} and earns {en_number(w)} VND per hour. {p.He} works "
            f"{hours} hours a day, {d} days a week.",
        )

    ask = Bilingual(
        f"Hỏi trong {k} tuần, {p.adult} kiếm được bao nhiêu tiền?",
        f"How much does {p.name} earn in {k} weeks?",
    )
    rephrased = Bilingual(
        f"Nếu {p.adult} được trả {vi_number(w)} đồng mỗi giờ, làm {h} giờ mỗi ngày và {d} ngày mỗi tuần, thì "
        f"sau {k} tuần {p.adult} nhận được bao nhiêu tiền?",
        f"If {p.name} is paid {en_number(w)} VND an hour and works {h} hours a day, {d} days a week, how "
        "much "
        f"will {p.he} earn in {k} weeks?",
    )
    steps = [
        Bilingual(
            f"Mỗi ngày {p.adult} kiếm được {h} * {vi_number(w)} = {vi_number(day)} đồng.",
            f"Each day {p.name} earns {h} * {en_number(w)} = {en_number(day)} VND.",
        ),
        Bilingual(
            f"Mỗi tuần {p.adult} kiếm được {d} * {vi_number(day)} = {vi_number(week)} đồng.",
            f"Each week {p.he} earns {d} * {en_number(day)} = {en_number(week)} VND.",
        ),
        Bilingual(
            f"Trong {k} tuần, {p.adult} kiếm được {k} * {vi_number(week)} = {vi_number(total)} đồng.",
            f"In {k} weeks {p.he} earns {k} * {en_number(week)} = {en_number(total)} VND.",
        ),
    ]
    xsteps = [
        Bilingual(
            f"Mỗi ngày {p.adult} kiếm được {vi_times_var(w)} đồng.",
            f"Each day {p.name} earns {en_times_var(w)} VND.",
        ),
        Bilingual(
            f"Mỗi tuần {p.adult} kiếm được {d} * {vi_times_var(w)} = {vi_times_var(d * w)} đồng.",
            f"Each week {p.he} earns {d} * {en_times_var(w)} = {en_times_var(d * w)} VND.",
        ),
        Bilingual(
            f"Trong {k} tuần, {p.adult} kiếm được {k} * {vi_times_var(d * w)} = {vi_times_var(k * d * w)} "
            "đồng.",
            f"In {k} weeks {p.he} earns {k} * {en_times_var(d * w)} = {en_times_var(k * d * w)} VND.",
        ),
        Bilingual(
            f"Ta biết {p.adult} kiếm được {vi_number(total)} đồng, nên {vi_times_var(k * d * w)} = "
            f"{vi_number(total)}.",
            f"We know {p.he} earns {en_number(total)} VND, so {en_times_var(k * d * w)} = "
            f"{en_number(total)}.",
        ),
        *solve_linear(k * d * w, 0, total, h),
    ]
    backward = gsm_backward(
        facts("x"),
        ask,
        Bilingual(
            f"Trong {k} tuần, {p.adult} kiếm được {vi_number(total)} đồng.",
            f"In {k} weeks, {p.name} earns {en_number(total)} VND.",
        ),
        Bilingual(f"số giờ {p.adult} làm mỗi ngày", f"the number of hours {p.name} works each day"),
        xsteps,
        h,
    )
    return Problem(facts(str(h)), ask, rephrased, steps, Answer(Fraction(total)), backward)


GOALS = (
    ("chiếc", "xe đạp", "bicycle"),
    ("cây", "đàn ghi-ta", "guitar"),
    ("bộ", "đồ chơi lắp ghép", "building set"),
    ("đôi", "giày patin", "pair of roller skates"),
    ("chiếc", "máy nghe nhạc", "music player"),
)


@template("GSM")
def _savings_goal(rng: random.Random, need_backward: bool) -> Problem:
    """Weeks needed to save for a purchase: a difference, then an exact division."""
    p = person(rng)
    clf, good, good_en = rng.choice(GOALS)
    saved, m, weeks = (
        rng.randrange(100000, 800001, 50000),
        rng.randrange(20000, 100001, 10000),
        rng.randint(4, 20),
    )
    price = saved + weeks * m
    missing = price - saved

    def facts(per_week: str, per_week_en: str) -> Bilingual:
        return Bilingual(
            f"{p.name} muốn mua một {clf} {good} giá {vi_number(price)} đồng. {p.name} đã có sẵn "
            f"{vi_number(saved)} đồng và "
            f"mỗi tuần để dành thêm được {per_week} đồng.",
            f"{p.name} wants to buy a {good_en} that costs {en_number(price)} VND. {p.He} already has "
            f"{en_number(saved)} VND "
            f"and saves {per_week_en} VND every week.",
        )

    ask = Bilingual(
        f"Hỏi sau bao nhiêu tuần thì {p.name} có vừa đủ tiền để mua {clf} {good}?",
        f"How many weeks will it take {p.name} to have exactly enough money for the {good_en}?",
    )
    rephrased = Bilingual(
        f"Nếu {p.name} đã có {vi_number(saved)} đồng và mỗi tuần tiết kiệm thêm {vi_number(m)} đồng, thì sau "
        "bao nhiêu "
        f"tuần {p.name} sẽ đủ tiền mua {clf} {good} giá {vi_number(price)} đồng?",
        f"If {p.name} has {en_number(saved)} VND saved and adds {en_number(m)} VND each week, how many weeks "
        "until "
        f"{p.he} can afford a {good_en} costing {en_number(price)} VND?",
    )
    steps = [
        Bilingual(
            f"Số tiền {p.name} còn thiếu là {vi_number(price)} - {vi_number(saved)} = {vi_number(missing)} "
            "đồng.",
            f"{p.name} still needs {en_number(price)} - {en_number(saved)} = {en_number(missing)} VND.",
        ),
        Bilingual(
            f"Số tuần cần để dành là {vi_number(missing)} / {vi_number(m)} = {weeks} tuần.",
            f"That takes {en_number(missing)} / {en_number(m)} = {weeks} weeks.",
        ),
    ]
    xsteps = [
        steps[0],
        Bilingual(
            f"Sau {weeks} tuần, {p.name} để dành được {weeks}x đồng.",
            f"In {weeks} weeks {p.he} saves {weeks}x VND.",
        ),
        Bilingual(
            f"Ta có phương trình {weeks}x = {vi_number(missing)}.", f"So {weeks}x = {en_number(missing)}."
        ),
        *solve_linear(weeks, 0, missing, m),
    ]
    backward = gsm_backward(
        facts("x", "x"),
        ask,
        Bilingual(
            f"Sau {weeks} tuần thì {p.name} có vừa đủ tiền để mua {clf} {good}.",
            f"After {weeks} weeks, {p.name} has exactly enough money for the {good_en}.",
        ),
        Bilingual(f"số tiền {p.name} để dành mỗi tuần", f"the amount {p.name} saves each week"),
        xsteps,
        m,
    )
    return Problem(
        facts(vi_number(m), en_number(m)), ask, rephrased, steps, Answer(Fraction(weeks)), backward
    )


@template("GSM")
def _fuel_cost(rng: random.Random, need_backward: bool) -> Problem:
    """Fuel use per 100 km and a price per litre: decimal litres, then a large money answer."""
    p = person(rng)
    f = Fraction(rng.choice(("5", "5.5", "6", "6.5", "7", "7.5", "8")))
    d, price = rng.randrange(100, 501, 50), rng.randrange(21000, 26001, 500)
    litres = f * d / 100
    cost = litres * price

    def facts(dist: str) -> Bilingual:
        return Bilingual(
            f"Một chiếc ô tô tiêu thụ {vi_number(f)} lít xăng cho mỗi 100 km. Gia đình {p.name} lái chiếc "
            f"ô tô đó đi "
            f"một chuyến dài {dist} km. Giá xăng là {vi_number(price)} đồng một lít.",
            f"A car uses {en_number(f)} litres of petrol per 100 km. {p.name}'s family drives it on a "
            f"{dist} km trip. "
            f"Petrol costs {en_number(price)} VND per litre.",
        )

    ask = Bilingual(
        "Hỏi tiền xăng cho chuyến đi là bao nhiêu?", "How much does the petrol for the trip cost?"
    )
    rephrased = Bilingual(
        f"Nếu một chiếc ô tô tiêu thụ {vi_number(f)} lít xăng trên 100 km và giá xăng là {vi_number(price)} "
        "đồng/lít, "
        f"thì chi phí xăng cho quãng đường {d} km là bao nhiêu?",
        f"If a car burns {en_number(f)} litres of petrol per 100 km and petrol costs {en_number(price)} VND "
        "per litre, "
        f"how much does the petrol cost for a {d} km trip?",
    )
    steps = [
        Bilingual(
            f"Số lít xăng cần dùng là {d} / 100 * {vi_number(f)} = {vi_number(litres)} lít.",
            f"The trip uses {d} / 100 * {en_number(f)} = {en_number(litres)} litres of petrol.",
        ),
        Bilingual(
            f"Tiền xăng cho chuyến đi là {vi_number(litres)} * {vi_number(price)} = {vi_number(cost)} đồng.",
            f"The petrol costs {en_number(litres)} * {en_number(price)} = {en_number(cost)} VND.",
        ),
    ]
    per_km, per_km_cost = f / 100, f * price / 100
    xsteps = [
        Bilingual(
            f"Số lít xăng cần dùng là x / 100 * {vi_number(f)} = {vi_times_var(per_km)} lít.",
            f"The trip uses x / 100 * {en_number(f)} = {en_times_var(per_km)} litres.",
        ),
        Bilingual(
            f"Tiền xăng là {vi_times_var(per_km)} * {vi_number(price)} = {vi_times_var(per_km_cost)} đồng.",
            f"The petrol costs {en_times_var(per_km)} * {en_number(price)} = {en_times_var(per_km_cost)} "
            "VND.",
        ),
        Bilingual(
            f"Ta biết tiền xăng là {vi_number(cost)} đồng, nên {vi_times_var(per_km_cost)} = "
            f"{vi_number(cost)}.",
            f"We know the petrol costs {en_number(cost)} VND, so {en_times_var(per_km_cost)} = "
            f"{en_number(cost)}.",
        ),
        *solve_linear(per_km_cost, 0, cost, d),
    ]
    backward = gsm_backward(
        facts("x"),
        ask,
        Bilingual(
            f"Tiền xăng cho chuyến đi là {vi_number(cost)} đồng.", f"The petrol costs {en_number(cost)} VND."
        ),
        Bilingual("độ dài chuyến đi (km)", "the length of the trip in kilometres"),
        xsteps,
        d,
    )
    return Problem(facts(str(d)), ask, rephrased, steps, Answer(cost), backward)


PRODUCE = (
    ("táo", "apples", 30000, 80000),
    ("cam", "oranges", 20000, 50000),
    ("xoài", "mangoes", 25000, 60000),
    ("nho", "grapes", 50000, 120000),
    ("thịt lợn", "pork", 90000, 140000),
    ("cá", "fish", 50000, 100000),
    ("cà chua", "tomatoes", 15000, 30000),
    ("khoai tây", "potatoes", 15000, 30000),
)
WEIGHTS = ("0.5", "0.8", "1.2", "1.5", "2", "2.5", "3")


@template("GSM")
def _buy_by_weight(rng: random.Random, need_backward: bool) -> Problem:
    """Buying produce by decimal kilograms: decimal times price, then a sum."""
    p = person(rng)
    (n1, e1, lo1, hi1), (n2, e2, lo2, hi2) = rng.sample(PRODUCE, 2)
    w1, w2 = Fraction(rng.choice(WEIGHTS)), Fraction(rng.choice(WEIGHTS))
    p1, p2 = rng.randrange(lo1, hi1 + 1, 2000), rng.randrange(lo2, hi2 + 1, 2000)
    c1, c2 = w1 * p1, w2 * p2
    total = c1 + c2

    def facts(price1: str, price1_en: str) -> Bilingual:
        return Bilingual(
            f"{p.name} đi chợ mua {vi_number(w1)} kg {n1} với giá {price1} đồng một ki-lô-gam và "
            f"{vi_number(w2)} "
            f"kg {n2} với "
            f"giá {vi_number(p2)} đồng một ki-lô-gam.",
            f"{p.name} goes to the market and buys {en_number(w1)} kg of {e1} at {price1_en} VND per "
            "kilogram and "
            f"{en_number(w2)} kg of {e2} at {en_number(p2)} VND per kilogram.",
        )

    ask = Bilingual(f"Hỏi {p.name} phải trả tất cả bao nhiêu tiền?", f"How much does {p.name} pay in total?")
    rephrased = Bilingual(
        f"Nếu {p.name} mua {vi_number(w1)} kg {n1} giá {vi_number(p1)} đồng/kg và {vi_number(w2)} kg {n2} "
        f"giá {vi_number(p2)} đồng/kg, "
        f"thì tổng số tiền {p.name} phải trả là bao nhiêu?",
        f"If {p.name} buys {en_number(w1)} kg of {e1} at {en_number(p1)} VND/kg and {en_number(w2)} kg of "
        f"{e2} at {en_number(p2)} "
        f"VND/kg, how much does {p.he} pay altogether?",
    )
    steps = [
        Bilingual(
            f"Tiền mua {n1} là {vi_number(w1)} * {vi_number(p1)} = {vi_number(c1)} đồng.",
            f"The {e1} cost {en_number(w1)} * {en_number(p1)} = {en_number(c1)} VND.",
        ),
        Bilingual(
            f"Tiền mua {n2} là {vi_number(w2)} * {vi_number(p2)} = {vi_number(c2)} đồng.",
            f"The {e2} cost {en_number(w2)} * {en_number(p2)} = {en_number(c2)} VND.",
        ),
        Bilingual(
            f"Tổng số tiền phải trả là {vi_number(c1)} + {vi_number(c2)} = {vi_number(total)} đồng.",
            f"In total {p.name} pays {en_number(c1)} + {en_number(c2)} = {en_number(total)} VND.",
        ),
    ]
    xsteps = [
        Bilingual(
            f"Tiền mua {n1} là {vi_number(w1)} * x = {vi_times_var(w1)} đồng.",
            f"The {e1} cost {en_number(w1)} * x = {en_times_var(w1)} VND.",
        ),
        steps[1],
        Bilingual(
            f"Tổng số tiền phải trả là {vi_times_var(w1)} + {vi_number(c2)} đồng.",
            f"In total {p.name} pays {en_times_var(w1)} + {en_number(c2)} VND.",
        ),
        Bilingual(
            f"Ta biết tổng số tiền là {vi_number(total)} đồng, nên {vi_times_var(w1)} + {vi_number(c2)} = "
            f"{vi_number(total)}.",
            f"We know the total is {en_number(total)} VND, so {en_times_var(w1)} + {en_number(c2)} = "
            f"{en_number(total)}.",
        ),
        *solve_linear(w1, c2, total, p1),
    ]
    backward = gsm_backward(
        facts("x", "x"),
        ask,
        Bilingual(
            f"{p.name} phải trả tất cả {vi_number(total)} đồng.",
            f"{p.name} pays {en_number(total)} VND in total.",
        ),
        Bilingual(f"giá một ki-lô-gam {n1} (đồng)", f"the price of one kilogram of {e1} in VND"),
        xsteps,
        p1,
    )
    return Problem(facts(vi_number(p1), en_number(p1)), ask, rephrased, steps, Answer(total), backward)


@template("GSM")
def _reading_pages(rng: random.Random, need_backward: bool) -> Problem:
    """Pages left in a book after reading a fixed number per day: multiply, then subtract."""
    p = person(rng)
    while True:
        pages, a, d = rng.randrange(120, 501, 10), rng.randint(8, 30), rng.randint(3, 12)
        if a * d < pages:
            break
    left = pages - a * d

    def facts(per_day: str) -> Bilingual:
        return Bilingual(
            f"Một cuốn sách dày {pages} trang. Mỗi ngày {p.name} đọc được {per_day} trang.",
            f"A book has {pages} pages. {p.name} reads {per_day} pages every day.",
        )

    ask = Bilingual(
        f"Hỏi sau {d} ngày, {p.name} còn phải đọc bao nhiêu trang nữa mới hết cuốn sách?",
        f"After {d} days, how many pages does {p.name} still have to read to finish the book?",
    )
    rephrased = Bilingual(
        f"Nếu {p.name} đọc một cuốn sách dày {pages} trang, mỗi ngày {a} trang, thì sau {d} ngày số trang "
        "chưa đọc là bao nhiêu?",
        f"If {p.name} reads {a} pages a day from a {pages}-page book, how many pages are left unread after "
        f"{d} days?",
    )
    steps = [
        Bilingual(
            f"Sau {d} ngày, {p.name} đọc được {d} * {a} = {a * d} trang.",
            f"In {d} days, {p.name} reads {d} * {a} = {a * d} pages.",
        ),
        Bilingual(
            f"Số trang còn phải đọc là {pages} - {a * d} = {left} trang.",
            f"{p.He} still has {pages} - {a * d} = {left} pages to read.",
        ),
    ]
    xsteps = [
        Bilingual(f"Sau {d} ngày, {p.name} đọc được {d}x trang.", f"In {d} days, {p.name} reads {d}x pages."),
        Bilingual(
            f"Số trang còn phải đọc là {pages} - {d}x.", f"{p.He} still has {pages} - {d}x pages to read."
        ),
        Bilingual(
            f"Ta biết số trang còn phải đọc là {left}, nên {pages} - {d}x = {left}.",
            f"We know {left} pages are left, so {pages} - {d}x = {left}.",
        ),
        *solve_linear(-d, pages, left, a),
    ]
    backward = gsm_backward(
        facts("x"),
        ask,
        Bilingual(
            f"Sau {d} ngày, {p.name} còn phải đọc {left} trang nữa mới hết cuốn sách.",
            f"After {d} days, {p.name} still has {left} pages to read.",
        ),
        Bilingual(f"số trang {p.name} đọc mỗi ngày", f"the number of pages {p.name} reads per day"),
        xsteps,
        a,
    )
    return Problem(facts(str(a)), ask, rephrased, steps, Answer(Fraction(left)), backward)


@template("GSM")
def _water_tank(rng: random.Random, need_backward: bool) -> Problem:
    """Filling the rest of a tank at a fixed rate: subtraction, then a division with a decimal answer."""
    while True:
        r = rng.choice((8, 10, 12, 15, 16, 20, 24, 25, 30, 40))
        t = Fraction(rng.choice(("12.5", "17.5", "22.5", "37.5", "8.75", "12.25", "15", "25", "30", "45")))
        cap = rng.choice((500, 800, 1000, 1200, 1500, 2000))
        amount = r * t
        have = cap - amount
        if amount.denominator == 1 and 50 <= have < cap:
            break

    def facts(rate: str) -> Bilingual:
        return Bilingual(
            f"Một bể nước chứa được nhiều nhất {vi_number(cap)} lít nước. Trong bể đang có {vi_number(have)} "
            "lít "
            f"nước. Người "
            f"ta mở một vòi nước chảy vào bể, mỗi phút chảy được {rate} lít.",
            f"A water tank holds at most {en_number(cap)} litres. It currently contains {en_number(have)} "
            "litres. "
            f"A tap that "
            f"fills {rate} litres per minute is turned on.",
        )

    ask = Bilingual(
        "Hỏi sau bao nhiêu phút thì bể đầy nước?", "After how many minutes will the tank be full?"
    )
    rephrased = Bilingual(
        f"Nếu một bể có sức chứa {vi_number(cap)} lít đang có sẵn {vi_number(have)} lít nước và một vòi chảy "
        f"vào bể {r} "
        "lít mỗi phút, thì sau bao nhiêu phút bể sẽ đầy?",
        f"If a tank with a capacity of {en_number(cap)} litres already holds {en_number(have)} litres and a "
        f"tap adds {r} "
        "litres per minute, how many minutes will it take to fill the tank?",
    )
    steps = [
        Bilingual(
            f"Lượng nước cần chảy thêm vào bể là {vi_number(cap)} - {vi_number(have)} = {vi_number(amount)} "
            "lít.",
            f"The tank needs {en_number(cap)} - {en_number(have)} = {en_number(amount)} more litres.",
        ),
        Bilingual(
            f"Thời gian để bể đầy là {vi_number(amount)} / {r} = {vi_number(t)} phút.",
            f"Filling it takes {en_number(amount)} / {r} = {en_number(t)} minutes.",
        ),
    ]
    xsteps = [
        steps[0],
        Bilingual(
            f"Sau {vi_number(t)} phút, vòi chảy được {vi_times_var(t)} lít.",
            f"In {en_number(t)} minutes the tap adds {en_times_var(t)} litres.",
        ),
        Bilingual(
            f"Ta có phương trình {vi_times_var(t)} = {vi_number(amount)}.",
            f"So {en_times_var(t)} = {en_number(amount)}.",
        ),
        *solve_linear(t, 0, amount, r),
    ]
    backward = gsm_backward(
        facts("x"),
        ask,
        Bilingual(
            f"Sau {vi_number(t)} phút thì bể đầy nước.", f"The tank is full after {en_number(t)} minutes."
        ),
        Bilingual("số lít nước vòi chảy được mỗi phút", "the number of litres the tap adds per minute"),
        xsteps,
        r,
    )
    return Problem(facts(str(r)), ask, rephrased, steps, Answer(t), backward)


GOODS = (
    ("cái", "bánh mì", "loaves of bread", "loaf"),
    ("chai", "nước ngọt", "bottles of soda", "bottle"),
    ("quả", "dưa hấu", "watermelons", "watermelon"),
    ("bó", "hoa", "bunches of flowers", "bunch"),
    ("hộp", "sữa chua", "tubs of yogurt", "tub"),
)


@template("GSM")
def _profit(rng: random.Random, need_backward: bool) -> Problem:
    """Profit from buying and reselling: per-item margin times a count."""
    p = person(rng)
    clf, noun, plural, sing = rng.choice(GOODS)
    cost = rng.randrange(3000, 30001, 500)
    sell = cost + rng.randrange(1000, 10001, 500)
    m = rng.randint(20, 150)
    margin = sell - cost
    profit = m * margin
    title = "Cô" if p.female else "Chú"

    def facts(count: str) -> Bilingual:
        return Bilingual(
            f"{title} {p.name} nhập về {count} {clf} {noun} với giá {vi_number(cost)} đồng một {clf} và "
            f"bán ra với giá "
            f"{vi_number(sell)} đồng một {clf}.",
            f"{p.name} buys {count} {plural} at {en_number(cost)} VND each and sells them at "
            f"{en_number(sell)} VND each.",
        )

    ask = Bilingual(
        f"Hỏi nếu bán hết số {noun} đó thì {title.lower()} {p.name} lãi bao nhiêu tiền?",
        f"How much profit does {p.name} make by selling all of them?",
    )
    rephrased = Bilingual(
        f"Nếu mua {m} {clf} {noun} với giá {vi_number(cost)} đồng một {clf} rồi bán lại với giá "
        f"{vi_number(sell)} đồng "
        f"một {clf}, thì tổng tiền lãi là bao nhiêu?",
        f"If {p.name} buys {m} {plural} for {en_number(cost)} VND each and resells them for "
        f"{en_number(sell)} VND each, "
        "what is the total profit?",
    )
    steps = [
        Bilingual(
            f"Mỗi {clf} {noun} lãi {vi_number(sell)} - {vi_number(cost)} = {vi_number(margin)} đồng.",
            f"The profit on each {sing} is {en_number(sell)} - {en_number(cost)} = {en_number(margin)} VND.",
        ),
        Bilingual(
            f"Bán hết {m} {clf} thì lãi {m} * {vi_number(margin)} = {vi_number(profit)} đồng.",
            f"Selling all {m} gives a profit of {m} * {en_number(margin)} = {en_number(profit)} VND.",
        ),
    ]
    xsteps = [
        steps[0],
        Bilingual(
            f"Bán hết x {clf} thì lãi {vi_times_var(margin)} đồng.",
            f"Selling all x gives a profit of {en_times_var(margin)} VND.",
        ),
        Bilingual(
            f"Ta biết tiền lãi là {vi_number(profit)} đồng, nên {vi_times_var(margin)} = "
            f"{vi_number(profit)}.",
            f"We know the profit is {en_number(profit)} VND, so {en_times_var(margin)} = "
            f"{en_number(profit)}.",
        ),
        *solve_linear(margin, 0, profit, m),
    ]
    backward = gsm_backward(
        facts("x"),
        ask,
        Bilingual(
            f"Bán hết số {noun} đó thì {title.lower()} {p.name} lãi {vi_number(profit)} đồng.",
            f"Selling all of them gives {p.name} a profit of {en_number(profit)} VND.",
        ),
        Bilingual(f"số {clf} {noun} đã nhập về", f"the number of {plural} bought"),
        xsteps,
        m,
    )
    return Problem(facts(str(m)), ask, rephrased, steps, Answer(Fraction(profit)), backward)


@template("GSM")
def _percent_increase(rng: random.Random, need_backward: bool) -> Problem:
    """Growth by a percentage (a flock or a salary): percent of, then an addition."""
    p = person(rng)
    if rng.random() < 0.5:
        base, r = rng.randrange(200, 2001, 20), rng.randrange(5, 51, 5)
        unit_vi, unit_en = "con gà", "chickens"

        def facts(rate: str) -> Bilingual:
            return Bilingual(
                f"Năm ngoái, trang trại của bác {p.name} nuôi {vi_number(base)} con gà. Năm nay, số gà "
                f"tăng thêm {rate}% "
                "so với năm ngoái.",
                f"Last year, {p.name}'s farm raised {en_number(base)} chickens. This year the number of "
                f"chickens grew "
                f"by {rate}% compared with last year.",
            )

        ask = Bilingual(
            f"Hỏi năm nay trang trại của bác {p.name} có bao nhiêu con gà?",
            f"How many chickens does {p.name}'s farm have this year?",
        )
        rephrased = Bilingual(
            f"Nếu năm ngoái trang trại của bác {p.name} có {vi_number(base)} con gà và năm nay số gà tăng "
            f"{r}%, "
            "thì năm nay trang trại có bao nhiêu con gà?",
            f"If {p.name}'s farm had {en_number(base)} chickens last year and the flock grew by {r}%, how "
            "many "
            "chickens does the farm have now?",
        )
        what_vi, what_en = "Số gà", "The number of chickens"
        claim_vi, claim_en = "Năm nay trang trại có", "This year the farm has"
        meaning = Bilingual("số phần trăm gà tăng thêm", "the percentage increase in chickens")
    else:
        base, r = rng.randrange(5_000_000, 15_000_001, 500_000), rng.choice((5, 8, 10, 12, 15, 20))
        unit_vi, unit_en = "đồng", "VND"

        def facts(rate: str) -> Bilingual:
            return Bilingual(
                f"Lương tháng của {p.adult} là {vi_number(base)} đồng. Từ tháng này, lương của {p.adult} "
                f"được tăng thêm "
                f"{rate}%.",
                f"{p.name}'s monthly salary is {en_number(base)} VND. Starting this month, {p.his} salary "
                f"is raised by "
                f"{rate}%.",
            )

        ask = Bilingual(
            f"Hỏi lương tháng mới của {p.adult} là bao nhiêu?", f"What is {p.name}'s new monthly salary?"
        )
        rephrased = Bilingual(
            f"Nếu lương tháng của {p.adult} là {vi_number(base)} đồng và được tăng {r}%, thì lương mới là "
            "bao "
            "nhiêu?",
            f"If {p.name} earns {en_number(base)} VND a month and gets a {r}% raise, what is {p.his} new "
            "monthly "
            "salary?",
        )
        what_vi, what_en = "Số tiền lương", "The salary"
        claim_vi, claim_en = "Lương tháng mới là", "The new monthly salary is"
        meaning = Bilingual("số phần trăm lương được tăng thêm", "the percentage raise")
    inc = base * r // 100
    new = base + inc
    steps = [
        Bilingual(
            f"{what_vi} tăng thêm là {r}% * {vi_number(base)} = {vi_number(inc)} {unit_vi}.",
            f"{what_en} goes up by {r}% * {en_number(base)} = {en_number(inc)} {unit_en}.",
        ),
        Bilingual(
            f"{claim_vi} {vi_number(base)} + {vi_number(inc)} = {vi_number(new)} {unit_vi}.",
            f"{claim_en} {en_number(base)} + {en_number(inc)} = {en_number(new)} {unit_en}.",
        ),
    ]
    c = Fraction(base, 100)
    xsteps = [
        Bilingual(
            f"{what_vi} tăng thêm là x% * {vi_number(base)} = {vi_times_var(c)} {unit_vi}.",
            f"{what_en} goes up by x% * {en_number(base)} = {en_times_var(c)} {unit_en}.",
        ),
        Bilingual(
            f"{claim_vi} {vi_number(base)} + {vi_times_var(c)} {unit_vi}.",
            f"{claim_en} {en_number(base)} + {en_times_var(c)} {unit_en}.",
        ),
        Bilingual(
            f"Ta biết kết quả là {vi_number(new)} {unit_vi}, nên {vi_number(base)} + {vi_times_var(c)} = "
            f"{vi_number(new)}.",
            f"We know the result is {en_number(new)} {unit_en}, so {en_number(base)} + {en_times_var(c)} = "
            f"{en_number(new)}.",
        ),
        *solve_linear(c, base, new, r),
    ]
    backward = gsm_backward(
        facts("x"),
        ask,
        Bilingual(f"{claim_vi} {vi_number(new)} {unit_vi}.", f"{claim_en} {en_number(new)} {unit_en}."),
        meaning,
        xsteps,
        r,
    )
    return Problem(facts(str(r)), ask, rephrased, steps, Answer(Fraction(new)), backward)


ACTIVITIES = (
    ("tập đàn piano", "practises the piano", "practising the piano"),
    ("chạy bộ", "goes jogging", "jogging"),
    ("đọc sách", "reads", "reading"),
    ("học tiếng Anh", "studies English", "studying English"),
)


@template("GSM")
def _practice_hours(rng: random.Random, need_backward: bool) -> Problem:
    """Minutes a day over several weeks, converted to hours: a unit conversion with decimal answers."""
    p = person(rng)
    act, act_en, act_ing = rng.choice(ACTIVITIES)
    m, w = rng.choice((15, 30, 45, 75, 90, 105)), rng.randint(2, 6)
    days = 7 * w
    minutes = days * m
    hours = Fraction(minutes, 60)

    def facts(per_day: str) -> Bilingual:
        return Bilingual(
            f"Mỗi ngày {p.name} {act} {per_day} phút.", f"{p.name} {act_en} for {per_day} minutes every day."
        )

    ask = Bilingual(
        f"Hỏi trong {w} tuần, {p.name} {act} tổng cộng bao nhiêu giờ?",
        f"How many hours in total does {p.he} spend {act_ing} over {w} weeks?",
    )
    rephrased = Bilingual(
        f"Nếu {p.name} dành {m} phút mỗi ngày để {act} thì sau {w} tuần, tổng thời gian {p.name} {act} là "
        "bao nhiêu giờ?",
        f"If {p.name} spends {m} minutes a day {act_ing}, how many hours will {p.he} have spent {act_ing} "
        f"after {w} weeks?",
    )
    steps = [
        Bilingual(f"{w} tuần có {w} * 7 = {days} ngày.", f"{w} weeks have {w} * 7 = {days} days."),
        Bilingual(
            f"Tổng thời gian {p.name} {act} là {days} * {m} = {vi_number(minutes)} phút.",
            f"In total {p.name} spends {days} * {m} = {en_number(minutes)} minutes {act_ing}.",
        ),
        Bilingual(
            f"Vì 1 giờ = 60 phút nên {vi_number(minutes)} phút = {vi_number(minutes)} / 60 = "
            f"{vi_number(hours)} giờ.",
            f"Since 1 hour = 60 minutes, {en_number(minutes)} minutes = {en_number(minutes)} / 60 = "
            f"{en_number(hours)} hours.",
        ),
    ]
    xsteps = [
        steps[0],
        Bilingual(
            f"Tổng thời gian {p.name} {act} là {days}x phút.", f"In total {p.name} spends {days}x minutes."
        ),
        Bilingual(
            f"Đổi {vi_number(hours)} giờ = {vi_number(hours)} * 60 = {vi_number(minutes)} phút.",
            f"Convert {en_number(hours)} hours = {en_number(hours)} * 60 = {en_number(minutes)} minutes.",
        ),
        Bilingual(
            f"Ta có phương trình {days}x = {vi_number(minutes)}.", f"So {days}x = {en_number(minutes)}."
        ),
        *solve_linear(days, 0, minutes, m),
    ]
    backward = gsm_backward(
        facts("x"),
        ask,
        Bilingual(
            f"Trong {w} tuần, {p.name} {act} tổng cộng {vi_number(hours)} giờ.",
            f"Over {w} weeks, {p.he} spends {en_number(hours)} hours {act_ing}.",
        ),
        Bilingual(f"số phút {p.name} {act} mỗi ngày", f"the number of minutes {p.name} spends each day"),
        xsteps,
        m,
    )
    return Problem(facts(str(m)), ask, rephrased, steps, Answer(hours), backward)


# --------------------------------------------------------------------------------------- MATH ----

NO_CONTEXT = Bilingual("", "")


def _nonzero(rng: random.Random, lo: int, hi: int) -> int:
    """A random integer in [lo, hi] other than 0."""
    return rng.choice([v for v in range(lo, hi + 1) if v != 0])


@template("MATH")
def _linear_equation(rng: random.Random, need_backward: bool) -> Problem:
    """Solve ax + b = cx + d: integer, negative and fractional solutions (answers like -\\frac{9}{4})."""
    a = rng.randint(2, 9)
    c = rng.randint(1, a - 1)
    k = a - c
    b = _nonzero(rng, -15, 15)
    if need_backward or k == 1 or rng.random() < 0.5:
        x0 = Fraction(_nonzero(rng, -12, 12))
        d = int(k * x0) + b
    else:
        while True:
            d = rng.randint(-25, 25)
            if (d - b) % k:
                break
        x0 = Fraction(d - b, k)
    lhs, rhs = linear_tex(a, b), linear_tex(c, d)
    cx = "x" if c == 1 else f"{c}x"
    question = Bilingual(f"Tìm $x$ thỏa mãn ${lhs} = {rhs}$.", f"Solve for $x$: ${lhs} = {rhs}$.")
    rephrased = Bilingual(
        f"Giá trị nào của $x$ thỏa mãn phương trình ${lhs} = {rhs}$?",
        f"What value of $x$ satisfies the equation ${lhs} = {rhs}$?",
    )
    steps = [
        Bilingual(
            f"Trừ ${cx}$ ở cả hai vế, ta được ${linear_tex(k, b)} = {d}$.",
            f"Subtracting ${cx}$ from both sides gives ${linear_tex(k, b)} = {d}$.",
        )
    ]
    kx = "x" if k == 1 else f"{k}x"
    right = boxed(str(d - b)) if k == 1 else str(d - b)
    if b > 0:
        steps.append(
            Bilingual(
                f"Trừ ${b}$ ở cả hai vế, ta được ${kx} = {right}$.",
                f"Subtracting ${b}$ from both sides gives ${kx} = {right}$.",
            )
        )
    else:
        steps.append(
            Bilingual(
                f"Cộng ${-b}$ vào cả hai vế, ta được ${kx} = {right}$.",
                f"Adding ${-b}$ to both sides gives ${kx} = {right}$.",
            )
        )
    if k != 1:
        raw = ("-" if d - b < 0 else "") + frac(abs(d - b), k)
        if x0.denominator == 1 or gcd(abs(d - b), k) > 1:
            chain = f"{raw} = {boxed(tex_frac(x0))}"
        else:
            chain = boxed(raw)
        steps.append(
            Bilingual(
                f"Chia cả hai vế cho ${k}$, ta được $x = {chain}$.",
                f"Dividing both sides by ${k}$ gives $x = {chain}$.",
            )
        )
    backward = None
    if x0.denominator == 1:
        xv = int(x0)
        right_sub = f"{c} \\cdot {paren_if_negative(xv)}" + (
            f" + {d}" if d > 0 else f" - {-d}" if d < 0 else ""
        )
        xq = Bilingual(f"Tìm $x$ thỏa mãn ${a}x + X = {rhs}$.", f"Solve for $x$: ${a}x + X = {rhs}$.")
        xsteps = [
            Bilingual(
                f"Thay $x = {xv}$ vào phương trình, ta được ${a} \\cdot {paren_if_negative(xv)} + X = "
                f"{right_sub}$.",
                f"Substituting $x = {xv}$ into the equation gives ${a} \\cdot {paren_if_negative(xv)} + X = "
                f"{right_sub}$.",
            ),
            Bilingual(f"Suy ra ${a * xv} + X = {c * xv + d}$.", f"So ${a * xv} + X = {c * xv + d}$."),
            Bilingual(
                f"Do đó $X = {c * xv + d} - {paren_if_negative(a * xv)} = {b}$.",
                f"Therefore, $X = {c * xv + d} - {paren_if_negative(a * xv)} = {b}$.",
            ),
        ]
        backward = math_backward(
            xq,
            Answer(x0),
            xsteps,
            b,
            Bilingual("hằng số chưa biết trong phương trình", "the unknown constant in the equation"),
        )
    return Problem(NO_CONTEXT, question, rephrased, steps, Answer(x0, as_fraction=True), backward)


@template("MATH")
def _evaluate_expression(rng: random.Random, need_backward: bool) -> Problem:
    """Substitute integers (some negative) into an expression: signs and order of operations."""
    a, c = _nonzero(rng, -5, 6), _nonzero(rng, -8, 9)
    b = rng.choice([v for v in range(-6, 7) if v not in (0, a)])
    r = rng.randint(1, 3)
    rc = "c" if r == 1 else f"{r}c"
    rdot = "" if r == 1 else f"{r} \\cdot "
    if rng.random() < 0.5:
        pa, q = rng.randint(1, 4), rng.randint(1, 6)
        pdot = "" if pa == 1 else f"{pa} \\cdot "
        expr = f"{'' if pa == 1 else pa}a^2 - {'' if q == 1 else q}b + {rc}"
        qdot = "" if q == 1 else f"{q} \\cdot "
        sub = f"{pdot}{paren_if_negative(a)}^2 - {qdot}{paren_if_negative(b)}"
        head = [pa * a * a, -q * b]
    else:
        expr = f"(a - b)^2 + {rc}"
        sub = f"({a} - {paren_if_negative(b)})^2"
        head = [(a - b) ** 2]
    s = sum(head)
    value = s + r * c
    question = Bilingual(
        f"Tính giá trị của biểu thức ${expr}$ khi $a = {a}$, $b = {b}$ và $c = {c}$.",
        f"What is the value of ${expr}$ when $a = {a}$, $b = {b}$ and $c = {c}$?",
    )
    rephrased = Bilingual(
        f"Cho $a = {a}$, $b = {b}$, $c = {c}$. Hãy tính ${expr}$.",
        f"Given $a = {a}$, $b = {b}$ and $c = {c}$, evaluate ${expr}$.",
    )
    full = f"{sub} + {rdot}{paren_if_negative(c)} = {signed(head + [r * c])} = {boxed(str(value))}"
    steps = [
        Bilingual(
            f"Thay $a = {a}$, $b = {b}$, $c = {c}$ vào biểu thức, ta được ${full}$.",
            f"Substituting $a = {a}$, $b = {b}$ and $c = {c}$ gives ${full}$.",
        )
    ]
    rx = "X" if r == 1 else f"{r}X"
    xq = Bilingual(
        f"Tính giá trị của biểu thức ${expr}$ khi $a = {a}$, $b = {b}$ và $c = X$.",
        f"What is the value of ${expr}$ when $a = {a}$, $b = {b}$ and $c = X$?",
    )
    solve = (
        Bilingual(
            f"Suy ra $X = {value} - {paren_if_negative(s)} = {c}$.",
            f"So $X = {value} - {paren_if_negative(s)} = {c}$.",
        )
        if r == 1
        else Bilingual(
            f"Suy ra ${rx} = {value} - {paren_if_negative(s)} = {r * c}$, nên $X = {frac(r * c, r)} = {c}$.",
            f"So ${rx} = {value} - {paren_if_negative(s)} = {r * c}$, and $X = {frac(r * c, r)} = {c}$.",
        )
    )
    xsteps = [
        Bilingual(
            f"Thay $a = {a}$, $b = {b}$, $c = X$ vào biểu thức, ta được ${sub} + {rx} = {s} + {rx}$.",
            f"Substituting $a = {a}$, $b = {b}$ and $c = X$ gives ${sub} + {rx} = {s} + {rx}$.",
        ),
        Bilingual(
            f"Ta biết giá trị của biểu thức là ${value}$, nên ${s} + {rx} = {value}$.",
            f"We know the value is ${value}$, so ${s} + {rx} = {value}$.",
        ),
        solve,
    ]
    backward = math_backward(
        xq, Answer(Fraction(value)), xsteps, c, Bilingual("giá trị của $c$", "the value of $c$")
    )
    return Problem(NO_CONTEXT, question, rephrased, steps, Answer(Fraction(value)), backward)


@template("MATH")
def _simplify_fraction(rng: random.Random, need_backward: bool) -> Problem:
    """Reduce a fraction by its GCD; the answer is a \\frac{p}{q} string."""
    while True:
        q = rng.randint(2, 12)
        pn = rng.randint(1, 2 * q)
        if gcd(pn, q) == 1 and pn % q:
            break
    k = rng.randint(3, 15)
    num, den = pn * k, q * k
    shown = frac(num, den)
    answer = Answer(Fraction(pn, q), as_fraction=True)
    question = Bilingual(f"Rút gọn phân số ${shown}$.", f"Simplify ${shown}$.")
    rephrased = Bilingual(
        f"Viết phân số ${shown}$ dưới dạng phân số tối giản.", f"Express ${shown}$ in lowest terms."
    )
    steps = [
        Bilingual(
            f"Ước chung lớn nhất của ${num}$ và ${den}$ là ${k}$.",
            f"The greatest common divisor of ${num}$ and ${den}$ is ${k}$.",
        ),
        Bilingual(
            f"Chia cả tử số và mẫu số cho ${k}$, ta được ${shown} = {frac(f'{num} : {k}', f'{den} : {k}')} = "
            f"{boxed(frac(pn, q))}$.",
            f"Dividing the numerator and the denominator by ${k}$ gives "
            f"${shown} = {frac(div(num, k), div(den, k))} = {boxed(frac(pn, q))}$.",
        ),
    ]
    xq = Bilingual(f"Rút gọn phân số ${frac('X', den)}$.", f"Simplify ${frac('X', den)}$.")
    xsteps = [
        Bilingual(
            f"Ta có ${frac('X', den)} = {frac(pn, q)}$.", f"We have ${frac('X', den)} = {frac(pn, q)}$."
        ),
        Bilingual(
            f"Suy ra $X = {frac(cdot(den, pn), q)} = {num}$.", f"So $X = {frac(cdot(den, pn), q)} = {num}$."
        ),
    ]
    backward = math_backward(
        xq, answer, xsteps, num, Bilingual("tử số của phân số", "the numerator of the fraction")
    )
    return Problem(NO_CONTEXT, question, rephrased, steps, answer, backward)


@template("MATH", backward=False)
def _arithmetic_series(rng: random.Random, need_backward: bool) -> Problem:
    """Sum of an arithmetic progression: count the terms, then (first + last) * n / 2."""
    a, d, n = rng.randint(1, 15), rng.randint(2, 9), rng.randint(10, 40)
    last = a + (n - 1) * d
    total = n * (a + last) // 2
    terms = f"{a} + {a + d} + {a + 2 * d} + \\dots + {last}"
    question = Bilingual(f"Tính tổng ${terms}$.", f"Compute the sum ${terms}$.")
    rephrased = Bilingual(
        f"Tổng của dãy số cách đều ${a}; {a + d}; {a + 2 * d}; \\dots; {last}$ bằng bao nhiêu?",
        f"Find the sum of the arithmetic sequence ${a}, {a + d}, {a + 2 * d}, \\dots, {last}$.",
    )
    steps = [
        Bilingual(
            f"Đây là tổng của một cấp số cộng có số hạng đầu ${a}$ và công sai ${d}$.",
            f"This is an arithmetic series with first term ${a}$ and common difference ${d}$.",
        ),
        Bilingual(
            f"Số số hạng là ${frac(f'{last} - {a}', d)} + 1 = {n}$.",
            f"The number of terms is ${frac(f'{last} - {a}', d)} + 1 = {n}$.",
        ),
        Bilingual(
            f"Tổng bằng ${frac(cdot(f'({a} + {last})', n), 2)} = {frac(vi_number((a + last) * n), 2)} = "
            f"{boxed(vi_number(total))}$.",
            f"The sum is ${frac(cdot(f'({a} + {last})', n), 2)} = {frac(plain_number((a + last) * n), 2)} = "
            f"{boxed(plain_number(total))}$.",
        ),
    ]
    return Problem(NO_CONTEXT, question, rephrased, steps, Answer(Fraction(total)))


@template("MATH")
def _percent_of(rng: random.Random, need_backward: bool) -> Problem:
    """A percentage of a number; 12.5% and odd bases give decimal answers."""
    while True:
        pct = Fraction(
            rng.choice(("5", "10", "12.5", "15", "20", "25", "30", "35", "40", "45", "60", "75", "120"))
        )
        base = rng.randrange(20, 1001, 2)
        value = pct * base / 100
        if (value * 100).denominator == 1:
            break
    question = Bilingual(
        f"${vi_number(pct)}\\%$ của ${base}$ là bao nhiêu?", f"What is ${plain_number(pct)}\\%$ of ${base}$?"
    )
    rephrased = Bilingual(
        f"Tính ${vi_number(pct)}\\%$ của số ${base}$.", f"Compute ${plain_number(pct)}\\%$ of ${base}$."
    )
    steps = [
        Bilingual(
            f"${vi_number(pct)}\\% \\cdot {base} = {frac(vi_number(pct), 100)} \\cdot {base} = "
            f"{boxed(vi_number(value))}$.",
            f"${plain_number(pct)}\\% \\cdot {base} = {frac(plain_number(pct), 100)} \\cdot {base} = "
            f"{boxed(plain_number(value))}$.",
        )
    ]
    xq = Bilingual(f"$X\\%$ của ${base}$ là bao nhiêu?", f"What is $X\\%$ of ${base}$?")
    xsteps = [
        Bilingual(
            f"Ta có ${frac('X', 100)} \\cdot {base} = {vi_number(value)}$.",
            f"We have ${frac('X', 100)} \\cdot {base} = {plain_number(value)}$.",
        ),
        Bilingual(
            f"Suy ra $X = {frac(cdot(vi_number(value), 100), base)} = {vi_number(pct)}$.",
            f"So $X = {frac(cdot(plain_number(value), 100), base)} = {plain_number(pct)}$.",
        ),
    ]
    backward = math_backward(xq, Answer(value), xsteps, pct, Bilingual("số phần trăm", "the percentage"))
    return Problem(NO_CONTEXT, question, rephrased, steps, Answer(value), backward)


@template("MATH", backward=False)
def _fraction_sum(rng: random.Random, need_backward: bool) -> Problem:
    """Add or subtract fractions over the least common denominator; may be negative or reduce."""
    while True:
        b, d = rng.randint(2, 12), rng.randint(2, 12)
        a, c = rng.randint(1, b - 1), rng.randint(1, d - 1)
        plus = rng.random() < 0.6
        value = Fraction(a, b) + Fraction(c, d) if plus else Fraction(a, b) - Fraction(c, d)
        if b != d and value != 0 and gcd(a, b) == 1 and gcd(c, d) == 1:
            break
    op = "+" if plus else "-"
    m = lcm(b, d)
    num = a * m // b + (c * m // d if plus else -(c * m // d))
    expr = f"{frac(a, b)} {op} {frac(c, d)}"
    raw = ("-" if num < 0 else "") + frac(abs(num), m)
    chain = f"{frac(a * m // b, m)} {op} {frac(c * m // d, m)} = "
    chain += boxed(raw) if gcd(abs(num), m) == 1 else f"{raw} = {boxed(tex_frac(value))}"
    question = Bilingual(
        f"Tính ${expr}$. Viết kết quả dưới dạng phân số tối giản.",
        f"Compute ${expr}$. Express your answer as a common fraction.",
    )
    rephrased = Bilingual(
        f"Giá trị của ${expr}$ dưới dạng phân số tối giản là bao nhiêu?",
        f"What is ${expr}$, written as a fraction in simplest form?",
    )
    steps = [
        Bilingual(
            f"Mẫu số chung nhỏ nhất của ${b}$ và ${d}$ là ${m}$.",
            f"The least common denominator of ${b}$ and ${d}$ is ${m}$.",
        ),
        Bilingual(f"Ta có ${expr} = {chain}$.", f"So ${expr} = {chain}$."),
    ]
    return Problem(NO_CONTEXT, question, rephrased, steps, Answer(value, as_fraction=True))


@template("MATH")
def _mean_of_numbers(rng: random.Random, need_backward: bool) -> Problem:
    """The arithmetic mean of a list; 4, 5 or 8 numbers keep the decimal exact."""
    k = rng.choice((4, 5, 8))
    nums = rng.sample(range(10, 100), k)
    total = sum(nums)
    mean = Fraction(total, k)
    head = total - nums[-1]
    listed_vi, listed_en = "; ".join(map(str, nums)), ", ".join(map(str, nums))
    question = Bilingual(
        f"Tìm trung bình cộng của các số ${listed_vi}$.",
        f"What is the arithmetic mean of the numbers ${listed_en}$?",
    )
    rephrased = Bilingual(
        f"Trung bình cộng của {k} số ${listed_vi}$ bằng bao nhiêu?", f"Find the average of ${listed_en}$."
    )
    plus = " + ".join(map(str, nums))
    steps = [
        Bilingual(
            f"Tổng các số là ${plus} = {vi_number(total)}$.",
            f"The sum of the numbers is ${plus} = {plain_number(total)}$.",
        ),
        Bilingual(
            f"Trung bình cộng là ${frac(vi_number(total), k)} = {boxed(vi_number(mean))}$.",
            f"The mean is ${frac(plain_number(total), k)} = {boxed(plain_number(mean))}$.",
        ),
    ]
    xlist_vi = "; ".join(map(str, nums[:-1])) + "; X"
    xlist_en = ", ".join(map(str, nums[:-1])) + ", X"
    xq = Bilingual(
        f"Tìm trung bình cộng của các số ${xlist_vi}$.",
        f"What is the arithmetic mean of the numbers ${xlist_en}$?",
    )
    xsteps = [
        Bilingual(
            f"Tổng các số là ${' + '.join(map(str, nums[:-1]))} + X = {head} + X$.",
            f"The sum of the numbers is ${' + '.join(map(str, nums[:-1]))} + X = {head} + X$.",
        ),
        Bilingual(
            f"Ta có ${frac(f'{head} + X', k)} = {vi_number(mean)}$, nên ${head} + X = {vi_number(mean)} "
            "\\cdot "
            f"{k} = {total}$.",
            f"We have ${frac(f'{head} + X', k)} = {plain_number(mean)}$, so ${head} + X = "
            f"{plain_number(mean)} \\cdot "
            f"{k} = {total}$.",
        ),
        Bilingual(
            f"Do đó $X = {total} - {head} = {nums[-1]}$.", f"Therefore, $X = {total} - {head} = {nums[-1]}$."
        ),
    ]
    backward = math_backward(
        xq, Answer(mean), xsteps, nums[-1], Bilingual("số cuối cùng trong dãy", "the last number")
    )
    return Problem(NO_CONTEXT, question, rephrased, steps, Answer(mean), backward)


@template("MATH", backward=False)
def _remainder_of_sum(rng: random.Random, need_backward: bool) -> Problem:
    """Remainder of 1 + 2 + ... + n modulo m: Gauss's formula, then division with remainder."""
    n, m = rng.randint(10, 60), rng.randint(3, 13)
    total = n * (n + 1) // 2
    q, r = divmod(total, m)
    question = Bilingual(
        f"Tìm số dư khi chia tổng $1 + 2 + 3 + \\dots + {n}$ cho ${m}$.",
        f"What is the remainder when $1 + 2 + 3 + \\dots + {n}$ is divided by ${m}$?",
    )
    rephrased = Bilingual(
        f"Tổng $1 + 2 + \\dots + {n}$ chia cho ${m}$ thì dư bao nhiêu?",
        f"Find the remainder when the sum of the first ${n}$ positive integers is divided by ${m}$.",
    )
    steps = [
        Bilingual(
            f"Ta có $1 + 2 + \\dots + {n} = {frac(cdot(n, n + 1), 2)} = {vi_number(total)}$.",
            f"We have $1 + 2 + \\dots + {n} = {frac(cdot(n, n + 1), 2)} = {plain_number(total)}$.",
        ),
        Bilingual(
            f"Vì ${vi_number(total)} = {m} \\cdot {q} + {r}$ nên số dư là ${boxed(str(r))}$.",
            f"Since ${plain_number(total)} = {m} \\cdot {q} + {r}$, the remainder is ${boxed(str(r))}$.",
        ),
    ]
    return Problem(NO_CONTEXT, question, rephrased, steps, Answer(Fraction(r)))


@template("MATH", backward=False)
def _system_product(rng: random.Random, need_backward: bool) -> Problem:
    """A 2x2 linear system by adding and subtracting equations, then the product xy (often negative)."""
    while True:
        x0, y0 = rng.randint(-9, 12), rng.randint(-9, 12)
        if x0 != y0 and x0 and y0:
            break
    s, d = x0 + y0, x0 - y0
    question = Bilingual(
        f"Cho $x + y = {s}$ và $x - y = {d}$. Tính giá trị của $xy$.",
        f"If $x + y = {s}$ and $x - y = {d}$, what is the value of $xy$?",
    )
    rephrased = Bilingual(
        f"Hai số $x$ và $y$ có tổng bằng ${s}$ và hiệu $x - y$ bằng ${d}$. Tích $xy$ bằng bao nhiêu?",
        f"Two numbers $x$ and $y$ have sum ${s}$ and difference $x - y = {d}$. What is their product $xy$?",
    )
    product = f"{x0} \\cdot {paren_if_negative(y0)} = {boxed(str(x0 * y0))}"
    steps = [
        Bilingual(
            f"Cộng hai phương trình, ta được $2x = {s} + {paren_if_negative(d)} = {2 * x0}$, nên $x = {x0}$.",
            f"Adding the equations gives $2x = {s} + {paren_if_negative(d)} = {2 * x0}$, so $x = {x0}$.",
        ),
        Bilingual(
            f"Trừ hai phương trình, ta được $2y = {s} - {paren_if_negative(d)} = {2 * y0}$, nên $y = {y0}$.",
            f"Subtracting them gives $2y = {s} - {paren_if_negative(d)} = {2 * y0}$, so $y = {y0}$.",
        ),
        Bilingual(f"Vậy $xy = {product}$.", f"Hence $xy = {product}$."),
    ]
    return Problem(NO_CONTEXT, question, rephrased, steps, Answer(Fraction(x0 * y0)))


def _factor(n: int) -> str:
    """Prime factorisation in LaTeX: 360 -> 2^3 \\cdot 3^2 \\cdot 5."""
    parts, p = [], 2
    while n > 1:
        e = 0
        while n % p == 0:
            n //= p
            e += 1
        if e:
            parts.append(str(p) if e == 1 else f"{p}^{e}")
        p += 1
    return " \\cdot ".join(parts)


@template("MATH", backward=False)
def _lcm(rng: random.Random, need_backward: bool) -> Problem:
    """Least common multiple through prime factorisations; large answers exercise dotted thousands."""
    while True:
        a, b = rng.randint(6, 60), rng.randint(6, 60)
        if a != b and a % b and b % a:
            break
    value = lcm(a, b)
    question = Bilingual(
        f"Tìm bội chung nhỏ nhất của ${a}$ và ${b}$.",
        f"What is the least common multiple of ${a}$ and ${b}$?",
    )
    rephrased = Bilingual(
        f"Số nguyên dương nhỏ nhất chia hết cho cả ${a}$ và ${b}$ là số nào?",
        f"What is the smallest positive integer divisible by both ${a}$ and ${b}$?",
    )
    steps = [
        Bilingual(
            f"Phân tích ra thừa số nguyên tố: ${a} = {_factor(a)}$ và ${b} = {_factor(b)}$.",
            f"The prime factorisations are ${a} = {_factor(a)}$ and ${b} = {_factor(b)}$.",
        ),
        Bilingual(
            f"Bội chung nhỏ nhất là tích các thừa số nguyên tố với số mũ lớn nhất: ${_factor(value)} = "
            f"{boxed(vi_number(value))}$.",
            f"The least common multiple takes each prime to its highest power: ${_factor(value)} = "
            f"{boxed(plain_number(value))}$.",
        ),
    ]
    return Problem(NO_CONTEXT, question, rephrased, steps, Answer(Fraction(value)))


def _terms(terms: Sequence[tuple[int, str]], dot: bool) -> str:
    """A signed sum of coefficient*body terms in LaTeX, skipping zero coefficients.

    With `dot`, coefficients multiply with \\cdot (a substituted expression: 2 \\cdot (-3)^2); without,
    they are juxtaposed (a polynomial: 2x^2).
    """
    out = ""
    for coef, body in terms:
        if coef == 0:
            continue
        mag = abs(coef)
        if not body:
            text = str(mag)
        elif mag == 1:
            text = body
        else:
            text = f"{mag} \\cdot {body}" if dot else f"{mag}{body}"
        if not out:
            out = ("-" if coef < 0 else "") + text
        else:
            out += (" - " if coef < 0 else " + ") + text
    return out


@template("MATH")
def _function_value(rng: random.Random, need_backward: bool) -> Problem:
    """Evaluate a quadratic at a (possibly negative) integer: f(k) with careful signs."""
    a, b, c = _nonzero(rng, -3, 4), rng.randint(-6, 6), _nonzero(rng, -9, 9)
    k = _nonzero(rng, -4, 5)
    poly = _terms([(a, "x^2"), (b, "x"), (c, "")], dot=False)
    vals = [a * k * k] + ([b * k] if b else [])
    s = sum(vals)
    value = s + c
    sub = _terms([(a, f"{paren_if_negative(k)}^2"), (b, paren_if_negative(k))], dot=True)
    question = Bilingual(
        f"Cho $f(x) = {poly}$. Tính $f({k})$.", f"If $f(x) = {poly}$, what is the value of $f({k})$?"
    )
    rephrased = Bilingual(
        f"Với $f(x) = {poly}$, giá trị của $f({k})$ bằng bao nhiêu?",
        f"Evaluate $f({k})$ for $f(x) = {poly}$.",
    )
    full = _terms([(a, f"{paren_if_negative(k)}^2"), (b, paren_if_negative(k)), (c, "")], dot=True)
    steps = [
        Bilingual(
            f"Thay $x = {k}$ vào, ta được $f({k}) = {full} = {signed(vals + [c])} = {boxed(str(value))}$.",
            f"Substituting $x = {k}$ gives $f({k}) = {full} = {signed(vals + [c])} = {boxed(str(value))}$.",
        )
    ]
    xpoly = _terms([(a, "x^2"), (b, "x")], dot=False) + " + X"
    xq = Bilingual(
        f"Cho $f(x) = {xpoly}$. Tính $f({k})$.", f"If $f(x) = {xpoly}$, what is the value of $f({k})$?"
    )
    xsteps = [
        Bilingual(
            f"Thay $x = {k}$ vào, ta được $f({k}) = {sub} + X = {s} + X$.",
            f"Substituting $x = {k}$ gives $f({k}) = {sub} + X = {s} + X$.",
        ),
        Bilingual(
            f"Ta biết $f({k}) = {value}$, nên ${s} + X = {value}$, suy ra $X = {value} - "
            f"{paren_if_negative(s)} = {c}$.",
            f"We know $f({k}) = {value}$, so ${s} + X = {value}$, which gives $X = {value} - "
            f"{paren_if_negative(s)} = {c}$.",
        ),
    ]
    backward = math_backward(
        xq, Answer(Fraction(value)), xsteps, c, Bilingual("hằng số của hàm số", "the constant term of $f$")
    )
    return Problem(NO_CONTEXT, question, rephrased, steps, Answer(Fraction(value)), backward)


@template("MATH")
def _decimal_arithmetic(rng: random.Random, need_backward: bool) -> Problem:
    """Decimal multiplication then addition or subtraction; answers are decimals, sometimes negative."""
    u = Fraction(rng.choice([v for v in range(2, 100) if v % 10]), 10)
    v = Fraction(rng.choice([v for v in range(11, 60) if v % 10]), 10)
    w = Fraction(rng.choice([v for v in range(5, 996) if v % 10]), 100)
    plus = rng.random() < 0.5
    op = "+" if plus else "-"
    prod = u * v
    value = prod + w if plus else prod - w
    expr_vi, expr_en = (
        f"{vi_number(u)} \\times {vi_number(v)} {op} {vi_number(w)}",
        f"{plain_number(u)} \\times {plain_number(v)} {op} {plain_number(w)}",
    )
    question = Bilingual(f"Tính ${expr_vi}$.", f"Compute ${expr_en}$.")
    rephrased = Bilingual(
        f"Giá trị của biểu thức ${expr_vi}$ là bao nhiêu?", f"What is the value of ${expr_en}$?"
    )
    steps = [
        Bilingual(
            f"Thực hiện phép nhân trước: ${vi_number(u)} \\times {vi_number(v)} = {vi_number(prod)}$.",
            f"Multiply first: ${plain_number(u)} \\times {plain_number(v)} = {plain_number(prod)}$.",
        ),
        Bilingual(
            f"Sau đó ${vi_number(prod)} {op} {vi_number(w)} = {boxed(vi_number(value))}$.",
            f"Then ${plain_number(prod)} {op} {plain_number(w)} = {boxed(plain_number(value))}$.",
        ),
    ]
    xq = Bilingual(
        f"Tính ${vi_number(u)} \\times {vi_number(v)} {op} X$.",
        f"Compute ${plain_number(u)} \\times {plain_number(v)} {op} X$.",
    )
    if plus:
        solve = Bilingual(
            f"Vì ${vi_number(prod)} + X = {vi_number(value)}$ nên $X = {vi_number(value)} - "
            f"{vi_number(prod)} = {vi_number(w)}$.",
            f"Since ${plain_number(prod)} + X = {plain_number(value)}$, $X = {plain_number(value)} - "
            f"{plain_number(prod)} = {plain_number(w)}$.",
        )
    else:
        neg_vi = f"({vi_number(value)})" if value < 0 else vi_number(value)
        neg_en = f"({plain_number(value)})" if value < 0 else plain_number(value)
        solve = Bilingual(
            f"Vì ${vi_number(prod)} - X = {vi_number(value)}$ nên $X = {vi_number(prod)} - {neg_vi} = "
            f"{vi_number(w)}$.",
            f"Since ${plain_number(prod)} - X = {plain_number(value)}$, $X = {plain_number(prod)} - {neg_en} "
            f"= {plain_number(w)}$.",
        )
    xsteps = [
        Bilingual(
            f"Ta có ${vi_number(u)} \\times {vi_number(v)} = {vi_number(prod)}$.",
            f"We have ${plain_number(u)} \\times {plain_number(v)} = {plain_number(prod)}$.",
        ),
        solve,
    ]
    backward = math_backward(
        xq,
        Answer(value),
        xsteps,
        w,
        Bilingual("số hạng chưa biết của biểu thức", "the unknown term of the expression"),
    )
    return Problem(NO_CONTEXT, question, rephrased, steps, Answer(value), backward)


@template("MATH")
def _probability(rng: random.Random, need_backward: bool) -> Problem:
    """Probability of drawing a red marble: favourable over total, reduced to a common fraction."""
    r, b = rng.randint(2, 12), rng.randint(2, 15)
    t = r + b
    value = Fraction(r, t)
    answer = Answer(value, as_fraction=True)

    def bag(blue: str) -> Bilingual:
        return Bilingual(
            f"Một chiếc túi có {r} viên bi đỏ và {blue} viên bi xanh. Lấy ngẫu nhiên một viên bi từ "
            f"túi. Xác suất "
            "lấy được viên bi đỏ là bao nhiêu? Viết kết quả dưới dạng phân số tối giản.",
            f"A bag contains {r} red marbles and {blue} blue marbles. One marble is drawn at random. What is "
            "the probability that it is red? Express your answer as a common fraction.",
        )

    rephrased = Bilingual(
        f"Nếu lấy ngẫu nhiên một viên bi từ chiếc túi đựng {r} bi đỏ và {b} bi xanh, thì xác suất lấy được "
        "bi đỏ bằng bao nhiêu (dưới dạng phân số tối giản)?",
        f"If one marble is picked at random from a bag holding {r} red and {b} blue marbles, what is the "
        "probability of picking a red one, as a common fraction?",
    )
    chance = f"{frac(r, t)} = {boxed(tex_frac(value))}" if gcd(r, t) > 1 else boxed(frac(r, t))
    steps = [
        Bilingual(
            f"Tổng số viên bi trong túi là ${r} + {b} = {t}$.", f"The bag holds ${r} + {b} = {t}$ marbles."
        ),
        Bilingual(
            f"Có ${r}$ viên bi đỏ, nên xác suất lấy được bi đỏ là ${chance}$.",
            f"${r}$ of them are red, so the probability is ${chance}$.",
        ),
    ]
    xsteps = [
        Bilingual(f"Tổng số viên bi trong túi là ${r} + X$.", f"The bag holds ${r} + X$ marbles."),
        Bilingual(
            f"Xác suất lấy được bi đỏ là ${frac(r, f'{r} + X')}$.",
            f"The probability of drawing red is ${frac(r, f'{r} + X')}$.",
        ),
        Bilingual(
            f"Ta có ${frac(r, f'{r} + X')} = {tex_frac(value)}$, nên ${r} + X = "
            f"{frac(cdot(r, value.denominator), value.numerator)} = {t}$.",
            f"We have ${frac(r, f'{r} + X')} = {tex_frac(value)}$, so ${r} + X = "
            f"{frac(cdot(r, value.denominator), value.numerator)} = {t}$.",
        ),
        Bilingual(f"Do đó $X = {t} - {r} = {b}$.", f"Therefore, $X = {t} - {r} = {b}$."),
    ]
    backward = math_backward(
        bag("X"), answer, xsteps, b, Bilingual("số viên bi xanh", "the number of blue marbles")
    )
    return Problem(NO_CONTEXT, bag(str(b)), rephrased, steps, answer, backward)


# --------------------------------------------------------------------------------------------------
# One-step rows: a single addition or subtraction of small numbers, the part of the sample a tiny model
# can learn to solve in minutes (the offline demo's held-out accuracy). They are not registered in
# TEMPLATES: they are drawn by `one_step_rows` from their own random stream, so adding them leaves the
# template rows as they were.
# --------------------------------------------------------------------------------------------------

THINGS = (
    # classifier, noun, English plural
    ("quả", "táo", "apples"),
    ("cái", "kẹo", "candies"),
    ("quyển", "vở", "notebooks"),
    ("bông", "hoa", "flowers"),
    ("con", "cá", "fish"),
    ("viên", "bi", "marbles"),
    ("cây", "bút chì", "pencils"),
    ("chiếc", "bánh", "cakes"),
)
GIVERS = (("Mẹ", "Mom"), ("Bố", "Dad"), ("Bà", "Grandma"), ("Cô giáo", "The teacher"))


def _small_fact(rng: random.Random) -> tuple[int, int, int]:
    """An addition fact x + y = z with x and y from 1 to 9 (every number a single token for the tiny
    model's tokenizer)."""
    x, y = rng.randint(1, 9), rng.randint(1, 9)
    return x, y, x + y


def _one_step_gsm(rng: random.Random, need_backward: bool) -> Problem:
    """A grade-one word problem: someone gets more things (addition) or gives some away (subtraction)."""
    p = person(rng)
    clf, noun, things = rng.choice(THINGS)
    x, y, z = _small_fact(rng)
    if rng.random() < 0.5:  # a + b = c: x things, then y more
        giver, giver_en = rng.choice(GIVERS)

        def facts(start: str) -> Bilingual:
            return Bilingual(
                f"{p.name} có {start} {clf} {noun}. {giver} cho {p.name} thêm {y} {clf} {noun}.",
                f"{p.name} has {start} {things}. {giver_en} gives {p.name} {y} more.",
            )

        ask = Bilingual(
            f"Hỏi {p.name} có tất cả bao nhiêu {clf} {noun}?", f"How many {things} does {p.name} have now?"
        )
        rephrased = Bilingual(
            f"{p.name} có {x} {clf} {noun} và được cho thêm {y} {clf} nữa. "
            f"{p.name} có bao nhiêu {clf} {noun}?",
            f"{p.name} has {x} {things} and is given {y} more. How many {things} does {p.name} have?",
        )
        steps = [
            Bilingual(f"{p.name} có {x} + {y} = {z} {clf} {noun}.", f"{p.name} has {x} + {y} = {z} {things}.")
        ]
        xsteps = [
            Bilingual(
                f"Ta có x + {y} = {z}, nên x = {z} - {y} = {x}.", f"x + {y} = {z}, so x = {z} - {y} = {x}."
            )
        ]
        start, result, value = x, z, x
    else:  # a - b = c: z things, y given away
        friend = person(rng)

        def facts(start: str) -> Bilingual:
            return Bilingual(
                f"{p.name} có {start} {clf} {noun}. {p.name} cho {friend.name} {y} {clf} {noun}.",
                f"{p.name} has {start} {things}. {p.He} gives {friend.name} {y} of them.",
            )

        ask = Bilingual(
            f"Hỏi {p.name} còn lại bao nhiêu {clf} {noun}?", f"How many {things} does {p.name} have left?"
        )
        rephrased = Bilingual(
            f"{p.name} có {z} {clf} {noun} và cho đi {y} {clf}. {p.name} còn bao nhiêu {clf} {noun}?",
            f"{p.name} has {z} {things} and gives away {y}. How many {things} are left?",
        )
        steps = [
            Bilingual(
                f"{p.name} còn lại {z} - {y} = {x} {clf} {noun}.",
                f"{p.name} has {z} - {y} = {x} {things} left.",
            )
        ]
        xsteps = [
            Bilingual(
                f"Ta có x - {y} = {x}, nên x = {x} + {y} = {z}.", f"x - {y} = {x}, so x = {x} + {y} = {z}."
            )
        ]
        start, result, value = z, x, z
    claim = Bilingual(f"Sau đó {p.name} có {result} {clf} {noun}.", f"Then {p.name} has {result} {things}.")
    backward = gsm_backward(
        facts("x"),
        ask,
        claim,
        Bilingual(f"số {clf} {noun} lúc đầu của {p.name}", f"the number of {things} {p.name} had at first"),
        xsteps,
        value,
    )
    return Problem(facts(str(start)), ask, rephrased, steps, Answer(Fraction(result)), backward)


def _one_step_math(rng: random.Random, need_backward: bool) -> Problem:
    """Compute a sum or a difference of two small numbers, in LaTeX."""
    x, y, z = _small_fact(rng)
    a, sign, b, result = (x, "+", y, z) if rng.random() < 0.5 else (z, "-", y, x)
    undo = "-" if sign == "+" else "+"
    question = Bilingual(f"Tính ${a} {sign} {b}$.", f"Compute ${a} {sign} {b}$.")
    rephrased = Bilingual(
        f"Giá trị của ${a} {sign} {b}$ là bao nhiêu?", f"What is the value of ${a} {sign} {b}$?"
    )
    steps = [
        Bilingual(f"${a} {sign} {b} = {boxed(str(result))}$.", f"${a} {sign} {b} = {boxed(str(result))}$.")
    ]
    xsteps = [
        Bilingual(
            f"Ta có $X {sign} {b} = {result}$, nên $X = {result} {undo} {b} = {a}$.",
            f"$X {sign} {b} = {result}$, so $X = {result} {undo} {b} = {a}$.",
        )
    ]
    xquestion = Bilingual(f"Tính $X {sign} {b}$.", f"Compute $X {sign} {b}$.")
    backward = math_backward(xquestion, Answer(Fraction(result)), xsteps, a)
    return Problem(NO_CONTEXT, question, rephrased, steps, Answer(Fraction(result)), backward)


# --------------------------------------------------------------------------------------------------
# Assembling rows.
# --------------------------------------------------------------------------------------------------


def _schedule(n: int, shares: Sequence[int], rng: random.Random) -> list[int]:
    """Indices 0..len(shares)-1 in proportion to `shares` (percent), shuffled; rounding goes to the first."""
    counts = [n * s // 100 for s in shares]
    counts[0] += n - sum(counts)
    order = [i for i, c in enumerate(counts) for _ in range(c)]
    rng.shuffle(order)
    return order


def _types(n: int, rng: random.Random) -> list[str]:
    """Row types: 70% GSM, 30% MATH, each family spread evenly over the four kinds, shuffled."""
    gsm = round(n * 0.7)
    types = [f"GSM_{KINDS[i % 4]}" for i in range(gsm)] + [f"MATH_{KINDS[i % 4]}" for i in range(n - gsm)]
    rng.shuffle(types)
    return types


class _Rotation:
    """Cycles through the templates of one (family, needs-backward) pool in shuffled rounds.

    Why: every template appears about equally often, yet the order is not a fixed pattern.
    """

    def __init__(self, pool: list[Template], rng: random.Random) -> None:
        self.pool, self.rng = pool, rng
        self.queue: list[Template] = []

    def next(self) -> Template:
        if not self.queue:
            self.queue = list(self.pool)
            self.rng.shuffle(self.queue)
        return self.queue.pop()


def _render(problem: Problem, row_type: str) -> tuple[Bilingual, list[Bilingual], Answer]:
    """The query, the solution lines and the answer of one problem as a given MetaMathQA type."""
    family, kind = row_type.split("_")
    var = "x" if family == "GSM" else "X"
    if kind == "AnsAug":
        return join_bilingual(problem.context, problem.ask), problem.steps, problem.answer
    if kind == "Rephrased":
        return problem.rephrased, problem.steps, problem.answer
    back = problem.backward
    if back is None:
        raise ValueError(f"{row_type} needs a template with a backward version")
    answer = Answer(back.value)
    closing = Bilingual(
        f"Giá trị của {var} là {vi_number(back.value)}.", f"The value of {var} is {en_number(back.value)}."
    )
    if kind == "SV":
        query = join_bilingual(
            back.statement,
            Bilingual(
                f"Giá trị của biến chưa biết {var} là bao nhiêu?",
                f"What is the value of unknown variable {var}?",
            ),
        )
        intro = Bilingual(
            f"Để giải bài toán này, ta cần xác định giá trị của {var}, tức là {back.meaning.vi}.",
            f"To solve this problem, we need to determine the value of {var}, which represents "
            f"{back.meaning.en}.",
        )
        return query, [intro, *back.steps, closing], answer
    query = join_bilingual(
        back.question,
        Bilingual(
            f"Nếu biết đáp án của câu hỏi trên là {problem.answer.vi()}, giá trị của biến chưa biết {var} là "
            "bao nhiêu?",
            f"If we know the answer to the above question is {problem.answer.en()}, what is the value of "
            f"unknown variable {var}?",
        ),
    )
    return query, [*back.steps, closing], answer


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


SAMPLE_ROWS, ONE_STEP_ROWS, SAMPLE_SEED = 320, 160, 7
"""The bundled sample: 320 template rows and 160 one-step rows from seed 7."""
WARMSTART_ROWS, WARMSTART_ONE_STEP_ROWS, WARMSTART_SEED = 128, 640, 11
"""The tiny model's warm-start rows: the same generator with another seed (rows whose question is also
in the sample are left out, so no evaluation row was ever seen by the warm start)."""


def _endings(n: int, rng: random.Random) -> tuple[list[str], dict[int, str]]:
    """The answer phrase of each of `n` rows ("" for none) and the rows whose answer has a trailing mark."""
    endings = _schedule(n, [share for _, share in ENDINGS], rng)
    with_phrase = [i for i in range(n) if ENDINGS[endings[i]][0]]
    trailing = {
        i: (".", " ")[j % 2]
        for j, i in enumerate(sorted(rng.sample(with_phrase, max(1, n * TRAILING_SHARE // 100))))
    }
    return [ENDINGS[e][0] for e in endings], trailing


def _row(problem: Problem, row_type: str, phrase: str, trailing: str, rng: random.Random) -> dict[str, str]:
    """One row in the dataset's schema: the problem rendered as `row_type`, its Vietnamese answer phrase
    (or none), a trailing mark, and for a third of the MATH rows the translation's `\\đóng hộp{`."""
    query, steps, answer = _render(problem, row_type)
    vi_lines = [s.vi for s in steps] + ([phrase + answer.vi()] if phrase else [])
    response_vi = "\n".join(vi_lines) + trailing
    if row_type.startswith("MATH_") and rng.random() < 1 / 3:
        response_vi = response_vi.replace("\\boxed{", "\\đóng hộp{")  # the real translation's artefact
    response_en = "\n".join([s.en for s in steps] + [f"The answer is: {answer.en()}"])
    row = {
        "query_vi": query.vi,
        "response_vi": response_vi,
        "query_en": query.en,
        "response_en": response_en,
        "type": row_type,
    }
    row = {key: _nfc(row[key]) for key in KEYS}
    if len(row["query_vi"]) >= 600:
        raise AssertionError(f"query_vi too long ({len(row['query_vi'])}): {row['query_vi'][:80]}")
    return row


def template_rows(n: int, seed: int) -> list[dict[str, str]]:
    """`n` rows from the templates (multi-step GSM and MATH problems), the same for the same n and seed."""
    rng = random.Random(seed)
    types = _types(n, rng)
    phrases, trailing = _endings(n, rng)
    rotations = {
        (family, backward): _Rotation(
            [t for t in TEMPLATES if t.family == family and (t.backward or not backward)], rng
        )
        for family in ("GSM", "MATH")
        for backward in (False, True)
    }
    rows = []
    for i, row_type in enumerate(types):
        family, kind = row_type.split("_")
        problem = rotations[(family, kind in ("SV", "FOBAR"))].next().build(rng, kind in ("SV", "FOBAR"))
        rows.append(_row(problem, row_type, phrases[i], trailing.get(i, ""), rng))
    return rows


def one_step_rows(n: int, seed: int, exclude: Set[str] = frozenset()) -> list[dict[str, str]]:
    """`n` one-step rows (one addition or subtraction of numbers below 19), from their own random stream:
    70% GSM word problems, 30% MATH expressions, over the four kinds as the template rows are. Every
    question is new: one already drawn, or in `exclude`, is drawn again (the sums are few, so the same
    question comes up by chance)."""
    if n <= 0:
        return []
    rng = random.Random(f"one-step {seed}")
    types = _types(n, rng)
    phrases, trailing = _endings(n, rng)
    rows: list[dict[str, str]] = []
    seen = set(exclude)
    for i, row_type in enumerate(types):
        family, kind = row_type.split("_")
        build = _one_step_gsm if family == "GSM" else _one_step_math
        while True:
            row = _row(build(rng, kind in ("SV", "FOBAR")), row_type, phrases[i], trailing.get(i, ""), rng)
            if row["query_vi"] not in seen:
                break
        seen.add(row["query_vi"])
        rows.append(row)
    return rows


def generate_rows(
    n: int = SAMPLE_ROWS, seed: int = SAMPLE_SEED, one_step: int = ONE_STEP_ROWS
) -> list[dict[str, str]]:
    """The sample rows: `n` template problems then `one_step` one-step problems, in the dataset's schema,
    the same for the same arguments.

    Args:
        n: How many template rows.
        seed: Seeds every choice (the template rows and the one-step rows each from their own stream).
        one_step: How many one-step rows follow the template rows.

    Returns:
        Dicts with the keys query_vi, response_vi, query_en, response_en, type (all strings, NFC).
    """
    return template_rows(n, seed) + one_step_rows(one_step, seed)


def warmstart_rows(sample: Sequence[dict[str, str]] | None = None) -> list[dict[str, str]]:
    """The tiny model's warm-start rows: the generator's rows of another seed, none with a question that
    is also in `sample` (default: the bundled sample), so the warm start never sees a row that a run
    trains on or holds out."""
    taken = {row["query_vi"] for row in (sample if sample is not None else generate_rows())}
    rows = [row for row in template_rows(WARMSTART_ROWS, WARMSTART_SEED) if row["query_vi"] not in taken]
    return rows + one_step_rows(WARMSTART_ONE_STEP_ROWS, WARMSTART_SEED, exclude=taken)


def dumps(rows: Sequence[dict[str, str]]) -> str:
    """The JSON-lines text of `rows`, exactly as the shipped file holds it."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main() -> None:
    """Regenerate `workbench/sample_data/vi_math_sample.jsonl` and `vi_math_warmstart.jsonl` in this
    checkout."""
    rows = generate_rows()
    OUTPUT.write_text(dumps(rows), encoding="utf-8", newline="\n")
    print(f"wrote {len(rows)} rows to {OUTPUT}")
    warm = warmstart_rows(rows)
    WARMSTART_OUTPUT.write_text(dumps(warm), encoding="utf-8", newline="\n")
    print(f"wrote {len(warm)} rows to {WARMSTART_OUTPUT}")


if __name__ == "__main__":
    main()
