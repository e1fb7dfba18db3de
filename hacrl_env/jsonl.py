"""The project's one JSONL reader: `iter_jsonl` (strict UTF-8 JSON objects, no NaN / Infinity,
errors naming `file:line`) and the `DataError` it raises.

Every jsonl file the project reads goes through it: the benchmark data files (hacrl_env.data),
the trainer's pool dumps and external trajectories (train/pool.py) and a run's metrics.jsonl
(train/plots.py, train/run_dir.py).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Iterator


class DataError(ValueError):
    """A data file or data source is missing, empty or malformed."""


class _NotJson(DataError):
    """A line that is not JSON at all: what a writer killed mid-line leaves behind."""


class _NonFinite:
    """Stands in for a NaN / Infinity constant or an overflowing number (1e999) while one line is
    parsed, so that the error can name the field it sits in."""

    def __init__(self, text: str):
        self.text = text


def _find_non_finite(value: Any, at: str = "") -> tuple[str, _NonFinite] | None:
    """(field path such as "prompt[0].content", marker) of the first marker in `value`."""
    if isinstance(value, _NonFinite):
        return at, value
    if isinstance(value, dict):
        children = ((f"{at}.{k}" if at else k, v) for k, v in value.items())
    elif isinstance(value, list):
        children = ((f"{at}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for child_at, child in children:
        found = _find_non_finite(child, child_at)
        if found:
            return found
    return None


def _parse_line(text: str, where: str) -> Any:
    """One JSON value, strictly: Python's json accepts NaN, Infinity and -Infinity and turns 1e999
    into inf; none of these is standard JSON, and a non-finite number in a reward or log-prob
    silently poisons training, so each is an error naming its field."""
    markers: list[_NonFinite] = []

    def mark(token: str) -> _NonFinite:
        markers.append(_NonFinite(token))
        return markers[-1]

    def parse_float(token: str) -> float | _NonFinite:
        number = float(token)
        return number if math.isfinite(number) else mark(token)

    try:
        value = json.loads(text, parse_constant=mark, parse_float=parse_float)
    except json.JSONDecodeError as exc:
        raise _NotJson(f"{where}: not valid JSON ({exc.msg}, column {exc.colno}); "
                       "each line must be one JSON object") from None
    except (ValueError, RecursionError) as exc:  # e.g. an int of > 4300 digits, absurd nesting
        raise DataError(f"{where}: JSON this reader cannot hold ({type(exc).__name__}: {exc}); "
                        "each line must be one JSON object of ordinary numbers and depth") from None
    found = _find_non_finite(value) if markers else None  # a repeated key may have dropped it
    if found:
        at, marker = found
        what = f"field {at!r}" if at else "the line"
        raise DataError(f"{where}: {what} is {marker.text}, which is not a finite JSON number "
                        "(Python's json writes NaN/Infinity for float('nan')/float('inf')); "
                        "write a finite number instead, or drop the field where it is optional")
    return value


def iter_jsonl(path: str | os.PathLike, *, skip_torn: bool = False
               ) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based line number, object) for each non-blank line of a UTF-8 jsonl file.

    Invalid UTF-8, a line that is not JSON or not an object, and NaN / Infinity anywhere are
    DataErrors naming `path:line`. A missing file is the caller's to report (each names its own
    fix). Lines are split on "\\n" only, so the numbers match an editor's.

    skip_torn: skip a line that is not JSON (or not UTF-8) instead of raising: a log appended to
    line by line (a run's metrics.jsonl) holds one where its writer was killed mid-line. Lines
    that parse stay strict: NaN / Infinity and non-objects are still errors, since every writer
    of the project writes strict JSON (RunDir.log turns a non-finite metric into null).
    """
    with open(path, "rb") as f:  # bytes, so a decoding error can name its line
        for lineno, raw in enumerate(f, 1):
            where = f"{path}:{lineno}"
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte-order mark (Windows editors write one) is not an error
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                if skip_torn:
                    continue
                raise DataError(f"{where}: not valid UTF-8 (byte {raw[exc.start]:#04x} at byte "
                                f"{exc.start + 1} of the line); re-save the file as UTF-8") from None
            if not line.strip():
                continue
            try:
                row = _parse_line(line, where)
            except _NotJson:
                if skip_torn:
                    continue
                raise
            if not isinstance(row, dict):
                raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
            yield lineno, row
