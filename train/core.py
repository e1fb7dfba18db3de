"""HACPO as pure tensor functions: capability, advantages, ratios, clipping, objectives.

Every function here is stateless math (verl ``core_algos`` style): tensors in, tensors out,
no config objects, no ``self``. Equation and section numbers refer to
``shared/docs/HACPO.md`` (the project's algorithm reference) and the paper it cites
(Zhang et al., arXiv 2603.02604, preprint "[P]").

Shape letters:
  P  prompts in a step,  n  agents,  G  responses per agent per prompt,
  B  sequences in a mini-batch,  T  tokens (padded) per sequence,  k  learner,  j  source.

Sign convention: objectives are returned per sequence and are to be MAXIMISED;
the trainer's loss is :func:`minibatch_loss`. Hyperparameters are required arguments: their
defaults live once, in ``train.algorithms.AlgoSpec``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "positive_rate", "capability_estimate", "capability_ratios", "capability_advantages", "group_advantages",
    "token_mean", "k3_kl", "sequence_ratio", "gspo_self_objective", "stepwise_lower_bound", "cross_objective",
    "grpo_token_objective", "minibatch_loss", "guard_own_uniform", "peer_gate", "centered_offsets",
]


# --------------------------------------------------------------------------------------
# input checks (shared by the public functions; each names the problem and the fix)
# --------------------------------------------------------------------------------------


def _require_finite(name: str, x: Tensor) -> None:
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or inf; check the scorer / log-prob pass that produced it")


def _require_same_1d(**tensors: Tensor) -> int:
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    first = next(iter(shapes.values()))
    if len(first) != 1 or any(s != first for s in shapes.values()):
        raise ValueError(f"expected 1-D tensors of one length (B,), got shapes {shapes}")
    return first[0]


def _at_least_fp32(x: Tensor) -> Tensor:
    # bf16 resolves about 0.008 near 1.0, coarser than GSPO's whole [0.9997, 1.0004] window, so
    # ratios and token means are formed in >= fp32 (autograd casts the gradient back).
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _float_metric(x: Tensor) -> float:
    return float(x.detach().float().item())


# --------------------------------------------------------------------------------------
# (a) capability-aware advantage estimation  -- HACPO.md §3(a)
# --------------------------------------------------------------------------------------


def positive_rate(rewards: Tensor) -> Tensor:
    """Fraction of responses with reward > 0: P_tau^(k) for one agent in one step.

    (...) -> () float scalar.  HACPO.md §3(a): [V1]'s ``positive_rate``; equals the mean reward
    for 0/1 rewards, and stays a rate in [0, 1] for graded rewards so the capability ratio keeps
    its meaning.
    """
    if rewards.numel() == 0:
        raise ValueError("positive_rate got no rewards; score at least one response of the agent this step")
    _require_finite("rewards", rewards)
    return (rewards > 0).float().mean()


def capability_estimate(history: Tensor, window: int, floor: float = 1e-8) -> Tensor:
    """Sliding-window capability  P_hat_t^(k) = (1/K) sum_{tau=t-K+1..t} P_tau^(k)  ([P] eq. 9).

    history: (T, n) per-step positive rates, most recent LAST, current step included.
    Returns (n,): mean of the last ``window`` rows (all T rows when T < window, as [V1]'s
    deque does before K steps have passed). Each per-step value and the mean are floored at
    ``floor`` so the capability ratio P_j / P_k never divides by zero (an agent that solved
    nothing yet is "very weak", not undefined).
    """
    if history.ndim != 2 or history.shape[0] == 0 or history.shape[1] == 0:
        raise ValueError(
            f"history must be (T, n) with T >= 1 steps and n >= 1 agents, got shape {tuple(history.shape)}; "
            "append this step's positive_rate per agent before estimating"
        )
    if window < 1:
        raise ValueError(f"window must be >= 1 step, got {window}")
    if not floor > 0:
        raise ValueError(f"floor must be > 0 (it keeps capability ratios finite), got {floor}")
    _require_finite("history", history)
    recent = history[-window:].float().clamp_min(floor)  # (min(T, K), n)
    return recent.mean(dim=0).clamp_min(floor)  # (n,)


def capability_ratios(capability: Tensor, clip: tuple[float, float]) -> Tensor:
    """Clipped source-over-learner ratios  r[k, j] = clip(P_j / P_k, lo, hi),  HACPO.md §3(b), §8.1.

    capability: (n,) -> (n, n), row = learner k, column = source j; r[k, k] = 1.

    One clipped number serves both uses, as in [V1] and [L]: the baseline weight of source j
    for learner k is 1 / r[k, j] (= P_k / P_j, [P] eq. 7) and the gradient coefficient of a
    cross sample is r[k, j] (= omega, [P] eq. 10/50). Clipping once keeps the two consistent.
    """
    lo, hi = float(clip[0]), float(clip[1])
    if not 0 < lo <= 1 <= hi:
        raise ValueError(f"clip must satisfy 0 < lo <= 1 <= hi so self ratios stay 1, got {clip}")
    if capability.ndim != 1 or capability.numel() == 0:
        raise ValueError(f"capability must be (n,), got shape {tuple(capability.shape)}")
    _require_finite("capability", capability)
    if bool((capability <= 0).any()):
        raise ValueError("capability must be > 0; pass it through capability_estimate, which floors it")
    ratios = (capability[None, :] / capability[:, None]).clamp(lo, hi)  # (n, n): P_j / P_k
    ratios.fill_diagonal_(1.0)  # exact 1, not P/P rounded
    return ratios


def capability_advantages(
    rewards: Tensor,
    learner: int,
    ratios: Tensor,
    *,
    eps: float,
    uniform_guard: bool,
    baseline_guard: bool,
    capability_weighted: bool,
) -> Tensor:
    """Capability-aware advantages of every response in the joint group, for learner k.

    [P] eq. 6-7, HACPO.md §3(a):
        mu_k    = (1/(nG)) sum_j sum_i w_kj R_{j,i},   w_kj = 1 / r[k, j]  (w_kk = 1)
        A_{j,i} = (R_{j,i} - mu_k) / (std_joint + eps)
    std_joint is the Bessel-corrected std of the nG RAW rewards of the prompt (not the weighted
    ones, not per agent: §8.3). The same mu_k and std serve self and cross responses ([P] eq. 50).

    Guards (in both codebases, not in the paper):
      uniform_guard:  all nG rewards equal -> baseline = plain mean, so A = 0 exactly. Without it
                      a weighted baseline != R over std 0 gives advantages of order 1/eps.
      baseline_guard: weighted baseline > 1 -> the learner's own G-reward mean. A much weaker,
                      often-correct source (weight > 1) could otherwise push the baseline above
                      every binary reward and make all advantages negative.
    capability_weighted=False -> plain joint mean (the "no_adv" ablation and naive sharing);
    baseline_guard then has nothing to undo and is not applied.

    rewards: (P, n, G) raw rewards, agent axis in the same order as ``ratios``.
    ratios:  (n, n) from :func:`capability_ratios`.  Returns (P, n, G).  No gradient.
    """
    if rewards.ndim != 3:
        raise ValueError(f"rewards must be (P, n, G), got shape {tuple(rewards.shape)}")
    P, n, G = rewards.shape
    if ratios.shape != (n, n):
        raise ValueError(f"ratios must be (n, n) = ({n}, {n}) to match rewards, got {tuple(ratios.shape)}")
    if not 0 <= learner < n:
        raise ValueError(f"learner index {learner} out of range for {n} agents")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    _require_finite("rewards", rewards)
    _require_finite("ratios", ratios)

    with torch.no_grad():
        rewards = rewards.float()
        flat = rewards.reshape(P, n * G)  # (P, nG)
        plain_mean = flat.mean(dim=1)  # (P,)
        if capability_weighted:
            weights = 1.0 / ratios[learner].to(rewards)  # (n,)
            weights[learner] = 1.0
            baseline = (rewards * weights[None, :, None]).sum(dim=(1, 2)) / (n * G)  # (P,)
            if baseline_guard:
                own_mean = rewards[:, learner, :].mean(dim=1)  # (P,)
                baseline = torch.where(baseline > 1.0, own_mean, baseline)
        else:
            baseline = plain_mean
        # one response has no spread: std 0 (torch's Bessel std of one value is NaN); such a
        # group is uniform, so the uniform guard gives it A = 0
        std = flat.std(dim=1, correction=1) if n * G > 1 else torch.zeros_like(plain_mean)  # (P,)
        adv = (rewards - baseline[:, None, None]) / (std[:, None, None] + eps)  # (P, n, G)
        if uniform_guard:
            # max == min is exact for equal floats; A = R - plain_mean = 0 in exact arithmetic,
            # so set it exactly rather than trust the rounding of a float mean.
            uniform = flat.amax(dim=1) == flat.amin(dim=1)  # (P,)
            adv = torch.where(uniform[:, None, None], torch.zeros_like(adv), adv)
    return adv


def group_advantages(rewards: Tensor, eps: float) -> Tensor:
    """Plain GRPO/GSPO group-normalised advantage  A_i = (R_i - mean(R)) / (std(R) + eps).

    (P, G) -> (P, G); Bessel-corrected std per prompt group (torch default, as in verl).
    A group whose rewards are all equal (a group of one included) gets A = 0 exactly. No gradient.
    """
    if rewards.ndim != 2:
        raise ValueError(f"rewards must be (P, G), got shape {tuple(rewards.shape)}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    _require_finite("rewards", rewards)
    with torch.no_grad():
        rewards = rewards.float()
        mean = rewards.mean(dim=1, keepdim=True)
        # a group of one is uniform (A = 0); skip torch's NaN Bessel std of a single value
        std = rewards.std(dim=1, correction=1, keepdim=True) if rewards.shape[1] > 1 else torch.zeros_like(mean)
        adv = (rewards - mean) / (std + eps)
        uniform = rewards.amax(dim=1, keepdim=True) == rewards.amin(dim=1, keepdim=True)
        return torch.where(uniform, torch.zeros_like(adv), adv)


# --------------------------------------------------------------------------------------
# variants for pairs far apart (not in the paper; switchable, off in `hacpo`: docs/variants.md)
# --------------------------------------------------------------------------------------


def guard_own_uniform(adv: Tensor, rewards: Tensor, learner: int) -> Tensor:
    """No push-down from peers' successes alone: where the learner's own G rewards of a prompt are
    all equal (all wrong, typically) its own NEGATIVE advantages become 0, as alone under GSPO:

        A_{k,i} <- 0   if R_{k,1} = ... = R_{k,G}  and  A_{k,i} < 0

    Peers' samples of that prompt keep their advantages (a correct one still pulls the learner up).
    adv, rewards: (P, n, G). Returns a new tensor. No gradient.
    """
    if adv.shape != rewards.shape or adv.ndim != 3:
        raise ValueError(f"adv and rewards must both be (P, n, G), got {tuple(adv.shape)} and {tuple(rewards.shape)}")
    with torch.no_grad():
        own = rewards[:, learner]  # (P, G)
        uniform = (own.amax(dim=1) == own.amin(dim=1))[:, None]  # (P, 1)
        out = adv.clone()
        out[:, learner] = torch.where(uniform & (adv[:, learner] < 0), torch.zeros_like(adv[:, learner]), adv[:, learner])
    return out


def peer_gate(advantages: Tensor) -> Tensor:
    """Success-gated sharing: a peer's sample enters the learner's update only when its advantage
    for the learner is positive (for 0/1 rewards: it is correct and the group is not all correct):

        keep_i = [A_i > 0]

    advantages of any shape -> bool of that shape. A learner's own samples are never gated.
    """
    return advantages > 0


def rescue_gate(advantages: Tensor, rewards: Tensor, own_rewards: Tensor) -> Tensor:
    """Rescue-gated sharing: a peer's sample enters the learner's update only where it beats every
    one of the learner's own samples of that prompt, with a positive advantage:

        keep_i = [A_i > 0]  and  [R_i > max_g R_{k,g}]

    (for 0/1 rewards: it is correct and the learner got that prompt all wrong). A peer teaches only
    what the learner cannot do yet; where the learner already solves a prompt its own samples are
    its signal, and a peer's differently written answers are not pushed onto it.
    advantages, rewards: (P, G) of one peer; own_rewards: (P, G') of the learner -> bool (P, G).
    """
    if advantages.shape != rewards.shape or advantages.ndim != 2 or own_rewards.ndim != 2 \
            or own_rewards.shape[0] != rewards.shape[0]:
        raise ValueError(f"advantages and rewards must be (P, G) and own_rewards (P, G'), got "
                         f"{tuple(advantages.shape)}, {tuple(rewards.shape)} and {tuple(own_rewards.shape)}")
    return (advantages > 0) & (rewards > own_rewards.amax(dim=1, keepdim=True))


def centered_offsets(learner_mean_logp: Tensor, source_mean_logp: Tensor, source: list) -> Tensor:
    """Cross window placed from the pair's measured log-ratios ("centered" window): per source j,

        b_kj = median_{i from j} ( mean log pi_k(y_i) - mean log pi_j_old(y_i) ),  measured before the update
        s~_i = exp(mean log pi_k(y_i) - mean log pi_j_old(y_i) - b_kj)

    and s~ takes the place of s in :func:`cross_objective` (window [lower_m, 1], sg(s~)^alpha). For
    two close policies b ~ 0 and this is HACPO; for a distant pair (other tokenizer, other size)
    whose log-ratios all sit far below log(1 - delta), it keeps the fixed window's shape around
    the pair's typical ratio instead of discarding every peer sample. b is a constant (detached).

    (B,), (B,), B source names -> (B,) offsets b (the median interpolates for an even count).
    """
    B = _require_same_1d(learner_mean_logp=learner_mean_logp, source_mean_logp=source_mean_logp)
    if len(source) != B:
        raise ValueError(f"source must name the source of each of the {B} rows, got {len(source)}")
    with torch.no_grad():
        diff = (learner_mean_logp.double() - source_mean_logp.double())
        out = torch.zeros_like(diff)
        for name in dict.fromkeys(source):
            sel = torch.tensor([s == name for s in source])
            out[sel] = torch.quantile(diff[sel], 0.5)
    return out.to(learner_mean_logp.dtype)


# --------------------------------------------------------------------------------------
# ratios and objectives  -- HACPO.md §2.1, §3(b)-(d)
# --------------------------------------------------------------------------------------


def token_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Token-mean per sequence:  (1/max(|y|, 1)) sum_t x_t  over the tokens t of y in ``mask``.

    (B, T), (B, T) -> (B,), in >= fp32. The one aggregation over tokens in the project: a
    sequence's mean log-prob (each over its own tokenizer's tokens, §8.4), GRPO's per-sequence
    objective and the k3 KL. A row without tokens (a peer's empty, truncated response seen by a
    learner) gets 0 and no gradient.
    """
    if values.shape != mask.shape or values.ndim != 2:
        raise ValueError(f"values and mask must both be (B, T), got {tuple(values.shape)} and {tuple(mask.shape)}")
    values = _at_least_fp32(values)
    m = mask.to(values.dtype)
    return (values * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)


def k3_kl(new_logp: Tensor, ref_logp: Tensor, mask: Tensor) -> Tensor:
    """Low-variance KL estimate to a frozen reference, token-mean per sequence (k3, HACPO.md §10.7):

        d_t = log pi_ref(y_t) - log pi_new(y_t),   KL_i = (1/|y_i|) sum_t (exp(d_t) - d_t - 1)

    (B, T) x 3 -> (B,); >= 0, exactly 0 where the two policies agree. The reference log-probs are
    constants (detached); the gradient flows through ``new_logp``. Rows of ``mask`` without tokens
    give 0, which is how the trainer keeps peers' samples out of the KL (self samples only).
    """
    if not new_logp.shape == ref_logp.shape == mask.shape:
        raise ValueError(f"new_logp, ref_logp and mask must share one (B, T) shape, got "
                         f"{tuple(new_logp.shape)}, {tuple(ref_logp.shape)}, {tuple(mask.shape)}")
    d = _at_least_fp32(ref_logp.detach()) - _at_least_fp32(new_logp)
    return token_mean(torch.exp(d) - d - 1, mask)


def sequence_ratio(new_mean_logp: Tensor, old_mean_logp: Tensor, max_abs_log_ratio: float = 10.0) -> Tensor:
    """Length-normalised sequence ratio ([P] eq. 11/48/51):

        s = exp(clamp(mean_t log pi_new(y'_t) - mean_t log pi_old(y_t), -c, c)),  c = max_abs_log_ratio

    (B,), (B,) -> (B,). Each mean runs over its own tokenizer's tokens (for a cross sample the
    learner's re-tokenisation vs the source's tokens). The clamp ([V1] uses +-10) keeps exp()
    finite for a sample the learner finds wildly (un)likely; it also stops gradient there, which
    the objectives' own clips would do anyway. Gradient flows through ``new_mean_logp`` only.
    """
    _require_same_1d(new_mean_logp=new_mean_logp, old_mean_logp=old_mean_logp)
    if not max_abs_log_ratio > 0:
        raise ValueError(f"max_abs_log_ratio must be > 0, got {max_abs_log_ratio}")
    log_ratio = _at_least_fp32(new_mean_logp) - _at_least_fp32(old_mean_logp.detach())
    return torch.exp(log_ratio.clamp(-max_abs_log_ratio, max_abs_log_ratio))


def gspo_self_objective(
    new_mean_logp: Tensor,
    old_mean_logp: Tensor,
    advantages: Tensor,
    eps_low: float,
    eps_high: float,
) -> tuple[Tensor, dict[str, float]]:
    """GSPO objective for self-generated responses (J_homo, HACPO.md §2.1, [P] eq. 48):

        J_i = min(s_i * A_i,  clip(s_i, 1 - eps_low, 1 + eps_high) * A_i)

    (B,), (B,), (B,) -> ((B,) to be maximised, metrics). The tiny default window
    [0.9997, 1.0004] is GSPO's and HACPO keeps it for self samples (§8.9).

    Metrics: ``clip/self_low_frac`` / ``clip/self_high_frac`` are the fractions of sequences
    whose gradient the clip removed (s < 1-eps_low with A < 0; s > 1+eps_high with A > 0), the
    PPO ``clipfrac`` meaning; ``self_ratio/mean``; ``count``. Fractions are 0 for B = 0.
    """
    B = _require_same_1d(new_mean_logp=new_mean_logp, old_mean_logp=old_mean_logp, advantages=advantages)
    if eps_low < 0 or eps_high < 0 or eps_low >= 1:
        raise ValueError(f"need 0 <= eps_low < 1 and eps_high >= 0, got eps_low={eps_low}, eps_high={eps_high}")
    s = sequence_ratio(new_mean_logp, old_mean_logp)
    adv = advantages.detach().to(s.dtype)
    objective = torch.minimum(s * adv, s.clamp(1.0 - eps_low, 1.0 + eps_high) * adv)
    with torch.no_grad():
        low = (s < 1.0 - eps_low) & (adv < 0)
        high = (s > 1.0 + eps_high) & (adv > 0)
        metrics = {
            "clip/self_low_frac": _float_metric(low.float().mean()) if B else 0.0,
            "clip/self_high_frac": _float_metric(high.float().mean()) if B else 0.0,
            "self_ratio/mean": _float_metric(s.mean()) if B else 1.0,
            "count": float(B),
        }
    return objective, metrics


def stepwise_lower_bound(delta: float, delta_step: float, m: int) -> float:
    """Stepwise lower clip bound for cross samples ([P] eq. 14/52, HACPO.md §3(d)):

        lower_m = min(1, 1 - delta + m * delta_step)

    m = optimizer updates already made by this learner in this training step (0, 1, ...), so
    later mini-batches, whose learner has drifted further from the sources, get a tighter
    window. Capped at 1.0 like [V1], where the window [1, 1] keeps only s == 1.
    Note "delta = 0.8" in the paper's Table 5 is this bound itself (= 1 - 0.2), §8.8.
    """
    if not 0 <= delta <= 1:
        raise ValueError(f"delta must be in [0, 1] (lower bound 1 - delta), got {delta}; Table 5's 0.8 means delta=0.2")
    if delta_step < 0:
        raise ValueError(f"delta_step must be >= 0, got {delta_step}")
    if m < 0:
        raise ValueError(f"m counts updates within the step and must be >= 0, got {m}")
    return min(1.0, 1.0 - delta + m * delta_step)


def cross_objective(
    new_mean_logp: Tensor,
    source_mean_logp: Tensor,
    advantages: Tensor,
    coef: Tensor,
    *,
    alpha: float,
    delta: float,
    delta_step: float,
    m: int,
    clip: bool,
    stepwise: bool,
) -> tuple[Tensor, dict[str, float]]:
    """HACPO objective for cross-agent responses (J_hete, [P] eq. 12-14, 50-52, HACPO.md §3(b)-(d)):

        c_i = clamp(s_i, lower_m, 1.0)
        J_i = c_i * sg[c_i]^alpha * coef_i * A_i                 (no PPO min)

    s_i = exp(mean log pi_k(y'_i) - mean log pi_j_old(y_i)) from :func:`sequence_ratio`;
    lower_m = :func:`stepwise_lower_bound` (``stepwise=False``: fixed 1 - delta);
    coef_i = r[k, source_i] (omega; 1.0 when omega is switched off); A_i = learner's advantage.
    ``clip=False`` ("no_clip" ablation): J_i = s_i * sg[s_i]^alpha * coef_i * A_i.

    Why the pieces look like this:
      * upper bound exactly 1.0 (not 1 + eps): a peer's sample may be down-weighted relative to
        an on-policy one, never up-weighted (§8.5);
      * plain clamp, no min(): outside [lower_m, 1] the gradient is zero whatever the sign of A
        (a too-unlikely sample is discarded, [P] §3.4);
      * only the alpha-power factor is detached, so inside the window the gradient is
        coef * A * s^(1+alpha) * d(mean log pi_k) ([P] Prop. D.6): samples unlikely under the
        learner are down-weighted geometrically, not just linearly (§8.6). Like both codebases
        the detached factor is the clamped ratio; it differs from sg[s] only where the gradient
        is zero anyway.
    The source log-prob is a constant (scored before any update this step), so it is detached.

    (B,) x 4 -> ((B,) to be maximised, metrics). Metrics: ``cross_ratio/{min,mean,max}`` of the
    unclipped s; ``clip/cross_low_frac`` / ``clip/cross_high_frac``, fractions zeroed by the clamp
    (0 with clip=False); ``clip/cross_lower_bound`` (0.0 with clip=False: s > 0 always); ``count``.
    """
    B = _require_same_1d(
        new_mean_logp=new_mean_logp, source_mean_logp=source_mean_logp, advantages=advantages, coef=coef
    )
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0 (0 = plain sequence importance sampling), got {alpha}")
    lower = stepwise_lower_bound(delta, delta_step, m) if stepwise else stepwise_lower_bound(delta, 0.0, 0)
    s = sequence_ratio(new_mean_logp, source_mean_logp)
    adv = advantages.detach().to(s.dtype)
    weight = coef.detach().to(s.dtype)
    ratio = s.clamp(lower, 1.0) if clip else s
    objective = ratio * ratio.detach().pow(alpha) * weight * adv
    with torch.no_grad():
        metrics = {
            "cross_ratio/min": _float_metric(s.min()) if B else 1.0,
            "cross_ratio/mean": _float_metric(s.mean()) if B else 1.0,
            "cross_ratio/max": _float_metric(s.max()) if B else 1.0,
            "clip/cross_low_frac": _float_metric((s < lower).float().mean()) if (B and clip) else 0.0,
            "clip/cross_high_frac": _float_metric((s > 1.0).float().mean()) if (B and clip) else 0.0,
            "clip/cross_lower_bound": lower if clip else 0.0,
            "count": float(B),
        }
    return objective, metrics


def grpo_token_objective(
    new_logp: Tensor,
    old_logp: Tensor,
    mask: Tensor,
    advantages: Tensor,
    eps_low: float,
    eps_high: float,
) -> tuple[Tensor, dict[str, float]]:
    """GRPO baseline: token-level PPO clip, token-mean per sequence (HACPO.md §2.1 item 3, §10.8):

        rho_t = exp(clamp(log pi_new(y_t) - log pi_old(y_t), -10, 10))
        J_i   = (1/|y_i|) sum_t min(rho_t A_i, clip(rho_t, 1 - eps_low, 1 + eps_high) A_i)

    new_logp, old_logp, mask: (B, T); advantages: (B,) -> ((B,) to be maximised, metrics).
    The asymmetric 0.2 / 0.28 window is DAPO's clip-higher, as in the paper's GRPO runs.
    Metrics: ``clip/token_low_frac`` / ``clip/token_high_frac`` (tokens whose gradient the clip
    removed, over response tokens), ``token_ratio/mean``, ``count``.
    """
    if new_logp.ndim != 2 or new_logp.shape != old_logp.shape or new_logp.shape != mask.shape:
        raise ValueError(
            f"new_logp, old_logp and mask must all be (B, T), got {tuple(new_logp.shape)}, "
            f"{tuple(old_logp.shape)}, {tuple(mask.shape)}"
        )
    if advantages.shape != new_logp.shape[:1]:
        raise ValueError(f"advantages must be (B,) = ({new_logp.shape[0]},), got {tuple(advantages.shape)}")
    if eps_low < 0 or eps_high < 0 or eps_low >= 1:
        raise ValueError(f"need 0 <= eps_low < 1 and eps_high >= 0, got eps_low={eps_low}, eps_high={eps_high}")
    new_logp, old_logp = _at_least_fp32(new_logp), _at_least_fp32(old_logp.detach())
    m = mask.to(new_logp.dtype)
    lengths = m.sum(dim=1)
    if bool((lengths <= 0).any()):
        raise ValueError("a sequence has no response tokens in mask; drop it or keep its EOS token")
    adv = advantages.detach().to(new_logp.dtype)[:, None]  # (B, 1)
    rho = torch.exp((new_logp - old_logp).clamp(-10.0, 10.0))  # (B, T)
    per_token = torch.minimum(rho * adv, rho.clamp(1.0 - eps_low, 1.0 + eps_high) * adv)
    objective = token_mean(per_token, mask)  # (B,)
    with torch.no_grad():
        n_tokens = m.sum().clamp_min(1.0)
        low = ((rho < 1.0 - eps_low) & (adv < 0)).to(m.dtype) * m
        high = ((rho > 1.0 + eps_high) & (adv > 0)).to(m.dtype) * m
        metrics = {
            "clip/token_low_frac": _float_metric(low.sum() / n_tokens),
            "clip/token_high_frac": _float_metric(high.sum() / n_tokens),
            "token_ratio/mean": _float_metric((rho * m).sum() / n_tokens),
            "count": float(new_logp.shape[0]),
        }
    return objective, metrics


def minibatch_loss(objective: Tensor, kl: Tensor | None, *, kl_beta: float, minibatch_size: int) -> Tensor:
    """The loss of the rows of one micro-batch, scaled to its mini-batch (HACPO.md §10.5, §10.7):

        L = (1/B) [ -sum_i J_i + beta * sum_i KL_i ],   B = sequences in the whole mini-batch

    objective (b,): per-sequence objectives of every row kind, self and cross together; kl (b,)
    from :func:`k3_kl` or None (no reference). Dividing by the mini-batch size B, not the b rows
    here, makes the micro-batch losses add up to ONE mean over the mini-batch (not a mean of a
    self mean and a cross mean, as both codebases do), so gradient accumulation changes nothing.
    """
    if objective.ndim != 1:
        raise ValueError(f"objective must be (b,), got shape {tuple(objective.shape)}; torch.cat the row kinds first")
    if minibatch_size < objective.numel():
        raise ValueError(f"minibatch_size {minibatch_size} is smaller than the {objective.numel()} rows given")
    loss = -objective.sum()
    if kl is not None and kl_beta > 0:
        loss = loss + kl_beta * kl.sum()
    return loss / minibatch_size
