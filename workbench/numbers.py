"""Reading one plain number the way Vietnamese and English math text writes it.

Vietnamese uses a decimal comma and dotted thousands (2,5 and 1.200), English the reverse (2.5 and
1,200); machine-translated rows mix both. The tutorial stripped every comma, turning 2,5 into 25.
Here a number string becomes a canonical form (plain digits, '.' as decimal point, no grouping, no
trailing zeros: "1200", "2.5", "-7") only when its reading is certain. A Vietnamese "1.200" reads as
twelve hundred; a Vietnamese "1,200" (1.2, or an English number the translation kept?) is resolved by a
hint from the English side, else reported as unsure. An English comma only ever groups thousands: "1,5"
on the English side is not one number (it is the list 1, 5: `workbench.answers` splits it).

This is the number-literal layer of `workbench.answers`, which reads whole answers (fractions, lists,
intervals, units, ...) for the gold side and the completion side alike; nothing else reads answers.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from decimal import Decimal, InvalidOperation
from typing import Literal, TypeVar

Lang = Literal["vi", "en"]
T = TypeVar("T")

NUMBER = re.compile(r"[-−]?\d(?:[\d.,]*\d)?")
"""A run of digits with grouping or decimal marks inside (no leading/trailing mark)."""
_PLAIN = re.compile(r"^[-−]?\d[\d.,]*$")


def _format(value: Decimal) -> str:
    # Not value.normalize(): it rounds to the context's 28 significant digits.
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _grouped(body: str, sep: str) -> bool:
    """True when `body` is digits grouped in threes by `sep` (1.200 / 1.200.000)."""
    parts = body.split(sep)
    return len(parts[0]) in (1, 2, 3) and parts[0] != "0" and all(len(p) == 3 for p in parts[1:])


def readings(text: str, lang: Lang) -> list[str]:
    """The canonical values `text` can mean, the text's own convention first; [] when not a number."""
    body = text.strip().replace("\u2212", "-").replace(" ", "").replace("\u00a0", "")
    if not _PLAIN.match(body):
        return []
    sign = "-" if body.startswith("-") else ""
    body = body.lstrip("-")
    decimal_sep = "," if lang == "vi" else "."
    candidates: list[str]
    if "," in body and "." in body:
        # Both marks: whichever comes last is the decimal mark, whatever the language claims.
        last = "," if body.rfind(",") > body.rfind(".") else "."
        first = "." if last == "," else ","
        whole, frac = body.rsplit(last, 1)
        if not _grouped(whole, first) or first in frac:
            return []
        candidates = [whole.replace(first, "") + "." + frac]
    elif "," in body or "." in body:
        mark = "," if "," in body else "."
        if body.count(mark) >= 2:
            # A decimal mark appears once at most: several marks can only be grouping.
            if not _grouped(body, mark):
                return []
            candidates = [body.replace(mark, "")]
        elif mark == "," and lang == "en":
            # English never writes a decimal comma: 1,200 is twelve hundred, 1,5 is no one number.
            if not _grouped(body, mark):
                return []
            candidates = [body.replace(mark, "")]
        elif _grouped(body, mark):
            # "1.200" / "1,200": thousands or a three-decimal number; the text's own convention first.
            grouped, decimal = body.replace(mark, ""), body.replace(mark, ".")
            candidates = [decimal, grouped] if mark == decimal_sep else [grouped, decimal]
        else:
            candidates = [body.replace(mark, ".")]
    else:
        candidates = [body]
    try:
        return [_format(Decimal(sign + c)) for c in candidates]
    except InvalidOperation:
        return []


def settle(values: Sequence[T], text: str, lang: Lang, hint: Collection[T] | None = None) -> tuple[T, bool]:
    """The reading of a number to use, and whether it is certain.

    Args:
        values: Its readings, its own convention's first (from `readings`, as strings or values).
        text: The number as written.
        lang: The convention of the text it came from.
        hint: Readings known from the other side (the English response, the gold answer); a hint that
            confirms exactly one reading settles it.
    """
    if hint and len(values) > 1:
        confirmed = [v for v in values if v in hint]
        if len(confirmed) == 1:
            return confirmed[0], True
    # Ambiguous and unconfirmed. English follows its convention reliably, and so does a Vietnamese
    # dotted "1.200" (twelve hundred). A Vietnamese "1,200" is often an English number the translation
    # kept, or 1.2 written with a trailing zero; a wrong guess would corrupt a gold answer, so: unsure.
    return values[0], len(values) == 1 or lang == "en" or "," not in text


def canonical_number(text: str, lang: Lang = "vi", hint: set[str] | None = None) -> str | None:
    """Canonical form of a plain number string, or None when `text` is not one or its reading is unsure.

    Args:
        text: The number as written, e.g. "2,5", "1.200", "1,200.50", "-7".
        lang: The convention of the text it came from.
        hint: Canonical numbers known from the other language's side; they settle ambiguous readings.

    Returns:
        The canonical string ("2.5", "1200"), or None.
    """
    values = readings(text, lang)
    if not values:
        return None
    value, certain = settle(values, text, lang, hint)
    return value if certain else None


def numbers_in(text: str, lang: Lang = "vi") -> list[str]:
    """Every number in `text`, canonical, ambiguous ones read in the text's own convention."""
    found = []
    for match in NUMBER.finditer(text):
        values = readings(match.group(0), lang)
        if values:
            found.append(values[0])
    return found


def to_decimal(text: str, lang: Lang = "vi") -> Decimal | None:
    """The value of a number string, an ambiguous one read in `lang`'s own convention."""
    values = readings(text, lang)
    return Decimal(values[0]) if values else None
