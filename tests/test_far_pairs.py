"""The variants for pairs far apart (train.core.guard_own_uniform / peer_gate / centered_offsets,
and the rows and updates they change): hand-computed values, gradients, and that hacpo itself is
untouched."""

from __future__ import annotations

import math

import pytest
import torch

from learner_rows import RecordingOptimizer, Rows, spec
from train import core
from train.algorithms import get_algo
from train.loop import TrainerState, update_capability
from train.pool import Pool, Trajectory
from train.update_step import update_policy
from train.views import SharedStep, learner_rows

# (P=3, n=2, G=2), learner 0: prompt 0 it fails both while the peer solves one; prompt 1 it solves
# one; prompt 2 it solves both while the peer fails both
REWARDS = torch.tensor([[[0.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [1.0, 1.0]], [[1.0, 1.0], [0.0, 0.0]]])


def test_own_uniform_guard_zeroes_only_the_learners_negative_uniform_advantages():
    adv = torch.tensor([[[-0.5, -0.5], [1.5, -0.5]], [[0.2, -0.9], [0.2, 0.2]], [[0.8, 0.8], [-1.0, -1.0]]])
    out = core.guard_own_uniform(adv, REWARDS, 0)
    # prompt 0: own all wrong, pushed down only by the peer's success -> 0; the peer's row keeps its 1.5
    assert out[0].tolist() == [[0.0, 0.0], [1.5, -0.5]]
    assert torch.equal(out[1], adv[1])  # own group mixed: untouched
    assert torch.equal(out[2], adv[2])  # own all right, positive: kept
    assert adv[0, 0].tolist() == [-0.5, -0.5]  # the input is not modified
    # learner 1's view: its own uniform groups are prompts 1 (all right, +) and 2 (all wrong, -)
    assert core.guard_own_uniform(adv, REWARDS, 1)[2, 1].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match=r"\(P, n, G\)"):
        core.guard_own_uniform(adv[0], REWARDS[0], 0)


def test_peer_gate_keeps_positive_advantages_only():
    assert core.peer_gate(torch.tensor([0.5, 0.0, -0.3, 1e-9])).tolist() == [True, False, False, True]


def test_rescue_gate_keeps_positive_peer_samples_that_beat_all_the_learners_own():
    peer_adv = torch.tensor([[1.2, -0.4], [0.3, 0.3], [0.0, 0.5]])
    peer_rewards = torch.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 0.5]])
    own = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.2, 0.0]])  # G' = 3 may differ from G
    # prompt 0: own all wrong, the correct peer sample rescues it; prompt 1: the learner solves it
    # once already, so the peer's correct (positive) samples stay out; prompt 2: 1.0 needs A > 0 too,
    # 0.5 > 0.2 with A > 0 enters
    assert core.rescue_gate(peer_adv, peer_rewards, own).tolist() == [[True, False], [False, False], [False, True]]
    with pytest.raises(ValueError, match=r"\(P, G\)"):
        core.rescue_gate(peer_adv, peer_rewards, own[:2])


def test_centered_offsets_are_per_source_medians_of_the_log_ratio():
    learner = torch.tensor([-3.0, -4.0, -5.0, -1.0, -2.0, -2.5])
    source = torch.tensor([-1.0, -1.0, -1.0, -1.5, -1.0, -1.0])
    out = core.centered_offsets(learner, source, ["a", "a", "a", "b", "c", "c"])
    # a: log-ratios -2, -3, -4 -> median -3; b: 0.5 alone; c: -1, -1.5 -> interpolated median -1.25
    assert out.tolist() == pytest.approx([-3.0, -3.0, -3.0, 0.5, -1.25, -1.25])
    with pytest.raises(ValueError, match="source"):
        core.centered_offsets(learner, source, ["a"])


def test_centered_window_lets_a_distant_pairs_samples_carry_gradient():
    # a distant pair: every log-ratio near -5, far below log(0.8); the fixed window zeroes them all
    new = torch.tensor([-5.1, -5.0, -4.9], dtype=torch.float64, requires_grad=True)
    source = torch.zeros(3, dtype=torch.float64)
    adv, coef = torch.tensor([1.0, 1.0, 1.0]).double(), torch.ones(3).double()
    kw = dict(alpha=1.0, delta=0.2, delta_step=0.025, m=0, clip=True, stepwise=True)
    fixed, _ = core.cross_objective(new, source, adv, coef, **kw)
    fixed.sum().backward()
    assert new.grad.tolist() == [0.0, 0.0, 0.0]
    new.grad = None
    b = core.centered_offsets(new, source, ["peer"] * 3)
    assert not b.requires_grad and b.tolist() == pytest.approx([-5.0] * 3)
    centered, _ = core.cross_objective(new, source + b, adv, coef, **kw)
    centered.sum().backward()
    # s~ = exp(-0.1), 1, exp(0.1): the first inside [0.8, 1] with gradient coef * A * s~^(1 + alpha);
    # the median one sits on the upper bound, the last above it (clamped: no gradient)
    assert new.grad[0].item() == pytest.approx(math.exp(-0.1) ** 2)
    assert new.grad[2].item() == 0.0


def _pool() -> Pool:
    recs = [Trajectory(prompt_id=f"q{p}", prompt=f"prompt {p}", response=f"{name}{p}{i}", source=name,
                       reward=float(REWARDS[p, j, i]), source_num_tokens=3, finished=True, source_mean_logp=-1.0,
                       sampling_mean_logp=-1.0, prompt_index=p, sample_index=i, source_token_ids=(1, 2, 3),
                       source_token_logps=(-1.0,) * 3)
            for j, name in enumerate("ab") for p in range(3) for i in range(2)]
    return Pool(recs)


def _rows(algo: str, **overrides):
    algo_spec = get_algo(algo, **overrides)
    cap, ratios = update_capability(TrainerState(), REWARDS, algo_spec)
    return learner_rows(algo_spec, 0, SharedStep(("a", "b"), _pool(), REWARDS, ratios, cap))[0]


def test_gated_rows_keep_own_samples_and_only_positive_peer_samples():
    full, gated = _rows("hacpo"), _rows("hacpo_gated")
    assert [r.advantage for r in gated if r.is_self] == [r.advantage for r in full if r.is_self]
    peers = [(r.record.response, r.advantage) for r in full if not r.is_self]
    assert [r.record.response for r in gated if not r.is_self] == [name for name, a in peers if a > 0]
    assert [r.record.response for r in gated if not r.is_self] == ["b00", "b10", "b11"]  # the peer's correct ones


def test_rescue_gated_rows_keep_only_peer_samples_of_the_learners_all_wrong_prompts():
    full, rescue = _rows("hacpo"), _rows("hacpo", cross_gate="rescue")
    assert [r.advantage for r in rescue if r.is_self] == [r.advantage for r in full if r.is_self]
    # of the peer's correct samples b00, b10, b11 only b00 is on a prompt the learner got all wrong
    assert [r.record.response for r in rescue if not r.is_self] == ["b00"]
    assert [r.advantage for r in rescue if not r.is_self] == [r.advantage for r in full if r.record.response == "b00"]


def test_own_guard_rows_zero_the_learners_all_wrong_prompt_only():
    full, guarded = _rows("hacpo"), _rows("hacpo_own_guard")
    own_full = {r.record.response: r.advantage for r in full if r.is_self}
    own_guarded = {r.record.response: r.advantage for r in guarded if r.is_self}
    assert own_full["a00"] < 0 and own_guarded["a00"] == own_guarded["a01"] == 0.0
    assert {k: v for k, v in own_guarded.items() if not k.startswith("a0")} == pytest.approx(
        {k: v for k, v in own_full.items() if not k.startswith("a0")})
    assert [r.advantage for r in guarded if not r.is_self] == [r.advantage for r in full if not r.is_self]


@pytest.fixture(scope="module")
def learner():
    from agents.zoo import build_untrained

    torch.manual_seed(0)
    return build_untrained("tiny-llama-bpe", corpus=[f"{i} + {i} = ? #### {2 * i}" for i in range(10)] * 3)


def test_centered_update_shifts_each_sources_old_logp_by_its_median(learner):
    prompts = ["1 + 2 = ?", "3 + 4 = ?", "5 + 1 = ?"]
    texts = ["#### 3", "#### 7", "#### 6"]
    with torch.no_grad():
        on_peer = learner.sequence_logprobs(prompts, responses=texts, append_eos=[True] * 3).mean
    source = on_peer + 5.0  # s ~ exp(-5): the fixed window discards every one of these samples
    rows = Rows()
    for p, t, s in zip(prompts, texts, source.tolist()):
        rows.add(prompt=p, response=t, append_eos=True, objective="cross", advantage=1.0, old_mean_logp=s)
    kw = dict(seed=0, max_grad_norm=1e9, max_prompt_tokens=64, max_response_tokens=8, token_budget=4096)
    fixed = update_policy(learner, RecordingOptimizer(learner.model), rows, spec(minibatch_size=3), **kw)
    assert fixed["clip_ratio/cross_low"] == 1.0
    opt = RecordingOptimizer(learner.model)
    centered = update_policy(learner, opt, rows, spec(minibatch_size=3, cross_window="centered"), **kw)
    # one source: its offset is the median of the three log-ratios, about -5
    offset = float(torch.quantile((on_peer - source).double(), 0.5))
    assert offset == pytest.approx(-5.0, abs=1e-5)
    assert centered["cross_ratio/max"] == pytest.approx(math.exp(float((on_peer - source).max()) - offset), rel=1e-4)
    new = learner.sequence_logprobs(prompts, responses=texts, append_eos=[True] * 3, grad=True).mean
    want, _ = core.cross_objective(new, source + offset, torch.ones(3), torch.ones(3), alpha=1.0, delta=0.2,
                                   delta_step=0.025, m=0, clip=True, stepwise=True)
    learner.model.zero_grad(set_to_none=True)
    core.minibatch_loss(want, None, kl_beta=0.0, minibatch_size=3).backward()
    for got, p in zip(opt.steps[0], learner.model.parameters()):
        torch.testing.assert_close(got, torch.zeros_like(p) if p.grad is None else p.grad, atol=1e-6, rtol=1e-4)
    learner.model.zero_grad(set_to_none=True)
