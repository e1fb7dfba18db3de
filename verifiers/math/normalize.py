"""String-level LaTeX clean-up applied to both answers before anything is parsed.

Only layout and notation that never changes a value is removed here (`\\left`, `\\dfrac`,
spacing, `\\text{}` wrappers, trailing units, thousands separators); values are compared later.
Trailing words that change or hedge the number ("4 squared", "5 factorial", "5 or more";
`verifiers.numbers.OPERATOR_WORDS`) are kept, so such an answer does not parse.
"""

from __future__ import annotations

import re
from fractions import Fraction

from verifiers.numbers import OPERATOR_WORDS

_SUBS: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"(?<!\\)\\\\(?=[a-zA-Z])", r"\\"),  # JSON-style double escapes: \\frac -> \frac
    (r"\\left\.|\\right\.", ""),
    (r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|big|Big|bigg|Bigg)(?![a-zA-Z])", ""),
    (r"\\(?:displaystyle|textstyle|limits)(?![a-zA-Z])", ""),
    (r"\\[dtc]frac(?![a-zA-Z])", r"\\frac"),
    (r"\\lbrace(?![a-zA-Z])", r"\\{"), (r"\\rbrace(?![a-zA-Z])", r"\\}"),
    (r"\\[lr]?vert(?![a-zA-Z])", "|"), (r"\\bigcup(?![a-zA-Z])", r"\\cup"),
    (r"(\d)\s*(?:\{\s*,\s*\}|,\\!|\\!,)\s*(?=\d{3}(?!\d))", r"\1"),  # LaTeX thousands: 11,\!111 or 1{,}000
    (r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°|\\degree(?![a-zA-Z])", ""),
    (r"\\%", "%"),
    (r"\\\$|\$", ""),
    (r"\\\(|\\\)|\\\[|\\\]", " "),
    (r"(?<!\\)\\!", ""),
    (r"(?<!\\)\\[,;: ]|\\q?quad|~", " "),
    (r"\\(?:mathrm|mathbf|mathit|mathsf|mathnormal)\s*\{\s*([a-zA-Z])\s*\}", r"\1"),
    (r"\\dots|\\ldots|\\cdots", r"\\dots"),
))
_TEXT_RE = re.compile(
    r"\\(?:text|textbf|textit|textnormal|textrm|textup|textsf|mbox|mathrm|mathbf|mathit|mathsf|operatorname|hbox)"
    r"\s*\{([^{}]*)\}")
_UNIT_WORDS = (
    "units?|square units|sq units|cm|centimeters?|mm|millimeters?|km|kilometers?|meters?|m|inches|inch|in|feet|foot|ft|"
    "yards?|miles?|mph|kg|grams?|g|pounds?|lbs?|ounces?|oz|dollars?|cents?|yuan|euros?|degrees?|deg|radians?|rad|"
    "hours?|hrs?|minutes?|mins?|seconds?|secs?|days?|weeks?|months?|years?|people|students|ways|sq")
_TRAILING_UNIT_RE = re.compile(
    rf"(?<=[\d}})a-zA-Z%])\s*(?:{_UNIT_WORDS})(?:\s*\^\s*\{{?\d\}}?|\s+(?:squared|cubed))?\s*\.?\s*$")
_TRAILING_WORDS_RE = re.compile(r"(?<=[\d}) ])\s*(?<!\\)(?:\b[a-zA-Z]{3,}\b\s*)+$")
# words that carry meaning after a number: functions, and "or"/"and" lists
_KEEP_WORDS = {"sin", "cos", "tan", "cot", "sec", "csc", "log", "exp", "and", "for", "arcsin",
               "arccos", "arctan", "sinh", "cosh", "tanh"}
_PERCENT_WORD_RE = re.compile(r"\s*(?:percentage|percent|pct)\s*$")
_REPEATING_RE = re.compile(r"(?<![\d.])(\d*)\.(\d*)\\overline\s*\{?(\d+)\}?")
_CONNECTIVE_RE = re.compile(r"\s*,?\s+(?:and|or)\s+|\s*,\s*(?:and|or)\s+"
                            r"|(?<=[)\]}])\s*(?:and|or)\s*(?=[(\[{\\])")
# "0,111" is a decimal comma, never thousands: the leading group starts with 1-9
_THOUSANDS_RE = re.compile(r"-?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?|-?[1-9]\d{0,2}(?: \d{3})+(?:\.\d+)?")
_CHOICE_RE = re.compile(r"\(?([A-E])\)?")


def _repeating(m: re.Match) -> str:
    whole, fixed, rep = m.group(1) or "0", m.group(2), m.group(3)
    value = (Fraction(int(whole)) + Fraction(int(fixed or "0"), 10 ** len(fixed))
             + Fraction(int(rep), (10 ** len(rep) - 1) * 10 ** len(fixed)))
    return f"\\frac{{{value.numerator}}}{{{value.denominator}}}"


def unwrap_text(s: str) -> str:
    """Replace `\\text{...}`-style wrappers by their content (innermost first)."""
    for _ in range(10):
        new = _TEXT_RE.sub(lambda m: f" {m.group(1)} ", s)
        if new == s:
            break
        s = new
    return s


# Unicode math that chat models print instead of LaTeX.
_UNICODE = str.maketrans({
    "\u2212": "-", "\u2013": "-", "\u00d7": "\\times ", "\u00f7": "/", "\u00b7": "\\cdot ",
    "\u22c5": "\\cdot ", "\u03c0": "\\pi ", "\u221e": "\\infty ", "\u2264": "\\le ",
    "\u2265": "\\ge ", "\u2260": "\\ne ", "\u221a": "\\sqrt ", "\u00b1": "\\pm ",
    "\u2213": "\\mp ", "\u222a": "\\cup ", "\u2208": "\\in ", "\u00b2": "^2", "\u00b3": "^3",
    "\u00bd": "\\frac12", "\u00bc": "\\frac14", "\u00be": "\\frac34", "\u2248": "\\approx ",
    "\u2205": "\\emptyset ", "\u00a0": " ", "\u2009": " ", "\u202f": " "})


def _operates(s: str, words_at: int) -> bool:
    """Whether the words after the last number or bracket before `words_at` change or hedge
    that number ("4 squared", "5 factorial", "5 or more", "18 and a half"; `OPERATOR_WORDS`):
    they are part of the answer, not a unit to drop, so the answer is read with them (and
    does not parse)."""
    last = max(s.rfind(c, 0, words_at) for c in "0123456789)]}")
    return OPERATOR_WORDS.search(s, last + 1) is not None


def normalize(s: str) -> str:
    """Canonical LaTeX string of an answer: same value and notation -> same string."""
    s = s.translate(_UNICODE).strip()
    for pat, rep in _SUBS:
        s = pat.sub(rep, s)
    s = unwrap_text(s)
    s = _REPEATING_RE.sub(_repeating, s)
    s = " ".join(s.split()).strip(" ,;").rstrip(".")
    if _PERCENT_WORD_RE.search(s) and any(c.isdigit() for c in s):
        s = _PERCENT_WORD_RE.sub("%", s)
    for _ in range(3):  # "15 cm^2", "125 miles"; only after something numeric
        new = _TRAILING_UNIT_RE.sub("", s).strip()
        if new == s or not any(c.isdigit() for c in new):
            break
        s = new
    m = _TRAILING_WORDS_RE.search(s)
    if m and m.start() > 0 and any(c.isdigit() for c in s[:m.start()]) and not any(
            w in _KEEP_WORDS for w in m.group().split()) and not _operates(s, m.start()):
        s = s[:m.start()].strip()  # "81 teachers", "8\sqrt{3} square inches"
    if _THOUSANDS_RE.fullmatch(s):
        s = s.replace(",", "").replace(" ", "")
    if any(c.isdigit() for c in s) or "\\" in s:
        s = _CONNECTIVE_RE.sub(", ", s)
    return s.strip(" ,;").rstrip(".")


def text_key(s: str) -> str:
    """Loose key for text answers: lower case, letters and digits only."""
    return "".join(c for c in unwrap_text(s).lower() if c.isalnum())


def choice_letter(s: str) -> str | None:
    """"A".."E" when the normalized answer is a multiple-choice letter like `(B)`."""
    m = _CHOICE_RE.fullmatch(s.strip())
    return m.group(1) if m else None
