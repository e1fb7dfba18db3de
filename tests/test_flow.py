"""train/flow.py: what each learner learned from whom, checked against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from train import flow
from train.flow import Fate


def _own(prompt, reward, adv, grad=True):
    return Fate(source="me", prompt_id=prompt, reward=reward, advantage=adv, is_peer=False, grad=grad)


def _peer(source, prompt, reward, adv, grad, log_ratio=math.nan, side=None):
    return Fate(source=source, prompt_id=prompt, reward=reward, advantage=adv, is_peer=True, grad=grad,
                log_ratio=log_ratio, side=side)


# One learner, 3 agents, two prompts: on "p" its own two samples are all wrong, on "q" one is right.
# Peer rows: b's correct sample of "p" inside the window, b's wrong one of "q" below it, c's correct
# one of "p" above it, c's correct one of "q" inside.
FATES = [
    _own("p", 0.0, -0.5), _own("p", 0.0, -0.5, grad=False),
    _own("q", 1.0, 1.0), _own("q", 0.0, -1.0),
    _peer("b", "p", 1.0, 2.0, True, log_ratio=-0.1, side=0),
    _peer("b", "q", 0.0, -1.0, False, log_ratio=-0.7, side=-1),
    _peer("c", "p", 1.0, 2.0, False, log_ratio=0.3, side=1),
    _peer("c", "q", 1.0, 1.0, True, log_ratio=-0.2, side=0),
]


def test_window_side_and_which_rows_carry_gradient():
    s = torch.tensor([0.5, 0.8, 0.9, 1.0, 1.2])
    side = flow.window_side(s, 0.8, 1.0)
    assert side.tolist() == [-1, 0, 0, 0, 1]  # both bounds inside: torch.clamp's gradient is 1 there
    log_s = torch.tensor([-0.69, -0.22, -0.1, 0.0, 0.18])
    assert flow.cross_carries_gradient(side, log_s).tolist() == [False, True, True, True, False]
    # no clip: window (0, inf), but beyond |log s| = 10 the ratio is a constant
    side = flow.window_side(torch.tensor([math.exp(-10.5), 0.5]), 0.0, math.inf)
    assert flow.cross_carries_gradient(side, torch.tensor([-10.5, -0.7])).tolist() == [False, True]
    # GSPO [0.9997, 1.0004]: clipped only when the clip side agrees with A's sign
    s = torch.tensor([0.99, 0.99, 1.01, 1.01, 1.0])
    adv = torch.tensor([-1.0, 1.0, 1.0, -1.0, 0.5])
    got = flow.self_carries_gradient(s, torch.log(s), adv, 3e-4, 4e-4)
    assert got.tolist() == [False, True, False, True, True]


def test_window_counts_per_learner_and_per_source():
    assert flow.window_counts(FATES) == {
        "cross_rows": 4.0, "cross_in_window": 2.0, "cross_in_window_frac": 0.5,
        "from/b/rows": 2.0, "from/b/in_window": 1.0, "from/c/rows": 2.0, "from/c/in_window": 1.0}


def test_advantage_shares_over_all_rows_and_over_rows_with_gradient():
    got = flow.advantage_shares(FATES)
    # positive mass: own 1.0, peers 2 + 2 + 1 = 5 -> 5/6; negative: own 0.5 + 0.5 + 1, peer 1 -> 1/3
    assert got["peer_pos_share"] == pytest.approx(5 / 6)
    assert got["peer_neg_share"] == pytest.approx(1 / 3)
    # with gradient: own + 1.0 and -0.5, -1.0; peers +2 (b on p) and +1 (c on q); no negative peer
    assert got["peer_pos_share_grad"] == pytest.approx(3 / 4)
    assert got["peer_neg_share_grad"] == 0.0
    # no negative advantage at all: the negative share is absent, not 0
    assert "peer_neg_share" not in flow.advantage_shares([_own("p", 1.0, 1.0), _peer("b", "p", 1.0, 1.0, True)])


def test_rescue_counts_the_learners_all_wrong_prompts_and_the_peer_samples_that_rescue_them():
    got = flow.rescue(FATES)
    # only "p" is all wrong; b and c both solved it -> rescued; c's sample sat above the window
    assert got == {"all_wrong_prompts": 1.0, "rescued_prompts": 1.0, "rescue_rate": 1.0, "rescue_rows": 2.0,
                   "rescue_in_window_frac": 0.5}
    # an all-wrong prompt no peer solved, and a correct peer sample of a prompt the learner did not sample
    got = flow.rescue([_own("p", 0.0, 0.0), _own("r", 0.0, 0.0), _peer("b", "r", 1.0, 1.0, True),
                       _peer("b", "x", 1.0, 1.0, True)])
    assert got["rescue_rate"] == 0.5 and got["rescue_rows"] == 1.0 and got["rescue_in_window_frac"] == 1.0
    # nothing all wrong: the rates are undefined, hence absent
    got = flow.rescue([_own("q", 1.0, 0.0), _peer("b", "q", 1.0, 0.0, True)])
    assert got == {"all_wrong_prompts": 0.0, "rescued_prompts": 0.0, "rescue_rows": 0.0}


def test_log_ratio_quantiles_and_the_window_fractions():
    got = flow.log_ratio_spread(FATES)
    # sorted log s: -0.7, -0.2, -0.1, 0.3; linear interpolation at positions 0.3, 1.5, 2.7
    assert got["log_ratio/q10"] == pytest.approx(-0.7 + 0.3 * 0.5)
    assert got["log_ratio/q50"] == pytest.approx(-0.15)
    assert got["log_ratio/q90"] == pytest.approx(-0.1 + 0.7 * 0.4)
    assert (got["log_ratio/below_frac"], got["log_ratio/inside_frac"], got["log_ratio/above_frac"]) == (0.25, 0.5, 0.25)
    # naive's peer rows have no cross window: no spread
    assert flow.log_ratio_spread([_own("p", 0.0, 0.0), _peer("b", "p", 1.0, 1.0, True)]) == {}


def test_flow_metrics_are_prefixed_and_absent_without_peer_rows():
    got = flow.flow_metrics(FATES)
    assert got["flow/cross_in_window"] == 2.0 and got["flow/from/c/in_window"] == 1.0
    assert all(k.startswith("flow/") for k in got)
    assert flow.flow_metrics([_own("p", 0.0, 0.0), _own("p", 1.0, 1.0)]) == {}


def test_run_totals_are_ratios_of_sums_over_the_logged_steps():
    rows = [{"step": 0, "a/eval/greedy_acc": 0.1},
            {"step": 1, "a/flow/cross_rows": 4, "a/flow/cross_in_window": 1, "a/flow/all_wrong_prompts": 2,
             "a/flow/rescued_prompts": 1, "a/flow/peer_pos_share_grad": 0.2},
            {"step": 2, "a/flow/cross_rows": 6, "a/flow/cross_in_window": 4, "a/flow/all_wrong_prompts": 0,
             "a/flow/rescued_prompts": 0}]
    assert flow.run_totals(rows, "a") == {"in_window": 0.5, "rescued": 0.5, "pos_share_grad": 0.2}
    assert flow.run_totals(rows, "b") is None  # never had a peer row (gspo): nothing to say
