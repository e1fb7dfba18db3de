"""The warm-start task: the default procedural problems the tiny zoo agents are SFT'd on.

The problems are those of `hacrl_env.make(WARMSTART_ENV_ID, split=..., **WARMSTART_TASK_KWARGS)`,
drawn here straight from reasoning-gym with the same seeds, sizes, held-out filter and prompt text,
so that `agents` does not import `hacrl_env` (tests/test_layering.py) and the zoo builds the same
agents whichever packages import. tests/test_agents_zoo.py checks that both give the same problems.
The trainer's default config reuses WARMSTART_ENV_ID and WARMSTART_TASK_KWARGS.
A warm start may see only one kind of training problem (`task_problems(..., subset=...)`:
addition-only or with a subtraction, 2 or 3 terms), for agents that differ in skill.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

WARMSTART_ENV_ID = "rg-chain_sum-v0"
WARMSTART_TASK_KWARGS: dict = dict(min_terms=2, max_terms=3, min_digits=1, max_digits=1)
ANSWER_SUFFIX = "\nGive the final answer after '####'."  # hacrl_env's RG_TEMPLATE instruction
# Part of the zoo cache key: the problems' provenance. They are still exactly those of hacrl_env's
# WARMSTART_ENV_ID (the key once named which package supplied them), so agents cached under this
# value stay valid. Change it whenever `task_problems` would return different problems.
TASK_KEY = "hacrl_env"
# As hacrl_env's rg-* envs with no size/test_size/seed kwargs (hacrl_env/reasoning_gym.py:
# DEFAULT_SIZES, TEST_SEED_OFFSET): train from seed 0, test from seed 0 + 1_000_003, and train
# drops every question that is also in test.
_RG_TASK = "chain_sum"
_SIZES = {"train": 2000, "test": 200}
_SEED = 0
_TEST_SEED_OFFSET = 1_000_003
_ANSWER_RE = re.compile(r"####\s*(-?\d+)")


@dataclass(frozen=True)
class TaskProblem:
    prompt: str
    answer: str


def _create(size: int, seed: int):
    try:
        import reasoning_gym
    except ImportError as e:
        raise ImportError("the zoo warm start needs reasoning-gym: pip install 'hacrl[rg]'") from e
    return reasoning_gym.create_dataset(_RG_TASK, size=size, seed=seed, **WARMSTART_TASK_KWARGS)


def _problem(entry: dict) -> TaskProblem:
    return TaskProblem(entry["question"] + ANSWER_SUFFIX, str(entry["answer"]))


@lru_cache(maxsize=2)
def _split(split: str) -> tuple[TaskProblem, ...]:
    test_ds = _create(_SIZES["test"], _SEED + _TEST_SEED_OFFSET)
    test = [test_ds[i] for i in range(_SIZES["test"])]
    if split == "test":
        return tuple(_problem(e) for e in test)
    held_out = {e["question"] for e in test}
    size = _SIZES["train"]
    pool = _create(size + size // 4 + 16, _SEED)  # extra, as questions also in test are dropped
    entries = (pool[j] for j in range(len(pool)))
    train = [_problem(e) for e in entries if e["question"] not in held_out]
    if len(train) < size:
        raise RuntimeError(f"{_RG_TASK} gave only {len(train)} train problems not in test, want {size}")
    return tuple(train[:size])


def task_problems(split: str, limit: int | None = None, *, subset: str = "all") -> list[TaskProblem]:
    """Problems of the warm-start task's `split` ("train" or "test"), in a fixed order.

    `subset` keeps only the problems of one kind (SUBSETS, see `problem_kinds`), in the same order;
    `limit` then counts the kept ones. The train split never holds a test question whatever the subset.
    """
    if split not in _SIZES:
        raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
    if subset not in SUBSETS:
        raise ValueError(f"unknown warm-start subset {subset!r}; use one of {', '.join(SUBSETS)}")
    problems = _split(split)
    if subset != "all":
        problems = tuple(p for p in problems if subset in problem_kinds(p))
    return list(problems if limit is None else problems[:limit])


_EXPR_RE = re.compile(r"problem:\s*(-?\d+(?:\s*[-+]\s*-?\d+)+)\s*=")
_TERM_RE = re.compile(r"([-+])\s*(-?\d+)")

# Kinds of chain problems a warm start can be restricted to (ZooSpec.sft_subset): "add" = every
# operator is '+', "sub" = at least one '-' (these two partition the task), "short" = 2 terms,
# "long" = 3 or more terms (another partition); "all" = no filter.
SUBSETS = ("all", "add", "sub", "short", "long")


def chain_operators(prompt: str) -> list[str] | None:
    """The operators of a plain +/- chain question, left to right ("8 + 2 - 7 =" -> ['+', '-']);
    None when the prompt holds no such chain."""
    m = _EXPR_RE.search(prompt)
    if m is None:
        return None
    first = m.group(1).split(None, 1)[0]
    return [op for op, _ in _TERM_RE.findall(m.group(1)[len(first):])]


def problem_kinds(problem: TaskProblem | str) -> frozenset[str]:
    """The SUBSETS a problem (or prompt) belongs to: "all" plus "add" or "sub", and "short" or "long"."""
    ops = chain_operators(problem if isinstance(problem, str) else problem.prompt)
    if ops is None:
        return frozenset({"all"})
    return frozenset({"all", "sub" if "-" in ops else "add", "short" if len(ops) == 1 else "long"})


def target_response(problem: TaskProblem, style: str = "answer") -> str:
    """The SFT target. "answer": just "#### <answer>" (shortest, so RL generation is cheap).

    "steps": the running sum one operation at a time, e.g. "3+4=7, 7-2=5 #### 5" (falls back to
    "answer" when the question is not a plain +/- chain).
    """
    if style == "steps":
        m = _EXPR_RE.search(problem.prompt)
        if m:
            first, rest = m.group(1).split(None, 1)[0], m.group(1)[len(m.group(1).split(None, 1)[0]):]
            total, parts = int(first), []
            for op, num in _TERM_RE.findall(rest):
                new = total + int(num) if op == "+" else total - int(num)
                parts.append(f"{total}{op}{int(num)}={new}")
                total = new
            if parts and str(total) == problem.answer.strip():
                return f"{', '.join(parts)} #### {total}"
    return f"#### {problem.answer}"


def is_correct(response: str, answer: str) -> bool:
    """Whether the first '#### <int>' in a response equals the integer answer (warm-start eval only)."""
    m = _ANSWER_RE.search(response)
    return m is not None and int(m.group(1)) == int(answer)
