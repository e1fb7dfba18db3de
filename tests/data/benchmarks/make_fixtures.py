"""Regenerate the benchmark fixtures in this folder from the full upstream files.

    HACRL_DATA_DIR=/path/to/data python tests/data/benchmarks/make_fixtures.py [--out DIR]

$HACRL_DATA_DIR must hold gsm8k/, math/ and math500/ in their upstream formats (see README.md
here). Rows are copied byte for byte as upstream lines, in upstream order, and each folder's
LICENSE* files are copied beside them. Deterministic: no randomness, only positions and plain
row properties, so a rerun on the same upstream files writes the same bytes.

Picks per file (`spread(n, k)`: k rows evenly spaced over n, starting at the first row):
  gsm8k/{train,test}  31 spread + the first row whose final answer has a thousands separator
                      ("#### 1,080") that is not already picked: 32 rows
  math/train          31 spread over rows with a non-empty answer + the first row with an empty
                      answer (the loader skips it and lists it in ProblemSet.skipped): 32 rows
  math500/test        32 spread
  math/test           30 spread over rows that are NOT in MATH-500 + the MATH test rows of the
                      first 10 math500 fixture problems: 40 rows, of which exactly 10 are in the
                      math500 fixture (so the `train4500` split drops exactly those 10)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent

GSM8K_ROWS = 32
MATH_TRAIN_ROWS = 32
MATH500_ROWS = 32
MATH_TEST_SPREAD = 30
MATH_TEST_IN_MATH500 = 10


def read_lines(path: Path) -> list[bytes]:
    """The file's lines, each with its own line ending, exactly as stored."""
    lines = path.read_bytes().splitlines(keepends=True)
    if not lines:
        raise SystemExit(f"{path} is empty")
    return lines


def spread(n: int, k: int, ok: Callable[[int], bool] = lambda i: True, taken: set[int] = frozenset()) -> list[int]:
    """k indices evenly spaced over range(n), from 0; a position that fails `ok` (or is already
    taken) moves on to the next row that passes."""
    out: list[int] = []
    for step in range(k):
        i = step * n // k
        while i < n and (not ok(i) or i in taken or i in out):
            i += 1
        if i == n:
            raise SystemExit(f"spread: ran out of rows at step {step} of {k}")
        out.append(i)
    return out


def first(n: int, ok: Callable[[int], bool], taken) -> int:
    for i in range(n):
        if ok(i) and i not in taken:
            return i
    raise SystemExit("no row has the property the picker needs")


def pick_gsm8k(lines: list[bytes]) -> list[int]:
    rows = [json.loads(line) for line in lines]
    picked = spread(len(rows), GSM8K_ROWS - 1)
    picked.append(first(len(rows), lambda i: "," in rows[i]["answer"].rsplit("####", 1)[1], picked))
    return sorted(picked)


def pick_math_train(lines: list[bytes]) -> list[int]:
    rows = [json.loads(line) for line in lines]
    has_answer = [bool(r["answer"].strip()) for r in rows]
    picked = spread(len(rows), MATH_TRAIN_ROWS - 1, ok=lambda i: has_answer[i])
    picked.append(first(len(rows), lambda i: not has_answer[i], picked))
    return sorted(picked)


def pick_math_test(lines: list[bytes], math500_full: list[bytes], math500_picked: list[int]) -> list[int]:
    problems = [json.loads(line)["problem"].strip() for line in lines]
    in_math500 = {json.loads(line)["problem"].strip() for line in math500_full}
    picked = spread(len(problems), MATH_TEST_SPREAD, ok=lambda i: problems[i] not in in_math500)
    where = {p: i for i, p in enumerate(problems)}
    overlap = []
    for j in math500_picked:  # in math500 fixture order
        i = where.get(json.loads(math500_full[j])["problem"].strip())
        if i is not None and i not in overlap:
            overlap.append(i)
        if len(overlap) == MATH_TEST_IN_MATH500:
            break
    if len(overlap) < MATH_TEST_IN_MATH500:
        raise SystemExit("too few MATH-500 fixture problems found in MATH test")
    return sorted(picked + overlap)


def make(src: Path, out: Path) -> dict[str, int]:
    """Write the fixtures from the full data in `src` to `out`; returns rows per file."""
    lines = {rel: read_lines(src / rel) for rel in
             ("gsm8k/train.jsonl", "gsm8k/test.jsonl", "math/train.jsonl", "math/test.jsonl", "math500/test.jsonl")}
    m500 = spread(len(lines["math500/test.jsonl"]), MATH500_ROWS)
    picks = {
        "gsm8k/train.jsonl": pick_gsm8k(lines["gsm8k/train.jsonl"]),
        "gsm8k/test.jsonl": pick_gsm8k(lines["gsm8k/test.jsonl"]),
        "math/train.jsonl": pick_math_train(lines["math/train.jsonl"]),
        "math/test.jsonl": pick_math_test(lines["math/test.jsonl"], lines["math500/test.jsonl"], m500),
        "math500/test.jsonl": m500,
    }
    counts = {}
    for rel, idx in picks.items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        chosen = [lines[rel][i] for i in idx]
        if not chosen[-1].endswith(b"\n"):  # the last upstream line may lack its newline
            chosen[-1] += b"\n"
        target.write_bytes(b"".join(chosen))
        counts[rel] = len(idx)
    for task in ("gsm8k", "math", "math500"):
        for lic in sorted((src / task).glob("LICENSE*")):
            shutil.copyfile(lic, out / task / lic.name)
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE, help="where to write (default: this folder)")
    args = ap.parse_args(argv)
    src = os.environ.get("HACRL_DATA_DIR")
    if not src:
        print("set HACRL_DATA_DIR to the folder holding the full gsm8k/, math/ and math500/ files",
              file=sys.stderr)
        return 2
    for rel, n in make(Path(src).expanduser(), args.out).items():
        print(f"{rel}: {n} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
