"""YAML (or JSON) from people's files, read without letting a file hurt the reader: no aliases (a
562-byte "billion laughs" took the API 6.7 s), a bounded nesting depth (500 levels gave a plain-text
500), and libyaml's C parser where it is installed (a 3.3 MB file blocked the API for 54 s with the
pure-Python one, on the event loop)."""

from __future__ import annotations

from typing import Any

import yaml

from services import InvalidInput

__all__ = ["MAX_DEPTH", "UnsafeDocument", "safe_load"]

MAX_DEPTH = 32  # a fleet document nests 6 deep (cooperatives, fields, node, ...)
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UnsafeDocument(InvalidInput):
    """The document uses aliases, nests too deep, or is not YAML; the message says which."""


def safe_load(text: str | bytes) -> Any:
    """The document's data.

    Raises:
        UnsafeDocument: aliases or anchors, nesting beyond :data:`MAX_DEPTH`, or a YAML error.
    """
    try:
        depth = 0
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise UnsafeDocument("the document uses YAML anchors or aliases, which are not accepted")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise UnsafeDocument(f"the document nests deeper than {MAX_DEPTH} levels")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        return yaml.load(text, Loader=_Loader)  # a safe loader (C or Python), checked above
    except yaml.YAMLError as exc:
        raise UnsafeDocument(f"the document is not YAML or JSON: {str(exc)[:300]}") from exc
