"""Accuracy and speed of hacrl's verifiers against math-verify 0.9.0, suite by suite.

    export HACRL_DATA_DIR=/path/to/data  # the full data sets (below); the bench stops without them
    python bench/verifiers.py            # full run (minutes on 2 cores); paste the table into docs/verifiers.md
    python bench/verifiers.py --quick    # a few cases per suite: a seconds-long smoke run

$HACRL_DATA_DIR must hold gsm8k/test.jsonl, math500/test.jsonl and verifier-cases/cases.jsonl
(the public cases are not in the repository).

Suites: (1) the public 275 math-verify cases, (2) hacrl's labelled suite, GSM8K part and MATH
part, (3) GSM8K test golds vs their `####` lines (+ shifted negatives), (4) MATH-500 answers vs
the boxed answer of their solutions (+ shifted numeric negatives), (5) hostile inputs.

math-verify runs in this (main) thread because its timeouts use SIGALRM. Its golds are given the
way its README asks (`$...$` around bare LaTeX; a GSM8K solution's final number); the public cases
use the extraction configs and options math-verify's own tests used for them, and `math` gets
the same options in its own spelling (`ours_options`). public-275 is also scored against
`CORRECTIONS`, the labels a mathematician would flip. "speed" is math-verify's total time over
ours on the same cases (higher is better for us).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python bench/verifiers.py` from a clone without installing

import verifiers  # noqa: E402
from verifiers.numbers import parse_number  # noqa: E402

SUITE = REPO / "tests" / "data" / "verifier_suite.jsonl"
DATA_DIR_ENV = "HACRL_DATA_DIR"
#: The files the suites read from $HACRL_DATA_DIR.
DATA_FILES = ("verifier-cases/cases.jsonl", "gsm8k/test.jsonl", "math500/test.jsonl")


def data_dir() -> Path:
    """The full data folder from $HACRL_DATA_DIR; a clear error naming the variable (and any
    missing file) otherwise. Read when the suites load, not at import: tests import this module
    for CORRECTIONS and ours_options without any data."""
    value = os.environ.get(DATA_DIR_ENV)
    if not value:
        raise SystemExit(f"bench/verifiers.py needs the full data sets: set {DATA_DIR_ENV}=<folder with "
                         f"{', '.join(DATA_FILES)}>")
    root = Path(value).expanduser()
    missing = [rel for rel in DATA_FILES if not (root / rel).is_file()]
    if missing:
        raise SystemExit(f"{DATA_DIR_ENV}={value!r} lacks {', '.join(missing)}; point it at the folder with "
                         f"the full data sets ({', '.join(DATA_FILES)})")
    return root


@dataclass
class Case:
    response: str
    gold: str
    expected: int | None  # None: unlabelled (hostile inputs scored for time only)
    mv: dict  # math-verify options for this case (extraction configs, precision, ...)
    ours: dict = field(default_factory=dict)  # the same options, as `math` spells them
    corrected: int | None = None  # the label a mathematician gives, where it differs (public-275)


# Labels of public-275 that encode a math-verify behaviour rather than the mathematics: line
# index -> (the gold as a check that the data has not moved, corrected label, why). Both
# graders are scored against these too; neither is tuned to them.
CORRECTIONS = {
    193: ("$x \\in [-2,7]$", 1, "x in [-2,7] and -2 <= x <= 7 are the same set; the 0 is math-verify's "
          "allow_set_relation_comp=False refusing a relation answer to a set gold, while it accepts the "
          "reverse (line 191, labelled 1)"),
    30: ("$10$", 0, "(9+1) restates a computation: against a gold written as a number hacrl pays only an "
         "answer that states one (docs/verifiers.md, 'A computation is not its value')"),
    270: ("$1 - \\frac{1}{\\mathrm{e}}$", 0, "1 - 1/e != 1 + 1/e (0.632 vs 1.368); the 1 is math-verify's "
          "false positive (LANDSCAPE #14): its default parse() keeps only the leading 1 of both"),
}


def ours_options(r: dict) -> dict:
    """`math` keyword options for a public case, mapped from the math-verify options it used:
    precision -> precision (math-verify's float_rounding), strict -> strict, a LaTeX-only
    extraction_config -> extraction="latex". allow_set_relation_comp has no counterpart: `math`
    always compares a relation with a set both ways (math-verify's True). Expression-only
    targets get the default extraction (all 19 such cases are plain numbers or expressions)."""
    opts = {k: r[k] for k in ("precision", "strict") if k in r}
    if r["match_types"] == ["latex"]:
        opts["extraction"] = "latex"
    return opts


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open()]


def public_cases() -> list[Case]:
    out = []
    for i, r in enumerate(_jsonl(data_dir() / "verifier-cases" / "cases.jsonl")):
        opts = {k: r[k] for k in ("precision", "strict", "allow_set_relation_comp") if k in r}
        mt = r["match_types"]
        opts["match_types"] = mt if isinstance(mt, list) and all(len(m) > 1 for m in mt) else None
        corrected = r["expected"]
        if i in CORRECTIONS:
            gold, corrected, _ = CORRECTIONS[i]
            if r["gold"] != gold:
                raise SystemExit(f"cases.jsonl line {i} is {r['gold']!r}, not {gold!r}: the data changed; "
                                 "update CORRECTIONS in bench/verifiers.py")
        out.append(Case(r["pred"], r["gold"], r["expected"], opts, ours_options(r), corrected))
    return out


def suite_cases(kind: str) -> list[Case]:
    return [Case(r["response"], r["gold"], r["expected"], {}) for r in _jsonl(SUITE) if r["kind"] == kind]


def gsm8k_gold_cases() -> list[Case]:
    rows = _jsonl(data_dir() / "gsm8k" / "test.jsonl")
    finals = [r["answer"].split("####")[-1].strip() for r in rows]
    out = [Case(r["answer"], f, 1, {}) for r, f in zip(rows, finals)]
    # Negatives: each solution against the next problem's final, when the values differ.
    for i, r in enumerate(rows):
        other = finals[(i + 1) % len(rows)]
        if parse_number(other) != parse_number(finals[i]):
            out.append(Case(r["answer"], other, 0, {}))
    return out


def math500_cases() -> list[Case]:
    rows = _jsonl(data_dir() / "math500" / "test.jsonl")
    out = [Case(r["solution"], r["answer"], 1, {}) for r in rows]
    for i, r in enumerate(rows):  # negatives only where both answers are plain, different numbers
        other = rows[(i + 1) % len(rows)]["answer"]
        a, b = _num(r["answer"]), _num(other)
        if a is not None and b is not None and a != b:
            out.append(Case(r["solution"], other, 0, {}))
    return out


def _num(s: str):
    try:
        return parse_number(s)
    except ValueError:
        return None


def hostile_cases() -> list[Case]:
    payload = "__import__('os').system('echo hi')"
    labelled = [("Matrix([[1]])", "1", 0), ("\\boxed{Matrix([[1]])}", "1", 0), ("S.One", "1", 0),
                ("\\boxed{S.One}", "1", 0), (payload, "1", 0), (f"\\boxed{{{payload}}}", "1", 0),
                ("\\boxed{9^{9^{9^9}}}", "1", 0), ("\\boxed{(10^{100000})!}", "1", 0),
                ("#### 1e999999", "1", 0), ("\\boxed{" + "9" * 100_000 + "}", "1", 0),
                ("\\boxed{1e999999}", "1e999998", 0), ("#### 5\x00", "5", 1), ("\\boxed{5}\x00", "5", 1)]
    unlabelled = ["(" * 5000 + "1" + ")" * 5000, "x" * 200_000, "\\boxed{1" + "}" * 3 + "{" * 7,
                  "\x00" * 1000, "\\frac{1}{" * 2000 + "2" + "}" * 2000, "1" + ",000" * 30_000,
                  "1/" * 10_000 + "1", "The answer is " + "1 " * 100_000, "\\boxed{" * 3000,
                  "9^{9^{9^9}}", "(10^{100000})!", "\\sqrt{" * 500 + "2" + "}" * 500]
    return [Case(r, g, e, {}) for r, g, e in labelled] + [Case(r, "1", None, {}) for r in unlabelled]


# ---- runners ----------------------------------------------------------------------------------

def ours(name: str) -> Callable[[Case], bool]:
    """A runner for a built-in verifier; `math` gets each case's options (one verifier per set
    of options, built by the first case that needs it: microseconds, as sympy's warm-up is
    once per process and done by the untimed warm-up call)."""
    made: dict[tuple, verifiers.Verifier] = {(): verifiers.get_verifier(name)}

    def run(c: Case) -> bool:
        key = tuple(sorted(c.ours.items())) if name == "math" else ()
        if key not in made:
            made[key] = verifiers.get_verifier(name, **dict(key))
        return made[key].check(c.response, c.gold).correct

    return run


def math_verify_runner() -> Callable[[Case], bool] | None:
    try:
        from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
    except ImportError:
        return None
    configs = {"latex": LatexExtractionConfig(), "expr": ExprExtractionConfig()}

    def run(c: Case) -> bool:
        kw = {}
        if c.mv.get("match_types"):
            kw["extraction_config"] = [configs[m] for m in c.mv["match_types"]]
        gold, pred = parse(c.gold if c.mv else _mv_gold(c.gold), **kw), parse(c.response, **kw)
        vkw = {k: c.mv[k] for k in ("strict", "allow_set_relation_comp") if k in c.mv}
        if "precision" in c.mv:
            vkw["float_rounding"] = c.mv["precision"]
        return bool(verify(gold, pred, **vkw))

    return run


def _mv_gold(gold: str) -> str:
    """A gold as math-verify's docs ask for it: the final number of a GSM8K solution, and bare
    LaTeX wrapped in `$...$` (math-verify does not extract LaTeX outside math mode, #56)."""
    if "####" in gold:
        gold = gold.split("####")[-1].strip()
    return gold if "$" in gold or "\\boxed" in gold else f"${gold}$"


@dataclass
class Row:
    suite: str
    n: int
    name: str
    accuracy: float | None
    total: float
    times: list[float]
    errors: int
    corrected: float | None = None  # accuracy against the corrected labels (public-275)
    missed: list[int] = field(default_factory=list)  # indices scored wrong against the labels


def measure(suite: str, cases: list[Case], name: str, fn: Callable[[Case], bool]) -> Row:
    times, right, labelled, errors, fixed, missed = [], 0, 0, 0, 0, []
    try:  # warm-up outside the clock: first-call imports and caches are not per-check cost
        fn(Case("The answer is \\boxed{2}.", "2", 1, {}))
    except Exception:  # noqa: BLE001
        pass
    for c in cases:
        start = time.perf_counter()
        try:
            got = fn(c)
        except Exception:  # noqa: BLE001 - a raising verifier is counted, not fatal to the bench
            got, errors = False, errors + 1
        times.append(time.perf_counter() - start)
        if c.expected is not None:
            labelled += 1
            right += int(got) == c.expected
            fixed += int(got) == (c.expected if c.corrected is None else c.corrected)
            if int(got) != c.expected:
                missed.append(len(times) - 1)
    has_corrections = any(c.corrected is not None for c in cases)
    return Row(suite, len(cases), name, right / labelled if labelled else None, sum(times), times, errors,
               fixed / labelled if labelled and has_corrections else None, missed)


def _pct(times: list[float], q: float) -> float:
    s = sorted(times)
    return s[min(len(s) - 1, int(q * len(s)))]


def render(rows: list[Row]) -> str:
    mv_total = {r.suite: r.total for r in rows if r.name == "math-verify"}
    out = ["| suite | n | verifier | accuracy | total s | p50 ms | p99 ms | max ms | raised | speed vs math-verify |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        acc = "—" if r.accuracy is None else f"{r.accuracy:.3f}"
        speed = "—" if r.name == "math-verify" or r.suite not in mv_total else f"{mv_total[r.suite] / max(r.total, 1e-9):.1f}x"
        out.append(f"| {r.suite} | {r.n} | {r.name} | {acc} | {r.total:.2f} | {statistics.median(r.times) * 1e3:.2f} "
                   f"| {_pct(r.times, 0.99) * 1e3:.2f} | {max(r.times) * 1e3:.1f} | {r.errors} | {speed} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="8 cases per suite: a smoke run of seconds")
    ap.add_argument("--no-math-verify", action="store_true", help="skip the math-verify baseline")
    args = ap.parse_args()
    data_dir()  # fail before any work when the data is not there

    have_math = "math" in verifiers.available_verifiers()
    suites: list[tuple[str, Callable[[], list[Case]], list[str]]] = [
        ("public-275", public_cases, ["math", "gsm8k"]),
        ("suite-gsm8k", lambda: suite_cases("gsm8k"), ["gsm8k", "gsm8k-strict", "gsm8k-flexible"]),
        ("suite-math", lambda: suite_cases("math"), ["math"]),
        ("gsm8k-test-golds", gsm8k_gold_cases, ["gsm8k", "gsm8k-strict", "gsm8k-flexible"]),
        ("math500-golds", math500_cases, ["math"]),
        ("hostile", hostile_cases, ["gsm8k", "exact", "math"]),
    ]
    mv = None if args.no_math_verify else math_verify_runner()
    rows: list[Row] = []
    for suite, load, names in suites:
        cases = load()
        if args.quick:
            cases = cases[:4] + cases[-4:] if len(cases) > 8 else cases
        for name in names:
            if name == "math" and not have_math:
                print(f"# {suite}: 'math' verifier not registered yet - row pending", file=sys.stderr)
                continue
            rows.append(measure(suite, cases, name, ours(name)))
        if mv is not None:
            rows.append(measure(suite, cases, "math-verify", mv))
        print(f"# done {suite} ({len(cases)} cases)", file=sys.stderr)
    print(f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M %Z')}\n")
    print(render(rows))
    for suite in dict.fromkeys(r.suite for r in rows if r.corrected is not None):
        n = next(r.n for r in rows if r.suite == suite)
        flips = "; ".join(f"line {i}: {why}" for i, (_, _, why) in CORRECTIONS.items())
        print(f"\n{suite}, as labelled vs corrected ({len(CORRECTIONS)} labels flipped — {flips}):\n")
        print("| verifier | as labelled | corrected | wrong vs labels (case positions; line indices in a full run) |\n|---|---|---|---|")
        for r in rows:
            if r.suite == suite and r.corrected is not None:
                print(f"| {r.name} | {round(r.accuracy * n)}/{n} = {r.accuracy:.3f} "
                      f"| {round(r.corrected * n)}/{n} = {r.corrected:.3f} "
                      f"| {r.missed if len(r.missed) <= 12 else f'{len(r.missed)} cases'} |")
    slow = [r for r in rows if r.suite == "hostile" and r.name != "math-verify" and max(r.times) > 0.5]
    print(f"\nHostile checks over 0.5 s: {', '.join(r.name for r in slow) or 'none'}")
    print(render_attacks(measure_attacks(quick=args.quick, with_math_verify=mv is not None)))


# ---- the adversarial corpus (bench/verifier_attacks.py) ----------------------------------------

@dataclass
class AttackRow:
    name: str
    n: int
    wrong_paid: list = field(default_factory=list)  # (kind, response head) of label-0 cases paid
    right_missed: int = 0
    overlong_paid: int = 0  # right answers in over-long responses paid (graded on a part)
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    worst: str = ""


def measure_attacks(*, quick: bool = False, with_math_verify: bool = True) -> list[AttackRow]:
    """Every grader over the generated corpus: wrong answers paid, right ones missed, and wall and
    CPU (thread) time per check."""
    from bench.verifier_attacks import attacks

    corpus = attacks(seed=0)
    if quick:  # two of each kind
        seen: dict[str, int] = {}
        corpus = [a for a in corpus if seen.setdefault(a.kind, 0) < 2 and not seen.update({a.kind: seen[a.kind] + 1})]
    runners = {name: (lambda a, v=verifiers.get_verifier(name): v.check(a.response, a.gold).correct)
               for name in ("math", "gsm8k")}
    if with_math_verify:
        import logging

        logging.getLogger("math_verify").setLevel(logging.CRITICAL)  # it logs every timed-out input whole
        mv = math_verify_runner()
        if mv is not None:
            runners["math-verify"] = lambda a: mv(Case(a.response, a.gold, a.expected, {}))
    rows = []
    for name, run in runners.items():
        row = AttackRow(name, len(corpus))
        run(corpus[0])  # warm-up outside the clock
        worst = 0.0
        for a in corpus:
            w0, c0 = time.perf_counter(), time.thread_time()
            try:
                got = bool(run(a))
            except Exception:  # noqa: BLE001 - a raising grader pays nothing
                got = False
            wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
            row.wall.append(wall)
            row.cpu.append(cpu)
            if wall > worst:
                worst, row.worst = wall, f"{a.kind}: {a.response[:60]!r}"
            if got and a.kind == "overlong_right":
                row.overlong_paid += 1
            elif got and not a.expected:
                row.wrong_paid.append((a.kind, a.response[:80]))
            row.right_missed += int(a.expected == 1 and not got)
        rows.append(row)
        print(f"# done attacks with {name}", file=sys.stderr)
    return rows


def render_attacks(rows: list[AttackRow]) -> str:
    out = [f"\nAdversarial corpus (bench/verifier_attacks.py, seed 0, {rows[0].n} responses):\n",
           "| verifier | wrong answers paid | right answers missed | over-long right answers paid | worst wall ms "
           "| p99 wall ms | worst CPU ms | p99 CPU ms | slowest case |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r.name} | {len(r.wrong_paid)} | {r.right_missed} | {r.overlong_paid} | {max(r.wall) * 1e3:.1f} "
                   f"| {_pct(r.wall, 0.99) * 1e3:.1f} | {max(r.cpu) * 1e3:.1f} | {_pct(r.cpu, 0.99) * 1e3:.1f} "
                   f"| {r.worst} |")
    for r in rows:
        kinds: dict[str, int] = {}
        for kind, _ in r.wrong_paid:
            kinds[kind] = kinds.get(kind, 0) + 1
        if kinds:
            example = "; ".join(f"{k}: {h!r}" for k, h in r.wrong_paid[:3])
            out.append(f"\n{r.name} paid wrong answers by class: {kinds}; e.g. {example}")
    return "\n".join(out)


if __name__ == "__main__":
    main()
