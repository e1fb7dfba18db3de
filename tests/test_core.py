"""train/core.py against numbers worked out by hand (arithmetic in the comments), autograd
gradient checks for every objective, and a slow loop twin of the vectorised advantage."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from train import core
from train.algorithms import get_algo
from train.core import k3_kl, minibatch_loss, positive_rate, sequence_ratio, stepwise_lower_bound, token_mean

approx = pytest.approx

# train.core takes every hyperparameter as a required argument; these tests call it with HACPO's
# (the spec's) values unless a test names its own.
HACPO = get_algo("hacpo")


def capability_estimate(history, window=HACPO.window, **kwargs):
    return core.capability_estimate(history, window, **kwargs)


def capability_ratios(capability, clip=(HACPO.ratio_clip_low, HACPO.ratio_clip_high)):
    return core.capability_ratios(capability, clip)


def capability_advantages(rewards, learner, ratios, *, eps=HACPO.adv_eps, uniform_guard=HACPO.uniform_guard,
                          baseline_guard=HACPO.baseline_guard, capability_weighted=True):
    return core.capability_advantages(rewards, learner, ratios, eps=eps, uniform_guard=uniform_guard,
                                      baseline_guard=baseline_guard, capability_weighted=capability_weighted)


def group_advantages(rewards, eps=HACPO.adv_eps):
    return core.group_advantages(rewards, eps)


def gspo_self_objective(new, old, adv, eps_low=HACPO.eps_low, eps_high=HACPO.eps_high):
    return core.gspo_self_objective(new, old, adv, eps_low, eps_high)


def cross_objective(new, source, adv, coef, *, alpha=HACPO.alpha, delta=HACPO.delta, delta_step=HACPO.delta_step,
                    m=0, clip=HACPO.cross_clip, stepwise=HACPO.stepwise):
    return core.cross_objective(new, source, adv, coef, alpha=alpha, delta=delta, delta_step=delta_step, m=m,
                                clip=clip, stepwise=stepwise)


def grpo_token_objective(new, old, mask, adv, eps_low=HACPO.grpo_eps_low, eps_high=HACPO.grpo_eps_high):
    return core.grpo_token_objective(new, old, mask, adv, eps_low, eps_high)


def leaf(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


def grad_of(objective: torch.Tensor, x: torch.Tensor) -> list[float]:
    objective.sum().backward()
    return x.grad.tolist()


# ----------------------------------------------------------------------------- capability


def test_positive_rate_counts_strictly_positive():
    # 1 and 0.5 are > 0; 0 and -1 are not -> 2 / 4
    assert positive_rate(torch.tensor([1.0, 0.0, 0.5, -1.0])).item() == approx(0.5)


def test_positive_rate_rejects_empty():
    with pytest.raises(ValueError, match="no rewards"):
        positive_rate(torch.tensor([]))


def test_capability_window_shorter_history_uses_all_rows():
    # T = 2 < K = 5: mean of both rows -> (0.2 + 0.4) / 2 = 0.3, (0.6 + 1.0) / 2 = 0.8
    history = torch.tensor([[0.2, 0.6], [0.4, 1.0]])
    assert capability_estimate(history, window=5).tolist() == approx([0.3, 0.8])


def test_capability_window_keeps_last_k_rows_including_current():
    # rows 0.1 .. 0.7; K = 5 keeps 0.3, 0.4, 0.5, 0.6, 0.7 -> mean 0.5 (the old 0.1, 0.2 drop out)
    history = torch.tensor([[v / 10] for v in range(1, 8)])
    assert capability_estimate(history, window=5).tolist() == approx([0.5])
    # K = 2 keeps 0.6, 0.7 -> 0.65
    assert capability_estimate(history, window=2).tolist() == approx([0.65])


def test_capability_floor_applies_per_step_and_to_mean():
    # agent 0 never solved anything: floored to 1e-8 (not 0, so P_j / P_k stays finite)
    history = torch.tensor([[0.0, 0.5], [0.0, 0.7]])
    assert capability_estimate(history, floor=1e-8).tolist() == approx([1e-8, 0.6], rel=1e-6)


@pytest.mark.parametrize(
    "history, kwargs, match",
    [
        (torch.zeros(0, 2), {}, "T >= 1"),
        (torch.zeros(3), {}, r"\(T, n\)"),
        (torch.zeros(2, 2), {"window": 0}, "window"),
        (torch.zeros(2, 2), {"floor": 0.0}, "floor"),
        (torch.tensor([[float("nan"), 0.5]]), {}, "NaN"),
    ],
)
def test_capability_estimate_rejects_bad_input(history, kwargs, match):
    with pytest.raises(ValueError, match=match):
        capability_estimate(history, **kwargs)


def test_capability_ratio_direction_source_over_learner():
    # P = (0.4, 0.8): learner 0 looking at source 1 -> 0.8 / 0.4 = 2; learner 1 at source 0 -> 0.5
    r = capability_ratios(torch.tensor([0.4, 0.8]))
    assert r.tolist() == [approx([1.0, 2.0]), approx([0.5, 1.0])]


def test_capability_ratio_clipped_at_both_ends():
    # P = (0.01, 0.5): 0.5 / 0.01 = 50 -> 10; 0.01 / 0.5 = 0.02 -> 0.1
    r = capability_ratios(torch.tensor([0.01, 0.5]))
    assert r.tolist() == [approx([1.0, 10.0]), approx([0.1, 1.0])]
    # a custom clip (0.5, 4): 50 -> 4, 0.02 -> 0.5
    r = capability_ratios(torch.tensor([0.01, 0.5]), clip=(0.5, 4.0))
    assert r.tolist() == [approx([1.0, 4.0]), approx([0.5, 1.0])]


def test_capability_ratio_three_agents_diagonal_one():
    # P = (0.2, 0.4, 0.6): r[k, j] = P_j / P_k
    r = capability_ratios(torch.tensor([0.2, 0.4, 0.6]))
    expected = [[1, 2, 3], [0.5, 1, 1.5], [1 / 3, 2 / 3, 1]]
    for row, exp in zip(r.tolist(), expected):
        assert row == approx(exp)


@pytest.mark.parametrize(
    "capability, clip, match",
    [
        (torch.tensor([0.0, 0.5]), (0.1, 10.0), "> 0"),
        (torch.tensor([[0.5]]), (0.1, 10.0), r"\(n,\)"),
        (torch.tensor([0.5, 0.5]), (2.0, 10.0), "lo <= 1 <= hi"),
        (torch.tensor([0.5, 0.5]), (0.0, 10.0), "lo <= 1 <= hi"),
    ],
)
def test_capability_ratios_reject_bad_input(capability, clip, match):
    with pytest.raises(ValueError, match=match):
        capability_ratios(capability, clip=clip)


# ----------------------------------------------------------------------------- advantages

# Two agents, one prompt, G = 4. Learner 0 is weaker: P = (0.4, 0.8), so r[0, 1] = 2 and the
# stronger source's rewards enter learner 0's baseline with weight 1/2.
TWO_AGENT_REWARDS = torch.tensor([[[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0]]])  # (1, 2, 4)
TWO_AGENT_RATIOS = torch.tensor([[1.0, 2.0], [0.5, 1.0]])
# joint rewards 1,0,0,0,1,1,1,0: mean 0.5, Bessel var = 8 * 0.25 / 7 = 2/7, std = 0.5345225
JOINT_STD = math.sqrt(2 / 7)


def test_capability_advantages_weaker_learner_by_hand():
    # mu_0 = (1 + 0 + 0 + 0 + 0.5 * (1 + 1 + 1 + 0)) / 8 = 2.5 / 8 = 0.3125
    adv = capability_advantages(TWO_AGENT_REWARDS, 0, TWO_AGENT_RATIOS)
    pos, neg = (1 - 0.3125) / (JOINT_STD + 1e-6), (0 - 0.3125) / (JOINT_STD + 1e-6)  # 1.28618, -0.58463
    assert adv[0, 0].tolist() == approx([pos, neg, neg, neg], rel=1e-5)
    # cross samples get the LEARNER's baseline (eq. 50)
    assert adv[0, 1].tolist() == approx([pos, pos, pos, neg], rel=1e-5)


def test_capability_advantages_stronger_learner_by_hand():
    # learner 1: weight of source 0 = 1 / r[1, 0] = 2 -> mu_1 = (2 * 1 + 3) / 8 = 0.625
    adv = capability_advantages(TWO_AGENT_REWARDS, 1, TWO_AGENT_RATIOS)
    pos, neg = 0.375 / (JOINT_STD + 1e-6), -0.625 / (JOINT_STD + 1e-6)  # 0.70156, -1.16926
    assert adv[0, 0].tolist() == approx([pos, neg, neg, neg], rel=1e-5)
    assert adv[0, 1].tolist() == approx([pos, pos, pos, neg], rel=1e-5)


def test_capability_advantages_plain_joint_mean_when_unweighted():
    # "no_adv" / naive: mu = 4 / 8 = 0.5 for every learner -> A = +-0.5 / 0.5345 = +-0.93541
    for learner in (0, 1):
        adv = capability_advantages(TWO_AGENT_REWARDS, learner, TWO_AGENT_RATIOS, capability_weighted=False)
        a = 0.5 / (JOINT_STD + 1e-6)
        assert adv[0, 0].tolist() == approx([a, -a, -a, -a], rel=1e-5)


def test_capability_advantages_std_is_bessel_corrected():
    # n = 1, G = 2, rewards (1, 0): Bessel std = sqrt(0.5) = 0.70711, so A = 0.5 / 0.70711 = 0.70711
    # (population std 0.5 would give 1.0)
    adv = capability_advantages(torch.tensor([[[1.0, 0.0]]]), 0, torch.ones(1, 1))
    assert adv[0, 0].tolist() == approx([math.sqrt(0.5), -math.sqrt(0.5)], rel=1e-5)


def test_uniform_guard_zeroes_uniform_groups():
    # all 8 rewards 1: the weighted baseline for learner 0 would be (4 + 0.5 * 4) / 8 = 0.75 and
    # std 0, so without the guard A = 0.25 / 1e-6 = 250000; with it A = 0 exactly
    rewards = torch.ones(1, 2, 4)
    assert capability_advantages(rewards, 0, TWO_AGENT_RATIOS).abs().max().item() == 0.0
    unguarded = capability_advantages(rewards, 0, TWO_AGENT_RATIOS, uniform_guard=False)
    assert unguarded[0, 0, 0].item() == approx(250000.0, rel=1e-3)


def test_uniform_guard_only_touches_uniform_prompts():
    # prompt 0 uniform (all 0), prompt 1 is TWO_AGENT_REWARDS: prompt 1 keeps its hand values
    rewards = torch.cat([torch.zeros(1, 2, 4), TWO_AGENT_REWARDS])
    adv = capability_advantages(rewards, 0, TWO_AGENT_RATIOS)
    assert adv[0].abs().max().item() == 0.0
    assert adv[1, 0, 0].item() == approx(0.6875 / (JOINT_STD + 1e-6), rel=1e-5)


def test_baseline_guard_falls_back_to_learner_own_mean():
    # learner 1 is 10x stronger (r[1, 0] = 0.1 -> weight 10). Source 0 rewards 1,1,0,0; own 1,0,0,0.
    # weighted mu = (10 * 2 + 1) / 8 = 2.625 > 1 -> guard uses own mean 1/4 = 0.25.
    # joint 1,1,0,0,1,0,0,0: mean 3/8, Bessel var = (3 * (5/8)^2 + 5 * (3/8)^2) / 7 = 1.875 / 7
    rewards = torch.tensor([[[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]])
    ratios = torch.tensor([[1.0, 10.0], [0.1, 1.0]])
    std = math.sqrt(1.875 / 7)  # 0.517549
    adv = capability_advantages(rewards, 1, ratios)
    assert adv[0, 1].tolist() == approx([0.75 / std, -0.25 / std, -0.25 / std, -0.25 / std], rel=1e-5)
    # without the guard every advantage is negative, even for correct answers: (1 - 2.625) / std
    unguarded = capability_advantages(rewards, 1, ratios, baseline_guard=False)
    assert unguarded[0, 1, 0].item() == approx(-1.625 / std, rel=1e-5)
    assert (unguarded < 0).all()


def _loop_capability_advantages(rewards, learner, ratios, eps, uniform_guard, baseline_guard, weighted):
    """Slow twin: one prompt and one response at a time, straight from eq. 6-7."""
    P, n, G = rewards.shape
    out = torch.empty(P, n, G, dtype=torch.float64)
    for p in range(P):
        joint = [float(rewards[p, j, i]) for j in range(n) for i in range(G)]
        mean = sum(joint) / (n * G)
        std = math.sqrt(sum((x - mean) ** 2 for x in joint) / (n * G - 1))
        if uniform_guard and max(joint) == min(joint):
            baseline = mean
        elif weighted:
            total = 0.0
            for j in range(n):
                w = 1.0 if j == learner else 1.0 / float(ratios[learner, j])
                total += sum(w * float(rewards[p, j, i]) for i in range(G))
            baseline = total / (n * G)
            if baseline_guard and baseline > 1.0:
                baseline = sum(float(rewards[p, learner, i]) for i in range(G)) / G
        else:
            baseline = mean
        for j in range(n):
            for i in range(G):
                a = (float(rewards[p, j, i]) - baseline) / (std + eps)
                out[p, j, i] = 0.0 if (uniform_guard and max(joint) == min(joint)) else a
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("binary", [True, False])
def test_capability_advantages_matches_loop_twin(seed, binary):
    gen = torch.Generator().manual_seed(seed)
    P, n, G = 9, 3, 4
    if binary:
        rewards = (torch.rand(P, n, G, generator=gen) < 0.5).float()
        rewards[0] = 1.0  # a uniform group
        rewards[1, 0] = 1.0  # the weak agent 0 all right: learners 1, 2 weight it by 10 -> guard fires
    else:
        rewards = torch.rand(P, n, G, generator=gen)
    capability = torch.rand(n, generator=gen) * 0.9 + 0.01
    capability[0] = 0.01  # agent 0 much weaker than the others
    ratios = capability_ratios(capability)
    guarded = capability_advantages(rewards, 2, ratios)
    assert not torch.equal(guarded, capability_advantages(rewards, 2, ratios, baseline_guard=False))
    for learner in range(n):
        for flags in [(True, True, True), (False, True, True), (True, False, True), (True, True, False)]:
            fast = capability_advantages(
                rewards, learner, ratios, uniform_guard=flags[0], baseline_guard=flags[1], capability_weighted=flags[2]
            )
            slow = _loop_capability_advantages(rewards, learner, ratios, 1e-6, *flags)
            assert torch.allclose(fast.double(), slow, rtol=1e-4, atol=1e-4), (fast.double() - slow).abs().max()


binary_groups = st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(2, 5), st.integers(0, 2**31 - 1))


@settings(max_examples=40, deadline=None)
@given(shape_seed=binary_groups, caps=st.lists(st.floats(1e-8, 1.0), min_size=3, max_size=3))
def test_capability_advantage_properties(shape_seed, caps):
    P, n, G, seed = shape_seed
    n = max(n, 2)
    rewards = (torch.rand(P, n, G, generator=torch.Generator().manual_seed(seed)) < 0.5).float()
    ratios = capability_ratios(torch.tensor(caps[:n]))
    # (torch.allclose, not torch.testing.assert_close: the latter's first call costs seconds of imports)
    for k in range(n):
        adv = capability_advantages(rewards, k, ratios)
        # finite whatever the capabilities: the guards and the ratio clip bound everything
        assert torch.isfinite(adv).all()
        # the plain joint-mean baseline centres every prompt's nG advantages on 0
        plain = capability_advantages(rewards, k, ratios, capability_weighted=False)
        assert plain.sum(dim=(1, 2)).abs().max().item() < 1e-4
        # equal capabilities: weights are all 1, so weighting changes nothing
        assert torch.allclose(capability_advantages(rewards, k, torch.ones(n, n)), plain)


@pytest.mark.parametrize(
    "rewards, learner, ratios, match",
    [
        (torch.zeros(2, 4), 0, torch.ones(2, 2), r"\(P, n, G\)"),
        (torch.zeros(1, 2, 4), 2, torch.ones(2, 2), "out of range"),
        (torch.zeros(1, 2, 4), 0, torch.ones(3, 3), r"\(n, n\)"),
        (torch.full((1, 2, 2), float("nan")), 0, torch.ones(2, 2), "NaN"),
    ],
)
def test_capability_advantages_rejects_bad_input(rewards, learner, ratios, match):
    with pytest.raises(ValueError, match=match):
        capability_advantages(rewards, learner, ratios)


def test_group_advantages_by_hand():
    # (1, 0, 0, 0): mean 0.25, Bessel var = (0.75^2 + 3 * 0.25^2) / 3 = 0.25, std 0.5
    # -> A = (1.5, -0.5, -0.5, -0.5); second group uniform -> 0
    adv = group_advantages(torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.3, 0.3, 0.3, 0.3]]))
    assert adv[0].tolist() == approx([1.5, -0.5, -0.5, -0.5], rel=1e-5)
    assert adv[1].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_single_response_groups_are_uniform_not_nan():
    # torch's Bessel std of one value is NaN; a group of one has no spread, so A = 0
    assert group_advantages(torch.tensor([[1.0], [0.0]])).tolist() == [[0.0], [0.0]]
    assert capability_advantages(torch.tensor([[[1.0]]]), 0, torch.ones(1, 1)).tolist() == [[[0.0]]]
    # and without the guard the learner's own reward is its own baseline: (1 - 1) / eps = 0, not NaN
    assert capability_advantages(torch.tensor([[[1.0]]]), 0, torch.ones(1, 1), uniform_guard=False).item() == 0.0


# ----------------------------------------------------------------------------- ratios


def test_token_mean_each_row_over_its_own_tokens():
    # row 0: (-1 - 2 - 3) / 3 = -2; row 1 has one real token: -4; row 2 none: 0, and no gradient
    logp = leaf([-1.0, -2.0, -3.0, -4.0, -9.0, -9.0, -5.0, -5.0, -5.0])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    out = token_mean(logp.view(3, 3), mask)
    assert out.tolist() == approx([-2.0, -4.0, 0.0])
    # d mean_i / d x_t = 1/|y_i| on the row's own tokens, 0 elsewhere
    assert grad_of(out, logp) == approx([1 / 3, 1 / 3, 1 / 3, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        token_mean(torch.zeros(2, 3), torch.ones(2, 4))


def test_k3_kl_hand_values_and_gradient_through_the_policy_only():
    # d = ref - new; k3 = e^d - d - 1. Row 0 tokens: d = 0 -> 0, d = 1 -> e - 2; mean (e - 2) / 2.
    # Row 1 has no token in the mask (a peer's sample): 0.
    new = leaf([-1.0, -2.0, -3.0, -3.0])
    ref = torch.tensor([[-1.0, -1.0], [0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 1], [0, 0]])
    kl = k3_kl(new.view(2, 2), ref, mask)
    assert kl.tolist() == approx([(math.e - 2) / 2, 0.0])
    # d k3 / d new = -(e^d - 1): token 0: 0, token 1: -(e - 1), over |y| = 2
    assert grad_of(kl, new) == approx([0.0, -(math.e - 1) / 2, 0.0, 0.0])
    assert ref.grad is None  # the reference is a constant
    assert k3_kl(new.detach().view(2, 2), new.detach().view(2, 2), torch.ones(2, 2)).tolist() == [0.0, 0.0]


def test_sequence_ratio_value_clamp_and_no_grad_to_old():
    # exp(-1.0 - (-1.1)) = exp(0.1); second: exp(0 - (-50)) clamped to exp(10)
    new, old = leaf([-1.0, 0.0]), leaf([-1.1, -50.0])
    s = sequence_ratio(new, old)
    assert s.tolist() == approx([math.exp(0.1), math.exp(10.0)])
    s.sum().backward()
    assert old.grad is None
    # d exp(x)/dx = exp(x) inside the clamp, 0 where the +-10 clamp binds
    assert new.grad.tolist() == approx([math.exp(0.1), 0.0])


# ----------------------------------------------------------------------------- GSPO self


def test_gspo_self_objective_values_and_sign_cases():
    # old = 0, so s = exp(new). window [0.9997, 1.0004].
    #   0: A=+2, s=exp(0.01)=1.01005 > 1.0004 -> min(2.0201, 2.0008) = 2.0008, clipped: zero grad
    #   1: A=-2, s=exp(-0.01)=0.99005 < 0.9997 -> min(-1.9801, -1.9994) = -1.9994, clipped: zero grad
    #   2: A=+2, s=0.99005 (below window)    -> min(1.9801, 1.9994) = 1.9801 unclipped: grad A*s
    #   3: A=-2, s=1.01005 (above window)    -> min(-2.0201, -2.0008) = -2.0201 unclipped: grad A*s
    new = leaf([0.01, -0.01, -0.01, 0.01])
    adv = torch.tensor([2.0, -2.0, 2.0, -2.0], dtype=torch.float64)
    obj, metrics = gspo_self_objective(new, torch.zeros(4, dtype=torch.float64), adv)
    e_up, e_dn = math.exp(0.01), math.exp(-0.01)
    assert obj.tolist() == approx([2.0008, -1.9994, 2 * e_dn, -2 * e_up])
    assert grad_of(obj, new) == approx([0.0, 0.0, 2 * e_dn, -2 * e_up])
    # case 1 is clipped low, case 0 clipped high -> 1/4 each
    assert metrics["clip/self_low_frac"] == approx(0.25)
    assert metrics["clip/self_high_frac"] == approx(0.25)
    assert metrics["count"] == 4.0


def test_gspo_self_objective_inside_window_is_plain_ratio():
    # s = 1 exactly: objective A, gradient A * s = A
    new = leaf([0.0, 0.0])
    obj, metrics = gspo_self_objective(new, torch.zeros(2, dtype=torch.float64), torch.tensor([1.5, -0.5]).double())
    assert obj.tolist() == approx([1.5, -0.5])
    assert grad_of(obj, new) == approx([1.5, -0.5])
    assert metrics["clip/self_low_frac"] == 0.0 and metrics["clip/self_high_frac"] == 0.0


def test_gspo_self_objective_bf16_inputs_keep_the_tiny_window():
    # log ratio 2^-12 = 0.000244 is exact in bf16; s = exp(2^-12) = 1.000244 lies inside
    # [0.9997, 1.0004]. In bf16 exp() would round s to 1.0, so the ratio must be formed in fp32.
    new = torch.tensor([2.0**-12], dtype=torch.bfloat16, requires_grad=True)
    obj, metrics = gspo_self_objective(new, torch.zeros(1, dtype=torch.bfloat16), torch.tensor([1.0]))
    assert obj.dtype == torch.float32
    assert obj.item() == approx(math.exp(2.0**-12), rel=1e-7)
    assert metrics["clip/self_high_frac"] == 0.0
    obj.sum().backward()
    assert new.grad.dtype == torch.bfloat16  # gradient reaches the bf16 model side


def test_gspo_self_objective_empty_batch_and_shape_errors():
    obj, metrics = gspo_self_objective(torch.zeros(0), torch.zeros(0), torch.zeros(0))
    assert obj.shape == (0,) and metrics["count"] == 0.0
    with pytest.raises(ValueError, match=r"\(B,\)"):
        gspo_self_objective(torch.zeros(3), torch.zeros(3), torch.zeros(2))


# ----------------------------------------------------------------------------- cross


def test_stepwise_lower_bound_schedule_and_cap():
    # 1 - 0.2 + m * 0.025 for m = 0..3
    assert [stepwise_lower_bound(0.2, 0.025, m) for m in range(4)] == approx([0.8, 0.825, 0.85, 0.875])
    # m = 8: 0.8 + 0.2 = 1.0; m = 20: 1.3 capped at 1.0
    assert stepwise_lower_bound(0.2, 0.025, 8) == approx(1.0)
    assert stepwise_lower_bound(0.2, 0.025, 20) == 1.0
    # Table 5's Llama pair: "delta" 0.9 = lower bound, i.e. delta 0.1, step 0.01, m = 2 -> 0.92
    assert stepwise_lower_bound(0.1, 0.01, 2) == approx(0.92)


@pytest.mark.parametrize("args, match", [((0.8 + 1, 0.0, 0), "delta"), ((0.2, -0.1, 0), "delta_step"), ((0.2, 0.0, -1), "m")])
def test_stepwise_lower_bound_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        stepwise_lower_bound(*args)


def test_cross_objective_inside_window_value_and_gradient():
    # s = 0.9 in [0.8, 1]; coef 2, A 1.5.
    # value: 0.9 * 0.9^alpha * 2 * 1.5; gradient wrt mean logp: s^(1+alpha) * coef * A
    # (only sg[s]^alpha is detached; detaching nothing would give (1+alpha) times that)
    for alpha, expected in [(1.0, 0.81 * 3), (3.0, 0.9**4 * 3), (0.0, 0.9 * 3)]:
        new = leaf([math.log(0.9)])
        obj, _ = cross_objective(new, torch.zeros(1).double(), torch.tensor([1.5]).double(), torch.tensor([2.0]).double(), alpha=alpha)
        assert obj.item() == approx(expected)
        assert grad_of(obj, new) == approx([expected])


def test_cross_objective_gradient_reaches_learner_tokens_not_source():
    # learner view of 3 tokens (one pad), mean logp log(0.9) -> per-token grad = 0.81 * 2 * 1.5 / 3 = 0.81
    token_logp = torch.tensor([[math.log(0.9)] * 3 + [-7.0]], dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 0]])
    source = leaf([0.0])
    obj, _ = cross_objective(
        token_mean(token_logp, mask), source, torch.tensor([1.5]).double(), torch.tensor([2.0]).double()
    )
    obj.sum().backward()
    assert token_logp.grad.tolist()[0] == approx([0.81, 0.81, 0.81, 0.0])
    assert source.grad is None  # source log-prob is a constant from before any update


@pytest.mark.parametrize("adv", [1.0, -1.0])
def test_cross_objective_zero_gradient_outside_window_for_both_signs(adv):
    # s = 1.1 > upper bound 1.0 -> clamped to 1: value 1 * 1 * coef * A, no gradient (no PPO min)
    # s = 0.7 < lower bound 0.8 -> clamped to 0.8: value 0.8 * 0.8 * coef * A, no gradient
    new = leaf([math.log(1.1), math.log(0.7)])
    coef = torch.tensor([2.0, 2.0]).double()
    obj, metrics = cross_objective(new, torch.zeros(2).double(), torch.full((2,), adv).double(), coef)
    assert obj.tolist() == approx([2.0 * adv, 0.64 * 2.0 * adv])
    assert grad_of(obj, new) == [0.0, 0.0]
    assert metrics["clip/cross_low_frac"] == 0.5 and metrics["clip/cross_high_frac"] == 0.5


def test_cross_objective_stepwise_tightens_and_switch_fixes_it():
    # s = 0.82: inside [0.8, 1] at m = 0, below 0.875 at m = 3 (zero grad), inside again with stepwise=False
    args = (torch.zeros(1).double(), torch.tensor([1.0]).double(), torch.tensor([1.0]).double())
    for m, stepwise, expected_grad, bound in [(0, True, 0.82**2, 0.8), (3, True, 0.0, 0.875), (3, False, 0.82**2, 0.8)]:
        new = leaf([math.log(0.82)])
        obj, metrics = cross_objective(new, *args, m=m, stepwise=stepwise)
        assert grad_of(obj, new) == approx([expected_grad])
        assert metrics["clip/cross_lower_bound"] == approx(bound)


def test_cross_objective_no_clip_keeps_gradient_outside_window():
    # s = 1.1, alpha 1, coef 2, A -1: value 1.21 * 2 * -1 = -2.42; grad s^2 * coef * A = -2.42
    new = leaf([math.log(1.1)])
    obj, metrics = cross_objective(new, torch.zeros(1).double(), torch.tensor([-1.0]).double(), torch.tensor([2.0]).double(), clip=False)
    assert obj.item() == approx(-2.42)
    assert grad_of(obj, new) == approx([-2.42])
    assert metrics["clip/cross_high_frac"] == 0.0 and metrics["clip/cross_lower_bound"] == 0.0


def test_cross_objective_ratio_metrics():
    # s = 0.5, 0.9, 1.3 -> min 0.5, mean 0.9, max 1.3; one below 0.8, one above 1
    new = torch.tensor([math.log(0.5), math.log(0.9), math.log(1.3)])
    _, metrics = cross_objective(new, torch.zeros(3), torch.ones(3), torch.ones(3))
    assert metrics["cross_ratio/min"] == approx(0.5)
    assert metrics["cross_ratio/mean"] == approx(0.9)
    assert metrics["cross_ratio/max"] == approx(1.3)
    assert metrics["clip/cross_low_frac"] == approx(1 / 3) and metrics["clip/cross_high_frac"] == approx(1 / 3)
    assert metrics["count"] == 3.0


def test_cross_objective_rejects_negative_alpha_and_bad_shapes():
    ones = torch.ones(2)
    with pytest.raises(ValueError, match="alpha"):
        cross_objective(ones, ones, ones, ones, alpha=-1.0)
    with pytest.raises(ValueError, match=r"\(B,\)"):
        cross_objective(ones, ones, ones, torch.ones(3))


# ----------------------------------------------------------------------------- GRPO


def test_grpo_token_objective_by_hand():
    # old logp 0, so rho_t = exp(new_t); window [0.8, 1.28].
    # seq 0, A = +1, 3 tokens, rho = 1.0, 1.5, 0.5:
    #   min(1, 1) = 1 (grad 1);  min(1.5, 1.28) = 1.28 (clipped, grad 0);  min(0.5, 0.8) = 0.5 (grad 0.5)
    #   objective (1 + 1.28 + 0.5) / 3 = 0.926667; token grads (1/3, 0, 0.5/3)
    # seq 1, A = -1, 2 real tokens + pad, rho = 0.5, 1.5:
    #   min(-0.5, -0.8) = -0.8 (clipped, grad 0);  min(-1.5, -1.28) = -1.5 (grad -1.5 / 2)
    #   objective (-0.8 - 1.5) / 2 = -1.15
    new = torch.tensor(
        [[0.0, math.log(1.5), math.log(0.5)], [math.log(0.5), math.log(1.5), 3.0]], dtype=torch.float64, requires_grad=True
    )
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    obj, metrics = grpo_token_objective(new, torch.zeros(2, 3, dtype=torch.float64), mask, torch.tensor([1.0, -1.0]).double())
    assert obj.tolist() == approx([(1 + 1.28 + 0.5) / 3, -1.15])
    obj.sum().backward()
    assert new.grad.tolist()[0] == approx([1 / 3, 0.0, 0.5 / 3])
    assert new.grad.tolist()[1] == approx([0.0, -0.75, 0.0])
    # of 5 real tokens, one clipped low (seq 1 tok 0), one clipped high (seq 0 tok 1)
    assert metrics["clip/token_low_frac"] == approx(0.2)
    assert metrics["clip/token_high_frac"] == approx(0.2)


def test_grpo_token_objective_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        grpo_token_objective(torch.zeros(2, 3), torch.zeros(2, 4), torch.ones(2, 3), torch.zeros(2))
    with pytest.raises(ValueError, match=r"\(B,\)"):
        grpo_token_objective(torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(3))


# ----------------------------------------------------------------------------- the loss


def test_minibatch_loss_is_one_mean_over_the_minibatch_across_micro_batches():
    # mini-batch of 4 rows in two micro-batches: self (1,) + cross (3,), then cross (6, 6).
    # (-(1 + 3) + -(6 + 6)) / 4 = -4: one mean over the mini-batch, not the mean of means -(1 + 5) / 2 = -3
    first = minibatch_loss(torch.tensor([1.0, 3.0]), None, kl_beta=0.0, minibatch_size=4)
    second = minibatch_loss(torch.tensor([6.0, 6.0]), None, kl_beta=0.0, minibatch_size=4)
    assert (first + second).item() == approx(-4.0)
    # with KL: (-(1 + 3) + 0.5 * (0.2 + 0.0)) / 4
    kl = torch.tensor([0.2, 0.0])
    assert minibatch_loss(torch.tensor([1.0, 3.0]), kl, kl_beta=0.5, minibatch_size=4).item() == approx(-0.975)
    assert minibatch_loss(torch.tensor([1.0, 3.0]), kl, kl_beta=0.0, minibatch_size=4).item() == approx(-1.0)
    with pytest.raises(ValueError, match="smaller than"):
        minibatch_loss(torch.ones(3), None, kl_beta=0.0, minibatch_size=2)
