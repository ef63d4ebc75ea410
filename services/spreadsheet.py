"""Cells safe to open in a spreadsheet: every CSV panen writes goes through :func:`neutralise`."""

from __future__ import annotations

__all__ = ["neutralise"]

# OWASP's CSV injection rule: a text cell starting with one of these is a formula to a spreadsheet.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: object) -> object:
    """A text cell that a spreadsheet would run as a formula, prefixed with ``'`` so it shows as text;
    numbers (a negative one too) and everything else are left as they are."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell
