"""Find the answer span in a response: the last `\\boxed{}` / `\\fbox{}`, else weaker rules.

Every weaker rule is reported as a flag so callers can see how the answer was found. The box
itself is found and read by `boxes.py`.
"""

from __future__ import annotations

import re

from verifiers.math.boxes import BOX_RE, UnreadableBox, answer_box, box_spans, last_boxed, match_braces
from verifiers.numbers import OPERATOR_WORDS, NumberMatch, last_number
from verifiers.operands import is_operand

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
# A list of answers written as spans: "$x$, $y$", "$3$ and $4$", "$a$ or $b$".
_AND_OR_RE = re.compile(r"(?<![\\A-Za-z])(?:and|or)\b", re.I)
_SPAN_GAP_RE = re.compile(r"\s*(?:,|;|\b(?:and|or)\b)[\s,;]*(?:(?:and|or)\b\s*)?", re.I)
_MAX_GAP_WORDS = 3


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
    last number when X is a sentence ("Jane started 3 hours ago"); X whole when that span or
    number is an operand or a hedge ("5! ways", "4 squared", "about $18$", "$3$ and $4$",
    "18 apples or 20 pears")."""
    phrase = None
    for _ in range(3):  # "Final Answer: The final answer is 7.78"
        m = _last(_ANSWER_PHRASE_RE, text)
        if m is None or not m.group(1).strip():
            break
        phrase = text = m.group(1).strip()
    if phrase is None:
        return None
    spans = math_spans(phrase)
    # "... is $x$." ends the phrase; "$5$!" does not: "!" after an answer is its factorial (as
    # gsm8k reads "18!"), so "$5$!" is 120 and "$x$!" is x!
    if spans and not phrase[spans[-1][1]:].strip(" .,;"):
        before = "".join(phrase[a[1]:b[0]] for a, b in zip([(0, 0, "")] + spans, spans))
        if _span_operand(phrase, spans) or OPERATOR_WORDS.search(before) or _AND_OR_RE.search(before):
            # "about $18$", "$18$ or $20$", "$3$ and $4$", "the square root of $16$": the
            # phrase is read whole (and/or make a list), never its last formula alone
            return phrase
        return spans[-1][2].strip() or None
    prose, pos = [], 0
    for start, end, _ in spans:
        prose.append(phrase[pos:start])
        pos = end
    if _WORD_RE.search(" ".join(prose) + " " + phrase[pos:]):
        num = last_number(phrase)
        if num is not None and (_operand(phrase, num) or OPERATOR_WORDS.search(phrase)):
            # "5! ways", "negative 5", "4 squared", "the square root of 16", "18 apples or 20
            # pears": the phrase states an expression or a hedge, read whole (normalize drops
            # only unit words), never the bare number
            return phrase
        return num.text if num else None
    return phrase


def _span_operand(text: str, spans: list[tuple[int, int, str]]) -> bool:
    """Whether the last math span of `text` is not an answer on its own: an operand of what is
    written around it (`is_operand`: "about $18$", "$4$ squared", "$18$ or $20$"), or the last
    item of a list of spans ("$x$, $y$", "$a$ or $b$")."""
    start, end, _ = spans[-1]
    if is_operand(text, start, end):
        return True
    return len(spans) > 1 and _SPAN_GAP_RE.fullmatch(text, spans[-2][1], start) is not None


def _operand(text: str, num: NumberMatch) -> bool:
    """`verifiers.operands.is_operand` for a number found in prose: the text does not state
    this number ("5!", "16 squared", "negative 5", "18 or 20", "about 18")."""
    return is_operand(text, num.start, num.end)


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
    or short text is read from plain prose outside them. Raises `UnreadableBox` for a last box
    over `MAX_BOX_CHARS`; a last box that never closes is no answer (flag "unbalanced_boxed").

    A number or math span is never taken out of an operation or a hedge written around it
    (`verifiers.operands.is_operand`: "5! ways", "negative 5", "16 squared", "about $18$",
    "$18$ or $20$"): an answer phrase is then read whole, and a last span or last number
    gives no answer (flags "math_span_not_an_answer", "last_number_not_a_number").
    """
    from_box = _box_answer(text)
    if from_box is not None:
        return from_box
    phrase = _answer_phrase(text)
    if phrase:
        return phrase, ("fallback_answer_phrase",)
    spans = math_spans(text)
    if spans and spans[-1][2].strip():
        return _span_answer(text, spans, latex_only)
    if latex_only:
        return None, ()
    return _prose_answer(text)


def _box_answer(text: str) -> tuple[str | None, tuple[str, ...]] | None:
    """`extract_answer` from the answer box; None when the text has no box command. A box that
    cannot be read, or a box command without an argument, is no answer, not a guess."""
    try:
        boxed = answer_box(text)
    except UnreadableBox as exc:
        if exc.reason == "too_long":
            raise
        # a \boxed{ that never closes (cut-off or hostile text): no answer, not a guess
        return None, (exc.flag,)
    if boxed is not None:
        closing = _last(_FINAL_I_HOPE_RE, text)
        if closing is not None and closing.start() > _last(BOX_RE, text).start():
            # "\boxed{255} ... The final answer is $10,455$. I hope it is correct.": the
            # closing statement after the last box is the answer
            return _closing_answer(closing) or boxed, ("final_answer_after_box",)
        return boxed, ()
    if BOX_RE.search(text):  # a box command without an argument: no answer, not a guess
        return None, ("unbalanced_boxed",)
    return None


def _span_answer(text: str, spans: list[tuple[int, int, str]],
                 latex_only: bool) -> tuple[str | None, tuple[str, ...]]:
    """`extract_answer` from the last math span (not empty), or from a number stated in prose
    after it."""
    if _span_operand(text, spans):  # "so it is $4$ squared", "$18$ or $20$": no one answer
        return None, ("fallback_math_span", "math_span_not_an_answer")
    num = last_number(text)
    if num is not None and num.start >= spans[-1][1] and not latex_only:
        # a number stated in prose after the last formula is the later, concluding
        # statement: "... $d = \frac{90}{n}$ ... so there are 12 sequences."; when it is
        # an operand ("... so there are 5! ways") that statement is not one number: no
        # answer, not the formula before it
        if _operand(text, num):
            return None, ("fallback_last_number", "last_number_not_a_number")
        return num.text, ("fallback_last_number",)
    return spans[-1][2].strip(), ("fallback_math_span",)


def _prose_answer(text: str) -> tuple[str | None, tuple[str, ...]]:
    """`extract_answer` from a response with no box, answer phrase or math span: a short
    response whole, else its last number, else a one- or two-word text."""
    stripped = text.strip()
    if stripped and len(stripped) <= 40 and not _WORD_RE.search(stripped) and not any(
            w.isalpha() and len(w) > 1 for w in stripped.replace("'", "").split()):
        return stripped, ("fallback_whole_response",)
    num = last_number(text)  # shared with gsm8k: skips call arguments like Matrix([[1]])
    if num is not None:
        found, start = num.text, num.start
        before = _DECIMAL_COMMA_RE.search(text, 0, num.start)
        if before is not None and len(found) <= 2 and found.isdigit():
            found = f"{before.group(1)}.{found}"  # "2,74": a decimal comma, not a list
            start = before.start(1)
        if is_operand(text, start, num.end):  # "there are 5! ways", "16 squared": not 5, 16
            return None, ("fallback_last_number", "last_number_not_a_number")
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
    boxes = box_spans(answer)
    if len(boxes) > 1 and len(s) <= _LONG_GOLD and all(
            len(_GAP_WORD_RE.findall(answer[x[1]:y[0]])) <= _MAX_GAP_WORDS
            for x, y in zip(boxes, boxes[1:])):
        return ", ".join(b[2].strip() for b in boxes)
    boxed = last_boxed(answer)
    if boxed is not None:
        return boxed
    opened = _last(BOX_RE, s)
    if opened is not None and len(s) <= _LONG_GOLD:
        rest = s[opened.end():].lstrip()
        if rest.startswith("{") and match_braces(rest, 0) < 0:
            return rest[1:].strip().rstrip("$").strip()
    if len(s) > _LONG_GOLD and "$" in s:  # a worked solution without \boxed: read it like a response
        span, _ = extract_answer(s)  # no box here (`last_boxed` takes any length), so no raise
        return span if span is not None else s
    for left, right in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
            return s[len(left):len(s) - len(right)].strip()
    return s
