"""The answer box of a response: the last `\\boxed{}` / `\\fbox{}` (or `\\boxed X`), read whole.

Braces are matched in one pass (escaped `\\{`/`\\}` do not count), a box nested in a box is
part of the outer one's answer, and adjacent boxes separated only by commas, "and"/"or" or
spacing are one list answer. A grader refuses a box it cannot read whole (`UnreadableBox`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_BRACE_RE = re.compile(r"\\.|[{}]", re.S)
#: Longest answer box a grader reads. A longer one commits to an answer that cannot be read
#: whole, so grading it is refused (`UnreadableBox`), never done on a part of it or on text
#: outside it.
MAX_BOX_CHARS = 4000
#: How far `match_braces` scans (a gold's unclosed `\boxed{`: short by then).
_MAX_SPAN = MAX_BOX_CHARS
# Text allowed between adjacent boxes that are read as one list answer:
# "\boxed{1}, \boxed{2}" or "\boxed{6} \text{ and } \boxed{8}".
_GAP_RE = re.compile(r"(?:\s|[,;.$]|\\[()\[\]]|\\q?quad|\\[,;!]|\\text\{\s*(?:and|or)\s*\}|\band\b|\bor\b)*")


class UnreadableBox(ValueError):
    """The answer box cannot be read whole: cut off before its `}` (reason "no_answer", flag
    "unbalanced_boxed"), or longer than `MAX_BOX_CHARS` (reason "too_long"). A grader turns it
    into reward 0 with `reason` and `flag`; it never falls back to an earlier box or to text
    outside the box, which would grade an answer the response did not commit to."""

    def __init__(self, reason: str, flag: str):
        super().__init__(flag)
        self.reason = reason
        self.flag = flag


def match_braces(text: str, open_at: int) -> int:
    """Index just past the `}` matching the `{` at `open_at`, or -1 if it is unbalanced
    (escaped `\\{`/`\\}` do not count). Scans at most `_MAX_SPAN` characters."""
    depth = 0
    for m in _BRACE_RE.finditer(text, open_at, min(len(text), open_at + _MAX_SPAN)):
        tok = m.group()
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            if depth == 0:
                return m.end()
    return -1


def _brace_ends(text: str, start: int) -> dict[int, int]:
    """Each `{` at or after `start` -> the index just past its matching `}`; an unclosed `{`
    is absent. One pass, so a response full of boxes costs no more than its length (escaped
    `\\{`/`\\}` do not count)."""
    ends: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACE_RE.finditer(text, start):
        tok = m.group()
        if tok == "{":
            stack.append(m.start())
        elif tok == "}" and stack:
            ends[stack.pop()] = m.end()
    return ends


class _Box(NamedTuple):
    start: int  # the `\\boxed` command
    end: int  # just past its `}` (or its token); len(text) when it never closes
    content: str  # inside the braces; the rest of the text when it never closes
    closed: bool


def _box_at(text: str, m: re.Match, ends: dict[int, int]) -> _Box | None:
    """The box whose command `m` matched; None when the command has no argument."""
    i = m.end()
    n = len(text)
    while i < n and text[i] in " \t":
        i += 1
    if i < n and text[i] == "{":
        end = ends.get(i, -1)
        if end < 0:
            return _Box(m.start(), n, text[i + 1:], False)
        return _Box(m.start(), end, text[i + 1:end - 1], True)
    if i > m.end() and i < n:  # `\boxed 5`: one token up to whitespace or `$`
        j = i
        while j < n and not text[j].isspace() and text[j] != "$":
            j += 1
        return _Box(m.start(), j, text[i:j], True) if j > i else None
    return None


def _top_level_boxes(text: str) -> list[_Box]:
    """Every box not inside another box, in order. A box inside a box is part of the outer
    one's answer (`\\boxed{\\sqrt{\\boxed{16}}}` answers 4, not 16), and everything after a
    `\\boxed{` that never closes is inside it."""
    matches = list(BOX_RE.finditer(text))
    if not matches:
        return []
    ends = _brace_ends(text, matches[0].end())
    boxes: list[_Box] = []
    for m in matches:
        if boxes and m.start() < boxes[-1].end:
            continue  # nested in the box before
        box = _box_at(text, m, ends)
        if box is not None:
            boxes.append(box)
    return boxes


def _unbox(content: str) -> str:
    """A box's content with the box commands nested in it dropped (their braces stay)."""
    return BOX_RE.sub("", content) if "box" in content else content


def _last_box(text: str) -> tuple[str | None, bool]:
    """(content of the answer box, whether it closes); (None, True) when there is none.

    The answer box is the last top-level box, joined with the boxes just before it when only
    commas, "and"/"or" or spacing separate them ("\\boxed{1}, \\boxed{2}"), since that is how
    several answers are usually boxed."""
    boxes = _top_level_boxes(text)
    if not boxes:
        return None, True
    if not boxes[-1].closed:
        return _unbox(boxes[-1].content), False
    k = len(boxes) - 1
    while k > 0 and _GAP_RE.fullmatch(text, boxes[k - 1].end, boxes[k].start) is not None:
        k -= 1
    return ", ".join(_unbox(b.content) for b in boxes[k:]), True


def last_boxed(text: str) -> str | None:
    """Content of the last well-formed `\\boxed{...}`, `\\fbox{...}` or `\\boxed X` in `text`
    (adjacent boxes joined into one comma list, see `_last_box`), whatever its length; None
    when there is none or the last one never closes. For golds and data; a grader reading a
    response uses `answer_box`, which refuses a box it cannot read whole."""
    content, closed = _last_box(text)
    return content if closed else None


def answer_box(text: str) -> str | None:
    """The answer box of a response, as `last_boxed`; None when there is no box. Raises
    `UnreadableBox` when the last box never closes (a cut-off answer) or is longer than
    `MAX_BOX_CHARS`: the answer it commits to cannot be read, and an earlier box or the text
    around it is not that answer."""
    content, closed = _last_box(text)
    if content is None:
        return None
    if not closed:
        raise UnreadableBox("no_answer", "unbalanced_boxed")
    if len(content) > MAX_BOX_CHARS:
        raise UnreadableBox("too_long", f"boxed answer of {len(content)} chars is over the "
                                        f"{MAX_BOX_CHARS}-char limit")
    return content


def box_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of every top-level well-formed box in `text`, in order."""
    return [(b.start, b.end, _unbox(b.content)) for b in _top_level_boxes(text) if b.closed]


def all_boxes(text: str) -> list[str]:
    """Contents of every top-level well-formed box in `text`, in order (boxes nested inside
    another box are part of that box)."""
    return [b[2] for b in box_spans(text)]
