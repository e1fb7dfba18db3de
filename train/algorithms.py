"""Named algorithm variants: HACPO, its baselines and its ablations, as frozen `AlgoSpec`s.

A variant is data, not code: the trainer reads an `AlgoSpec` to decide which rows a learner
trains on (own samples only, or the shared pool), which baseline and objective they get, and
the hyperparameters passed to `train.core`. The spec is the ONE carrier of these settings: every
HACPO default is a field default here (HACPO.md §10), every range is checked here, once
(`AlgoSpec.problems`), and the spec goes down to the learner as is. `train.core`'s functions take
each hyperparameter as a required argument, so no second copy of a default can drift.

    spec = get_algo("hacpo", alpha=3.0)        # a variant with config overrides
    get_algo("no_omgea")                        # ValueError: ... did you mean 'no_omega'?

Variants (HACPO.md §10.8, [P] Table 1-3, Fig. 4):
  hacpo        the full algorithm: capability-weighted baseline, omega, sg(s)^alpha, stepwise clip
  gspo         one agent, its own G samples only
  gspo2x       one agent, its own 2G samples: the resource-equivalent baseline (same samples per
               update and, with the same mini-batch size, the same number of updates as hacpo)
  grpo         one agent, own samples, token-level ratio with the 0.2 / 0.28 clip
  naive        peers' responses pooled and used exactly as if self-generated (see below)
  one_way      the currently most capable agent trains on its own samples only; the others
               run full hacpo with peers (knowledge flows one way, strong -> weak)
  no_adv       ablation: plain joint-mean baseline (omega kept in the update)   [P] "HACPO - Adv"
  no_omega     ablation: coefficient 1 in the update (omega kept in the baseline) [P] "HACPO - omega"
  alpha0       ablation: alpha = 0, plain sequence-level importance sampling      [P] Table 4
  no_clip      ablation: no cross-sample clamp                                    [P] Fig. 4
  no_stepwise  ablation: fixed cross window [1 - delta, 1]                        [P] Fig. 4

Reading of "naive" (the paper gives no formula): a peer's response is scored by the learner as
if the learner had sampled it. Plain joint-mean baseline, no omega, and the GSPO self objective
with the LEARNER's own pre-update mean log-prob as pi_old, so the ratio starts at 1 like an
on-policy sample; no importance correction for the fact that another policy produced it.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any, Literal

import torch

__all__ = ["AlgoSpec", "AlgoSpecError", "register_algo", "get_algo", "algo_names", "learns_from_peers"]


class AlgoSpecError(ValueError):
    """An `AlgoSpec` with settings out of range; `problems` lists (field, what is wrong)."""

    def __init__(self, name: str, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__(f"invalid AlgoSpec {name!r}: " + "; ".join(f"{k} {p}" for k, p in problems))


@dataclass(frozen=True)
class AlgoSpec:
    """One algorithm variant. Field defaults are the HACPO defaults (HACPO.md §3, §10)."""

    name: str
    # one line shown in listings and run metadata
    description: str = ""

    # --- which rows a learner trains on -----------------------------------------------------------
    # learn from peers' responses too (the shared rollout pool); False = own samples only
    share_pool: bool = True
    # responses sampled per agent per prompt = rollout_multiplier * G (2 for gspo2x)
    rollout_multiplier: int = 1
    # the agent with the highest capability this step trains on its own samples only
    one_way: bool = False

    # --- advantage (HACPO.md §3a) -------------------------------------------------------------------
    # baseline weights peers' rewards by 1/r (capability); False = plain joint mean
    capability_weighted_baseline: bool = True
    # uniform-reward group -> plain mean, A = 0 (avoids (R - mu) / eps blow-ups)
    uniform_guard: bool = True
    # weighted baseline > 1 -> the learner's own G-reward mean
    baseline_guard: bool = True
    # epsilon added to the joint std in the advantage denominator
    adv_eps: float = 1e-6
    # capability window K in steps, current step included ([P] eq. 9)
    window: int = 5
    # clip of the source/learner capability ratio r, applied once (HACPO.md §8.1)
    ratio_clip_low: float = 0.1
    ratio_clip_high: float = 10.0

    # --- self samples (HACPO.md §2.1) -----------------------------------------------------------------
    # "gspo": sequence ratio, PPO min with eps_low/eps_high; "grpo": token ratio with grpo_eps_*
    objective: Literal["gspo", "grpo"] = "gspo"
    # GSPO self clip window [1 - eps_low, 1 + eps_high]
    eps_low: float = 3e-4
    eps_high: float = 4e-4
    # GRPO token clip window (DAPO clip-higher), used when objective == "grpo"
    grpo_eps_low: float = 0.2
    grpo_eps_high: float = 0.28

    # --- cross samples (HACPO.md §3b-d) ------------------------------------------------------------
    # "source": HACPO cross objective against the source's pre-update mean log-prob;
    # "learner": peers' samples are treated as self samples, pi_old = the learner (naive)
    cross_old_logp: Literal["source", "learner"] = "source"
    # multiply the cross objective by omega = r[k, source]; False = coefficient 1
    use_omega: bool = True
    # exponent of the detached factor sg(clamp(s))^alpha; 0 = plain importance sampling
    alpha: float = 1.0
    # clamp cross ratios to [lower_m, 1]; False = no clamp
    cross_clip: bool = True
    # raise the lower bound by delta_step per optimizer update m; False = fixed 1 - delta
    stepwise: bool = True
    # cross window starts at [1 - delta, 1] ("lower bound 0.8" in the paper's Table 5)
    delta: float = 0.2
    delta_step: float = 0.025

    # --- pairs far apart (not in the paper; off in hacpo; docs/variants.md) ------------------------
    # "positive": a peer's sample enters a learner only with a positive advantage (core.peer_gate);
    # "rescue": only where it also beats all the learner's own samples of the prompt (core.rescue_gate)
    cross_gate: Literal["all", "positive", "rescue"] = "all"
    # the learner's own uniform (all-wrong) group gets no negative advantage (core.guard_own_uniform)
    own_uniform_guard: bool = False
    # "centered": the cross window is placed at the pair's median log-ratio (core.centered_offsets)
    cross_window: Literal["fixed", "centered"] = "fixed"

    # --- behaviour log-probs (HACPO.md §4.1 step 4) -------------------------------------------------
    # "auto": an agent whose sampler is exact (fp32 sampling from the fp32 training weights, prompt
    # not truncated by max_prompt_tokens) reuses the log-probs its sampler returned: they equal a
    # re-scoring forward within fp32 rounding, and that forward is then skipped. Other agents
    # (bf16 or int8 sampling, bf16 training, long prompts) are re-scored by their training model.
    # "recompute": always re-score (the V1 reference, whose vLLM sampler is not exact).
    behaviour_logprobs: Literal["auto", "recompute"] = "auto"

    # --- the update (HACPO.md §10.4, §10.5, §10.7) --------------------------------------------------
    # sequences per optimizer update; None = prompts_per_step * group_size / 2 (HACPO.md §6: 64 of
    # 128 prompts), set from the run's batch shape by `train.config.resolve_algo`
    minibatch_size: int | None = None
    # shuffle self and cross rows together before cutting mini-batches; False = self rows first (V1)
    shuffle: bool = True
    # coefficient of the k3 KL to the frozen initial weights, on self rows only; 0 = no reference
    kl_beta: float = 0.0

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise AlgoSpecError(self.name, problems)

    def problems(self) -> list[tuple[str, str]]:
        """(field, what is wrong) for every setting out of range; empty when the spec is valid."""
        out: list[tuple[str, str]] = []

        def need(ok: bool, key: str, problem: str) -> None:
            if not ok:
                out.append((key, problem))

        need(bool(self.name), "name", "must be non-empty")
        for key, choices in (("objective", ("gspo", "grpo")), ("cross_old_logp", ("source", "learner")),
                             ("behaviour_logprobs", ("auto", "recompute")), ("cross_gate", ("all", "positive", "rescue")),
                             ("cross_window", ("fixed", "centered"))):
            need(getattr(self, key) in choices, key, f"{getattr(self, key)!r} must be one of {choices}")
        need(self.rollout_multiplier >= 1, "rollout_multiplier", f"{self.rollout_multiplier} must be >= 1")
        need(not (self.one_way and not self.share_pool), "one_way",
             "needs share_pool=True (the weaker agents learn from peers)")
        need(self.adv_eps > 0, "adv_eps", f"{self.adv_eps} must be > 0")
        need(self.window >= 1, "window", f"{self.window} must be >= 1")
        need(0 < self.ratio_clip_low <= 1, "ratio_clip_low", f"{self.ratio_clip_low} must be in (0, 1]")
        need(self.ratio_clip_high >= 1, "ratio_clip_high", f"{self.ratio_clip_high} must be >= 1")
        for key in ("eps_low", "grpo_eps_low"):
            need(0 <= getattr(self, key) < 1, key, f"{getattr(self, key)} must be in [0, 1)")
        for key in ("eps_high", "grpo_eps_high"):
            need(getattr(self, key) >= 0, key, f"{getattr(self, key)} must be >= 0")
        need(self.alpha >= 0, "alpha", f"{self.alpha} must be >= 0 (0 = plain sequence importance sampling)")
        need(0 <= self.delta <= 1, "delta",
             f"{self.delta} must be in [0, 1] (the window starts at 1 - delta; Table 5's 0.8 is delta=0.2)")
        need(self.delta_step >= 0, "delta_step", f"{self.delta_step} must be >= 0")
        need(self.minibatch_size is None or self.minibatch_size >= 1, "minibatch_size",
             f"{self.minibatch_size} must be >= 1")
        need(self.kl_beta >= 0, "kl_beta", f"{self.kl_beta} must be >= 0")
        return out

    @property
    def cross_as_self(self) -> bool:
        """Peers' samples use the self (GSPO) objective with the learner as pi_old (naive)."""
        return self.cross_old_logp == "learner"


# ----------------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------------

_REGISTRY: dict[str, AlgoSpec] = {}
_FIELDS = {f.name: f for f in dataclasses.fields(AlgoSpec)}
_NOT_OVERRIDABLE = ("name", "description")


def register_algo(spec: AlgoSpec) -> AlgoSpec:
    """Add a variant under ``spec.name``; a name already taken raises (no silent replacement)."""
    if spec.name in _REGISTRY:
        raise ValueError(f"algorithm {spec.name!r} is already registered; pick another name")
    _REGISTRY[spec.name] = spec
    return spec


def algo_names() -> list[str]:
    """Registered variant names, sorted."""
    return sorted(_REGISTRY)


def _did_you_mean(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(options)}"


def _check_override_type(key: str, value: Any) -> None:
    kind = _FIELDS[key].type
    ok = {
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "int | None": value is None or (isinstance(value, int) and not isinstance(value, bool)),
    }.get(kind, isinstance(value, str))  # str and Literal[...] fields; __post_init__ checks the choices
    if not ok:
        raise ValueError(f"algorithm override {key}={value!r} has type {type(value).__name__}; expected {kind}")


def get_algo(name: str, /, **overrides: Any) -> AlgoSpec:
    """The registered variant ``name`` with ``overrides`` applied (e.g. ``alpha=3.0, delta=0.1``).

    An unknown name or field raises ValueError with the closest match; a wrong type or an
    out-of-range value raises ValueError naming the field.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown algorithm {name!r}" + _did_you_mean(name, algo_names()))
    for key, value in overrides.items():
        if key not in _FIELDS or key in _NOT_OVERRIDABLE:
            options = [k for k in _FIELDS if k not in _NOT_OVERRIDABLE]
            raise ValueError(f"unknown algorithm setting {key!r}" + _did_you_mean(key, options))
        _check_override_type(key, value)
    # an int from YAML (alpha: 3) becomes 3.0 so specs compare and print the same either way
    overrides = {k: (float(v) if _FIELDS[k].type == "float" else v) for k, v in overrides.items()}
    return dataclasses.replace(_REGISTRY[name], **overrides)


def learns_from_peers(spec: AlgoSpec, learner: int, capability: torch.Tensor) -> bool:
    """Does ``learner`` train on peers' responses this step?

    False for variants without a shared pool, and under ``one_way`` for the most capable agent
    (capability (n,) from `train.core.capability_estimate`; a tie goes to the lowest index, as
    ``torch.argmax`` does, so exactly one agent is "the strongest").
    """
    if not spec.share_pool or capability.numel() < 2:
        return False
    return not (spec.one_way and learner == int(torch.argmax(capability)))


# ----------------------------------------------------------------------------------------------
# the variants
# ----------------------------------------------------------------------------------------------

HACPO = register_algo(
    AlgoSpec(name="hacpo", description="HACPO: capability-aware advantage, omega, sg(s)^alpha, stepwise clip")
)


def _variant(name: str, description: str, **changes: Any) -> AlgoSpec:
    # Every variant is hacpo with the listed fields changed, so a listing of `changes` is the
    # whole difference (fields a variant never reads, like alpha for gspo, keep hacpo's value).
    return register_algo(dataclasses.replace(HACPO, name=name, description=description, **changes))


_variant("gspo", "GSPO, one agent, own G samples", share_pool=False)
_variant("gspo2x", "GSPO, one agent, own 2G samples (resource-equivalent baseline)",
         share_pool=False, rollout_multiplier=2)
_variant("grpo", "GRPO, one agent, own G samples, token ratio clip 0.2 / 0.28", share_pool=False, objective="grpo")
_variant("naive", "peers' responses pooled and used as self samples; no HACPO corrections",
         capability_weighted_baseline=False, use_omega=False, cross_old_logp="learner")
_variant("one_way", "the most capable agent learns alone; the others run hacpo with peers", one_way=True)
_variant("no_adv", "ablation: plain joint-mean baseline", capability_weighted_baseline=False)
_variant("no_omega", "ablation: cross coefficient 1 (omega kept in the baseline)", use_omega=False)
_variant("alpha0", "ablation: alpha = 0 (plain sequence importance sampling)", alpha=0.0)
_variant("no_clip", "ablation: no cross-sample clamp", cross_clip=False)
_variant("no_stepwise", "ablation: fixed cross window [1 - delta, 1]", stepwise=False)
_variant("hacpo_gated", "hacpo, peers' samples only with a positive advantage", cross_gate="positive")
_variant("hacpo_own_guard", "hacpo, no negative advantage for the learner's own all-wrong group",
         own_uniform_guard=True)
_variant("hacpo_centered", "hacpo, cross window at the pair's median log-ratio", cross_window="centered")
_variant("hacpo_far", "hacpo_gated + hacpo_own_guard + hacpo_centered", cross_gate="positive",
         own_uniform_guard=True, cross_window="centered")
