"""Exact-string grader for answers that are words or labels, not numbers (names, letters,
yes/no, reasoning-gym strings), plus `answer_span`, the "where is the answer" rule shared
with the adapters.

Normalisation (both sides): Unicode NFKC, case-fold, invisible control characters dropped,
whitespace collapsed, wrappers removed
(surrounding ``$...$``, ``\\text{}``/``\\mathrm{}``/``\\textbf{}``, ``\\boxed{}``, ``**bold**``,
quotes), then a trailing period. Nothing numeric: ``18.00`` != ``18`` here; use "gsm8k" or
"math" for numbers.
"""

from __future__ import annotations

import re
import unicodedata

from verifiers.base import Verdict, Verifier, failed
from verifiers.math.boxes import UnreadableBox, answer_box
from verifiers.registry import register_verifier

_WRAPPERS = re.compile(r"^\\(?:text|textbf|textit|mathrm|mathbf|mbox|boxed|fbox)\s*\{(.*)\}$", re.DOTALL)
_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2060\ufeff]")
_PAIRS = (("$", "$"), ("**", "**"), ("*", "*"), ("`", "`"), ('"', '"'), ("'", "'"), ("\\(", "\\)"),
          ("\\[", "\\]"), ("(", ")"))


def normalize_text(text: str) -> str:
    """Canonical form for exact comparison (see module doc)."""
    s = unicodedata.normalize("NFKC", text).casefold()
    # Control and format characters (NUL, zero-width space, BOM) are invisible noise from
    # tokenizers, not part of an answer.
    s = _INVISIBLE.sub("", s)
    s = re.sub(r"\s+", " ", s).strip()
    for _ in range(8):  # peel nested wrappers ("$\text{yes}$."), a bounded number of layers
        before = s
        s = s.rstrip(" .").strip()
        m = _WRAPPERS.match(s)
        if m and _balanced(m.group(1)):
            s = m.group(1).strip()
        for left, right in _PAIRS:
            inner = s[len(left):-len(right)] if len(s) > len(left) + len(right) else ""
            if s.startswith(left) and s.endswith(right) and inner and _balanced(inner) \
                    and (left != "(" or "," not in inner):  # "(1, 2)" is a tuple, keep it
                s = inner.strip()
        if s == before:
            break
    return s


def _balanced(s: str) -> bool:
    depth = 0
    for c in s:
        depth += (c == "{") - (c == "}")
        if depth < 0:
            return False
    return depth == 0


def answer_span(response: str) -> tuple[str, str]:
    """Where a free-form response puts its answer: (span, rule).

    Text after the last ``####`` (to the end of that line), else the last ``\\boxed{}``, else
    the last non-empty line. Returns ("", "") for an empty response. Raises `UnreadableBox`
    when the last box never closes or is longer than `MAX_BOX_CHARS`: its answer cannot be
    read, and the last line is not it.
    """
    if "####" in response:
        return response[response.rfind("####") + 4:].strip().split("\n", 1)[0].strip(), "hashes"
    boxed = answer_box(response)
    if boxed is not None:
        return boxed.strip(), "boxed"
    for line in reversed(response.splitlines()):
        if line.strip():
            return line.strip(), "last_line"
    return "", ""


@register_verifier("exact")
class ExactVerifier(Verifier):
    """Normalised string equality. The whole response is compared first (a bare answer), then
    its `answer_span` (a full response ending in ``#### yes``, ``\\boxed{B}`` or a last line)."""

    name = "exact"

    def _check(self, response: str, answer: str) -> Verdict:
        gold = normalize_text(answer)
        if not gold:
            return failed("parse_error", flags=("empty gold answer",))
        whole = normalize_text(response)
        if whole == gold:
            return Verdict(reward=1.0, correct=True, extracted=response.strip(), normalized_pred=whole,
                           normalized_gold=gold, rule="exact")
        try:
            span, where = answer_span(response)
        except UnreadableBox as exc:  # a last box cut off or too long: not graded on a part
            return failed(exc.reason, normalized_gold=gold, rule="exact", flags=(exc.flag,))
        if not span:
            return failed("no_answer", normalized_gold=gold, rule="exact")
        pred = normalize_text(span)
        ok = pred == gold
        return Verdict(reward=float(ok), correct=ok, extracted=span, normalized_pred=pred,
                       normalized_gold=gold, rule=f"exact_{where}", reason="" if ok else "mismatch")
