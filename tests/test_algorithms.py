"""train/algorithms.py: the variant registry, what each variant changes relative to hacpo,
override handling, and that the spec is the one place defaults and ranges live (train.core
repeats none)."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch

from train import algorithms, core
from train.algorithms import AlgoSpec, algo_names, get_algo, learns_from_peers, register_algo

HACPO = get_algo("hacpo")


def changed_fields(spec: AlgoSpec) -> dict[str, object]:
    """Fields (besides name/description) where ``spec`` differs from hacpo, with its values."""
    return {
        f.name: getattr(spec, f.name)
        for f in dataclasses.fields(AlgoSpec)
        if f.name not in ("name", "description") and getattr(spec, f.name) != getattr(HACPO, f.name)
    }


@pytest.fixture
def restore_registry():
    saved = dict(algorithms._REGISTRY)
    yield
    algorithms._REGISTRY.clear()
    algorithms._REGISTRY.update(saved)


def test_registered_variants():
    assert set(algo_names()) == {
        "hacpo", "gspo", "gspo2x", "grpo", "naive", "one_way",
        "no_adv", "no_omega", "alpha0", "no_clip", "no_stepwise",
        "hacpo_gated", "hacpo_own_guard", "hacpo_centered", "hacpo_far",
    }


def test_hacpo_defaults_are_the_papers():
    # HACPO.md §10: alpha 1, delta 0.2, delta_step 0.025, GSPO 3e-4 / 4e-4, GRPO 0.2 / 0.28,
    # K = 5, ratio clip [0.1, 10], advantage eps 1e-6, both guards on
    assert (HACPO.alpha, HACPO.delta, HACPO.delta_step) == (1.0, 0.2, 0.025)
    assert (HACPO.eps_low, HACPO.eps_high, HACPO.grpo_eps_low, HACPO.grpo_eps_high) == (3e-4, 4e-4, 0.2, 0.28)
    assert (HACPO.window, HACPO.ratio_clip_low, HACPO.ratio_clip_high, HACPO.adv_eps) == (5, 0.1, 10.0, 1e-6)
    assert HACPO.uniform_guard and HACPO.baseline_guard
    assert HACPO.share_pool and HACPO.capability_weighted_baseline and HACPO.use_omega
    assert HACPO.cross_clip and HACPO.stepwise and HACPO.objective == "gspo" and HACPO.cross_old_logp == "source"
    assert HACPO.rollout_multiplier == 1 and not HACPO.one_way
    # the far-pair changes are variants, off in hacpo itself
    assert (HACPO.cross_gate, HACPO.own_uniform_guard, HACPO.cross_window) == ("all", False, "fixed")


def test_hacpo_far_is_the_three_far_pair_changes_together():
    assert changed_fields(get_algo("hacpo_far")) == {"cross_gate": "positive", "own_uniform_guard": True,
                                                     "cross_window": "centered"}


@pytest.mark.parametrize(
    "name, change",
    [
        ("no_adv", {"capability_weighted_baseline": False}),  # omega stays in the update
        ("no_omega", {"use_omega": False}),  # omega stays in the baseline
        ("alpha0", {"alpha": 0.0}),
        ("no_clip", {"cross_clip": False}),
        ("no_stepwise", {"stepwise": False}),
        ("one_way", {"one_way": True}),
        ("hacpo_gated", {"cross_gate": "positive"}),
        ("hacpo_own_guard", {"own_uniform_guard": True}),
        ("hacpo_centered", {"cross_window": "centered"}),
    ],
)
def test_each_ablation_changes_exactly_one_thing(name, change):
    assert changed_fields(get_algo(name)) == change


@pytest.mark.parametrize(
    "name, change",
    [
        ("gspo", {"share_pool": False}),
        ("gspo2x", {"share_pool": False, "rollout_multiplier": 2}),
        ("grpo", {"share_pool": False, "objective": "grpo"}),
        # naive: pooled like hacpo, but none of the HACPO corrections and the learner as pi_old
        ("naive", {"capability_weighted_baseline": False, "use_omega": False, "cross_old_logp": "learner"}),
    ],
)
def test_baselines_differ_from_hacpo_only_where_documented(name, change):
    assert changed_fields(get_algo(name)) == change


def test_only_naive_treats_cross_samples_as_self():
    assert [n for n in algo_names() if get_algo(n).cross_as_self] == ["naive"]


def test_core_repeats_no_algospec_default():
    # the defaults live in AlgoSpec only: every core argument named like a spec field is required
    fields = {f.name for f in dataclasses.fields(AlgoSpec)} | {"eps", "clip", "window", "m"}
    defaulted = [f"{name}({arg}={p.default!r})" for name in core.__all__
                 for arg, p in inspect.signature(getattr(core, name)).parameters.items()
                 if arg in fields and p.default is not inspect.Parameter.empty]
    assert not defaulted, f"train.core repeats defaults of AlgoSpec: {defaulted}"


def test_update_settings_are_spec_fields_checked_once():
    spec = get_algo("hacpo", minibatch_size=4, shuffle=False, kl_beta=0.1)
    assert (spec.minibatch_size, spec.shuffle, spec.kl_beta) == (4, False, 0.1)
    assert get_algo("hacpo").minibatch_size is None  # set from the run's batch by train.config.resolve_algo
    with pytest.raises(algorithms.AlgoSpecError) as err:
        get_algo("hacpo", minibatch_size=0, kl_beta=-1.0, delta=2.0)
    assert [k for k, _ in err.value.problems] == ["delta", "minibatch_size", "kl_beta"]


def test_overrides_apply_and_leave_the_registry_alone():
    spec = get_algo("no_stepwise", alpha=3, delta=0.1, delta_step=0.01)
    assert (spec.alpha, spec.delta, spec.delta_step, spec.stepwise) == (3.0, 0.1, 0.01, False)
    assert isinstance(spec.alpha, float)  # YAML's 3 is stored as 3.0
    assert get_algo("no_stepwise").alpha == 1.0


@pytest.mark.parametrize(
    "name, overrides, match",
    [
        ("no_omgea", {}, "did you mean 'no_omega'"),
        ("hacpo", {"alpah": 1.0}, "did you mean 'alpha'"),
        ("hacpo", {"name": "x"}, "unknown algorithm setting 'name'"),
        ("hacpo", {"alpha": "3"}, "alpha='3' has type str; expected float"),
        ("hacpo", {"stepwise": 1}, "expected bool"),
        ("hacpo", {"window": 2.5}, "expected int"),
        ("hacpo", {"alpha": -1.0}, "alpha -1.0 must be >= 0"),
        ("hacpo", {"delta": 1.5}, "delta 1.5 must be in"),
        ("hacpo", {"ratio_clip_low": 2.0}, "ratio_clip_low 2.0 must be in"),
        ("hacpo", {"objective": "ppo"}, "objective 'ppo'"),
        ("gspo", {"one_way": True}, "one_way needs share_pool"),
        ("hacpo", {"minibatch_size": 2.5}, "expected int | None"),
    ],
)
def test_bad_names_and_overrides_raise_clear_errors(name, overrides, match):
    with pytest.raises(ValueError, match=match):
        get_algo(name, **overrides)


def test_specs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        HACPO.alpha = 2.0  # type: ignore[misc]


def test_register_rejects_a_taken_name_and_accepts_a_new_one(restore_registry):
    with pytest.raises(ValueError, match="already registered"):
        register_algo(AlgoSpec(name="hacpo"))
    register_algo(dataclasses.replace(HACPO, name="hacpo_alpha3", alpha=3.0))
    assert get_algo("hacpo_alpha3").alpha == 3.0


def test_learns_from_peers():
    capability = torch.tensor([0.3, 0.8, 0.5])
    assert all(learns_from_peers(HACPO, k, capability) for k in range(3))
    assert not any(learns_from_peers(get_algo("gspo"), k, capability) for k in range(3))
    # one_way: agent 1 is the strongest and learns alone; 0 and 2 learn from peers
    one_way = get_algo("one_way")
    assert [learns_from_peers(one_way, k, capability) for k in range(3)] == [True, False, True]
    # a tie goes to the lowest index, so exactly one agent learns alone
    assert [learns_from_peers(one_way, k, torch.tensor([0.5, 0.5])) for k in range(2)] == [False, True]
    # a single agent has no peers whatever the variant
    assert not learns_from_peers(HACPO, 0, torch.tensor([0.5]))
