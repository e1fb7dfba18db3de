"""reasoning-gym tasks as problem sets (`rg-<task>-v0`) and their verifier.

Only a curated list is registered: tasks that generate offline and quickly, whose gold answer
scores 1.0 and junk scores 0.0 under `score_answer`, whose scorer never raises on junk text,
and whose scorer does not `eval` model text (e.g. `string_insertion` does, so it is out).
`tests/test_env_reasoning_gym.py` re-checks these properties for every registered task.

`import reasoning_gym` takes ~2.5 s, so it happens on first use, not at registration.
"""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from typing import Any

from hacrl_env.problems import ProblemSet, Record
from verifiers import Verifier, from_reasoning_gym

RG_TASKS: tuple[str, ...] = (
    "aiw", "base_conversion", "basic_arithmetic", "caesar_cipher", "calendar_arithmetic",
    "chain_sum", "complex_arithmetic", "count_bits", "count_primes", "decimal_chain_sum", "dice",
    "family_relationships", "fraction_simplification", "gcd", "gsm_symbolic", "lcm",
    "leg_counting", "letter_counting", "power_function", "products", "spell_backward",
    "time_intervals", "word_sequence_reversal",
)
DEFAULT_SIZES = {"train": 2000, "test": 200}
# The test split's seed is offset from the train seed; test questions are also removed from
# train, so the two splits never share a question.
TEST_SEED_OFFSET = 1_000_003


def _import_rg():
    try:
        import reasoning_gym
    except ImportError:
        raise ImportError("rg-* envs need reasoning-gym: pip install 'hacrl[rg]'") from None
    return reasoning_gym


def _dataset(task: str, size: int, seed: int, config_json: str):
    """`config_json`: the task config as sorted JSON (hashable, so it can key the caches)."""
    rg = _import_rg()
    config = json.loads(config_json)
    from reasoning_gym.factory import DATASETS

    if task not in DATASETS:
        raise ValueError(f"reasoning-gym has no task {task!r}")
    config_cls = DATASETS[task][1]
    fields = {f.name for f in dataclasses.fields(config_cls)} - {"seed", "size"}
    unknown = sorted(k for k in config if k not in fields)
    if unknown:
        raise TypeError(f"unknown option(s) {unknown} for reasoning-gym task {task!r}; "
                         f"its config takes {sorted(fields)} (plus size=, test_size=, seed=)")
    try:
        return rg.create_dataset(task, size=size, seed=seed, **config)
    except (AssertionError, ValueError, TypeError) as exc:
        raise ValueError(f"reasoning-gym rejected the config for {task!r} "
                         f"({config}): {exc}") from None


def _record(task: str, split: str, i: int, entry: dict[str, Any]) -> Record:
    return Record(id=f"rg-{task}/{split}/{i}", question=entry["question"], answer=str(entry["answer"]),
                  meta={"rg_task": task, "metadata": entry.get("metadata", {})},
                  verifier_answer=json.dumps(entry, default=str))


@lru_cache(maxsize=64)
def _rg_records(task: str, split: str, size: int, test_size: int, seed: int,
                config: str) -> tuple[Record, ...]:
    test_ds = _dataset(task, test_size, seed + TEST_SEED_OFFSET, config)
    if split == "test":
        return tuple(_record(task, split, i, test_ds[i]) for i in range(test_size))
    held_out = {test_ds[i]["question"] for i in range(test_size)}
    # Generate a little extra so the train split still has `size` problems after dropping
    # questions that also occur in test (small task spaces collide).
    pool = _dataset(task, size + size // 4 + 16, seed, config)
    recs: list[Record] = []
    for j in range(len(pool)):
        entry = pool[j]
        if entry["question"] not in held_out:
            recs.append(_record(task, split, len(recs), entry))
            if len(recs) == size:
                return tuple(recs)
    raise ValueError(f"rg task {task!r} could only make {len(recs)} train problems not in its test "
                     f"split (asked for size={size}); the task config allows too few distinct "
                     "questions: widen it (e.g. more digits/terms) or ask for a smaller size")


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def load_rg_problems(task: str, split: str = "train", *, template: str,
                     size: int = DEFAULT_SIZES["train"], test_size: int = DEFAULT_SIZES["test"],
                     seed: int = 0, **config: Any) -> ProblemSet:
    """A reasoning-gym task split. "train" (`size` problems, from `seed`) and "test"
    (`test_size` problems, from another seed) share no question: test questions are removed
    from train. `config` goes to the task's reasoning-gym config (e.g. min_terms, max_digits)."""
    if split not in DEFAULT_SIZES:
        raise ValueError(f"rg-{task} has no split {split!r}; choose 'train' or 'test'")
    _positive_int("size", size)
    _positive_int("test_size", test_size)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    train_size = size if split == "train" else 0  # the test split does not depend on it
    records = _rg_records(task, split, train_size, test_size, seed, config_key(config))
    return ProblemSet(f"rg-{task}", split, records, template)


def config_key(config: dict[str, Any]) -> str:
    """The task config as sorted JSON: hashable for the caches, and lists stay lists."""
    try:
        return json.dumps(config, sort_keys=True)
    except TypeError as exc:
        raise TypeError(f"reasoning-gym task options must be JSON-like values: {exc}") from None


def rg_verifier(task: str, config: dict[str, Any] | None = None) -> Verifier:
    """The task's own `score_answer` (through `verifiers.from_reasoning_gym`), built with the
    config the problems were made with, since a scorer may read its config. Golds passed to it
    are the reasoning-gym entries as JSON (see `Record.verifier_answer`)."""
    dataset = _dataset(task, 1, 0, config_key(dict(config or {})))
    return from_reasoning_gym(dataset, answer_format="entry", name=f"rg-{task}")
