"""Every answer form, one reading: gold answers and completions go through the same code.

MetaMathQA states its answers in many forms (GSM_*: integers, decimals, money, thousands; MATH_*: LaTeX
fractions, mixed numbers, roots, pi, intervals, tuples, lists, percents, degrees, units, scientific
notation, plus-minus), and a model answers in any of them, in Vietnamese or English number conventions.
`read_answer` turns a written answer into an `Answer`: its canonical text, the LaTeX math-verify reads,
the forms it uses (`FORMS`) and, when it is made of numbers, their exact values. `extract_answer`
(the gold side), the rewards `check_answer`, `check_numbers` and `correctness`, and the evaluation's
accuracy (the completion side) all read answers here and nowhere else, so `9{,}500` is 9500 and `-2, 3`
is a list of two values on both sides.

Conventions. Vietnamese writes 2,5 and 1.200, English 2.5 and 1,200; a comma followed by a space, a
semicolon, "và"/"and"/"hoặc"/"or" separate values, and so does an English comma that does not group three
digits ("1,5" on the English side is 1 and 5). A number that reads two ways ("1,200" in Vietnamese) is
settled by a hint from the other side (the English response for the gold, the gold for a completion),
else read in its own text's convention. Gold answers are stored canonical (English convention, numbers
without grouping) and read back in the English convention.

Bounds. An answer longer than `MAX_ANSWER_CHARS`, a number with more than `MAX_DIGITS` digits and a power
of ten beyond `MAX_EXPONENT` are never evaluated here: every function in this module is linear in its
input and evaluates no arithmetic beyond exact fractions of bounded size.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from workbench.numbers import Lang, numbers_in, readings, settle

MAX_ANSWER_CHARS = 400
"""A longer answer is not read (it is an essay, not an answer; math-verify alone may spend seconds on
one): it matches nothing."""
MAX_DIGITS = 100
"""A number with more digits is not read as a number."""
MAX_EXPONENT = 100
"""Scientific notation beyond 10^±this is not read as a number."""
MAX_ELEMENTS = 64
"""Lists, tuples and matrices with more values are not read as values."""
SCAN_CHARS = 4000
"""check_numbers looks for numbers in the first this many characters of a solution."""

Value = Fraction | float
"""An exact value; float only for the ends of intervals (±infinity)."""

FORMS: dict[str, tuple[str, str]] = {
    "integer": ("`18`, `+5`", "the integer"),
    "negative": ("`-7`, `−7`, `- 7`", "a sign before any number form"),
    "decimal": ("`2.5` (en), `2,5` (vi), `0,125`", "decimal point: `.` in English, `,` in Vietnamese"),
    "thousands": (
        "`1,200` (en), `1.200` (vi), `1 200`, `9{,}500`, `1,\\!200`, `1\\,200`",
        "grouping marks dropped: 1200 (a Vietnamese `1,200` is settled by the other side, else 1.2)",
    ),
    "money": ("`\\$12.50`, `$12`, `12 đô la`, `15.000 đồng`", "the amount: 12.5"),
    "percent": ("`25\\%`, `25%`, `25 phần trăm`", "25 (also matches 0.25, as math-verify does)"),
    "degrees": ("`45^\\circ`, `45^{\\circ}`, `45°`, `45 độ`", "45"),
    "units": ("`5 \\text{ cm}`, `5\\mbox{ cm}`, `18 quả`, `60 km/h`", "the number; unit words dropped"),
    "scientific": ("`1.5 \\times 10^{3}`, `1.5\\cdot10^3`, `1.5e3`", "the exact value: 1500"),
    "fraction": (
        "`\\frac{3}{4}`, `\\dfrac{3}{4}`, `\\tfrac34`, `\\frac{3}4`, `3/4`, `\\frac{-3}{4}`",
        "the exact fraction (`\\frac{6}{8}` equals `\\frac{3}{4}` and `0.75`)",
    ),
    "mixed number": ("`2\\frac{1}{2}`, `2 \\tfrac12`, `-1\\frac{3}{4}`", "whole plus fraction: 5/2"),
    "square root": ("`2\\sqrt{3}`, `\\sqrt3`, `\\frac{\\sqrt{3}}{2}`", "symbolic: math-verify decides"),
    "pi": ("`2\\pi`, `\\frac{\\pi}{2}`, `π`", "symbolic: math-verify decides"),
    "plus-minus": ("`\\pm 3`, `±3`, `1 \\pm 2`", "the set of both values: {3, -3}"),
    "interval": (
        "`(-\\infty, 3]`, `[2, 5)`, `(-\\infty,-2)\\cup(3,\\infty)`",
        "ends in order, brackets must agree",
    ),
    "tuple": ("`(3, -4)`, `(1,2,3)`, `\\left(3, \\frac{1}{2}\\right)`", "values in order"),
    "list": ("`-2, 3`, `1331, 1728`, `2 và 3`, `1; 5`", "values in any order"),
    "matrix": ("`\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}`", "entries in order, same shape"),
    "assignment": ("`x = 5`, `x=2, y=3`", "the right-hand side"),
    "expression": ("`x^2+2x+1`, `5^{10}`", "symbolic: math-verify decides"),
    "text": ("`\\text{odd}`, `(C)`, `Devon`", "the words, ignoring case and spaces"),
    "too long": (f"over {MAX_ANSWER_CHARS} characters", "not read: matches nothing"),
}
"""Every answer form: examples as written, and how it is read (the README's table)."""

_NUMERIC_SHAPES = ("number", "set", "tuple", "matrix")
_LABEL = re.compile(
    r"^(?:đáp số|đáp án|kết quả|câu trả lời|the answer is|answer|final answer)(?!\w)\s*(?:là)?\s*:?\s*",
    re.IGNORECASE,
)
_UNICODE = {
    "\u2212": "-",
    "×": r"\times ",
    "·": r"\cdot ",
    "±": r"\pm ",
    "∓": r"\mp ",
    "∞": r"\infty ",
    "∪": r"\cup ",
    "π": r"\pi ",
    "\u00a0": " ",
    "\u202f": " ",
    "\u2009": " ",
    "，": ",",
}
_TRAILING = " \t\n.;:!?。,"
_SUBS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"√\s*(\d+(?:\.\d+)?|[A-Za-z])", r"\\sqrt{\1}"),  # √18 is the root of 18 (\\sqrt 18 is not)
        (r"√", r"\\sqrt "),
        (r"\\(?:left|right|[bB]igg?[lr]?)\s*(?=[()\[\]|.]|\\[{}]|\\langle|\\rangle)", ""),
        (r"\\(?:displaystyle|textstyle|limits)\b", ""),
        (
            r"\\(?:text|textbf|textit|textrm|textnormal|mbox|mathrm|mathbf|mathit|operatorname)\s*\{([^{}]*)\}",
            r" \1 ",
        ),
        (r"(?<=\d)\{,\}(?=\d{3}(?!\d))", "\x00"),  # LaTeX thousands: 9{,}500 (marked, then dropped)
        (r"(?<=\d)\{,\}(?=\d)", "."),  # a LaTeX decimal comma: 2{,}5
        (r"(?<=\d),\\!(?=\d{3}(?!\d))", "\x00"),  # 1,\!200
        (r"(?<=\d)(?:\\[,;:! ]|~)(?=\d{3}(?!\d))", "\x00"),  # 1\,200
        (r"(?<!\\)\\!", ""),
        (r"(?<!\\)\\[,;: ]|~|\\q?quad\b", " "),
        (r"\\[dtc]frac(?![A-Za-z])", r"\\frac"),
        (r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}"),
        (r"\\frac\s*(\{[^{}]*\})\s*(\d)", r"\\frac\1{\2}"),
        (r"\\frac\s*(\d)\s*\{", r"\\frac{\1}{"),
        (r"\\sqrt\s*(\d)", r"\\sqrt{\1}"),
        (r"\\%", "%"),
        (r"\\\$", "$"),
        (r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ\b|\\circ\b|\\degree\b", "°"),
        (r"\s+", " "),
    )
)
_SPLIT_SEPARATORS = re.compile(r"\s*;\s*|\s*,\s+|\s+(?:và|and|hoặc|or)\s+", re.IGNORECASE)
_PLAIN = re.compile(r"\d[\d.,]*")
_SPACED = re.compile(r"\d{1,3}(?: \d{3})+(?:[.,]\d+)?")
_CURRENCY = re.compile(r"^(?:US\$|\$|USD|€|£|¥|₫|VNĐ|VND)\s*", re.IGNORECASE)
_MONEY_WORDS = {"đô", "đô la", "đồng", "dollar", "dollars", "usd", "vnd", "vnđ", "cent", "cents", "xu"}
_PERCENT_WORDS = {"phần trăm", "percent", "per cent"}
_DEGREE_WORDS = {"độ", "degree", "degrees"}
_UNIT = re.compile(
    r"^(?P<number>.{0,60}?[\d}%°])\s+"
    r"(?P<unit>[^\W\d_][\w/²³.\-]*(?:\s+[^\W\d_][\w/²³.\-]*){0,3})(?:\s*\^\s*\{?\d\}?)?$"
)
_SCI = re.compile(
    r"^(?P<mantissa>\d[\d.,]*)\s*(?:\\times|\\cdot|\*)\s*10\s*\^\s*(?:\{\s*(?P<braced>[+-]?\d{1,4})\s*\}|(?P<bare>\d))$"
    r"|^(?P<mantissa2>\d[\d.]*)[eE](?P<e>[+-]?\d{1,4})$"
)
_FRAC = re.compile(r"^\\frac\{(?P<p>[^{}]+)\}\{(?P<q>[^{}]+)\}$")
_MIXED = re.compile(r"^(?P<whole>\d+)\s*\\frac\{(?P<p>\d+)\}\{(?P<q>\d+)\}$")
_SLASH = re.compile(r"^(?P<p>[+-]?\d[\d.,]*)\s*/\s*(?P<q>[+-]?\d[\d.,]*)$")
_ASSIGN = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(?P<rhs>[^=]+)$")
_WORDS = re.compile(r"[^\W\d_]+(?:[\s'\-][^\W\d_]+)*")
_PM = re.compile(r"\\pm(?![A-Za-z])")
_MATRIX = re.compile(r"^\\begin\{(?P<env>[pbvBV]?matrix)\}(?P<body>.*)\\end\{(?P=env)\}$", re.DOTALL)
_SCAN = re.compile(
    r"\d+\s*\\frac\{\d+\}\{\d+\}"
    r"|\\frac\{[^{}]{1,40}\}\{[^{}]{1,40}\}"
    r"|[-+]?\d+(?:[.,\x00]\d+)*(?:\s*(?:\\times|\\cdot)\s*10\^(?:\{[-+]?\d{1,4}\}|\d))?%?"
)


@dataclass(frozen=True)
class Element:
    """One value of an answer: a number, an interval end, or a symbolic piece."""

    text: str
    """Canonical text: numbers in English convention without grouping, `\\frac{p}{q}`, `25\\%`."""
    latex: str
    """What math-verify reads for it."""
    values: tuple[Value, ...] = ()
    """The value, then any other value it also stands for (a percent: p and p/100); () when symbolic."""


@dataclass(frozen=True)
class Answer:
    """A written answer, read."""

    text: str
    """The canonical text (what `extract_answer` stores as the gold answer)."""
    latex: str
    """What math-verify reads (numbers as their exact values)."""
    shape: str
    """number, set (a list or ±), tuple, interval <brackets>, matrix <r>x<c>, expression, text, too long,
    empty."""
    elements: tuple[Element, ...]
    forms: tuple[str, ...]
    """The forms it uses (keys of FORMS), in FORMS order."""
    certain: bool = True
    """False when a number read two ways and no hint settled it."""

    @property
    def numeric(self) -> bool:
        """Made only of numbers (interval ends may be infinite)."""
        numeric_shape = self.shape in _NUMERIC_SHAPES or self.shape.startswith(("interval", "matrix"))
        return numeric_shape and bool(self.elements) and all(e.values for e in self.elements)

    @property
    def key(self) -> str:
        """The canonical text without case or spaces: equal keys are the same answer."""
        return re.sub(r"\s+", "", self.text).casefold()

    @property
    def values(self) -> set[Value]:
        """Every value it holds (a hint for reading the other side)."""
        return {v for e in self.elements for v in e.values}


# --------------------------------------------------------------------------- cleaning


def _matching_brace(text: str, start: int) -> int:
    """Index of the brace closing the one at `start`, or -1."""
    depth = 0
    for index in range(start, len(text)):
        char = text[index]
        if char == "{" and (index == 0 or text[index - 1] != "\\"):
            depth += 1
        elif char == "}" and (index == 0 or text[index - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return index
    return -1


def _unwrap(text: str) -> str:
    """Strip trailing punctuation, `$...$`, `\\(...\\)`, `\\[...\\]`, `\\boxed{...}` and answer labels."""
    for _ in range(8):
        before = text
        text = _LABEL.sub("", text.strip().rstrip(_TRAILING).strip())
        if len(text) > 4 and text.startswith("$$") and text.endswith("$$"):
            text = text[2:-2]
        elif len(text) > 1 and text[0] == "$" and text[-1] == "$" and "$" not in text[1:-1]:
            text = text[1:-1]
        elif text.startswith(("\\(", "\\[")) and text.endswith(("\\)", "\\]")):
            text = text[2:-2]
        else:
            boxed = re.match(r"\\(?:boxed|fbox)\s*\{", text)
            if boxed and _matching_brace(text, boxed.end() - 1) == len(text) - 1:
                text = text[boxed.end() : -1]
        if text == before:
            break
    return text.strip()


def clean(text: str) -> str:
    """An answer's text with wrappers, LaTeX spacing and grouping removed and spellings unified
    (`\\dfrac` -> `\\frac`, `\\frac34` -> `\\frac{3}{4}`, `9{,}500` -> `9500`, `^\\circ` -> `°`)."""
    text = unicodedata.normalize("NFC", text)
    for bad, good in _UNICODE.items():
        text = text.replace(bad, good)
    text = _unwrap(text)
    for pattern, replacement in _SUBS:
        text = pattern.sub(replacement, text)
    return _unwrap(text)


# --------------------------------------------------------------------------- numbers


def fraction_text(value: Fraction) -> str:
    """A value in canonical text: a decimal when it terminates ("9500", "-2.5"), else `\\frac{p}{q}`."""
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    den = magnitude.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return f"{sign}\\frac{{{magnitude.numerator}}}{{{magnitude.denominator}}}"
    places = max(twos, fives)
    scaled = magnitude.numerator * (10**places // magnitude.denominator)
    whole, frac = divmod(scaled, 10**places)
    text = str(whole) + (f".{frac:0{places}d}".rstrip("0") if places else "")
    return "0" if text == "0" else sign + text


def _plain(token: str, lang: Lang, hint: set[Value] | None, forms: set[str]) -> tuple[Fraction, bool] | None:
    """A signed plain number ("1.200", "2,5", "1 200", "-7"): its value and certainty, or None."""
    token = token.strip()
    sign = -1 if token.startswith("-") else 1
    body = token.lstrip("+-").strip()
    if _SPACED.fullmatch(body) or "\x00" in body:
        body = body.replace(" ", "").replace("\x00", "")  # 1 200, and 9{,}500 as clean() marks it
        forms.add("thousands")
    if not _PLAIN.fullmatch(body) or sum(c.isdigit() for c in body) > MAX_DIGITS:
        return None
    found = readings(body, lang)
    if not found:
        return None
    known = {h for h in hint if isinstance(h, Fraction)} if hint else None
    value, certain = settle([sign * Fraction(Decimal(r)) for r in found], body, lang, known)
    marks = body.count(",") + body.count(".")
    if marks and abs(value) == int(body.replace(",", "").replace(".", "")):
        forms.add("thousands")  # every mark grouped digits: 1.200 (vi), 1,200 (en)
    elif marks:
        forms.add("decimal")
        if marks > 1:
            forms.add("thousands")  # 1.200,5 / 1,200.5
    elif value.denominator == 1 and not forms:
        forms.add("integer")
    return value, certain


def _strip_units(text: str, forms: set[str]) -> str:
    """Drop a trailing unit, currency, percent or degree word, recording the form."""
    if re.search(r"°\s*[CF]$", text):
        forms.add("degrees")
        return text[: text.rindex("°")].strip()
    match = _UNIT.match(text)
    if match is None:
        return text
    unit = match.group("unit").casefold().rstrip(".")
    if unit in _MONEY_WORDS:
        forms.add("money")
    elif unit in _PERCENT_WORDS:
        forms.add("percent")
        return match.group("number").strip() + "%"
    elif unit in _DEGREE_WORDS:
        forms.add("degrees")
    else:
        forms.add("units")
    return match.group("number").strip()


def _number(text: str, lang: Lang, hint: set[Value] | None) -> tuple[Element, set[str], bool] | None:
    """One number in any of its forms: (element, forms, certain), or None when `text` is no number."""
    forms: set[str] = set()
    text = _strip_units(text.strip(), forms)
    percent = text.endswith("%")
    if percent:
        forms.add("percent")
        text = text[:-1].strip()
    if text.endswith("°"):
        forms.add("degrees")
        text = text[:-1].strip()
    sign = 1
    for _ in range(2):  # "-$5", "$-5", "- 5"
        if text.startswith(("-", "+")):
            sign = -sign if text[0] == "-" else sign
            text = text[1:].strip()
        if _CURRENCY.match(text):
            forms.add("money")
            text = _CURRENCY.sub("", text, count=1).strip()
    if not text or not (text[0].isdigit() or text.startswith("\\frac")):
        return None
    certain = True
    written: str | None = None
    value: Fraction
    if sci := _SCI.match(text):
        mantissa = sci.group("mantissa") or sci.group("mantissa2")
        exponent = int(sci.group("braced") or sci.group("bare") or sci.group("e"))
        read = _plain(mantissa, lang, None, set())
        if read is None or abs(exponent) > MAX_EXPONENT:
            return None
        value = read[0] * Fraction(10) ** exponent
        forms.add("scientific")
    elif mixed := _MIXED.match(text):
        if max(len(mixed.group(g)) for g in ("whole", "p", "q")) > MAX_DIGITS:
            return None
        whole, part, of = (int(mixed.group(g)) for g in ("whole", "p", "q"))
        if of == 0 or part >= of:
            return None
        value = whole + Fraction(part, of)
        written = f"{whole}\\frac{{{part}}}{{{of}}}"
        forms.add("mixed number")
    elif frac := _FRAC.match(text) or _SLASH.match(text):
        top, bottom = (_plain(frac.group(g), lang, None, set()) for g in ("p", "q"))
        if top is None or bottom is None or bottom[0] == 0:
            return None
        if (top[0] < 0) != (bottom[0] < 0):
            sign = -sign
        value = abs(top[0]) / abs(bottom[0])
        written = f"\\frac{{{fraction_text(abs(top[0]))}}}{{{fraction_text(abs(bottom[0]))}}}"
        forms.add("fraction")
    else:
        # The sign is already off the text: a hint settles the magnitude.
        magnitudes: set[Value] | None = {abs(h) for h in hint if isinstance(h, Fraction)} if hint else None
        read = _plain(text, lang, magnitudes, forms)
        if read is None:
            return None
        value, certain = read
    value *= sign
    if value < 0:
        forms.add("negative")
    body = written if written is not None else fraction_text(abs(value))
    text_form = ("-" if value < 0 else "") + body + ("\\%" if percent else "")
    latex = fraction_text(value) + ("\\%" if percent else "")
    values: tuple[Value, ...] = (value, value / 100) if percent else (value,)
    return Element(text_form, latex, values), forms, certain


# --------------------------------------------------------------------------- structure


def _split_top(text: str, separators: re.Pattern[str]) -> list[str]:
    """Split at `separators` outside (), [], {} (brackets of either kind count, as intervals mix them)."""
    parts: list[str] = []
    depth, start, index = 0, 0, 0
    while index < len(text):
        char = text[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0:
            match = separators.match(text, index)
            if match and match.end() > index:
                parts.append(text[start:index])
                start = index = match.end()
                continue
        index += 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _is_number(text: str, lang: Lang) -> bool:
    assign = _ASSIGN.match(text)
    return _number(assign.group("rhs") if assign else text, lang, None) is not None


def _split_list(text: str, lang: Lang) -> list[str]:
    """The values of a list written with separators; a comma without a space separates values unless it
    belongs to a number of the text's convention (2,5 in Vietnamese; 1,200 in English)."""
    pieces = []
    for piece in _split_top(text, _SPLIT_SEPARATORS):
        if "," in piece and not _is_number(piece, lang):
            pieces += _split_top(piece, re.compile(r"\s*,\s*"))
        else:
            pieces.append(piece)
    return pieces


def _split_values(inside: str) -> list[str]:
    """The values inside brackets: separated by semicolons when there are any (the Vietnamese
    coordinate `(3; 0,5)`, whose comma is a decimal comma), else by commas."""
    return _split_top(inside, re.compile(r"\s*;\s*" if ";" in inside else r"\s*,\s*"))


def _bracketed(text: str) -> tuple[str, str, str] | None:
    """(open, inside, close) when the whole text is one bracketed group (`(a, b)`, `[a, b)`)."""
    if len(text) < 2 or text[0] not in "([" or text[-1] not in ")]":
        return None
    depth = 0
    for index, char in enumerate(text):
        depth += char in "([{"
        depth -= char in ")]}"
        if depth == 0 and index < len(text) - 1:
            return None
    return text[0], text[1:-1].strip(), text[-1]


def _canonical_latex(text: str) -> str:
    """Symbolic text without spaces, except between letters (`\\pi r`), and without clean()'s marks."""
    return re.sub(r"(?<![A-Za-z])\s+|\s+(?![A-Za-z])", "", text).replace("\x00", "")


class _Reader:
    """Reads one answer, collecting its forms and whether every number read one way."""

    def __init__(self, lang: Lang, hint: set[Value] | None):
        self.lang = lang
        self.hint = hint
        self.forms: set[str] = set()
        self.certain = True

    def element(self, text: str) -> Element:
        text = text.strip()
        if assign := _ASSIGN.match(text):
            self.forms.add("assignment")
            text = assign.group("rhs").strip()
        group = _bracketed(text)
        if group and group[0] == "(" and group[2] == ")" and not _split_top(group[1], re.compile(r","))[1:]:
            text = group[1]  # (5), (C)
        read = _number(text, self.lang, self.hint)
        if read is not None:
            element, forms, certain = read
            self.forms |= forms
            self.certain &= certain
            return element
        if re.fullmatch(r"[+-]?\s*\\infty", text):
            negative = text.startswith("-")
            return Element(
                "-\\infty" if negative else "\\infty", text, (float("-inf") if negative else float("inf"),)
            )
        if _WORDS.fullmatch(text):
            self.forms.add("text")
            return Element(text, text)
        if "\\sqrt" in text:
            self.forms.add("square root")
        if "\\pi" in text:
            self.forms.add("pi")
        if "\\sqrt" not in text and "\\pi" not in text:
            self.forms.add("expression")
        canonical = _canonical_latex(text)
        return Element(canonical, canonical)

    def elements(self, parts: Iterable[str]) -> tuple[Element, ...]:
        return tuple(self.element(p) for p in parts)

    def answer(self, text: str) -> Answer:
        return (
            self._matrix(text)
            or self._plus_minus(text)
            or self._interval_or_tuple(text)
            or self._list(text)
            or self._single(text)
        )

    def _matrix(self, text: str) -> Answer | None:
        matrix = _MATRIX.match(text)
        if matrix is None:
            return None
        rows = [r for r in re.split(r"\\\\", matrix.group("body")) if r.strip()]
        cells = [[c.strip() for c in row.split("&")] for row in rows]
        if len({len(row) for row in cells}) != 1 or sum(map(len, cells)) > MAX_ELEMENTS:
            return None
        self.forms.add("matrix")
        read = [self.elements(row) for row in cells]
        env = matrix.group("env")
        body = " \\\\ ".join(" & ".join(e.text for e in row) for row in read)
        latex = " \\\\ ".join(" & ".join(e.latex for e in row) for row in read)
        return self._make(
            f"\\begin{{{env}}}{body}\\end{{{env}}}",
            f"\\begin{{{env}}}{latex}\\end{{{env}}}",
            f"matrix {len(cells)}x{len(cells[0])}",
            tuple(e for row in read for e in row),
        )

    def _plus_minus(self, text: str) -> Answer | None:
        """`\\pm b` is the set {b, -b}; `a \\pm b` the set {a + b, a - b}."""
        if len(_PM.findall(text)) != 1 or "\\mp" in text:
            return None
        left, right = (p.strip() for p in _PM.split(text))
        self.forms.add("plus-minus")
        base = self.element(left) if left else None
        offset = self.element(right)
        prefix, latex_prefix = (f"{base.text} ", f"{base.latex} ") if base else ("", "")
        centre: Value | None = Fraction(0) if base is None else base.values[0] if base.values else None
        shift = offset.values[0] if offset.values else None
        if not isinstance(centre, Fraction) or not isinstance(shift, Fraction):
            symbolic = _canonical_latex(text)
            return self._make(symbolic, symbolic, "expression", ())
        values = tuple(
            Element(fraction_text(v), fraction_text(v), (v,)) for v in (centre + shift, centre - shift)
        )
        return self._make(f"{prefix}\\pm {offset.text}", f"{latex_prefix}\\pm {offset.latex}", "set", values)

    def _interval_or_tuple(self, text: str) -> Answer | None:
        """`(a, b]`, `[a, b)`, anything with infinity, unions (in any order: sorted); else `(a, b, ...)`."""
        intervals = _split_top(text, re.compile(r"\s*\\cup\s*"))
        groups = [g for g in (_bracketed(p) for p in intervals) if g]
        if len(groups) != len(intervals):
            return None
        inner = [_split_values(g[1]) for g in groups]
        mixed = any(g[0] != "(" or g[2] != ")" for g in groups)
        if all(len(parts) == 2 for parts in inner) and (len(groups) > 1 or mixed or "\\infty" in text):
            self.forms.add("interval")
            ends: list[tuple[str, Element, Element, str]] = []
            for (opening, _, closing), (low, high) in zip(groups, inner, strict=True):
                ends.append((opening, self.element(low), self.element(high), closing))
            if all(low.values and high.values for _, low, high, _ in ends):
                ends.sort(key=lambda end: (end[1].values[0], end[2].values[0]))
            return self._make(
                " \\cup ".join(f"{o}{low.text}, {high.text}{c}" for o, low, high, c in ends),
                " \\cup ".join(f"{o}{low.latex}, {high.latex}{c}" for o, low, high, c in ends),
                "interval " + " ".join(f"{o}{c}" for o, _, _, c in ends),
                tuple(e for _, low, high, _ in ends for e in (low, high)),
            )
        if len(groups) == 1 and groups[0][0] + groups[0][2] == "()" and 2 <= len(inner[0]) <= MAX_ELEMENTS:
            self.forms.add("tuple")
            read = self.elements(inner[0])
            return self._make(
                "(" + ", ".join(e.text for e in read) + ")",
                "(" + ", ".join(e.latex for e in read) + ")",
                "tuple",
                read,
            )
        return None

    def _list(self, text: str) -> Answer | None:
        pieces = _split_list(text, self.lang)
        if not 1 < len(pieces) <= MAX_ELEMENTS or not all(pieces):
            return None
        self.forms.add("list")
        read = self.elements(pieces)
        return self._make(", ".join(e.text for e in read), ", ".join(e.latex for e in read), "set", read)

    def _single(self, text: str) -> Answer:
        element = self.element(text)
        shape = "number" if element.values else ("text" if "text" in self.forms else "expression")
        return self._make(element.text, element.latex, shape, (element,))

    def _make(self, text: str, latex: str, shape: str, elements: tuple[Element, ...]) -> Answer:
        order = {name: index for index, name in enumerate(FORMS)}
        forms = tuple(sorted(self.forms, key=order.__getitem__))
        return Answer(text, latex, shape, elements, forms, self.certain)


def read_answer(text: str, lang: Lang = "vi", hint: Iterable[Value] | None = None) -> Answer:
    """Read a written answer in any form (see FORMS).

    Args:
        text: The answer as written: a gold answer, or the content of a <SOLUTION> block.
        lang: The number convention of the text it comes from ("vi": 2,5 and 1.200; "en": 2.5 and 1,200).
        hint: Values known from the other side; they settle numbers that read two ways.

    Returns:
        The answer; shape "empty" when there is none, "too long" past MAX_ANSWER_CHARS.
    """
    if len(text) > MAX_ANSWER_CHARS:
        return Answer(text[:80] + "…", "", "too long", (), ("too long",))
    cleaned = clean(text)
    if not cleaned:
        return Answer("", "", "empty", (), ())
    return _Reader(lang, set(hint) if hint else None).answer(cleaned)


@lru_cache(maxsize=4096)
def read_gold(gold: str) -> Answer:
    """A stored gold answer (canonical, English convention), read; cached: each gold answer is scored
    against every completion of its group."""
    return read_answer(gold, "en")


def read_solution(solution: str, gold: Answer) -> Answer:
    """A completion's answer, read in the Vietnamese convention, its ambiguous numbers settled by the gold."""
    return read_answer(solution, "vi", gold.values)


# --------------------------------------------------------------------------- comparing


def _same_element(a: Element, b: Element) -> bool:
    return bool(set(a.values) & set(b.values))


def _same_values(a: tuple[Element, ...], b: tuple[Element, ...], ordered: bool) -> bool:
    if len(a) != len(b):
        return False
    if ordered:
        return all(_same_element(x, y) for x, y in zip(a, b, strict=True))
    unused = list(b)
    for x in a:
        match = next((y for y in unused if _same_element(x, y)), None)
        if match is None:
            return False
        unused.remove(match)
    return True


def same_answer(gold: Answer, other: Answer) -> bool | None:
    """True or False when decided here: numbers by their exact values (lists in any order; tuples,
    intervals and matrices in order and of the same shape), anything else by its canonical text. None
    when symbolic answers differ in text: only math-verify can tell."""
    if gold.shape in ("empty", "too long") or other.shape in ("empty", "too long"):
        return False
    if gold.numeric and other.numeric:
        return gold.shape == other.shape and _same_values(gold.elements, other.elements, gold.shape != "set")
    if gold.key == other.key:
        return True
    if gold.shape == "text" and other.shape == "text":
        return False
    return None


def scan_numbers(
    text: str, lang: Lang = "vi", hint: Iterable[Value] | None = None, limit: int = 1
) -> list[Element]:
    """The first `limit` numbers written anywhere in `text` (prose included), each read as one number."""
    hint_set = set(hint) if hint else None
    cleaned = clean(text[:SCAN_CHARS])
    found: list[Element] = []
    for match in _SCAN.finditer(cleaned):
        read = _number(match.group(0), lang, hint_set)
        if read is not None:
            found.append(read[0])
            if len(found) >= limit:
                break
    return found


def numbers_match(gold: Answer, solution: str) -> bool | None:
    """Whether the solution's numbers are the gold's: the first number for a number, the first values in
    any order for a list, in order for a tuple, an interval or a matrix. The solution read as a whole
    answer first, else its first numbers anywhere. None when the gold holds no numbers or the solution
    none."""
    if not gold.numeric:
        return None
    read = read_solution(solution, gold)
    got = (
        list(read.elements) if read.numeric else scan_numbers(solution, "vi", gold.values, len(gold.elements))
    )
    if not got:
        return None
    if gold.shape == "number":
        return _same_element(gold.elements[0], got[0])
    return _same_values(gold.elements, tuple(got[: len(gold.elements)]), gold.shape != "set")


def english_hint(text: str) -> set[Value]:
    """Every plain number of an English text (what settles an ambiguous Vietnamese gold answer)."""
    return {Fraction(Decimal(n)) for n in numbers_in(text, "en")}
