"""Is a number in text an operand of an operation written next to it? (`is_operand`)

Then the text states an expression, or a hedge or a bound, not this number: "16 squared",
"x^2", "16-5" (the 5), "negative 5", "18 or 20", "about 18". The `gsm8k` and `math` verifiers
ask it of every number or math span they would read as an answer.
"""

from __future__ import annotations

import re

from verifiers.numbers import AND_A_FRACTION, COMPACT_UNITS, VARIABLE_UNITS, is_binary_minus


#: LaTeX commands that only lay out or delimit text: a number next to one is still that number.
_LAYOUT_COMMANDS = frozenset(
    "text textbf textit textrm textnormal textsf mathrm mathbf mathit mbox hbox boxed fbox quad "
    "qquad displaystyle textstyle left right bigl bigr Bigl Bigr big Big bf it rm".split())
#: Operator symbols that bind the number on either side ("2^3", "x_2", "3 × 4", "x < 5",
#: "|x|", matrix cells "1 & 2"). `-`, `+`, `*`, `/`, `<`, `>` and `,` are told apart below.
_OPERATOR_CHARS = frozenset("^_×÷·⋅≤≥≠≈&|")
#: After a number these only round it ("1/3 ≈ 0.33", "1/3 \\approx 0.33"): the number stands;
#: before one they make it approximate ("≈ 18"), an operand.
_APPROX_AFTER = frozenset({"≈", "approx"})
#: Minus signs and the en dash of a range ("18–20").
_DASHES = "-−–"
# Words that make a number an operand, or hedge or bound it ("root of 16", "negative 5", "at
# least 18", "about 18", "18 squared", "18 or 20", "18 or more"): the text does not state that
# number as its answer. Before a number:
_WORD_BEFORE = re.compile(
    r"(?:\b(?:twice|double|triple|thrice|negative|minus|plus|times|sqrt|over|under|below|above"
    r"|least|most|than|about|approximately|around|roughly|nearly|almost|divided\s+by|multiplied\s+by"
    r"|or|either|maybe|perhaps|possibly|probably)"
    r"|\b(?:root|half|third|quarter|square|cube|factorial|log|logarithm|sum|product|difference"
    r"|quotient|power|reciprocal|inverse|percent)\s+of)\s*$", re.IGNORECASE)
_BULLET_BEFORE = re.compile(r"\n[ \t]*[-−–][ \t]+$")
_LIST_BEFORE = re.compile(r"\d(?:\$|\\[)\]])?\s*,?\s*(?:and|or|&)\s*$", re.IGNORECASE)
# ... after a number, always:
_WORD_AFTER_ALWAYS = re.compile(
    r"(?:squared|cubed|factorial|to\s+the\s+power|raised\s+to|at\s+(?:least|most)|or"
    r"|" + AND_A_FRACTION +
    r"|\(\s*(?:or|maybe|perhaps|possibly|approximately|about))\b", re.IGNORECASE)
# ... after a number and the words of its unit: a hedge or an alternative ("18 apples or 20
# pears", "5 apples or more", "18 dollars and a half", "18 people at most"); a clause word
# ("because", "is", ...) ends the unit, and "inches squared" is a unit.
_UNIT_THEN_HEDGE = re.compile(
    r"[ \t]+(?:(?!(?:because|since|as|so|which|that|when|if|but|it|is|are|was|were|this|she|he|they|we"
    r"|you|then|thus|hence)\b)[A-Za-z]+(?:[ \t]*[,;])?[ \t]+){1,3}"
    r"(?:or|at\s+(?:least|most)|than|about|approximately|around|roughly|nearly|almost|maybe|perhaps|"
    + AND_A_FRACTION + r")\b", re.IGNORECASE)
# ... after a number and a comma or semicolon: a hedge ("18, or 20", "18, maybe 20").
_HEDGE_AFTER_COMMA = re.compile(r"[,;:]\s*(?:or|maybe|perhaps|possibly|probably|about|approximately|roughly)\b",
                                re.IGNORECASE)
_THEN_NUMBER = r"\s*(?:[-−]\s*)?(?:\d|\.\d|\$|\(|\\)"
# ... after a number, when another number follows ("18 times 2", "18 or 20", "18 to 20", but
# "went 18 times"; "50% of 18" is 9, while "25% of the class" is 25 as written):
_WORD_AFTER_THEN_NUMBER = re.compile(
    r"(?:times|plus|minus|over|and|to|divided\s+by|multiplied\s+by|mod|%\s*of|percent\s+of)"
    + _THEN_NUMBER, re.IGNORECASE)
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ")  # "90^\circ" is 90 degrees, not a power
_LAYOUT_GROUP_BEFORE = re.compile(r"\\(?:" + "|".join(sorted(_LAYOUT_COMMANDS)) + r")\s*\{[^{}]*\}\s*$")
_COMMAND_BEFORE = re.compile(r"\\([A-Za-z]+)\s*$")
_COMMAND_AFTER = re.compile(r"\\([A-Za-z]+)")
_TEXT_AFTER = re.compile(r"\\(?:text|textrm|textit|textbf|mbox|mathrm)\s*\{([^{}]*)\}")
_LONE_LETTER_AFTER = re.compile(r"([A-Za-z])(?![A-Za-z])")
_ASCII_LETTERS = re.compile(r"[A-Za-z]+")
#: How far around a number `is_operand` looks: operators sit next to their operands.
_LOOK = 40
# "(18 tickets)^3", "594 eggs+2", "25%^2": a unit (or %) between the number and an operator
_UNIT_THEN_OPERATOR = re.compile(r"[ \t]*(?:\\?%|[A-Za-z])[A-Za-z%\\ \t]{0,30}[)\]}]*[ \t]*"
                                 r"(?:[!^_+*×÷·]|/(?![ \t]*[A-Za-z])|[-−][ \t]*[\d(\\])")


# Math delimiters around a number ("$4$ squared", "negative \\(5\\)"): transparent, like brackets.
_OPEN_MATH = re.compile(r"(?:\$|\\[(\[])[ \t]*$")
_CLOSERS = re.compile(r"(?:[)\]}$]|\\[)\]])*")


def is_operand(text: str, start: int, end: int) -> bool:
    """True when the number at ``text[start:end]`` (a `NumberMatch` span) is an operand of an
    operation written next to it, so the text states an expression, not this number.

    Operand: ``\\sqrt{16}``, ``5!``, ``x^2``, ``2^3``, ``16-5`` (the 5), ``9 * 2``, ``2\\pi``,
    ``3x``, ``5 x``, ``18 = 2 \\times 9`` (an equation), ``\\frac{a}{16}``, ``x < 5``, ``1, 2`` and
    ``1,22`` (a list, a decimal comma), ``18:30``, ``18 1/2`` (both numbers), ``1 000``, "the
    square root of 16", "16 squared", "negative 5", "18 times 2", "50% of 18", "2 and a half",
    and hedges or bounds: "18 or 20", "18, or maybe 20" (both numbers), "18 (or 20)", "18-20",
    "18 or more", "18 apples or 20 pears", "at least 18", "about 18". Math delimiters are
    transparent: ``$4$ squared``, ``$5$!``, ``negative \\(5\\)``. Not an operand: ``= 18``,
    ``$18``, ``**18**`` / ``*18*`` (markdown), ``\\text{18}``, ``(18)``, ``18%``, ``18 dollars``,
    ``5cm``, ``18.``, ``18 (9 * 2)``, ``1/3 \\approx 0.33``, ``90^\\circ``, ``<<9*2=18>>18``
    (GSM8K calculator marks), "12 inches squared" (a unit), a number at the end of a line.
    """
    return _bound_before(text, start) or _bound_after(text, end)


def _bound_before(text: str, start: int) -> bool:
    if text[start] in "-−" and is_binary_minus(text, start):
        return True  # "16-5": the 5 is subtracted
    head = text[max(0, start - _LOOK):start]
    head = _OPEN_MATH.sub("", head)  # "negative \(5\)": a math delimiter binds nothing
    i = len(head) - 1
    while i >= 0 and head[i] in " \t":
        i -= 1
    bracketed = False
    while i >= 0 and head[i] in "([{ \t":  # "\sqrt{16}", "x^(2)", "\frac{a}{16}", "(18)"
        bracketed = bracketed or head[i] in "([{"
        i -= 1
    if i < 0:
        return False
    c = head[i]
    if c.isdigit():
        return True  # "18 1/2" (the fraction of a mixed number), "1 000", "18 20": not one number
    if c in _DASHES and _BULLET_BEFORE.search(head, 0, len(head)):
        return False  # "\n- 18": a list bullet
    if c in _OPERATOR_CHARS or c in _DASHES or c == "/":  # "16-5", "x - 5", "= - 5", "5–18"
        return True
    if c in "<>":  # "x < 5"; "<<9*2=18>>18" is a GSM8K calculator mark
        return not (i > 0 and head[i - 1] == c)
    if c == "*" and (i > 0 and head[i - 1] == "*"):
        return False  # "**18**": markdown bold
    if c == "*" and i == len(head) - 1 and (i == 0 or head[i - 1] in " \t\n"):
        return False  # " *18*": italics (a product touches its operand on both sides or neither)
    if c in "+*":  # binary ("3 + 5", "9 * 2", "9*2"), not a sign ("+5", "= +5")
        return is_binary_minus(head, i)
    if c in ",:" and i > 0 and head[i - 1].isdigit():
        return True  # "1, 2", "12:00", "3:2": an item of a list, a time, a ratio
    if _LIST_BEFORE.search(head, 0, i + 1):
        return True  # "16 and 18", "21, 36, and 82": the last item of a list
    if c == "}":  # a second argument ("\frac{a}{16}") or a product ("\sqrt{2}3"), unless layout
        return bracketed or _LAYOUT_GROUP_BEFORE.search(head, 0, i + 1) is None
    if c in ")]":
        return bracketed or i == len(head) - 1  # "(2)3", "(2)(3)": a product
    command = _COMMAND_BEFORE.search(head, 0, i + 1)
    if command is not None:  # "\sqrt 16", "\times 9", "\le 5"; "\text{", "\boxed{" are layout
        return command.group(1) not in _LAYOUT_COMMANDS
    return _WORD_BEFORE.search(head, 0, i + 1) is not None  # "root of 16", "negative 5"


def _bound_after(text: str, end: int) -> bool:
    tail = text[end:end + _LOOK]
    if _UNIT_THEN_OPERATOR.match(tail) or _UNIT_THEN_HEDGE.match(tail):
        return True  # "(18 tickets)^3", "5 eggs + 2", "18 apples or 20": the unit sits inside the operand
    closers = _CLOSERS.match(tail).end()
    tail = tail[closers:]  # "(3042)^3", "{5}!", "(18) + 1", "$5$!": what follows the brackets binds too
    if not tail:
        return False
    c = tail[0]
    if c in "!^_(":  # "5!", "2^3", "204_5", "18(2)"
        return _DEGREES.match(tail) is None
    if c.isalpha():  # "3x", "2i", "2pi", "2π" multiply; "5cm", "3rd", "130miles", "72Mb" are units
        word = _ASCII_LETTERS.match(tail)
        if word is None:
            return True
        w = word.group().lower()
        return w not in COMPACT_UNITS and (len(w) == 1 or w in VARIABLE_UNITS)
    if c == "/":  # "18/hour" is a rate; "18/x", "18/(2)" divide
        return re.match(r"/\s*[A-Za-z]{2,}", tail) is None
    if c == "*" and tail[1:2] != "*":  # "9*2" multiplies; "*18*" closes italics
        return not tail[1:2].isspace() and tail[1:2] not in ("", ".", ",", ")", "$")
    if c == "%":  # "50% of 18"; "25%+2", "25%^2": the percentage is an operand too
        return _WORD_AFTER_THEN_NUMBER.match(tail) is not None or _bound_after(text, end + closers + 1)
    return _bound_across_blanks(tail)


def _bound_across_blanks(tail: str) -> bool:
    """`_bound_after` for what follows the number (and its closing brackets) after any blanks:
    an operator, an equation, a list, a range, a command or a word that binds or hedges it."""
    j = len(tail) - len(tail.lstrip(" \t"))
    rest = tail[j:]
    if not rest or rest[0] == "\n":
        return False
    d = rest[0]
    if (d in _OPERATOR_CHARS and d not in _APPROX_AFTER) or d == "+" or (d == "/" and j > 0):
        return True
    if d == "=":  # "18 = 2 \times 9" is an equation of numbers; "20 = A" names the 20
        return re.match(r"=" + _THEN_NUMBER, rest) is not None
    if d in "<>":
        return rest[1:2] != d
    if d == "*":
        return rest[1:2] != "*" and j > 0  # "18 * 2"; "18 **" is markdown
    if d in _DASHES:  # "18 - 3", "18-x", "18–20"; "18-year-old" is a word
        after = rest[1:].lstrip(" \t")
        return bool(after) and (after[0] in "0123456789.(\\{$" or _LONE_LETTER_AFTER.match(after) is not None)
    if d in ",;:":  # "1, 2", "1,22", "18:30", "3:2": a list, a decimal comma, a time, a ratio
        return re.match(r"[,;:]\s?\d", rest) is not None or _HEDGE_AFTER_COMMA.match(rest) is not None
    if d.isdigit():  # "18 1/2" (a mixed number), "18 20": not one number
        return True
    if d == "\\":  # "2\pi", "18 \times 2", "2\frac12"; "\text{ dollars}", "\%", "\," are layout
        wrapped = _TEXT_AFTER.match(rest)
        if wrapped is not None:  # "18 \text{ or } 20", "18 \text{ squared}": read the words
            words = wrapped.group(1).strip() + " " + rest[wrapped.end():].lstrip()
            return bool(_WORD_AFTER_ALWAYS.match(words) or _WORD_AFTER_THEN_NUMBER.match(words))
        command = _COMMAND_AFTER.match(rest)
        return command is not None and command.group(1) not in _LAYOUT_COMMANDS | _APPROX_AFTER
    if d == "(":  # "18 (or 20)" hedges; "18 (eighteen)", "18 (9 * 2)" explain
        return _WORD_AFTER_ALWAYS.match(rest) is not None
    if d.isalpha() and j > 0:
        if _WORD_AFTER_ALWAYS.match(rest) or _WORD_AFTER_THEN_NUMBER.match(rest):
            return True  # "16 squared", "18 times 2"
        lone = _LONE_LETTER_AFTER.match(rest)  # "5 x": a variable; "5 m", "$5 a day" are not
        return lone is not None and lone.group(1).lower() not in COMPACT_UNITS \
            and lone.group(1) not in "aAI"
    if d == "%":
        return _WORD_AFTER_THEN_NUMBER.match(rest) is not None  # "50 % of 18"
    return False
