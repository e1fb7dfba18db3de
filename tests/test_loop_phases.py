"""Loop phases that need no model: data order, verification's reward array, per-learner rows per
algorithm (train.views), step metrics."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch

from train import core
from train.algorithms import get_algo
from train.loop import TrainerState, next_prompt_indices, rollout_metrics, update_capability, verify
from train.pool import Pool, Trajectory
from train.views import SharedStep, learner_rows

NAMES = ["a", "b"]
# rewards (P=2, n=2, G=2): prompt 0: a fails both, b solves one; prompt 1: both solve everything
REWARDS = torch.tensor([[[0.0, 0.0], [1.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]])


def _pool() -> Pool:
    recs = []
    for j, name in enumerate(NAMES):
        for p in range(2):
            for i in range(2):
                recs.append(Trajectory(prompt_id=f"q{p}", prompt=f"prompt {p}", response=f"{name}{p}{i}", source=name,
                                       reward=float(REWARDS[p, j, i]), source_num_tokens=3 + i, finished=i == 0,
                                       source_mean_logp=-0.5 - j, sampling_mean_logp=-0.5 - j, prompt_index=p,
                                       sample_index=i, source_token_ids=(1, 2, 3 + i), source_token_logps=(-0.5,) * 3))
    return Pool(recs)


HACPO = get_algo("hacpo")


def _advantages(k, ratios, weighted=True):
    return core.capability_advantages(REWARDS, k, ratios, eps=HACPO.adv_eps, uniform_guard=True, baseline_guard=True,
                                      capability_weighted=weighted)


def _columns(rows):
    """The rows column by column, as the assertions read them."""
    return SimpleNamespace(
        objective=[r.kind for r in rows], is_self=[r.is_self for r in rows], advantages=[r.advantage for r in rows],
        coef=[r.coef for r in rows], old_mean_logp=[r.old_mean_logp for r in rows],
        old_token_logps=[None if r.old_token_logps is None else list(r.old_token_logps) for r in rows],
        response_ids=[None if not r.is_self else list(r.record.source_token_ids) for r in rows],
        responses=[r.record.response for r in rows], append_eos=[r.record.finished for r in rows])


def _rows(algo: str, k: int = 0, external=(), history=None):
    spec = get_algo(algo)
    state = TrainerState(capability_history=history or [])
    cap, ratios = update_capability(state, REWARDS, spec)
    rows, info = learner_rows(spec, k, SharedStep(tuple(NAMES), _pool(), REWARDS, ratios, cap, tuple(external)))
    return (_columns(rows), info), ratios, cap


def test_prompt_order_is_a_seeded_permutation_per_epoch_and_resumes_exactly():
    state = TrainerState()
    first = next_prompt_indices(state, 3, 5, seed=1) + next_prompt_indices(state, 2, 5, seed=1)
    assert sorted(first) == list(range(5)) and state.epoch == 0
    snapshot = copy.deepcopy(state)
    nxt = next_prompt_indices(state, 4, 5, seed=1)  # crosses into epoch 1: a new permutation
    assert state.epoch == 1 and len(set(nxt)) == 4
    assert next_prompt_indices(snapshot, 4, 5, seed=1) == nxt  # a restored state continues identically
    with pytest.raises(ValueError, match="empty"):
        next_prompt_indices(TrainerState(), 1, 0, seed=0)


def test_hacpo_rows_self_then_cross_with_capability_coefficient():
    (batch, info), ratios, _ = _rows("hacpo")
    assert batch.objective == ["gspo"] * 4 + ["cross"] * 4
    assert batch.is_self == [True] * 4 + [False] * 4
    assert batch.response_ids[0] == [1, 2, 3] and batch.responses[4] == "b00"
    # capability: a = 2/4, b = 3/4 -> r[a, b] = 1.5 (source over learner)
    assert batch.coef[4:] == [pytest.approx(1.5)] * 4 and ratios[0, 1] == pytest.approx(1.5)
    assert batch.old_mean_logp[4:] == [-1.5] * 4  # the SOURCE's mean log-prob
    assert batch.append_eos[4:] == [True, False, True, False]  # own EOS iff the source finished
    adv = _advantages(0, ratios)
    assert batch.advantages[:4] == pytest.approx(adv[:, 0].flatten().tolist())
    assert batch.advantages[4:] == pytest.approx(adv[:, 1].flatten().tolist())
    assert 0 <= info["adv/peer_positive_share"] <= 1


def test_gspo_uses_own_group_advantages_only():
    (batch, _), _, _ = _rows("gspo")
    assert batch.objective == ["gspo"] * 4
    assert batch.advantages == pytest.approx(core.group_advantages(REWARDS[:, 0], HACPO.adv_eps).flatten().tolist())


def test_naive_treats_peer_samples_as_own_with_learner_old_logp():
    (batch, _), _, _ = _rows("naive")
    assert batch.objective[4:] == ["gspo"] * 4 and batch.old_mean_logp[4:] == [None] * 4
    assert batch.coef[4:] == [1.0] * 4
    plain = _advantages(0, torch.ones(2, 2), weighted=False)
    assert batch.advantages == pytest.approx(plain[:, 0].flatten().tolist() + plain[:, 1].flatten().tolist())


def test_no_omega_sets_coef_one_and_grpo_carries_token_logps():
    (batch, _), _, _ = _rows("no_omega")
    assert batch.coef[4:] == [1.0] * 4
    (g, _), _, _ = _rows("grpo")
    assert g.objective == ["grpo"] * 4 and g.old_token_logps[0] == [-0.5] * 3


def test_one_way_strongest_agent_learns_alone():
    (strong, _), _, cap = _rows("one_way", k=1)
    assert int(torch.argmax(cap)) == 1 and strong.objective == ["gspo"] * 4
    (weak, _), _, _ = _rows("one_way", k=0)
    assert weak.objective.count("cross") == 4


def test_external_groups_join_as_cross_rows_with_group_advantages():
    ext = [Trajectory(prompt_id="e", prompt="x", response=r, source="", reward=w, source_mean_logp=-2.0, external=True)
           for r, w in (("good", 1.0), ("bad", 0.0))]
    (batch, _), _, _ = _rows("hacpo", external=ext)
    assert batch.responses[-2:] == ["good", "bad"] and batch.objective[-2:] == ["cross", "cross"]
    assert batch.coef[-2:] == [1.0, 1.0] and batch.old_mean_logp[-2:] == [-2.0, -2.0]
    assert batch.advantages[-2] > 0 > batch.advantages[-1]


def test_verify_hands_the_loop_one_prompt_agent_sample_reward_array():
    class Vec:  # what hacrl_env's vector env returns: per agent, P lists of G rewards
        def step(self, actions):
            self.actions = actions
            rewards = {"a": [[0.0, 1.0, 0.0], [1.0, 1.0, 1.0]], "b": [[0.5, 0.0, 0.0], [0.0, 0.0, 1.0]]}
            return {}, {}, {}, {}, {n: {"rewards": r} for n, r in rewards.items()}

    sample = SimpleNamespace(text="#### 1")
    vec = Vec()
    rewards, infos = verify(vec, {"a": [[sample] * 3] * 2, "b": [[sample] * 3] * 2})
    assert rewards.shape == (2, 2, 3) and rewards.dtype == torch.float32
    assert rewards[0, 1, 0] == 0.5 and rewards[1, 0].tolist() == [1.0, 1.0, 1.0] and rewards[1, 1, 2] == 1.0
    assert vec.actions["a"] == [["#### 1"] * 3] * 2


def test_step_metrics_rescue_rate_cost_and_capability_ratio():
    spec = get_algo("hacpo")
    state = TrainerState()
    cap, ratios = update_capability(state, REWARDS, spec)
    m = rollout_metrics(NAMES, _pool(), REWARDS, cap, ratios, state)
    assert m["a/reward"] == 0.5 and m["b/reward"] == 0.75
    assert m["a/rescue_rate"] == 0.5  # prompt 0: a got nothing, b solved one
    assert m["b/rescue_rate"] == 0.0
    assert m["a/frac_reward_zero_std"] == 1.0 and m["b/frac_reward_zero_std"] == 0.5
    assert m["a/cost/generated_tokens"] == 14 and m["a/completions/clipped_ratio"] == 0.5
    assert m["a/capability_ratio/b"] == pytest.approx(1.5) and m["b/capability_ratio/a"] == pytest.approx(1 / 1.5)
    rollout_metrics(NAMES, _pool(), REWARDS, cap, ratios, state)
    assert state.generated_tokens_total["a"] == 28


def test_evaluation_samples_at_each_agents_training_temperature():
    """avg@k must be drawn like the training rollouts, or a T=0.7 agent is scored at T=1."""
    from train.config import load_config
    from train.loop import evaluate_all
    from train.workers import Done

    class Recorder:
        def __init__(self, name):
            self.name, self.kwargs = name, None

        def evaluate(self, env_id, split, **kwargs):
            self.kwargs = kwargs
            return {}

        def submit(self, method, *args, **kwargs):
            return Done(getattr(self, method)(*args, **kwargs))

    cfg = load_config(None, ["agents.0.temperature=0.7", "agents.1.top_p=0.9"])
    workers = [Recorder(a.name) for a in cfg.agents]
    evaluate_all(workers, cfg, step=0)
    assert (workers[0].kwargs["temperature"], workers[0].kwargs["top_p"]) == (0.7, 1.0)
    assert (workers[1].kwargs["temperature"], workers[1].kwargs["top_p"]) == (1.0, 0.9)
