"""Values that parse as JSON (or arrive as file names) but that the database cannot store.

Refused at the edge, naming where they are, so a client gets a 422 instead of a 500 from the driver and nothing is
half-written. Found by fuzzing the OpenAPI schema (docs/api.md, "Fuzzing"):
- NUL characters: PostgreSQL text cannot hold U+0000 ("text fields cannot contain NUL (0x00) bytes");
- lone UTF-16 surrogates (a JSON escape such as "\\ud9cf" with no partner, or a file name that is not UTF-8): no
  UTF-8 text can hold them, so the driver fails to encode the statement;
- NaN and ±Infinity (Python's JSON reader accepts them): JSON itself has no such numbers, so a JSON column on
  PostgreSQL refuses them and no response could carry them back.
"""

from __future__ import annotations

import math
from typing import Any


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored, or None."""
    if "\x00" in text:
        return "contains a NUL character (U+0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return f"contains {text[err.start]!r}, a lone UTF-16 surrogate that is not a character"
    return None


def problem(value: Any, where: str) -> str | None:
    """The first unstorable string, key or number inside a parsed JSON value, as 'where: why', or None.
    `where` names the value (a field, or 'body'); nested places are appended as .key and [index]."""
    if isinstance(value, str):
        why = text_problem(value)
        return f"{where}: {why}" if why else None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where}: {value} is not a JSON number"
    if isinstance(value, dict):
        for key, item in value.items():
            if why := text_problem(str(key)):
                return f"{where}: a key {why}"
            if found := problem(item, f"{where}.{key}"):
                return found
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if found := problem(item, f"{where}[{i}]"):
                return found
    return None
