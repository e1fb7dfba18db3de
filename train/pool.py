"""The shared trajectory pool: tokenizer-neutral records of one training step's rollouts.

Every response any agent generated in a step becomes one frozen `Trajectory`, made once, complete,
after verification and behaviour scoring: the raw prompt, the response TEXT, who generated it,
its reward and verdict, and the source's behaviour statistics (its own token ids and their
log-probs under its policy before any agent updates, HACPO.md §4.1 step 4: re-scored by its
training model, or its exact fp32 sampler's own log-probs). Nothing in a record depends on a
learner's tokenizer: each learner's rows (`train.views`) are re-tokenised from the text with its
own chat template and tokenizer (`train.update_step.encode_rows`, HACPO.md §10.6).

`Pool.to_jsonl` / `Pool.from_jsonl` make a step inspectable; `load_trajectories` reads external
trajectories (text + reward, optional behaviour log-prob) that a run can mix into training.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from hacrl_env.jsonl import iter_jsonl
from train.atomic import atomic_open

Prompt = Any  # str (one user message) or a list of chat messages {"role", "content"}


@dataclass(frozen=True)
class Trajectory:
    """One verified response in the shared pool (tokenizer-neutral)."""

    prompt_id: str  # canonical problem id, shared by all agents' responses to the prompt
    prompt: Prompt  # the raw prompt (str or chat messages), NOT a templated string
    response: str  # decoded response text (special tokens skipped)
    source: str  # name of the agent that generated it ("" when external with no agent)
    reward: float
    extracted: str = ""  # the verifier's extracted answer
    reason: str = ""  # the verifier's reason string
    source_num_tokens: int = 0  # tokens in the source's own tokenization (EOS included if finished)
    # mean log pi_source_old over those tokens; None: not scored before the update (no peer reads the
    # record, so its source's update scores it in its first forward, HACPO.md §4.1 step 4)
    source_mean_logp: float | None = None
    sampling_mean_logp: float | None = None  # what the sampler reported; logged as a mismatch metric only
    finished: bool = True  # ended with the source's EOS (False = truncated at max_new_tokens)
    policy_version: int = 0  # training step whose policy generated it
    prompt_index: int = 0  # position of the prompt in the step's batch (groups for advantages)
    sample_index: int = 0  # index among the source's G responses to this prompt
    source_token_ids: tuple[int, ...] | None = None  # the source's own ids (reused for self rows only)
    # log pi_source_old of each of those ids (None: not scored, or external); the mean above is theirs
    source_token_logps: tuple[float, ...] | None = None
    external: bool = False  # loaded from a file rather than generated in this run

    @property
    def truncated(self) -> bool:
        return not self.finished

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["truncated"] = self.truncated  # derived; written for people reading the file
        for key in ("source_token_ids", "source_token_logps"):
            if d[key] is not None:
                d[key] = list(d[key])
        return d

    @classmethod
    def from_json(cls, d: dict) -> Trajectory:
        """The record `to_json` wrote, its fields type-checked (a ValueError names the field)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields - {"truncated"}
        if unknown:
            raise ValueError(f"trajectory record has unknown keys {sorted(unknown)}; known keys: {sorted(fields)}")
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                   and f.name not in d]
        if missing:
            raise ValueError(f"trajectory record lacks {missing}; a pool dump line holds every field")
        d = dict(d)
        d.pop("truncated", None)
        for key, check in _RECORD_CHECKS.items():
            if key in d:
                d[key] = check(d[key], key)
        return cls(**d)


class Pool:
    """All trajectories of one step, in generation order (agent, prompt, sample); read-only once made."""

    def __init__(self, records: Iterable[Trajectory] = (), step: int = 0):
        self.records: tuple[Trajectory, ...] = tuple(records)
        self.step = step

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def from_source(self, source: str) -> list[Trajectory]:
        return [r for r in self.records if r.source == source and not r.external]

    def to_jsonl(self, path: str | os.PathLike) -> Path:
        """Write one JSON line per record, atomically (train.atomic: a reader never sees a part)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path) as f:
            for r in self.records:
                f.write(json.dumps({"step": self.step, **r.to_json()}, ensure_ascii=False) + "\n")
        return path

    @classmethod
    def from_jsonl(cls, path: str | os.PathLike) -> Pool:
        records, step = [], 0
        for lineno, d in _read_trajectory_file(path):
            try:
                step = _count(d.pop("step", step), "step")
                records.append(Trajectory.from_json(d))
            except (TypeError, ValueError) as e:
                raise ValueError(f"{path}:{lineno}: {e}") from None
        return cls(records, step=step)


def _read_trajectory_file(path: str | os.PathLike) -> Iterable[tuple[int, dict]]:
    """(line number, object) per line, through the project's one jsonl reader
    (hacrl_env.jsonl.iter_jsonl): bad UTF-8, bad JSON and NaN / Infinity constants are errors
    naming `path:line` (a ValueError, hacrl_env's DataError)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"trajectory file {path} does not exist")
    return iter_jsonl(path)


# ---------------------------------------------------------------------------- field checks
# Each takes (value, field name) and returns the value to store, or raises a ValueError naming
# the field, what was wrong and the fix; the reader prefixes "file:line: ".

_ROLES = ("system", "user", "assistant")


def _json_type(value: Any) -> str:
    """`value`'s type as the JSON file spells it, for messages."""
    names = {bool: "a boolean", str: "a string", int: "an integer", float: "a number", list: "a list",
             dict: "an object", type(None): "null"}
    return names.get(type(value), f"a {type(value).__name__}")


def _show(value: Any) -> str:
    """`value`'s repr, cut short: a message names the bad value without echoing a whole prompt."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{key!r} must be a string, got {_show(value)} ({_json_type(value)})")
    return value


def _boolean(value: Any, key: str) -> bool:
    # bool("false") is True: a quoted boolean must not be read as its truthiness.
    if not isinstance(value, bool):
        hint = (f"; write {value.strip().lower()} without quotes"
                if isinstance(value, str) and value.strip().lower() in ("true", "false") else "")
        raise ValueError(f"{key!r} must be a JSON boolean (true or false), got {_show(value)} "
                         f"({_json_type(value)}){hint}")
    return value


def _count(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key!r} must be an integer >= 0, got {_show(value)} ({_json_type(value)})")
    return value


def _finite_number(value: Any, key: str) -> float:
    # float("1") would pass a quoted number: a string here is refused, whatever it holds.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        hint = "; write the number without quotes" if isinstance(value, str) and _is_number(value) else ""
        raise ValueError(f"{key!r} must be a number (a finite JSON number), got {_show(value)} "
                         f"({_json_type(value)}){hint}")
    if not _is_number(value):
        raise ValueError(f"{key!r} must be a finite number, got {_show(value)}")
    return float(value)


def _is_number(value: Any) -> bool:
    """Whether float(value) works and is finite (an int too big for a float is not)."""
    try:
        return math.isfinite(float(value))
    except (ValueError, OverflowError):
        return False


def _optional(check):
    """`check`, with null (what to_jsonl writes for "not set") passed through as None."""
    return lambda value, key: None if value is None else check(value, key)


def _mean_logp(value: Any, key: str) -> float:
    logp = _finite_number(value, key)
    if logp > 0:
        raise ValueError(f"{key!r} must be <= 0 (a mean log-probability: the mean over the response's "
                         f"tokens of log pi(token)), got {value!r}; a probability p belongs here as log(p)")
    return logp


def _prompt(value: Any, key: str) -> Prompt:
    """A str, or chat messages checked now rather than at the first step's chat template."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise ValueError(f"{key!r} must be a string or a list of chat messages, got {_json_type(value)}")
    if not value:
        raise ValueError(f"{key!r} must be a string or a list of chat messages, got an empty list")
    for i, m in enumerate(value):
        _message(m, f"{key!r} message {i}")
    return value


def _message(m: Any, where: str) -> None:
    example = '{"role": "user", "content": "..."}'
    if not isinstance(m, dict):
        raise ValueError(f"{where} must be an object like {example}, got {_json_type(m)}")
    missing = [k for k in ("role", "content") if k not in m]
    if missing:
        raise ValueError(f"{where} lacks {missing}; each message is like {example}")
    if m["role"] not in _ROLES:
        raise ValueError(f"{where} has role {_show(m['role'])}; roles are {', '.join(_ROLES)}")
    if not isinstance(m["content"], str):
        raise ValueError(f"{where} has 'content' of {_json_type(m['content'])}; it must be a string "
                         "(text-only prompts: no content lists)")


def _token_ids(value: Any, key: str) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0
                                              for t in value):
        raise ValueError(f"{key!r} must be null or a list of token ids (integers >= 0)")
    return tuple(value)


def _token_logps(value: Any, key: str) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{key!r} must be null or a list of log-probs (finite numbers)")
    return tuple(_finite_number(v, key) for v in value)


def _prompt_id(value: Any, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise ValueError(f"{key!r} must be a non-empty string or an integer, got {_show(value)} "
                         f"({_json_type(value)}); records sharing it form one advantage group")
    return str(value)


# What Trajectory.from_json checks, per field (pool dumps: every field, as to_json wrote it).
# Log-probs are only checked finite here, not <= 0: a dump is read back as written.
_RECORD_CHECKS = {
    "prompt_id": _string, "prompt": _prompt, "response": _string, "source": _string, "reward": _finite_number,
    "extracted": _string, "reason": _string, "source_num_tokens": _count,
    "source_mean_logp": _optional(_finite_number), "sampling_mean_logp": _optional(_finite_number),
    "finished": _boolean, "policy_version": _count, "prompt_index": _count, "sample_index": _count,
    "source_token_ids": _optional(_token_ids), "source_token_logps": _optional(_token_logps), "external": _boolean,
}


def load_trajectories(path: str | os.PathLike, agent_names: Sequence[str]) -> list[Trajectory]:
    """Load external trajectories to mix into training.

    Each JSON line needs `prompt` (a str, or a non-empty list of {"role": "system" | "user" |
    "assistant", "content": str} messages), `response` (str) and `reward` (a finite JSON number);
    optional: `prompt_id` (str or int; defaults to the prompt text; records sharing it form one
    advantage group), `finished` (a JSON boolean, default true), `source` (str),
    `source_mean_logp` (a finite number <= 0, or null) and `source_num_tokens` (an int >= 0).
    The behaviour log-prob is needed for the cross-agent ratio: either the record carries
    `source_mean_logp`, or it names a `source` agent of this run, whose model then rescores it
    at the start of every step.  Anything else is a ValueError naming file:line, the field and
    the fix; values are never coerced (a quoted "1" or "false" is refused, not read as a number
    or a truthy string), and NaN / Infinity are refused by the reader.
    """
    names = set(agent_names)
    out = []
    for lineno, d in _read_trajectory_file(path):
        try:
            out.append(_external_record(d, names))
        except ValueError as e:
            raise ValueError(f"{path}:{lineno}: {e}") from None
    if not out:
        raise ValueError(f"{path}: no external trajectories in the file")
    return out


def _external_record(d: dict, names: set[str]) -> Trajectory:
    """One line of an external trajectory file as a Trajectory; a ValueError names the field."""
    missing = [k for k in ("prompt", "response", "reward") if k not in d]
    if missing:
        raise ValueError(f"external trajectory lacks {missing}; needs prompt, response, reward")
    prompt = _prompt(d["prompt"], "prompt")
    response = _string(d["response"], "response")
    reward = _finite_number(d["reward"], "reward")
    source = _string(d["source"], "source") if "source" in d else ""
    # null means "not given", as in a pool dump; checked even when a run agent rescores it below
    logp = _optional(_mean_logp)(d.get("source_mean_logp"), "source_mean_logp")
    num_tokens = _count(d["source_num_tokens"], "source_num_tokens") if "source_num_tokens" in d else 0
    finished = _boolean(d["finished"], "finished") if "finished" in d else True
    if "prompt_id" in d:
        pid = _prompt_id(d["prompt_id"], "prompt_id")
    else:
        pid = prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True)
    if logp is None and source not in names:
        raise ValueError(
            f"external trajectory has no 'source_mean_logp' and its source {source!r} is not an agent of "
            f"this run ({sorted(names)}); add the behaviour mean log-prob as 'source_mean_logp', or set 'source' "
            "to a run agent whose model should rescore it")
    if logp is not None and source in names:
        # a run agent is named: its current model rescoring is authoritative (HACPO.md §3c)
        logp = None
    return Trajectory(prompt_id=pid, prompt=prompt, response=response, source=source, reward=reward,
                      source_num_tokens=num_tokens, source_mean_logp=logp, finished=finished, external=True)


def group_external(records: Sequence[Trajectory]) -> list[list[Trajectory]]:
    """External records grouped by prompt_id, in first-appearance order (one group = one advantage group)."""
    groups: dict[str, list[Trajectory]] = {}
    for r in records:
        groups.setdefault(r.prompt_id, []).append(r)
    return list(groups.values())
