"""Find the answer span in a response: the last `\\boxed{}` / `\\fbox{}`, else weaker rules.

Every weaker rule is reported as a flag so callers can see how the answer was found.
"""

from __future__ import annotations

import re

from verifiers.numbers import last_number

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_BRACE_RE = re.compile(r"\\.|[{}]", re.S)
#: How many `\boxed` occurrences (from the right) are tried before giving up: bounds the work
#: on hostile text full of unbalanced `\boxed{`.
_MAX_BOX_TRIES = 50
#: Longest boxed content scanned; longer answers are refused by the verifier anyway.
_MAX_SPAN = 4000
# Text allowed between adjacent boxes that are read as one list answer:
# "\boxed{1}, \boxed{2}" or "\boxed{6} \text{ and } \boxed{8}".
_GAP_RE = re.compile(r"(?:\s|[,;.$]|\\[()\[\]]|\\q?quad|\\[,;!]|\\text\{\s*(?:and|or)\s*\}|\band\b|\bor\b)*")
_ANSWER_PHRASE_RE = re.compile(
    r"(?:final answer|the answer|answer)\s*(?:is|:)\s*:?\s*(.+?)(?:\.\s*I hope|\s*$|\.\s*$|\.\s+[A-Z]|\n)",
    re.I | re.S)
# Math delimiters, paired left to right in one pass (a lazy `\[(.+?)\]` regex is quadratic
# on text full of unclosed openers).
# The MATH few-shot closing line "Final Answer: The final answer is X. I hope it is correct."
_FINAL_I_HOPE_RE = re.compile(r"final answer is:?\s*(\S.{0,300}?)\.?\s?I hope", re.I | re.S)
_DELIM_RE = re.compile(r"(?<!\\)\$\$|(?<!\\)\$|\\\[|\\\]|\\\(|\\\)")
_CLOSES = {"$$": "$$", "$": "$", "\\[": "\\]", "\\(": "\\)"}
_WORD_RE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{4,}")
#: A gold answer longer than this with `$` in it is a worked solution, not a bare answer.
_LONG_GOLD = 200
_SHORT_TEXT_RE = re.compile(r"[A-Za-z]+(?: [A-Za-z]+)?")
_DECIMAL_COMMA_RE = re.compile(r"(?<![\d,.])(\d+),$")
# A short gold of several boxes is one list answer when the boxes are separated by a few words
# at most ("\boxed{1} papers and \boxed{2} bins"); more prose than that reads as commentary.
_GAP_WORD_RE = re.compile(r"[A-Za-z]+")
_MAX_GAP_WORDS = 3


def _match_braces(text: str, open_at: int) -> int:
    """Index just past the `}` matching the `{` at `open_at`, or -1 if it is unbalanced
    (escaped `\\{`/`\\}` do not count)."""
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


def _box_at(text: str, m: re.Match) -> tuple[int, int, str] | None:
    """(start, end, content) of the box whose command `m` matched, or None if malformed."""
    i = m.end()
    n = len(text)
    while i < n and text[i] in " \t":
        i += 1
    if i < n and text[i] == "{":
        end = _match_braces(text, i)
        if end < 0:
            return None
        return m.start(), end, text[i + 1:end - 1]
    if i > m.end() and i < n:  # `\boxed 5`: one token up to whitespace or `$`
        j = i
        while j < n and not text[j].isspace() and text[j] != "$":
            j += 1
        return (m.start(), j, text[i:j]) if j > i else None
    return None


def last_boxed(text: str) -> str | None:
    """Content of the last well-formed `\\boxed{...}`, `\\fbox{...}` or `\\boxed X` in `text`.

    Adjacent boxes separated only by commas, "and"/"or" or spacing ("\\boxed{1}, \\boxed{2}")
    are joined into one comma list, since that is how several answers are usually boxed.
    """
    matches = list(_BOX_RE.finditer(text))
    boxes: list[tuple[int, int, str]] = []
    for m in reversed(matches[-_MAX_BOX_TRIES:]):
        box = _box_at(text, m)
        if box is None:
            continue
        if boxes:
            if box[1] > boxes[-1][0]:  # nested inside the box already taken
                continue
            gap = text[box[1]:boxes[-1][0]]
            if _GAP_RE.fullmatch(gap) is None:
                break
        boxes.append(box)
    if not boxes:
        return None
    return ", ".join(b[2] for b in reversed(boxes))


def _all_box_spans(text: str) -> list[tuple[int, int, str]]:
    boxes: list[tuple[int, int, str]] = []
    for m in reversed(list(_BOX_RE.finditer(text))[-_MAX_BOX_TRIES:]):
        box = _box_at(text, m)
        if box is None or (boxes and box[1] > boxes[-1][0]):
            continue
        boxes.append(box)
    return boxes[::-1]


def all_boxes(text: str) -> list[str]:
    """Contents of every top-level well-formed box in `text`, in order (boxes nested inside
    another box are part of that box). Bounded like `last_boxed`: the last `_MAX_BOX_TRIES`
    box commands only."""
    return [b[2] for b in _all_box_spans(text)]


def _last(pattern: re.Pattern, text: str) -> re.Match | None:
    found = None
    for found in pattern.finditer(text):
        pass
    return found


def math_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, inner) of each `$..$`, `$$..$$`, `\\(..\\)`, `\\[..\\]` span, in order.
    Inline `$..$` and `\\(..\\)` may not cross a line break."""
    spans: list[tuple[int, int, str]] = []
    open_tok: re.Match | None = None
    for m in _DELIM_RE.finditer(text):
        tok = m.group()
        if open_tok is not None and tok == _CLOSES[open_tok.group()]:
            inner = text[open_tok.end():m.start()]
            if open_tok.group() in ("$$", "\\[") or "\n" not in inner:
                spans.append((open_tok.start(), m.end(), inner))
            open_tok = None
        elif tok in _CLOSES:
            open_tok = m
    return spans


def _answer_phrase(text: str) -> str | None:
    """X in the last "final answer is X" / "Answer: X"; inside X, its last math span, or its
    last number when X is a sentence ("Jane started 3 hours ago")."""
    phrase = None
    for _ in range(3):  # "Final Answer: The final answer is 7.78"
        m = _last(_ANSWER_PHRASE_RE, text)
        if m is None or not m.group(1).strip():
            break
        phrase = text = m.group(1).strip()
    if phrase is None:
        return None
    spans = math_spans(phrase)
    if spans and not phrase[spans[-1][1]:].strip(" .,;!"):  # "... is $x$."
        return spans[-1][2].strip() or None
    prose, pos = [], 0
    for start, end, _ in spans:
        prose.append(phrase[pos:start])
        pos = end
    if _WORD_RE.search(" ".join(prose) + " " + phrase[pos:]):
        num = last_number(phrase)
        return num.text if num else None
    return phrase


def _closing_answer(closing: re.Match) -> str | None:
    """X of "The final answer is X. I hope": taken whole (quotes dropped) when it is only
    math joined by and/or ("$12$ and $13$"), else read like any answer phrase."""
    phrase = closing.group(1).replace('\\"', "").strip().strip('"').strip()
    spans = math_spans(phrase)
    if len(spans) == 1 and spans[0][0] == 0 and spans[0][1] == len(phrase):
        return spans[0][2].strip() or None  # "$10,455$"
    prose, pos = [], 0
    for start, end, _ in spans:
        prose.append(phrase[pos:start])
        pos = end
    prose.append(phrase[pos:])
    if all(w.lower() in ("and", "or") for w in _WORD_RE.findall(" ".join(prose))):
        return phrase or None  # "$12$ and $13$": normalize drops the delimiters
    return _answer_phrase(closing.group())


def extract_answer(text: str, latex_only: bool = False) -> tuple[str | None, tuple[str, ...]]:
    """The answer span of a model response and flags naming any weak rule used.

    Order: last `\\boxed{}`; "final answer is X"; last `$..$`/`\\(..\\)`/`\\[..\\]` span; a
    short response taken whole; the last number. Returns (None, ()) when nothing is found.
    `latex_only` keeps the first three (math-verify's LaTeX-only extraction target): no number
    or short text is read from plain prose outside them.
    """
    boxed = last_boxed(text)
    if boxed is not None:
        closing = _last(_FINAL_I_HOPE_RE, text)
        if closing is not None and closing.start() > _last(_BOX_RE, text).start():
            # "\boxed{255} ... The final answer is $10,455$. I hope it is correct.": the
            # closing statement after the last box is the answer
            return _closing_answer(closing) or boxed, ("final_answer_after_box",)
        return boxed, ()
    if _BOX_RE.search(text):
        # a \boxed{ that never closes (cut-off or hostile text): no answer, not a guess
        return None, ("unbalanced_boxed",)
    phrase = _answer_phrase(text)
    if phrase:
        return phrase, ("fallback_answer_phrase",)
    spans = math_spans(text)
    if spans and spans[-1][2].strip():
        num = last_number(text)
        if num is not None and num.start >= spans[-1][1] and not latex_only:
            # a number stated in prose after the last formula is the later, concluding
            # statement: "... $d = \frac{90}{n}$ ... so there are 12 sequences."
            return num.text, ("fallback_last_number",)
        return spans[-1][2].strip(), ("fallback_math_span",)
    if latex_only:
        return None, ()
    stripped = text.strip()
    if stripped and len(stripped) <= 40 and not _WORD_RE.search(stripped) and not any(
            w.isalpha() and len(w) > 1 for w in stripped.replace("'", "").split()):
        return stripped, ("fallback_whole_response",)
    num = last_number(text)  # shared with gsm8k: skips call arguments like Matrix([[1]])
    if num is not None:
        found = num.text
        before = _DECIMAL_COMMA_RE.search(text, 0, num.start)
        if before is not None and len(found) <= 2 and found.isdigit():
            found = f"{before.group(1)}.{found}"  # "2,74": a decimal comma, not a list
        return found, ("fallback_last_number",)
    if _SHORT_TEXT_RE.fullmatch(stripped):  # a one- or two-word text answer: "Evelyn"
        return stripped, ("fallback_whole_response",)
    return None, ()


def extract_gold(answer: str) -> str:
    """The gold answer: the last boxed content if the gold is a full solution; every box, as
    one list, if it is a short answer of several boxes ("\\boxed{1} papers and \\boxed{2}
    bins"); the content of a `\\boxed{` that never closes (a cut gold is still our data);
    else the gold itself with its outer math delimiters removed."""
    s = answer.strip()
    boxes = _all_box_spans(answer)
    if len(boxes) > 1 and len(s) <= _LONG_GOLD and all(
            len(_GAP_WORD_RE.findall(answer[x[1]:y[0]])) <= _MAX_GAP_WORDS
            for x, y in zip(boxes, boxes[1:])):
        return ", ".join(b[2].strip() for b in boxes)
    boxed = last_boxed(answer)
    if boxed is not None:
        return boxed
    opened = _last(_BOX_RE, s)
    if opened is not None and len(s) <= _LONG_GOLD:
        rest = s[opened.end():].lstrip()
        if rest.startswith("{") and _match_braces(rest, 0) < 0:
            return rest[1:].strip().rstrip("$").strip()
    if len(s) > _LONG_GOLD and "$" in s:  # a worked solution without \boxed: read it like a response
        span, _ = extract_answer(s)
        return span if span is not None else s
    for left, right in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
            return s[len(left):len(s) - len(right)].strip()
    return s
