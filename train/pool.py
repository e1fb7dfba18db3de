"""The shared trajectory pool: tokenizer-neutral records of one training step's rollouts.

Every response any agent generated in a step becomes one frozen `Trajectory`: the raw prompt,
the response TEXT, who generated it, its reward and verdict, and the source's behaviour
statistics (token count and mean log-prob over the SOURCE's own tokens under its policy before
any agent updates, HACPO.md §4.1 step 4: re-scored by its training model, or its exact fp32
sampler's own log-probs).  Nothing in a record
depends on a learner's tokenizer: each learner builds its own view (`learner_view`) by applying
its chat template and tokenizer to the text (HACPO.md §10.6).

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

import torch

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
    source_mean_logp: float | None = None  # mean log pi_source_old over those tokens (None: not scored yet)
    sampling_mean_logp: float | None = None  # what the sampler reported; logged as a mismatch metric only
    finished: bool = True  # ended with the source's EOS (False = truncated at max_new_tokens)
    policy_version: int = 0  # training step whose policy generated it
    prompt_index: int = 0  # position of the prompt in the step's batch (groups for advantages)
    sample_index: int = 0  # index among the source's G responses to this prompt
    source_token_ids: tuple[int, ...] | None = None  # the source's own ids (reused for self rows only)
    external: bool = False  # loaded from a file rather than generated in this run

    @property
    def truncated(self) -> bool:
        return not self.finished

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["truncated"] = self.truncated  # derived; written for people reading the file
        if d["source_token_ids"] is not None:
            d["source_token_ids"] = list(d["source_token_ids"])
        return d

    @classmethod
    def from_json(cls, d: dict) -> Trajectory:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields - {"truncated"}
        if unknown:
            raise ValueError(f"trajectory record has unknown keys {sorted(unknown)}; known keys: {sorted(fields)}")
        d = dict(d)
        d.pop("truncated", None)
        if d.get("source_token_ids") is not None:
            d["source_token_ids"] = tuple(int(t) for t in d["source_token_ids"])
        return cls(**d)


class Pool:
    """All trajectories of one step, indexable by (prompt, source, sample).

    `rewards_tensor(agent_names)` gives the (P, n, G) joint reward array that
    `train.core.capability_advantages` expects; records are kept in generation order.
    """

    def __init__(self, records: Iterable[Trajectory] = (), step: int = 0):
        self.records: list[Trajectory] = list(records)
        self.step = step

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def add(self, record: Trajectory) -> None:
        self.records.append(record)

    def from_source(self, source: str) -> list[Trajectory]:
        return [r for r in self.records if r.source == source and not r.external]

    def rewards_tensor(self, agent_names: Sequence[str]) -> torch.Tensor:
        """(P, n, G) float rewards of the generated (non-external) records, agents in `agent_names` order."""
        gen = [r for r in self.records if not r.external]
        if not gen:
            raise ValueError("the pool holds no generated trajectories")
        num_prompts = 1 + max(r.prompt_index for r in gen)
        group = 1 + max(r.sample_index for r in gen)
        out = torch.full((num_prompts, len(agent_names), group), float("nan"))
        col = {name: j for j, name in enumerate(agent_names)}
        for r in gen:
            if r.source not in col:
                raise ValueError(f"pool record from unknown source {r.source!r}; agents are {list(agent_names)}")
            out[r.prompt_index, col[r.source], r.sample_index] = r.reward
        if torch.isnan(out).any():
            raise ValueError("the pool is ragged: every agent needs the same number of responses per prompt")
        return out

    def with_source_logps(self, source: str, mean_logps: Sequence[float | None]) -> None:
        """Fill in the behaviour mean log-probs of `source`'s records (in `from_source` order; None
        leaves a record as it is)."""
        idx = [i for i, r in enumerate(self.records) if r.source == source and not r.external]
        if len(idx) != len(mean_logps):
            raise ValueError(f"{len(mean_logps)} log-probs for {len(idx)} records of {source!r}")
        for i, lp in zip(idx, mean_logps):
            if lp is not None:
                self.records[i] = dataclasses.replace(self.records[i], source_mean_logp=float(lp))

    def to_jsonl(self, path: str | os.PathLike) -> Path:
        """Write one JSON line per record (atomically: temp file then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for r in self.records:
                f.write(json.dumps({"step": self.step, **r.to_json()}, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def from_jsonl(cls, path: str | os.PathLike) -> Pool:
        records, step = [], 0
        for lineno, d in _read_jsonl(path):
            step = int(d.pop("step", step))
            try:
                records.append(Trajectory.from_json(d))
            except (TypeError, ValueError) as e:
                raise ValueError(f"{path}:{lineno}: {e}") from None
        return cls(records, step=step)


def _read_jsonl(path: str | os.PathLike) -> Iterable[tuple[int, dict]]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"trajectory file {path} does not exist")
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(d, dict):
                raise ValueError(f"{path}:{lineno}: each line must be a JSON object")
            yield lineno, d


def load_trajectories(path: str | os.PathLike, agent_names: Sequence[str]) -> list[Trajectory]:
    """Load external trajectories to mix into training.

    Each JSON line needs `prompt` (str or chat messages), `response` (str) and `reward` (number);
    optional: `prompt_id` (defaults to the prompt text; records sharing it form one advantage
    group), `finished` (default True), `source`, `source_mean_logp`, `source_num_tokens`.
    The behaviour log-prob is needed for the cross-agent ratio: either the record carries
    `source_mean_logp`, or it names a `source` agent of this run, whose model then rescores it
    at the start of every step.  Anything else is an error naming the line and both fixes.
    """
    names = set(agent_names)
    out = []
    for lineno, d in _read_jsonl(path):
        where = f"{path}:{lineno}"
        missing = [k for k in ("prompt", "response", "reward") if k not in d]
        if missing:
            raise ValueError(f"{where}: external trajectory lacks {missing}; needs prompt, response, reward")
        if not isinstance(d["response"], str):
            raise ValueError(f"{where}: 'response' must be a string, got {type(d['response']).__name__}")
        prompt = d["prompt"]
        if not (isinstance(prompt, str) or (isinstance(prompt, list) and all(isinstance(m, dict) for m in prompt))):
            raise ValueError(f"{where}: 'prompt' must be a string or a list of chat messages")
        try:
            reward = float(d["reward"])
        except (TypeError, ValueError):
            raise ValueError(f"{where}: 'reward' must be a number, got {d['reward']!r}") from None
        if not math.isfinite(reward):
            raise ValueError(f"{where}: 'reward' must be finite, got {reward}")
        source = d.get("source") or ""
        logp = d.get("source_mean_logp")
        if logp is None and source not in names:
            raise ValueError(
                f"{where}: external trajectory has no 'source_mean_logp' and its source {source!r} is not an agent of "
                f"this run ({sorted(names)}); add the behaviour mean log-prob as 'source_mean_logp', or set 'source' "
                "to a run agent whose model should rescore it")
        if logp is not None and source in names:
            # a run agent is named: its current model rescoring is authoritative (HACPO.md §3c)
            logp = None
        pid = d.get("prompt_id") or (prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True))
        out.append(Trajectory(
            prompt_id=str(pid), prompt=prompt, response=d["response"], source=source, reward=reward,
            source_num_tokens=int(d.get("source_num_tokens", 0)),
            source_mean_logp=None if logp is None else float(logp),
            finished=bool(d.get("finished", True)), external=True,
        ))
    if not out:
        raise ValueError(f"{path}: no external trajectories in the file")
    return out


def group_external(records: Sequence[Trajectory]) -> list[list[Trajectory]]:
    """External records grouped by prompt_id, in first-appearance order (one group = one advantage group)."""
    groups: dict[str, list[Trajectory]] = {}
    for r in records:
        groups.setdefault(r.prompt_id, []).append(r)
    return list(groups.values())


def learner_view(agent, records: Sequence[Trajectory], *, max_prompt_tokens: int | None,
                 max_response_tokens: int | None, self_name: str | None = None):
    """Encode `records` for `agent` (HACPO.md §10.6).

    Self records (source == `self_name`, generated this step) reuse the agent's sampled ids.
    Other records are re-tokenised from TEXT with the learner's own chat template and tokenizer;
    the learner's own EOS is appended iff the source stopped on its EOS, so every agent learns to
    stop in its own vocabulary.  Both are truncated to the learner's limits.
    Returns an `agents.EncodedBatch` in `records` order; all records must be of one kind.
    """
    prompts = [r.prompt for r in records]
    is_self = [r.source == self_name and not r.external and r.source_token_ids is not None for r in records]
    if all(is_self) and records:
        return agent.encode(prompts, response_ids=[list(r.source_token_ids) for r in records],
                            max_prompt_tokens=max_prompt_tokens, max_response_tokens=max_response_tokens)
    if any(is_self):
        raise ValueError("learner_view: encode self and cross records in separate calls")
    return agent.encode(prompts, responses=[r.response for r in records], append_eos=[r.finished for r in records],
                        max_prompt_tokens=max_prompt_tokens, max_response_tokens=max_response_tokens)
