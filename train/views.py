"""Each learner's view of the shared pool: which records it trains on, with which advantage,
objective and coefficient (HACPO.md §3, §4.1 step 6). Plain data in, plain rows out; the
learner's update (`train.update_step`) does the tokenising and the math.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from train import core
from train.algorithms import AlgoSpec, learns_from_peers
from train.pool import Pool, Trajectory, group_external
from train.update_step import LearnerRow


@dataclass(frozen=True)
class SharedStep:
    """What every learner reads in one step: the pool and the step's reward array and capability.
    Plain data, so it crosses to a worker process once per step (Ray's object store)."""

    names: tuple[str, ...]  # agents, in the order of the rewards' agent axis
    pool: Pool
    rewards: torch.Tensor  # (P, n, G)
    ratios: torch.Tensor  # (n, n) clipped capability ratios r[k, j]
    capability: torch.Tensor  # (n,)
    external: tuple[Trajectory, ...] = ()


def advantages(spec: AlgoSpec, k: int, rewards: torch.Tensor, ratios: torch.Tensor, share: bool) -> torch.Tensor:
    """(P, n, G) advantages of every response for learner k: capability-aware over the joint group
    when it learns from peers ([P] eq. 6-7), else its own G samples' group advantages (zeros
    elsewhere)."""
    if share:
        adv = core.capability_advantages(rewards, k, ratios, eps=spec.adv_eps, uniform_guard=spec.uniform_guard,
                                         baseline_guard=spec.baseline_guard,
                                         capability_weighted=spec.capability_weighted_baseline)
        return core.guard_own_uniform(adv, rewards, k) if spec.own_uniform_guard else adv
    adv = torch.zeros_like(rewards)
    adv[:, k] = core.group_advantages(rewards[:, k], eps=spec.adv_eps)
    return adv


def learner_rows(spec: AlgoSpec, k: int, step: SharedStep) -> tuple[list[LearnerRow], dict[str, float]]:
    """Learner k's rows: its own samples, then (per the algorithm) peers' and external ones, and
    {"adv/peer_positive_share", "cross_rows"}."""
    names, pool, rewards, ratios, external = step.names, step.pool, step.rewards, step.ratios, step.external
    share = learns_from_peers(spec, k, step.capability)
    adv = advantages(spec, k, rewards, ratios, share)
    own_kind = "grpo" if spec.objective == "grpo" else "gspo"
    rows = [LearnerRow(r, own_kind, float(adv[r.prompt_index, k, r.sample_index]), is_self=True,
                       learner_old=r.source_mean_logp is None)
            for r in pool.from_source(names[k])]
    if share:
        for j, name in enumerate(names):
            if j == k:
                continue
            keep = None  # (P, G) bool, or None: every peer sample enters
            if spec.cross_gate == "positive":
                keep = core.peer_gate(adv[:, j])
            elif spec.cross_gate == "rescue":
                keep = core.rescue_gate(adv[:, j], rewards[:, j], rewards[:, k])
            for r in pool.from_source(name):
                if keep is not None and not keep[r.prompt_index, r.sample_index]:
                    continue
                a = float(adv[r.prompt_index, j, r.sample_index])
                if spec.cross_as_self:  # naive: a peer's sample scored as if the learner had sampled it
                    rows.append(LearnerRow(r, "gspo", a, learner_old=True))
                else:
                    rows.append(LearnerRow(r, "cross", a, coef=float(ratios[k, j]) if spec.use_omega else 1.0))
    for group in group_external(external):  # configured by the user: mixed in for every learner
        ext_adv = core.group_advantages(torch.tensor([[r.reward for r in group]]), eps=spec.adv_eps)[0]
        for r, a in zip(group, ext_adv.tolist()):
            coef = float(ratios[k, names.index(r.source)]) if (r.source in names and spec.use_omega) else 1.0
            rows.append(LearnerRow(r, "cross", a, coef=coef))
    positive = [row.is_self for row in rows if row.advantage > 0]
    info = {"adv/peer_positive_share": (sum(1 for s in positive if not s) / len(positive)) if positive else 0.0,
            "cross_rows": float(sum(1 for row in rows if not row.is_self))}
    return rows, info
