"""Numbers as Indonesians write them, read and written (issue 39: the field page refused ``1.500`` kg
as "2 kg", answered ``1,5`` with a raw English error, and showed "0.51 ha" beside errors that said
"50.000 kg").

Reading (:func:`parse_amount`), the rule:

- spaces (also no-break and thin spaces) and an underscore are ignored: ``1 500`` is 1500;
- with both ``.`` and ``,`` the **last** one is the decimal mark and the other groups thousands, in
  groups of three: ``1.234,5`` and ``1,234.5`` are both 1234.5;
- with only commas: one comma is the decimal mark (Indonesian: ``1,5`` is 1.5, ``0,51`` is 0.51); more
  than one groups thousands (``1,500,000``);
- with only dots: more than one groups thousands (``1.500.000``); **a lone dot followed by exactly three
  digits groups thousands too** (``1.500`` is 1500, as an Indonesian writes fifteen hundred); any other
  lone dot is a decimal mark (``1.5``, ``10.25``, ``1234.567``, and ``0.510``: no thousands group
  follows a leading 0);
- anything else (letters, a sign, groups of other than three digits, two marks in a row) is refused.

Writing (:func:`format_id`): a dot groups thousands and a comma marks decimals (``9.500``, ``0,51``,
``10,5``), with trailing zeros of the decimals dropped.
"""

from __future__ import annotations

import math
import re

from services import InvalidInput

__all__ = ["format_id", "format_sig", "parse_amount"]

_SPACES = re.compile(r"[\s\u00a0\u202f\u2009_]")
_DIGITS = re.compile(r"[0-9]+")


def _refuse(text: str) -> InvalidInput:
    return InvalidInput(
        f"{text!r} is not a number (write 1500, 1.500 or 1,5)",
        farmer=f"\u201c{text}\u201d bukan angka. Tulis misalnya 1500, 1.500 atau 1,5.",
    )


def _grouped(whole: str, mark: str) -> str | None:
    """``whole`` with its thousands ``mark`` taken out, or None when its groups are not of three."""
    parts = whole.split(mark)
    if not (1 <= len(parts[0]) <= 3) or any(len(p) != 3 for p in parts[1:]):
        return None
    if len(parts) > 1 and parts[0] == "0":
        return None  # a thousands group never follows a leading zero
    return "".join(parts)


def parse_amount(text: str) -> float:
    """A non-negative amount written as Indonesians (or the English) write it; see the module's rule.

    Raises:
        InvalidInput: it is not such a number (the message says how to write one, in Bahasa too).
    """
    raw = _SPACES.sub("", text or "")
    if not raw or not re.fullmatch(r"[0-9.,]+", raw) or not raw[0].isdigit() or not raw[-1].isdigit():
        raise _refuse(text)
    dots, commas = raw.count("."), raw.count(",")
    whole, decimals = raw, ""
    if dots and commas:
        decimal_mark = "." if raw.rfind(".") > raw.rfind(",") else ","
        group_mark = "," if decimal_mark == "." else "."
        if raw.count(decimal_mark) != 1:
            raise _refuse(text)
        whole, decimals = raw.split(decimal_mark)
        grouped = _grouped(whole, group_mark)
        if grouped is None:
            raise _refuse(text)
        whole = grouped
    elif commas == 1:
        whole, decimals = raw.split(",")
    elif commas > 1 or dots > 1:
        grouped = _grouped(raw, "," if commas else ".")
        if grouped is None:
            raise _refuse(text)
        whole = grouped
    elif dots == 1:
        head, tail = raw.split(".")
        if len(tail) == 3 and head != "0" and 1 <= len(head) <= 3:
            whole = head + tail  # 1.500: fifteen hundred
        else:
            whole, decimals = head, tail
    if not _DIGITS.fullmatch(whole) or (decimals and not _DIGITS.fullmatch(decimals)):
        raise _refuse(text)
    return float(f"{whole}.{decimals}" if decimals else whole)


def format_id(value: float, decimals: int = 0) -> str:
    """``value`` as Indonesians write it: ``9.500``, ``0,51``, ``10,5`` (up to ``decimals`` decimals,
    trailing zeros dropped)."""
    text = f"{value:,.{decimals}f}"
    if decimals:
        text = text.rstrip("0").rstrip(".")
    return text.replace(",", "\u0000").replace(".", ",").replace("\u0000", ".")


def format_sig(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, as Indonesians write it (``0,00294``, ``12,3``,
    ``1.250``)."""
    if value == 0 or not math.isfinite(value):
        return format_id(value if math.isfinite(value) else 0.0)
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return format_id(round(value, decimals), decimals)
