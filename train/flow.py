"""What each learner learned from whom (issue 23): pure computations over the fate of the rows of
one learner's update in one training step. Metric names are documented in docs/metrics.md.

A row's fate is fixed at the mini-batch m where it is used (`train.update_step.update_policy`):

  * a cross row carries gradient only when the ratio its clamp sees lies in the window:
        lower_m <= s <= 1,   s = exp(clamp(log s, -10, 10)),   log s = mean log pi_k(y') - mean log pi_j_old(y)
    (`train.core.cross_objective`: outside the plain clamp the gradient is 0 whatever A's sign; with
    `cross_clip` off the window is (0, inf));
  * a GSPO row (own, or a peer's under `naive`) carries gradient unless its PPO clip removed it:
    not (s < 1 - eps_low and A < 0) and not (s > 1 + eps_high and A > 0);
  * a grpo row (own samples only) is counted as carrying gradient: its clip is per token;
  * every row needs |log s| <= 10 (beyond it `core.sequence_ratio` returns a constant), and rows of
    a mini-batch whose update was skipped (NaN/inf) carry none.

"Peer" rows are every row that is not the learner's own sample of this step: peers' samples and
external trajectories (their source is reported as "external"). All metrics are absent in a step
where the learner had no peer row (gspo, gspo2x, grpo, the strongest agent under one_way): no
sharing is "nothing to report", not a row of zeros that reads like a failed exchange. A ratio
whose denominator is empty (no all-wrong prompt, no positive advantage) is absent as well.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Fate", "LOG_RATIO_LIMIT", "window_side", "cross_carries_gradient", "self_carries_gradient", "flow_metrics",
           "window_counts", "advantage_shares", "rescue", "log_ratio_spread", "run_totals", "QUANTILES"]

#: `core.sequence_ratio`'s clamp of log s: beyond it the ratio is a constant and carries no gradient
LOG_RATIO_LIMIT = 10.0
#: quantiles of the cross log-ratio that are logged
QUANTILES = (0.1, 0.5, 0.9)
EXTERNAL = "external"


@dataclass(frozen=True)
class Fate:
    """One row of a learner's update and what happened to it at the mini-batch where it was used.

    log_ratio: the log s the row's clip saw (for `cross_window=centered`, after the pair's median
    offset); side: where a cross row's s fell against its window [lower_m, upper] (-1 below, 0
    inside, 1 above; `window_side`), None for the other kinds."""

    source: str  # the agent that sampled it, or EXTERNAL
    prompt_id: str
    reward: float
    advantage: float
    is_peer: bool
    grad: bool
    log_ratio: float = math.nan
    side: int | None = None


# ---------------------------------------------------------------------------------------------
# which rows carry gradient (the objectives' own rules, restated as masks)


def _ratio_defined(log_ratio: Tensor) -> Tensor:
    return log_ratio.abs() <= LOG_RATIO_LIMIT  # torch.clamp's gradient is 1 on its bounds too


def window_side(s: Tensor, lower: float, upper: float) -> Tensor:
    """(B,) int64: -1 where s < lower, 1 where s > upper, 0 inside [lower, upper] (bounds included,
    as torch.clamp passes the gradient on them)."""
    return (s > upper).long() - (s < lower).long()


def cross_carries_gradient(side: Tensor, log_ratio: Tensor) -> Tensor:
    """(B,) bool: the clamp of `core.cross_objective` passes the gradient: s inside its window
    (`window_side` 0) and |log s| <= 10."""
    return (side == 0) & _ratio_defined(log_ratio)


def self_carries_gradient(s: Tensor, log_ratio: Tensor, advantages: Tensor, eps_low: float,
                          eps_high: float) -> Tensor:
    """(B,) bool: the GSPO min() keeps the unclipped term: not (s < 1 - eps_low, A < 0) and not
    (s > 1 + eps_high, A > 0) (`core.gspo_self_objective`'s clip fractions), and |log s| <= 10."""
    clipped = ((s < 1.0 - eps_low) & (advantages < 0)) | ((s > 1.0 + eps_high) & (advantages > 0))
    return ~clipped & _ratio_defined(log_ratio)


# ---------------------------------------------------------------------------------------------
# the step's metrics of one learner


def _frac(num: float, den: float) -> float | None:
    return num / den if den else None


def _keep(metrics: dict[str, float | None]) -> dict[str, float]:
    """Drop the undefined ratios (absent, not 0)."""
    return {k: float(v) for k, v in metrics.items() if v is not None}


def window_counts(fates: Sequence[Fate]) -> dict[str, float]:
    """cross_rows: peer rows in the update; cross_in_window: those that carried gradient;
    cross_in_window_frac: their ratio; from/<source>/rows and from/<source>/in_window: the same per
    source agent."""
    peers = [f for f in fates if f.is_peer]
    out: dict[str, float | None] = {"cross_rows": len(peers), "cross_in_window": sum(f.grad for f in peers),
                                    "cross_in_window_frac": _frac(sum(f.grad for f in peers), len(peers))}
    for source in dict.fromkeys(f.source for f in peers):
        mine = [f for f in peers if f.source == source]
        out[f"from/{source}/rows"] = len(mine)
        out[f"from/{source}/in_window"] = sum(f.grad for f in mine)
    return _keep(out)


def _peer_mass_share(fates: Iterable[Fate], sign: int) -> float | None:
    """sum |A| over peer rows with sign(A) = sign / the same sum over all the rows given."""
    mass = [(abs(f.advantage), f.is_peer) for f in fates if f.advantage * sign > 0]
    total = sum(a for a, _ in mass)
    return _frac(sum(a for a, peer in mass if peer), total)


def advantage_shares(fates: Sequence[Fate]) -> dict[str, float]:
    """peer_pos_share / peer_neg_share: the peers' share of the positive (negative) advantage mass,
    sum |A| over peer rows with A > 0 (< 0) / the sum over all rows with A > 0 (< 0); the `_grad`
    variants count only rows that carried gradient, in numerator and denominator."""
    grad = [f for f in fates if f.grad]
    return _keep({"peer_pos_share": _peer_mass_share(fates, 1), "peer_neg_share": _peer_mass_share(fates, -1),
                  "peer_pos_share_grad": _peer_mass_share(grad, 1), "peer_neg_share_grad": _peer_mass_share(grad, -1)})


def rescue(fates: Sequence[Fate]) -> dict[str, float]:
    """all_wrong_prompts: prompts whose own rows all have reward <= 0; rescued_prompts: those among
    them with at least one peer row of reward > 0 (a "rescuing" sample); rescue_rate: their ratio;
    rescue_rows: the rescuing samples; rescue_in_window_frac: the fraction of them that carried
    gradient. Peer rows of prompts the learner did not sample (external groups) do not count."""
    own: dict[str, bool] = {}
    for f in fates:
        if not f.is_peer:
            own[f.prompt_id] = own.get(f.prompt_id, False) or f.reward > 0
    all_wrong = {p for p, solved in own.items() if not solved}
    rescuing = [f for f in fates if f.is_peer and f.reward > 0 and f.prompt_id in all_wrong]
    rescued = {f.prompt_id for f in rescuing}
    return _keep({"all_wrong_prompts": len(all_wrong), "rescued_prompts": len(rescued),
                  "rescue_rate": _frac(len(rescued), len(all_wrong)), "rescue_rows": len(rescuing),
                  "rescue_in_window_frac": _frac(sum(f.grad for f in rescuing), len(rescuing))})


def log_ratio_spread(fates: Sequence[Fate]) -> dict[str, float]:
    """Over peer rows scored by the cross objective (not `naive`'s GSPO rows): log_ratio/q10, /q50,
    /q90, quantiles of log s (linear interpolation); log_ratio/below_frac, /inside_frac,
    /above_frac: the fractions with s below the window's lower bound at their mini-batch, inside
    it, above it (upper bound 1; with `cross_clip` off the window is (0, inf)). Absent when there
    is no such row."""
    cross = [f for f in fates if f.is_peer and f.side is not None]
    if not cross:
        return {}
    log_s = torch.tensor([f.log_ratio for f in cross], dtype=torch.float64)
    q = torch.quantile(log_s, torch.tensor(QUANTILES, dtype=torch.float64)).tolist()
    n = len(cross)
    return {**{f"log_ratio/q{round(100 * p)}": v for p, v in zip(QUANTILES, q)},
            **{f"log_ratio/{name}_frac": sum(f.side == side for f in cross) / n
               for name, side in (("below", -1), ("inside", 0), ("above", 1))}}


def flow_metrics(fates: Sequence[Fate]) -> dict[str, float]:
    """All of the above under "flow/", or {} when no row came from a peer (nothing was shared)."""
    if not any(f.is_peer for f in fates):
        return {}
    parts = (window_counts(fates), advantage_shares(fates), rescue(fates), log_ratio_spread(fates))
    return {f"flow/{k}": v for part in parts for k, v in part.items()}


# ---------------------------------------------------------------------------------------------
# the whole run of one agent (the end-of-run line), from metrics.jsonl rows


def run_totals(rows: Sequence[dict], agent: str) -> dict[str, float] | None:
    """Over the run's logged steps: in_window = sum cross_in_window / sum cross_rows; rescued = sum
    rescued_prompts / sum all_wrong_prompts (None when no prompt was all wrong); pos_share_grad =
    mean over steps of peer_pos_share_grad (None when never defined). None when the agent never
    had a peer row."""
    def total(key: str) -> float:
        return sum(float(r[key]) for r in rows if isinstance(r.get(key), (int, float)))

    def values(key: str) -> list[float]:
        return [float(r[key]) for r in rows if isinstance(r.get(key), (int, float))]

    prefix = f"{agent}/flow/"
    cross = total(prefix + "cross_rows")
    if not cross:
        return None
    pos = values(prefix + "peer_pos_share_grad")
    wrong = total(prefix + "all_wrong_prompts")
    return {"in_window": total(prefix + "cross_in_window") / cross,
            "rescued": total(prefix + "rescued_prompts") / wrong if wrong else None,
            "pos_share_grad": sum(pos) / len(pos) if pos else None}
