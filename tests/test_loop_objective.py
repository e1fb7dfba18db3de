"""The loop's update equals the hand-assembled core objective (GSPO one agent; HACPO cross rows).

A recording optimizer captures the accumulated gradient of each mini-batch without changing the
weights, so every mini-batch can be recomputed by hand with `train.core` on the same parameters.
"""

from __future__ import annotations

import math

import pytest
import torch

from train import core
from learner_rows import RecordingOptimizer, Rows, spec
from train.update_step import update_policy

PROMPTS = ["3 + 4 = ?\nGive the final answer after '####'.", "12 - 5 = ?\nGive the final answer after '####'.",
           "1 + 1 + 1 = ?\nGive the final answer after '####'."]


@pytest.fixture(scope="module")
def agents_pair():
    from agents.zoo import build_untrained

    corpus = [p + f" #### {i}" for i, p in enumerate(PROMPTS)] * 5
    torch.manual_seed(0)
    return build_untrained("tiny-qwen2-char", corpus=corpus), build_untrained("tiny-llama-bpe", corpus=corpus)


HACPO = spec()


def _loss(objective):
    """The loss of one mini-batch in one micro-batch."""
    return core.minibatch_loss(objective, None, kl_beta=0.0, minibatch_size=len(objective))


def _grads(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    out = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    return out


def test_gspo_single_agent_update_matches_core_objective(agents_pair):
    agent, _ = agents_pair
    samples = agent.generate(PROMPTS, n=2, max_new_tokens=6, seed=3)
    prompts = [p for p, g in zip(PROMPTS, samples) for _ in g]
    ids = [s.token_ids for g in samples for s in g]
    with torch.no_grad():
        old = agent.sequence_logprobs(prompts, response_ids=ids).mean
    # perturb "old" so ratios leave the tiny GSPO window on both sides and the min() matters
    old = old + torch.tensor([0.0, 1e-3, -1e-3, 2e-4, -5e-5, 0.0])
    adv = torch.tensor([1.0, -1.0, 1.0, -0.5, 0.5, -2.0])
    rows = Rows()
    for p, i, a, o in zip(prompts, ids, adv.tolist(), old.tolist()):
        rows.add(prompt=p, response_ids=i, objective="gspo", advantage=a, old_mean_logp=o, is_self=True)
    opt = RecordingOptimizer(agent.model)
    # token budget far below the batch: several micro-batches must add up to one mini-batch mean
    metrics = update_policy(agent, opt, rows, spec(minibatch_size=6, shuffle=False), seed=0,
                            max_grad_norm=1e9, max_prompt_tokens=256, max_response_tokens=6, token_budget=120)
    assert len(opt.steps) == 1 and metrics["updates"] == 1 and metrics["nan_skips"] == 0
    new = agent.sequence_logprobs(prompts, response_ids=ids, grad=True).mean
    obj, _ = core.gspo_self_objective(new, old, adv, HACPO.eps_low, HACPO.eps_high)
    loss = _loss(obj)
    assert metrics["loss"] == pytest.approx(float(loss.detach()), abs=1e-6)
    for got, want in zip(opt.steps[0], _grads(agent.model, loss)):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-4)


def test_cross_rows_use_source_logp_coef_and_stepwise_index(agents_pair):
    """Two mini-batches (m = 0, 1) of mixed self and cross rows, self-first order (shuffle off)."""
    learner, source = agents_pair
    own = learner.generate(PROMPTS[:2], n=1, max_new_tokens=5, seed=1)
    peer = source.generate(PROMPTS[:2], n=1, max_new_tokens=5, seed=2)
    own_ids = [g[0].token_ids for g in own]
    peer_text = [g[0].text or "#" for g in peer]
    peer_fin = [g[0].finished for g in peer]
    with torch.no_grad():
        old_self = learner.sequence_logprobs(PROMPTS[:2], response_ids=own_ids).mean
        # same response limit as the update below, or the two means cover different tokens
        learner_on_peer = learner.sequence_logprobs(PROMPTS[:2], responses=peer_text, append_eos=peer_fin,
                                                    max_response_tokens=6).mean
    # source log-probs chosen so that one cross ratio sits inside [0.8, 1] and one below 0.8
    src = learner_on_peer - torch.tensor([-0.1, -0.5])
    adv = [0.7, -0.3, 1.2, 0.9]
    coef = [2.0, 0.5]
    rows = Rows()
    for p, i, a, o in zip(PROMPTS[:2], own_ids, adv[:2], old_self.tolist()):
        rows.add(prompt=p, response_ids=i, objective="gspo", advantage=a, old_mean_logp=o, is_self=True)
    for p, t, f, a, c, s in zip(PROMPTS[:2], peer_text, peer_fin, adv[2:], coef, src.tolist()):
        rows.add(prompt=p, response=t, append_eos=f, objective="cross", advantage=a, coef=c, old_mean_logp=s)
    opt = RecordingOptimizer(learner.model)
    params = spec(minibatch_size=2, shuffle=False, alpha=1.0, delta=0.2, delta_step=0.1)
    metrics = update_policy(learner, opt, rows, params, seed=0, max_grad_norm=1e9, max_prompt_tokens=256,
                            max_response_tokens=6, token_budget=4096)
    assert len(opt.steps) == 2
    # m = 0: the two self rows
    new_self = learner.sequence_logprobs(PROMPTS[:2], response_ids=own_ids, grad=True).mean
    loss0 = _loss(core.gspo_self_objective(new_self, old_self, torch.tensor(adv[:2]), HACPO.eps_low, HACPO.eps_high)[0])
    # m = 1: the two cross rows, lower bound 1 - 0.2 + 1 * 0.1 = 0.9
    new_cross = learner.sequence_logprobs(PROMPTS[:2], responses=peer_text, append_eos=peer_fin,
                                          max_response_tokens=6, grad=True).mean
    obj1, met = core.cross_objective(new_cross, src, torch.tensor(adv[2:]), torch.tensor(coef), alpha=1.0,
                                     delta=0.2, delta_step=0.1, m=1, clip=True, stepwise=True)
    assert met["clip/cross_lower_bound"] == pytest.approx(0.9)
    loss1 = _loss(obj1)
    for step, loss in zip(opt.steps, (loss0, loss1)):
        for got, want in zip(step, _grads(learner.model, loss)):
            torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-4)
    assert metrics["clip_ratio/cross_low"] == pytest.approx(0.5)  # exp(-0.5) = 0.61 < 0.9
    assert metrics["cross_ratio/max"] == pytest.approx(float(torch.exp(torch.tensor(-0.1))), rel=1e-4)
    # what the learner learned from its peer (train/flow.py): the self rows carry gradient at m = 0
    # (s = 1); at m = 1 log s = -0.1 is inside [0.9, 1], log s = -0.5 below it
    assert metrics["flow/cross_rows"] == 2 and metrics["flow/cross_in_window"] == 1
    assert metrics["flow/from/peer/rows"] == 2 and metrics["flow/from/peer/in_window"] == 1
    assert metrics["flow/peer_pos_share"] == pytest.approx((1.2 + 0.9) / (0.7 + 1.2 + 0.9))
    assert metrics["flow/peer_pos_share_grad"] == pytest.approx(1.2 / (0.7 + 1.2))
    assert metrics["flow/peer_neg_share"] == metrics["flow/peer_neg_share_grad"] == 0.0
    assert metrics["flow/log_ratio/q50"] == pytest.approx(-0.3, abs=1e-5)
    assert metrics["flow/log_ratio/q10"] == pytest.approx(-0.46, abs=1e-5)
    assert (metrics["flow/log_ratio/below_frac"], metrics["flow/log_ratio/inside_frac"]) == (0.5, 0.5)
    assert metrics["flow/all_wrong_prompts"] == 2 and metrics["flow/rescue_rate"] == 0.0  # rewards all 0


def test_nan_loss_skips_the_update_and_counts_it(agents_pair):
    agent, _ = agents_pair
    rows = Rows()
    ids = agent.generate(PROMPTS[:1], n=1, max_new_tokens=4, seed=0)[0][0].token_ids
    rows.add(prompt=PROMPTS[0], response_ids=ids, objective="gspo", advantage=float("nan"), old_mean_logp=-1.0)
    before = [p.detach().clone() for p in agent.model.parameters()]
    opt = torch.optim.AdamW(agent.model.parameters(), lr=1e-2)
    metrics = update_policy(agent, opt, rows, spec(minibatch_size=1), seed=0, max_grad_norm=1.0,
                            max_prompt_tokens=256, max_response_tokens=8, token_budget=4096)
    assert metrics["nan_skips"] == 1 and metrics["nan_consecutive"] == 1
    assert not any(k.startswith("flow/") for k in metrics)  # own rows only: nothing shared, nothing logged
    assert all(torch.equal(a, b) for a, b in zip(before, agent.model.parameters()))


@pytest.mark.parametrize("objective", ["gspo", "grpo"])
def test_own_old_logps_from_the_first_forward_equal_a_separate_pass(agents_pair, monkeypatch, objective):
    """old None = 'the learner's own pre-update log-prob'. Rows of the first mini-batch take it from
    that update's forward (no step has happened yet), only later mini-batches are scored
    beforehand; the weights after both updates equal those of a run given explicit old values."""
    import copy

    import train.update_step as us

    agent, _ = agents_pair
    samples = agent.generate(PROMPTS, n=2, max_new_tokens=6, seed=5)
    prompts = [p for p, g in zip(PROMPTS, samples) for _ in g]
    ids = [s.token_ids for g in samples for s in g]
    adv = [1.0, -1.0, 0.5, -0.5, 2.0, -2.0]
    with torch.no_grad():
        pre = agent.sequence_logprobs(prompts, response_ids=ids)
    explicit_old = pre.mean.tolist()

    def run(explicit: bool):
        a = copy.deepcopy(agent)
        rows = Rows()
        for p, i, v, o, tok in zip(prompts, ids, adv, explicit_old, pre.token_logprobs):
            rows.add(prompt=p, response_ids=i, objective=objective, advantage=v, is_self=True,
                     old_mean_logp=o if explicit else None,
                     old_token_logps=(tok.tolist() if explicit else None) if objective == "grpo" else None)
        scored = []
        real = us.score_rows
        monkeypatch.setattr(us, "score_rows", lambda ag, b, **kw: scored.append(len(b)) or real(ag, b, **kw))
        out = update_policy(a, torch.optim.SGD(a.model.parameters(), lr=0.5), rows,  # SGD: Adam amplifies 1e-7 noise
                            spec(minibatch_size=4, shuffle=True, eps_low=0.2, eps_high=0.2,
                                         grpo_eps_low=0.2, grpo_eps_high=0.2), seed=1,
                            max_grad_norm=1e9, max_prompt_tokens=256, max_response_tokens=6, token_budget=8192)
        monkeypatch.setattr(us, "score_rows", real)
        return a, out, scored

    a_exp, out_exp, scored_exp = run(True)
    a_own, out_own, scored_own = run(False)
    assert scored_exp == [] and scored_own == [2]  # 6 rows, mini-batches of 4: only the last 2 scored first
    assert out_own["updates"] == 2 and out_own["nan_skips"] == 0
    assert out_own["loss"] == pytest.approx(out_exp["loss"], abs=1e-5)
    for p_own, p_exp, p0 in zip(a_own.model.parameters(), a_exp.model.parameters(), agent.model.parameters()):
        torch.testing.assert_close(p_own, p_exp, atol=1e-5, rtol=1e-4)
    assert any(not torch.equal(p, p0) for p, p0 in zip(a_own.model.parameters(), agent.model.parameters()))


def test_self_and_cross_rows_of_a_mini_batch_run_as_one_forward_sharing_their_prompts(agents_pair, monkeypatch):
    """Own ids and re-tokenised peer text share one forward per mini-batch; the gradients equal
    those of the plain forward (no prompt sharing)."""
    learner, source = agents_pair
    own = learner.generate(PROMPTS, n=2, max_new_tokens=5, seed=3)
    peer = source.generate(PROMPTS, n=2, max_new_tokens=5, seed=4)
    rows = Rows()
    for p, g in zip(PROMPTS, own):
        for s in g:
            rows.add(prompt=p, response_ids=s.token_ids, objective="gspo", advantage=0.5 - len(rows) / 7,
                     old_mean_logp=-3.0, is_self=True)
    for p, g in zip(PROMPTS, peer):
        for s in g:
            rows.add(prompt=p, response=s.text or "#", append_eos=s.finished, objective="cross",
                     advantage=1.0 - len(rows) / 9, coef=1.5, old_mean_logp=-2.5)
    import agents.llm

    forwards, shared_runs = [], []
    real = type(learner).token_logprobs
    monkeypatch.setattr(type(learner), "token_logprobs", lambda self, b, **kw: forwards.append(len(b)) or real(self, b, **kw))
    real_shared = agents.llm.shared_prefix_logits
    monkeypatch.setattr(agents.llm, "shared_prefix_logits", lambda *a: shared_runs.append(1) or real_shared(*a))

    def run(share: bool):
        learner.share_prompt_forward = share
        opt = RecordingOptimizer(learner.model)
        update_policy(learner, opt, rows, spec(minibatch_size=6, shuffle=True), seed=2, max_grad_norm=1e9,
                      max_prompt_tokens=256, max_response_tokens=6, token_budget=8192)
        learner.share_prompt_forward = True
        return opt.steps

    shared = run(True)
    assert forwards == [6, 6]  # 12 rows, 2 mini-batches, each one forward over self and cross rows alike
    assert shared_runs == [1, 1]  # ... in which rows of one prompt share its forward
    for got, want in zip(shared, run(False)):
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, atol=1e-6, rtol=1e-4)


_HASH_SEED_SCRIPT = """
import sys, torch
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests"]
from agents.zoo import build_untrained
from learner_rows import Rows, spec
from train.update_step import update_policy
prompts = [f"{a} + {b} = ?" for a, b in ((3, 4), (12, 5), (7, 7))]
torch.manual_seed(0)
agent = build_untrained("tiny-llama-bpe", corpus=[p + " #### 1" for p in prompts] * 5)
rows = Rows()
for i, p in enumerate(prompts * 8):
    if i % 2:
        rows.add(prompt=p, response=f"#### {i * 37}", objective="cross", advantage=(0.3 * i - 0.7) ** 3, coef=1.5,
                 old_mean_logp=-6.0 + 0.1 * i)
    else:
        rows.add(prompt=p, response_ids=[5 + i, 9, 11], objective="gspo", advantage=0.5 - 0.2 * i,
                 old_mean_logp=-6.2 + 0.05 * i, is_self=True)
opt = torch.optim.SGD(agent.model.parameters(), lr=0.0)
out = update_policy(agent, opt, rows, spec(minibatch_size=24), seed=0, max_grad_norm=1.0,
                    max_prompt_tokens=64, max_response_tokens=8, token_budget=4096)
print(repr(out["loss"]))
"""


def test_logged_loss_does_not_depend_on_the_process_hash_seed():
    """Objective kinds are summed in a fixed order: with set order, processes whose string-hash
    seeds ordered {"gspo", "cross"} differently (seeds 0 and 2 do) logged different last bits."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = str(Path(__file__).resolve().parents[1])
    losses = []
    for hash_seed in ("0", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, OMP_NUM_THREADS="1")
        out = subprocess.run([sys.executable, "-c", _HASH_SEED_SCRIPT, repo], env=env, capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        losses.append(out.stdout.strip().splitlines()[-1])
    assert losses[0] == losses[1]


def test_logp_mismatch_compares_the_sampler_with_the_first_forward(agents_pair):
    """`logp_mismatch` = mean |sampler - training model| over the own rows of the first mini-batch
    (their pre-update forward costs nothing extra); later mini-batches have moved the weights."""
    agent, _ = agents_pair
    samples = agent.generate(PROMPTS[:2], n=2, max_new_tokens=6, seed=5)
    prompts = [p for p, g in zip(PROMPTS[:2], samples) for _ in g]
    ids = [s.token_ids for g in samples for s in g]
    with torch.no_grad():
        exact = agent.sequence_logprobs(prompts, response_ids=ids).mean.tolist()
    reported = [e + d for e, d in zip(exact, (0.01, -0.03, 0.5, 0.5))]  # rows 2, 3 land in mini-batch 2
    rows = Rows()
    for p, i, s in zip(prompts, ids, reported):
        rows.add(prompt=p, response_ids=i, objective="gspo", advantage=1.0, old_mean_logp=s, is_self=True,
                 sampling_mean_logp=s)
    metrics = update_policy(agent, RecordingOptimizer(agent.model), rows, spec(minibatch_size=2, shuffle=False),
                            seed=0, max_grad_norm=1e9, max_prompt_tokens=256, max_response_tokens=6, token_budget=4096)
    assert metrics["logp_mismatch"] == pytest.approx(0.02, abs=1e-5)
    rows = Rows()  # cross / external rows carry none: no metric rather than NaN
    for p, i, s in zip(prompts, ids, reported):
        rows.add(prompt=p, response_ids=i, objective="gspo", advantage=1.0, old_mean_logp=s, is_self=True)
    metrics = update_policy(agent, RecordingOptimizer(agent.model), rows, spec(minibatch_size=2, shuffle=False),
                            seed=0, max_grad_norm=1e9, max_prompt_tokens=256, max_response_tokens=6, token_budget=4096)
    assert "logp_mismatch" not in metrics


def test_optimizer_step_clips_steps_and_skips_a_non_finite_gradient():
    from train.update_step import optimizer_step

    model = torch.nn.Linear(2, 1, bias=False)
    model.weight.data = torch.tensor([[1.0, 1.0]])
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    model.weight.grad = torch.tensor([[3.0, 4.0]])  # norm 5, clipped to 1: step (0.6, 0.8)
    assert optimizer_step(model, opt, max_grad_norm=1.0) == pytest.approx(5.0)
    assert model.weight.data[0].tolist() == pytest.approx([0.4, 0.2]) and model.weight.grad is None
    model.weight.grad = torch.tensor([[float("nan"), 1.0]])
    assert math.isnan(optimizer_step(model, opt, max_grad_norm=1.0))  # no step
    assert model.weight.data[0].tolist() == pytest.approx([0.4, 0.2]) and model.weight.grad is None


def test_each_row_kind_is_scored_by_its_core_function():
    from train.update_step import ROW_OBJECTIVES, KindRows

    s = spec(alpha=2.0, delta=0.3, delta_step=0.05)
    new_tokens = torch.tensor([[-1.0, -2.0], [-0.5, -0.1]])
    mask = torch.ones(2, 2)
    rows = KindRows(new_mean=core.token_mean(new_tokens, mask), new_tokens=new_tokens, mask=mask,
                    old_mean=torch.tensor([-1.4, -0.4]), old_tokens=torch.tensor([[-1.1, -2.0], [-0.4, -0.2]]),
                    advantages=torch.tensor([1.0, -0.5]), coef=torch.tensor([2.0, 0.5]))
    want = {
        "gspo": core.gspo_self_objective(rows.new_mean, rows.old_mean, rows.advantages, s.eps_low, s.eps_high),
        "grpo": core.grpo_token_objective(new_tokens, rows.old_tokens, mask, rows.advantages, s.grpo_eps_low,
                                          s.grpo_eps_high),
        "cross": core.cross_objective(rows.new_mean, rows.old_mean, rows.advantages, rows.coef, alpha=2.0, delta=0.3,
                                      delta_step=0.05, m=3, clip=True, stepwise=True),
    }
    for kind, (objective, metrics) in want.items():
        got, got_metrics = ROW_OBJECTIVES[kind].score(rows, s, 3)
        assert torch.equal(got, objective) and got_metrics == metrics
        assert ROW_OBJECTIVES[kind].low in metrics and ROW_OBJECTIVES[kind].high in metrics
    assert want["cross"][1]["clip/cross_lower_bound"] == pytest.approx(1 - 0.3 + 3 * 0.05)  # m is passed through


def test_minibatch_order_is_a_seeded_permutation_or_self_rows_first():
    from train.update_step import minibatch_order

    rows = Rows()
    for i in range(6):
        if i % 2:
            rows.add(prompt="p", response=f"#### {i}", objective="cross", advantage=0.0, old_mean_logp=-1.0)
        else:
            rows.add(prompt="p", response_ids=[5, i + 1], objective="gspo", advantage=0.0, old_mean_logp=-1.0)
    assert minibatch_order(rows, shuffle=False, seed=0) == [0, 2, 4, 1, 3, 5]
    first = minibatch_order(rows, shuffle=True, seed=7)
    assert sorted(first) == list(range(6)) and first == minibatch_order(rows, shuffle=True, seed=7)
    assert first != minibatch_order(rows, shuffle=True, seed=8)
