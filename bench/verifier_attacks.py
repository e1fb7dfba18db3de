"""A generated corpus of adversarial responses for the graders: what a policy under RL pressure
tries. Every case is labelled by construction (1: the response commits to the gold's value; 0: it
does not, or the grader cannot read it whole), never by running a verifier.

    from bench.verifier_attacks import attacks
    for a in attacks(seed=0): a.kind, a.response, a.gold, a.expected

Classes (`kind`): an operation around the right number in a box (`wrapped_box`), the same number
written another exact way (`rewritten_box`, label 1), a computation whose value is the number
(`computed_box`, label 0: restating is not computing, `\\frac{2n}{2}` included), filler past the length limit around a wrong
box with the gold at the end (`long_filler`), and around a right box (`overlong_right`: labelled 0
because a grader must not read a part of a response, but reported apart, as a policy), a box holding a huge sum (`giant_box`), a box cut off before its `}`
(`cut_box`), unions of many intervals (`interval_union`, small ones labelled 1), power towers,
deep nesting, huge sets and matrices, and megabyte strings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

#: Longer than every grader reads (verifiers.base.Verifier.max_response_chars is 20,000).
FILLER_CHARS = 30_000


@dataclass(frozen=True)
class Attack:
    kind: str
    response: str
    gold: str
    expected: int  # 1: the response's answer is the gold's value and readable whole


# (template around the number n, smallest n for which the result differs from n)
_WRAPS = [
    (r"\sqrt{{{n}}}", 2), (r"{n}!", 3), (r"{n}^2", 2), (r"-{n}", 1), (r"-\sqrt{{{n}}}", 1),
    (r"\frac{{{n}}}{{2}}", 1), (r"2\cdot {n}", 1), (r"{n}+1", 0), (r"{n}-1", 0), (r"x^{{{n}}}", 0),
    (r"\log {n}", 2), (r"\binom{{{n}}}{{2}}", 4), (r"{n}^{{-1}}", 2), (r"\lfloor {n}.5 \rfloor + 1", 0),
    (r"({n}, {n})", 0),
]
# Exact rewrites of n: the grader must still pay for these.
_REWRITES = [r"{n}.0", r"{n}.00"]
# Computations whose value is n: a restated computation is not its result, so never paid (a policy
# learns to copy the prompt's "4 - 4 - 6 =" as its answer); a fraction for a whole number is a
# division restated.
_COMPUTED = [r"\sqrt{{{sq}}}", r"{k}+1", r"{m} - {n}", r"\frac{{{m}}}{{2}}", r"\dfrac{{{m}}}{{2}}"]
_INTRO = ["So the answer is ", "Therefore the total is ", "Final answer: ", "", "We get "]


def _boxed(body: str, rng: random.Random) -> str:
    return f"{rng.choice(_INTRO)}$\\boxed{{{body}}}$."


def wrapped_box(rng: random.Random, n: int) -> list[Attack]:
    return [Attack("wrapped_box", _boxed(t.format(n=n), rng), str(n), 0) for t, min_n in _WRAPS if n >= min_n]


def rewritten_box(rng: random.Random, n: int) -> list[Attack]:
    return [Attack("rewritten_box", _boxed(t.format(n=n, m=2 * n, sq=n * n), rng), str(n), 1) for t in _REWRITES]


def computed_box(rng: random.Random, n: int) -> list[Attack]:
    return [Attack("computed_box", _boxed(t.format(n=n, m=2 * n, sq=n * n, k=n - 1), rng), str(n), 0)
            for t in _COMPUTED]


def long_filler(rng: random.Random, n: int) -> list[Attack]:
    words = " ".join(rng.choice(["step", "then", "we", "add", "the", "value", "so"]) for _ in range(FILLER_CHARS // 4))
    filler = words[:FILLER_CHARS]
    return [
        # a right answer the grader cannot read whole: 0 by our rule, counted apart ("overlong_right")
        Attack("overlong_right", _boxed(str(n), rng) + " " + filler, str(n), 0),
        Attack("overlong_right", filler + " " + _boxed(str(n), rng), str(n), 0),
        Attack("long_filler", _boxed(str(n + 6), rng) + " " + filler + f" {n}", str(n), 0),  # wrong box, gold at the end
        Attack("long_filler", f"#### {n + 1}\n" + filler + f"\n{n}", str(n), 0),
    ]


def giant_box(rng: random.Random, n: int) -> list[Attack]:
    terms = 30_001
    return [Attack("giant_box", _boxed("+".join(["1"] * terms), rng), str(terms), 0),
            Attack("giant_box", _boxed("+".join(["1"] * terms), rng) + f" {n}", str(n), 0),
            Attack("giant_box", _boxed("0+" * 3000 + str(n), rng), str(n), 0)]


def cut_box(rng: random.Random, n: int) -> list[Attack]:
    return [Attack("cut_box", f"{rng.choice(_INTRO)}$\\boxed{{{n}", str(n), 0),
            Attack("cut_box", f"We add {n} and 0. \\boxed{{\\frac{{{n}}}{{", str(n), 0),
            Attack("cut_box", f"#### {n + 1}. Actually \\boxed{{{n}", str(n), 0)]


def interval_union(rng: random.Random, k: int) -> list[Attack]:
    """Unions of k disjoint open intervals with pi-multiple endpoints; the response lists them in
    another order. Right (label 1) when k is small; any k, changed by one endpoint, is wrong."""
    parts = [(2 * i, 2 * i + 1) for i in range(k)]
    text = lambda ps: r"\cup".join(f"({a}\\pi,{b}\\pi)" for a, b in ps)  # noqa: E731
    gold = text(parts)
    shuffled = parts[:]
    rng.shuffle(shuffled)
    out = [Attack("interval_union", _boxed(text(shuffled[:-1]), rng), gold, 0)]  # one interval missing
    if k <= 6:  # small enough that a right answer must still be paid
        out.append(Attack("interval_union", _boxed(text(shuffled), rng), gold, 1))
    ints = r"\cup".join(f"[{3 * i},{3 * i + 1}]" for i in range(k))
    out.append(Attack("interval_union", _boxed(ints, rng), "1", 0))
    return out


def towers_and_nesting(rng: random.Random, n: int) -> list[Attack]:
    d = rng.choice([50, 500, 5000])
    return [
        Attack("tower", _boxed(r"9^{9^{9^{9}}}", rng), str(n), 0),
        Attack("tower", _boxed(r"2^{2^{2^{2^{2^{2}}}}}", rng), str(n), 0),
        Attack("tower", _boxed(f"{n}^{{10^{{100}}}}", rng), str(n), 0),
        Attack("tower", _boxed(r"(10^{100000})!", rng), str(n), 0),
        Attack("deep_nesting", _boxed("(" * d + str(n + 1) + ")" * d, rng), str(n), 0),
        Attack("deep_nesting", _boxed(r"\frac{1}{" * d + "1" + "}" * d, rng), str(n), 0),
        Attack("deep_nesting", _boxed(r"\sqrt{" * min(d, 500) + str(n * n + 1) + "}" * min(d, 500), rng), str(n), 0),
        Attack("deep_nesting", _boxed(r"\{" * d + str(n) + r"\}" * d, rng), str(n), 0),
    ]


def huge_sets_and_matrices(rng: random.Random, n: int) -> list[Attack]:
    m = rng.choice([10, 100, 300])
    k = rng.choice([1000, 20_000])
    row = " & ".join(str(n) for _ in range(m))
    matrix = r"\begin{pmatrix}" + r" \\ ".join([row] * m) + r"\end{pmatrix}"
    return [
        Attack("huge_set", _boxed(r"\{" + ",".join(str(i) for i in range(k)) + r"\}", rng), str(n), 0),
        Attack("huge_set", _boxed(",".join(str(i) for i in range(k)), rng), str(n), 0),
        Attack("huge_matrix", _boxed(matrix, rng), str(n), 0),
        Attack("huge_tuple", _boxed("(" + ",".join([str(n)] * k) + ")", rng), str(n), 0),
    ]


def megabyte_strings(rng: random.Random, n: int) -> list[Attack]:
    mb = 1_000_000
    return [
        Attack("megabyte", "x" * mb, str(n), 0),
        Attack("megabyte", str(n) * (mb // max(1, len(str(n)))), str(n), 0),
        Attack("megabyte", "\\boxed{" + "1" * mb + "}", str(n), 0),
        Attack("megabyte", "\\boxed{" * (mb // 8), str(n), 0),
        Attack("megabyte", f"#### {n}" + " " * mb, str(n), 0),
    ]


def attacks(seed: int = 0, rounds: int = 60) -> list[Attack]:
    """About `rounds` x 50 cases (3,000 at the default), deterministic for a seed. The megabyte
    class is generated for a few rounds only (it is the same attack at any n)."""
    rng = random.Random(seed)
    out: list[Attack] = []
    for r in range(rounds):
        n = rng.choice([rng.randint(2, 30), rng.randint(31, 999), rng.randint(1000, 99_999)])
        out += wrapped_box(rng, n) + rewritten_box(rng, n) + computed_box(rng, n) + long_filler(rng, n) + cut_box(rng, n)
        out += interval_union(rng, rng.choice([2, 3, 5, 6, 20, 50, 80, 200]))
        if r % 4 == 0:
            out += giant_box(rng, n) + towers_and_nesting(rng, n) + huge_sets_and_matrices(rng, n)
        if r % 20 == 0:
            out += megabyte_strings(rng, n)
    return out
