"""Per-agent learning-rate schedules (`agents.N.lr_scheduler`, `warmup_ratio`), as TRL users set
them: the lr each training step uses, and where a resumed run picks the schedule up."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from train.config import AgentConfig
from train.workers import LocalWorker

LR = 1e-3


def _worker(total_steps: int, **overrides) -> LocalWorker:
    agent = SimpleNamespace(model=torch.nn.Linear(2, 1), precision="fp32")
    return LocalWorker(agent, AgentConfig(name="a", model="x", lr=LR, **overrides), total_steps=total_steps)


def _run(worker: LocalWorker, steps: int) -> list[float]:
    """The lr of each of `steps` training steps (one optimizer step each, as an update would)."""
    lrs = []
    for _ in range(steps):
        lrs.append(worker.optimizer.param_groups[0]["lr"])
        worker.agent.model.weight.grad = torch.ones_like(worker.agent.model.weight)
        worker.optimizer.step()
        worker.scheduler.step()
    return lrs


# 4 steps, warmup_ratio 0.25 -> 1 warm-up step at lr 0, then the decay over the remaining 3
@pytest.mark.parametrize("name, factors", [
    ("constant", [0, 1, 1, 1]),
    ("linear", [0, 1, 2 / 3, 1 / 3]),
    ("cosine", [0, 1, 0.5 * (1 + math.cos(math.pi / 3)), 0.5 * (1 + math.cos(2 * math.pi / 3))]),
])
def test_schedules_match_hand_computed_lrs(name, factors):
    assert _run(_worker(4, lr_scheduler=name, warmup_ratio=0.25), 4) == pytest.approx([LR * f for f in factors])


def test_default_is_the_papers_constant_lr():
    assert _run(_worker(5), 5) == pytest.approx([LR] * 5)


def test_resume_continues_the_schedule_where_it_stopped():
    full = _run(_worker(6, lr_scheduler="linear"), 6)
    first = _worker(6, lr_scheduler="linear")
    _run(first, 2)
    resumed = _worker(6, lr_scheduler="linear")
    resumed.load_state_dict(first.state_dict())
    assert _run(resumed, 4) == pytest.approx(full[2:])


def test_resume_applies_a_changed_lr_and_length():
    first = _worker(4, lr_scheduler="linear")
    _run(first, 2)  # 1.0, 0.75 of the lr
    longer = LocalWorker(first.agent, AgentConfig(name="a", model="x", lr=LR / 2, lr_scheduler="linear"),
                         total_steps=8)
    longer.load_state_dict(first.state_dict())
    # step 3 of 8 at the new peak lr, not step 3 of 4 at the old one
    assert _run(longer, 2) == pytest.approx([LR / 2 * 6 / 8, LR / 2 * 5 / 8])


def test_checkpoints_from_before_schedules_resume_at_a_constant_lr():
    old = _worker(3)
    _run(old, 1)
    state = old.state_dict()
    del state["scheduler"]
    resumed = _worker(3)
    resumed.load_state_dict(state)
    assert _run(resumed, 2) == pytest.approx([LR, LR])
