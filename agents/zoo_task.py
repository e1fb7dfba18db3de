"""The warm-start task: the default procedural problems the tiny zoo agents are SFT'd on.

The task comes from `hacrl_env.make(WARMSTART_ENV_ID, split=...)` when that package provides it
(imported lazily: `agents` must not depend on `hacrl_env` at module level). Until then, and if it
is unavailable, the same problems are drawn straight from reasoning-gym with the same prompt text.
The trainer's default config reuses WARMSTART_ENV_ID and WARMSTART_TASK_KWARGS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WARMSTART_ENV_ID = "rg-chain_sum-v0"
WARMSTART_TASK_KWARGS: dict = dict(min_terms=2, max_terms=3, min_digits=1, max_digits=1)
ANSWER_SUFFIX = "\nGive the final answer after '####'."
# reasoning-gym fallback: disjoint seeds per split so held-out problems are never trained on.
_FALLBACK_SEEDS = {"train": 1234, "test": 98765}
_FALLBACK_SIZES = {"train": 4000, "test": 500}
_ANSWER_RE = re.compile(r"####\s*(-?\d+)")


@dataclass(frozen=True)
class TaskProblem:
    prompt: str
    answer: str


def task_source() -> str:
    """Which provider supplies the task ("hacrl_env" or "reasoning_gym"); part of the zoo cache key."""
    try:
        import hacrl_env
    except ImportError:
        return "reasoning_gym"
    return "hacrl_env" if callable(getattr(hacrl_env, "make", None)) else "reasoning_gym"


def task_problems(split: str, limit: int | None = None) -> list[TaskProblem]:
    """Problems of the warm-start task's `split` ("train" or "test"), in a fixed order."""
    if task_source() == "hacrl_env":
        import hacrl_env

        env = hacrl_env.make(WARMSTART_ENV_ID, split=split, **WARMSTART_TASK_KWARGS)
        count = env.num_problems if limit is None else min(limit, env.num_problems)
        return [TaskProblem(env.problem(i).prompt, str(env.problem(i).answer)) for i in range(count)]
    if split not in _FALLBACK_SEEDS:
        raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
    try:
        import reasoning_gym
    except ImportError as e:
        raise ImportError("the zoo warm start needs reasoning-gym: pip install 'hacrl[rg]'") from e
    size = _FALLBACK_SIZES[split] if limit is None else min(limit, _FALLBACK_SIZES[split])
    data = reasoning_gym.create_dataset("chain_sum", size=size, seed=_FALLBACK_SEEDS[split], **WARMSTART_TASK_KWARGS)
    return [TaskProblem(item["question"] + ANSWER_SUFFIX, str(item["answer"])) for item in data]


_EXPR_RE = re.compile(r"problem:\s*(-?\d+(?:\s*[-+]\s*-?\d+)+)\s*=")
_TERM_RE = re.compile(r"([-+])\s*(-?\d+)")


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
