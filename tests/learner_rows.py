"""Helpers of the update tests: `Rows().add(...)` builds each `LearnerRow` from the
few fields a test cares about, around a pool record of the right kind (own sampled ids, or a
peer's text); `RecordingOptimizer` records each update's gradients in place of AdamW."""

from __future__ import annotations

import torch

from train.algorithms import get_algo
from train.pool import Trajectory
from train.update_step import LearnerRow


class Rows(list):
    def add(self, *, prompt, objective: str, advantage: float, response: str | None = None, response_ids=None,
            append_eos: bool = False, coef: float = 1.0, old_mean_logp: float | None = None, old_token_logps=None,
            is_self: bool = False, sampling_mean_logp: float | None = None) -> None:
        """is_self: the learner's own sample (given as `response_ids`; only those enter the KL and
        logp_mismatch). old_mean_logp None: pi_old is the learner's own pre-update log-prob."""
        own = response_ids is not None
        record = Trajectory(
            prompt_id=str(len(self)), prompt=prompt, response=response or "", source="learner" if own else "peer",
            reward=0.0, finished=append_eos, source_mean_logp=old_mean_logp,
            source_token_logps=None if old_token_logps is None else tuple(old_token_logps),
            sampling_mean_logp=sampling_mean_logp, source_token_ids=tuple(response_ids) if own else None)
        self.append(LearnerRow(record, objective, float(advantage), coef=coef, is_self=own,
                               learner_old=old_mean_logp is None))


def spec(**settings):
    """HACPO's spec with the update settings a test names (minibatch_size, shuffle, eps_*, ...)."""
    return get_algo("hacpo", **settings)


class RecordingOptimizer:
    """Stands in for AdamW: records each update's gradients, leaves the weights unchanged."""

    def __init__(self, model):
        self.params = list(model.parameters())
        self.steps: list[list[torch.Tensor]] = []

    def zero_grad(self, set_to_none: bool = True):
        for p in self.params:
            p.grad = None

    def step(self):
        self.steps.append([torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in self.params])
