"""Action checking and batched verification, shared by the single-problem and vector envs.

Every response of every agent for every problem in a step goes through ONE
`verifier.check_many` call, so a verifier with a process pool or per-call setup pays it once per
step, not once per response.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from verifiers import Verdict, Verifier
from verifiers.base import too_long

#: Flag of a response the env refused as longer than its `max_response_chars` (reason "too_long").
TOO_LONG_FLAG = "response_too_long_for_env"


def check_agent_keys(actions: Any, live_agents: Sequence[str]) -> None:
    """`actions` must be a dict with exactly one entry per live agent."""
    if not isinstance(actions, Mapping):
        raise TypeError(f"step() takes a dict {{agent: response}}, got {type(actions).__name__}")
    unknown = [a for a in actions if a not in live_agents]
    if unknown:
        raise ValueError(f"actions for unknown or finished agents {unknown}; live agents are "
                         f"{list(live_agents)}")
    missing = [a for a in live_agents if a not in actions]
    if missing:
        raise ValueError(f"no action for agents {missing}; every live agent answers each prompt "
                         f"(live: {list(live_agents)})")


def as_responses(action: Any, where: str) -> list[str]:
    """One action (a response str, or a non-empty list/tuple of G response strs) as a list."""
    if isinstance(action, str):
        return [action]
    if isinstance(action, (list, tuple)):
        if not action:
            raise ValueError(f"{where}: empty list of responses; send at least one string")
        bad = [type(r).__name__ for r in action if not isinstance(r, str)]
        if bad:
            raise TypeError(f"{where}: responses must be str, got {bad[:3]} (decode token ids "
                            "to text before stepping)")
        return list(action)
    raise TypeError(f"{where}: an action is a response str or a list of str, got "
                    f"{type(action).__name__} (decode token ids to text before stepping)")


def score_batch(verifier: Verifier, golds: Sequence[str],
                responses: Mapping[str, Sequence[Sequence[str]]], *, max_response_chars: int,
                processes: int | None = None) -> dict[str, list[list[Verdict]]]:
    """Verdicts for `responses[agent][b][g]` against `golds[b]`: one `check_many` call.

    A response over `max_response_chars` is not graded: its verdict is reward 0, reason
    "too_long", flags `TOO_LONG_FLAG` and its length and the limit. It is never cut to a part
    and graded (a kept tail can hold an answer the response did not commit to). A verifier may
    refuse shorter ones by its own limit (`Verifier.max_response_chars`, 20,000 for built-ins).
    """
    flat_resp: list[str] = []
    flat_gold: list[str] = []
    for agent_resps in responses.values():
        for b, group in enumerate(agent_resps):
            for r in group:
                if len(r) <= max_response_chars:
                    flat_resp.append(r)
                    flat_gold.append(golds[b])
    kwargs = {"processes": processes} if processes else {}
    verdicts = verifier.check_many(flat_resp, flat_gold, **kwargs)
    if len(verdicts) != len(flat_resp):
        raise RuntimeError(f"verifier {getattr(verifier, 'name', verifier)!r} returned "
                           f"{len(verdicts)} verdicts for {len(flat_resp)} responses")
    graded = iter(verdicts)
    return {agent: [[next(graded) if len(r) <= max_response_chars
                     else too_long(len(r), max_response_chars, flags=(TOO_LONG_FLAG,))
                     for r in group] for group in agent_resps]
            for agent, agent_resps in responses.items()}


def verdict_arrays(row: Sequence[Verdict]) -> dict[str, Any]:
    """Per-response rewards / correctness / extracted answers / reasons for one (agent, problem)."""
    rewards = np.fromiter((v.reward for v in row), dtype=np.float64, count=len(row))
    return {
        "rewards": rewards,
        "correct": np.fromiter((v.correct for v in row), dtype=bool, count=len(row)),
        "extracted": [v.extracted for v in row],
        "reasons": [v.reason for v in row],
        "verdicts": list(row),
    }
