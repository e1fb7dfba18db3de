"""Exact number parsing for answer checking: text -> `fractions.Fraction`, never a float.

Shared by the `gsm8k` and `exact` verifiers. Accepts the forms models actually write:
thousands separators (`1,000`, `1 000`, LaTeX `1{,}000`), currency (`$`, `\\$`), percent
signs, trailing unit words and periods, decimals (`18.00` = `18`), fractions (`1/2`,
`\\frac{1}{2}`), scientific notation (`1.5e3`) and negatives (`-5`, unicode `−5`).
Whether a number found in text is the number it states, not an operand of an operation written
next to it, is `verifiers.operands.is_operand`.

Everything is exact (`Fraction`), so `0.1 + 0.2`-style float noise never decides a reward.
Sizes are capped (`MAX_DIGITS`, `MAX_EXPONENT`) because `Fraction(10) ** 999999` or a
100k-digit `int()` would stall the training loop; over-cap numbers raise `NumberTooLarge`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator

#: More significant digits than any real answer; beyond this, parsing is refused (not slow).
MAX_DIGITS = 300
#: Longest span `parse_number` reads: one number with its unit fits easily, and the cap keeps
#: the unit-word regex's backtracking trivially small on hostile text.
_MAX_SPAN = MAX_DIGITS + 64
#: |exponent| cap for scientific notation: 10**400 is still cheap to build exactly.
MAX_EXPONENT = 400


#: Units that may follow a number with no space ("5cm", "3rd"). Anything else glued to a
#: number ("3x", "2n") makes the span an expression, not a number.
COMPACT_UNITS = frozenset(
    "cm mm km m kg g mg mph kmh h hr hrs min mins s sec ft in lb lbs oz l ml st nd rd th k"
    " am pm °".split()
)


_SCALE_WORDS = {"dozen": 12, "hundred": 100, "thousand": 10**3, "million": 10**6, "billion": 10**9,
                "trillion": 10**12}
#: Words after a number that make a product, not a unit ("2 pi" is 2*pi). A lone letter that
#: is not a known unit ("5 x", "3 n") is a variable too (see `parse_number`).
VARIABLE_UNITS = frozenset({"pi"})
#: "and a half", "and one third": a fraction added to the number before it.
AND_A_FRACTION = r"and\s+(?:an?|one)\s+(?:half|third|quarter|fourth|fifth)"
_MIXED_WORDS = re.compile(r"\b" + AND_A_FRACTION + r"\b", re.IGNORECASE)  # "18 and a quarter" is not 18
#: Words that change or hedge a number wherever they stand in a short answer; `parse_number`
#: does not take them for a unit ("18 or more" is not 18 of a unit "or more"). Not "more",
#: "fewer" or "times", which also name what is counted ("5 more apples", "18 times").
OPERATOR_WORDS = re.compile(
    r"(?<![\\A-Za-z])(?:squared|cubed|factorial|plus|minus|divided|multiplied|over|under|root|half"
    r"|twice|double|triple|thrice|negative|power|reciprocal|inverse|or|least|most|than|about"
    r"|approximately|around|roughly|nearly|almost)\b", re.IGNORECASE)


class NumberTooLarge(ValueError):
    """A number has more than `MAX_DIGITS` digits or an exponent beyond `MAX_EXPONENT`."""


# One decimal literal. Thousands groups need exactly three digits and a non-zero lead, so
# "1,22" and "0,111" (decimal commas, or lists) are not read as 122 or 111.
_UNSIGNED = r"(?:[1-9]\d{0,2}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_EXP = r"(?:[eE][-+]?\d+)?"
# A number inside free text. The sign is optional here; `find_numbers` drops it when it is a
# binary minus ("16-3" is sixteen then three, not sixteen then minus three).
NUMBER_IN_TEXT = re.compile(
    r"(?P<frac>\\[dt]?frac\s*\{\s*(?P<fn>-?\d+(?:\.\d+)?)\s*\}\s*\{\s*(?P<fd>\d+(?:\.\d+)?)\s*\})"
    r"|(?<![\w.])(?P<sign>[-−])?(?:\\?\$\s?)?(?P<num>(?:" + _UNSIGNED + r")" + _EXP + r")"
    r"(?:\s?/\s?(?P<den>\d+(?:\.\d+)?)(?![\d,]))?"
    r"(?![\d])"
)

# A whole span that should be exactly one number (after `####`, inside `\boxed{}`, gold).
_LATEX_NOISE = re.compile(r"\\[,!;: ]|\\left|\\right|\\mathrm|\\textbf|\\mathbf|\\displaystyle")
_TEXT_WRAP = re.compile(r"\\(?:text|mbox|textrm|operatorname)\s*\{([^{}]*)\}")
_SPAN_NUMBER = re.compile(
    r"^(?P<sign>[-−+])?\s*(?:\\?\$\s*)?(?P<sign2>[-−])?\s*"
    r"(?P<num>(?:[1-9]\d{0,2}(?:(?:,|\{,\}| )\d{3})+|\d+)(?:\.\d+)?|\.\d+)"
    r"(?P<exp>[eE][-+]?\d+|\s*(?:\\times|\*|×|x)\s*10\s*\^\s*\{?\s*[-+]?\d+\s*\}?)?"
    r"(?:\s*/\s*(?P<den>\d+(?:\.\d+)?))?"
    r"\s*(?P<pct>\\?%|percent\b)?"
    # Trailing unit words ("dollars", "cm", "apples per box", "/day"): letters, spaces, a few symbols.
    r"(?P<unit>\s*(?:/\s*)?[A-Za-z°][A-Za-z°\s./^²³-]*)?"
    r"\s*\.?$"
)
_FRAC_SPAN = re.compile(
    r"^(?P<sign>[-−])?\s*\\[dt]?frac\s*\{\s*(?P<n>-?\d+(?:\.\d+)?)\s*\}\s*\{\s*(?P<d>\d+(?:\.\d+)?)\s*\}"
    r"\s*(?P<unit>[A-Za-z\s]*)\.?$"
)


_FRACTION_FORM = re.compile(r"\\[dt]?frac|\d\s*/\s*\d")


def is_undone_division(text: str, value: Fraction) -> bool:
    """Is ``text`` (read as ``value``) a fraction written for a whole number: ``36/2``,
    ``\\frac{4}{2}``, ``18/1``? That restates a division instead of doing it: a policy asked
    "36/2 =" learns to copy it, and a grader must not pay that for 18. A fraction that is not whole
    (``34/60`` for 17/30) is a number however it is written (MATH practice)."""
    return value.denominator == 1 and _FRACTION_FORM.search(text) is not None


@dataclass(frozen=True)
class NumberMatch:
    """A number found in free text: its value, the matched text and where it ends."""

    value: Fraction
    text: str
    start: int
    end: int


def _check_size(digits: str, exponent: int = 0) -> None:
    n = sum(c.isdigit() for c in digits)
    if n > MAX_DIGITS or abs(exponent) > MAX_EXPONENT:
        raise NumberTooLarge(f"number with {n} digits and exponent {exponent} is over the "
                             f"cap ({MAX_DIGITS} digits, |exponent| <= {MAX_EXPONENT})")


def _decimal(text: str) -> Fraction:
    """'1,234.50' / '1 234' / '1{,}234' / '1.5e3' -> exact Fraction."""
    text = text.replace("{,}", "").replace(",", "").replace(" ", "")
    mantissa, _, exp = text.lower().partition("e")
    if len(exp.lstrip("+-")) > 6:
        raise NumberTooLarge(f"exponent {exp[:20]}... is over the cap (|exponent| <= {MAX_EXPONENT})")
    e = int(exp) if exp else 0
    _check_size(mantissa, e)
    return Fraction(mantissa) * (Fraction(10) ** e)


def _sci_exponent(exp: str | None) -> int:
    if not exp:
        return 0
    digits = re.search(r"[-+]?\d+\s*\}?\s*$", exp)
    assert digits is not None  # the regex that produced `exp` guarantees a trailing integer
    value = digits.group().strip(" }")
    if len(value.lstrip("+-")) > 6:
        raise NumberTooLarge(f"exponent {value[:20]}... is over the cap (|exponent| <= {MAX_EXPONENT})")
    return int(value)


def _clean_span(text: str) -> str:
    text = text.strip()
    text = _TEXT_WRAP.sub(r" \1", text)
    text = _LATEX_NOISE.sub(" ", text)
    text = text.replace("\\%", "%").replace("−", "-").replace("^\\circ", "°").replace("^{\\circ}", "°")
    text = re.sub(r"\s+", " ", text).strip()
    # "$18$" / "{18}": wrappers around the whole span.
    while len(text) >= 2 and ((text[0] == "{" and text[-1] == "}") or (text[0] == text[-1] == "$")):
        text = text[1:-1].strip()
    return text


def parse_number(text: str) -> Fraction | None:
    """Parse a span that should hold exactly one number; None if it does not.

    '$1,000.00' -> 1000, '18 dollars.' -> 18, '50%' -> 50 (the number as written; percent is
    a unit here, not a division by 100), '-1/2' -> -1/2, '\\frac{3}{4}' -> 3/4,
    '1.5e3' -> 1500, '2 \\times 10^{3}' -> 2000. Raises `NumberTooLarge` over the caps.
    """
    text = _clean_span(text)
    if not text or len(text) > _MAX_SPAN:
        # A long all-digit span is a too-large number (say so); any other long span is prose.
        if len(text) > _MAX_SPAN and re.fullmatch(r"[-+$\d.,\s]+", text[:200] + text[-50:]):
            raise NumberTooLarge(f"a {len(text)}-character number is over the cap ({MAX_DIGITS} digits)")
        return None
    m = _FRAC_SPAN.match(text)
    if m:
        num, den = _decimal(m.group("n")), _decimal(m.group("d"))
        if den == 0:
            return None
        value = num / den
        return -value if m.group("sign") else value
    m = _SPAN_NUMBER.match(text)
    if not m:
        return None
    raw_unit = m.group("unit") or ""
    unit = raw_unit.strip().lower().rstrip(".")
    # A unit glued to the number must be a known one: "5cm" is 5, but "3x" is not 3.
    glued = m.group("unit") is not None and not text[m.start("unit") - 1].isspace() \
        and not raw_unit[:1].isspace() and not unit.startswith("/")
    if unit and glued and unit not in COMPACT_UNITS:
        return None
    if unit and not _is_unit(unit):
        return None
    value = _decimal(m.group("num")) * (Fraction(10) ** _bounded(_sci_exponent(m.group("exp"))))
    if m.group("den"):
        den = _decimal(m.group("den"))
        if den == 0:
            return None
        value /= den
    scale = _SCALE_WORDS.get(unit.split(" ", 1)[0]) if unit and not glued else None
    if scale:  # "1.5 million dollars" is 1500000
        value *= scale
    negative = (m.group("sign") in ("-", "−")) != (m.group("sign2") in ("-", "−"))
    return -value if negative else value


def _is_unit(words: str) -> bool:
    """Whether the words after a number name what it counts ("dollars", "m/s", "/day", "a
    day", "apples per box"), not a factor or a hedge: a lone letter that is no known unit is a
    variable ("5 x", "18/x"), "pi" a constant, and "or more", "squared", "about" change the
    number (`OPERATOR_WORDS`)."""
    if OPERATOR_WORDS.search(words) or _MIXED_WORDS.search(words):
        return False
    parts = [w for w in re.split(r"[\s./^-]+", words) if w]
    return all(w in COMPACT_UNITS or (len(w) > 1 and w not in VARIABLE_UNITS)
               or (w == "a" and k < len(parts) - 1)  # "$5 a day"; "5 a" is 5a
               for k, w in enumerate(parts))


def _bounded(exponent: int) -> int:
    if abs(exponent) > MAX_EXPONENT:
        raise NumberTooLarge(f"exponent {exponent} is over the cap (|exponent| <= {MAX_EXPONENT})")
    return exponent


def find_numbers(text: str) -> list[NumberMatch]:
    """All numbers in free text, left to right (see `iter_numbers`)."""
    return list(iter_numbers(text))


def iter_numbers(text: str) -> Iterator[NumberMatch]:
    """Numbers in free text, left to right, lazily (take the first without parsing the rest).
    Over-cap numbers are skipped, not raised: free text is searched for a candidate, and a
    giant number is not a plausible answer."""
    for m in NUMBER_IN_TEXT.finditer(text):
        try:
            if m.group("frac"):
                den = _decimal(m.group("fd"))
                if den == 0:
                    continue
                value = _decimal(m.group("fn")) / den
            else:
                value = _decimal(m.group("num"))
                if m.group("den"):
                    den = _decimal(m.group("den"))
                    if den == 0:
                        continue
                    value /= den
                if m.group("sign") and not is_binary_minus(text, m.start()):
                    value = -value
        except (NumberTooLarge, ValueError, ZeroDivisionError):
            continue
        if _is_call_argument(text, m.start()):
            continue
        yield NumberMatch(value, m.group(), m.start(), m.end())


def last_number(text: str) -> NumberMatch | None:
    """The last number in free text, found by scanning growing windows from the end, so a
    response with 10k numbers in it costs about as much as one with a few."""
    size = 512
    while True:
        start = max(0, len(text) - size)
        found = find_numbers(text[start:])
        # A window's first match may be the tail of a number cut by the window edge: only
        # trust it when the window is the whole text.
        if found and (start == 0 or len(found) > 1):
            m = found[-1]
            return NumberMatch(m.value, m.text, m.start + start, m.end + start)
        if start == 0:
            return None
        size *= 8


def _is_call_argument(text: str, start: int) -> bool:
    """True for a number inside brackets glued to a name: 'Matrix([[1]])', 'f(3)', 'a[2]'.
    Such a number is an argument of code or notation, not an answer."""
    i = start - 1
    while i >= 0 and text[i] in "([":
        i -= 1
    return i < start - 1 and i >= 0 and (text[i].isalpha() or text[i] == "_")


def is_binary_minus(text: str, sign_pos: int) -> bool:
    """True when the '-' at `sign_pos` follows an operand ('16-3', 'x - 3', '(2)-1', '\\pi - 3').
    A word is not an operand: 'the sum is -5' is minus five, not 'is' minus 5."""
    i = sign_pos - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    if i < 0:
        return False
    if text[i].isdigit() or text[i] in ")]}":
        return True
    j = i
    while j >= 0 and text[j].isalpha():
        j -= 1
    return i - j == 1 or (i > j and j >= 0 and text[j] == "\\")  # a variable or a command


def format_number(value: Fraction) -> str:
    """Canonical text of a value: '18', '-0.5', '1/3' (exact; terminating decimals as decimals)."""
    if value.denominator == 1:
        return str(value.numerator)
    d = value.denominator
    twos = fives = 0
    while d % 2 == 0:
        d //= 2
        twos += 1
    while d % 5 == 0:
        d //= 5
        fives += 1
    if d != 1:  # not a terminating decimal
        return f"{value.numerator}/{value.denominator}"
    places = max(twos, fives)
    scaled = abs(value.numerator) * (10 ** places) // value.denominator
    digits = str(scaled).rjust(places + 1, "0")
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}"
