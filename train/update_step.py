"""One learner's optimizer updates for one training step (runs inside a worker).

    enc   = encode_rows(agent, rows, ...)          own samples from their ids, peers' re-tokenised
    order = minibatch_order(rows, spec, seed)      seeded shuffle (HACPO.md §10.4), or self rows first
    old   = OldLogps.before_update(...)            pre-update log-probs where a row has none
    ref   = reference_logps(...)                   KL reference, self rows (kl_beta > 0 only)
    for each mini-batch m:                         m = stepwise-clipping index
        for each micro-batch (token budget):       loss = train.core.minibatch_loss of the
            microbatch_objective(...)              ROW_OBJECTIVES (row kind -> core function)
        optimizer_step(...)                        clip, skip on NaN/inf, step

A mini-batch is split by token budget into micro-batches whose losses are scaled by 1 / (mini-batch
size), so the accumulated gradient equals that of one mean over the mini-batch (§10.5). The math
is `train.core`'s; the hyperparameters come from the `AlgoSpec` as is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from agents.batching import concat
from train import core, flow
from train.pool import Trajectory

KINDS = ("gspo", "grpo", "cross")


@dataclass(frozen=True)
class LearnerRow:
    """One sequence a learner trains on: a pool record and how this learner scores it.

    kind: "gspo" (GSPO clipped ratio), "grpo" (token clip), "cross" (HACPO cross term against the
    SOURCE's pre-update mean log-prob). is_self: the learner's own sample this step, encoded from
    its sampled ids (peers' and external records are re-tokenised from text); only self rows enter
    the KL and `logp_mismatch`. learner_old: pi_old is the learner's own pre-update log-prob, not
    the record's (`naive` cross rows); a self row whose record was not scored gets it too.
    """

    record: Trajectory
    kind: str
    advantage: float
    coef: float = 1.0
    is_self: bool = False
    learner_old: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown row kind {self.kind!r}; expected one of {KINDS}")
        if self.is_self and self.record.source_token_ids is None:
            raise ValueError("a self row needs the record's source_token_ids (the learner's sampled ids)")

    @property
    def old_mean_logp(self) -> float | None:
        """pi_old's mean log-prob, or None: the learner's own pre-update value is needed."""
        return None if self.learner_old else self.record.source_mean_logp

    @property
    def old_token_logps(self) -> Sequence[float] | None:
        return None if self.learner_old else self.record.source_token_logps


def encode_rows(agent, rows: Sequence[LearnerRow], *, max_prompt_tokens: int | None,
                max_response_tokens: int | None):
    """(EncodedBatch, position of each row in it). Self rows reuse the sampled ids; the others are
    re-tokenised from TEXT with the learner's chat template and tokenizer, the learner's own EOS
    appended iff the source stopped on its EOS (HACPO.md §10.6). Both kinds share one batch, so a
    mini-batch is one forward in which rows of one prompt share its tokens' computation."""
    limits = dict(max_prompt_tokens=max_prompt_tokens, max_response_tokens=max_response_tokens)
    own = [i for i, r in enumerate(rows) if r.is_self]
    text = [i for i, r in enumerate(rows) if not r.is_self]
    parts = []
    if own:
        parts.append(agent.encode([rows[i].record.prompt for i in own],
                                  response_ids=[list(rows[i].record.source_token_ids) for i in own], **limits))
    if text:
        parts.append(agent.encode([rows[i].record.prompt for i in text], responses=[rows[i].record.response for i in text],
                                  append_eos=[rows[i].record.finished for i in text], **limits))
    at = [0] * len(rows)
    for pos, i in enumerate(own + text):
        at[i] = pos
    return concat(parts), at


def minibatch_order(rows: Sequence[LearnerRow], shuffle: bool, seed: int) -> list[int]:
    """Row order for cutting mini-batches: a seeded permutation, or self rows first (the V1 order)."""
    if shuffle:
        return torch.randperm(len(rows), generator=torch.Generator().manual_seed(int(seed))).tolist()
    return [i for i, r in enumerate(rows) if r.is_self] + [i for i, r in enumerate(rows) if not r.is_self]


def token_logps(agent, batch, *, model=None) -> tuple[Tensor, Tensor]:
    """(B, L) fp32 token log-probs and the float response mask on the same device. bf16 autocast
    (agent.precision) happens inside the agent; the weights stay fp32."""
    lp = agent.token_logprobs(batch, model=model).float()
    return lp, batch.response_mask.to(lp.device).float()


def score_rows(agent, batch, *, token_budget: int, model=None) -> list[list[float]]:
    """Per-row response-token log-probs (no grad), chunked by token budget, in batch order."""
    out: list[list[float] | None] = [None] * len(batch)
    with torch.no_grad():
        for idx, mb in agent.micro_batches(batch, token_budget=token_budget):
            lp, mask = token_logps(agent, mb, model=model)
            for row, i in enumerate(idx):
                out[int(i)] = lp[row][mask[row].bool()].tolist()
    return out  # type: ignore[return-value]


@dataclass
class OldLogps:
    """pi_old per row: mean log-probs, and token log-probs for grpo rows (None = not known yet)."""

    mean: list[float | None]
    tokens: list[Sequence[float] | None]

    @classmethod
    def before_update(cls, agent, rows, enc, at, first: set[int], *, token_budget: int) -> OldLogps:
        """The rows' own values; rows that need the learner's pre-update log-probs get them from a
        no-grad pass, except those of the first mini-batch: before the first optimizer update the
        forward with grad computes exactly these (`fill_from_forward`; TRL skips the same pass)."""
        old = cls([r.old_mean_logp for r in rows], [r.old_token_logps for r in rows])
        todo = [i for i in range(len(rows)) if old.mean[i] is None and i not in first]
        if todo:
            for i, lps in zip(todo, score_rows(agent, enc.select([at[i] for i in todo]), token_budget=token_budget)):
                old.mean[i], old.tokens[i] = sum(lps) / max(len(lps), 1), lps
        return old

    def fill_from_forward(self, rows, idx: list[int], new_mean: Tensor, lp: Tensor, mask: Tensor) -> None:
        """At m == 0 (no step taken yet): the forward's values are the pre-update policy's."""
        pre = new_mean.detach().tolist()
        for r, i in enumerate(idx):
            if self.mean[i] is None:
                self.mean[i] = pre[r]
                if rows[i].kind == "grpo":  # only token-level rows read these
                    self.tokens[i] = lp[r][mask[r].bool()].detach().tolist()


def center_cross_window(agent, rows, enc, at, old: OldLogps, *, token_budget: int) -> None:
    """`cross_window="centered"`: each cross row's pi_old is shifted by its pair's median log-ratio
    (`core.centered_offsets`), measured by a no-grad pass of the learner before its first update,
    so the cross window [lower_m, 1] applies to s~ = s / exp(b)."""
    cross = [i for i, r in enumerate(rows) if r.kind == "cross"]
    if not cross:
        return
    scored = score_rows(agent, enc.select([at[i] for i in cross]), token_budget=token_budget)
    learner = torch.tensor([sum(lps) / max(len(lps), 1) for lps in scored], dtype=torch.float64)
    source = torch.tensor([old.mean[i] for i in cross], dtype=torch.float64)
    offsets = core.centered_offsets(learner, source, [rows[i].record.source for i in cross])
    for i, b in zip(cross, offsets.tolist()):
        old.mean[i] += b


def reference_logps(agent, rows, enc, at, reference, *, token_budget: int) -> dict[int, list[float]]:
    """Self rows' token log-probs under the frozen KL reference (HACPO.md §10.7)."""
    mine = [i for i, r in enumerate(rows) if r.is_self]
    if reference is None or not mine:
        return {}
    return dict(zip(mine, score_rows(agent, enc.select([at[i] for i in mine]), token_budget=token_budget,
                                     model=reference)))


# ---------------------------------------------------------------------------------------------
# the mini-batch loss: one core function per row kind


@dataclass
class KindRows:
    """One kind's rows of a micro-batch, as the core functions take them."""

    new_mean: Tensor  # (b,) learner's token-mean log-prob (grad)
    new_tokens: Tensor  # (b, T) token log-probs (grad)
    mask: Tensor  # (b, T)
    old_mean: Tensor  # (b,)
    old_tokens: Tensor | None  # (b, T), grpo rows only
    advantages: Tensor  # (b,)
    coef: Tensor  # (b,)


@dataclass(frozen=True)
class RowObjective:
    """How one row kind is scored: the core call, and its metric group and clip-fraction keys."""

    score: Callable[[KindRows, object, int], tuple[Tensor, dict[str, float]]]
    group: str
    low: str
    high: str


def _gspo(r: KindRows, spec, m: int):
    return core.gspo_self_objective(r.new_mean, r.old_mean, r.advantages, spec.eps_low, spec.eps_high)


def _grpo(r: KindRows, spec, m: int):
    return core.grpo_token_objective(r.new_tokens, r.old_tokens, r.mask, r.advantages, spec.grpo_eps_low,
                                     spec.grpo_eps_high)


def _cross(r: KindRows, spec, m: int):
    return core.cross_objective(r.new_mean, r.old_mean, r.advantages, r.coef, alpha=spec.alpha, delta=spec.delta,
                                delta_step=spec.delta_step, m=m, clip=spec.cross_clip, stepwise=spec.stepwise)


ROW_OBJECTIVES = {
    "gspo": RowObjective(_gspo, "self", "clip/self_low_frac", "clip/self_high_frac"),
    "grpo": RowObjective(_grpo, "self", "clip/token_low_frac", "clip/token_high_frac"),
    "cross": RowObjective(_cross, "cross", "clip/cross_low_frac", "clip/cross_high_frac"),
}


@dataclass
class UpdateStats:
    """Count-weighted clip fractions and cross-ratio range over all the step's sequences."""

    clip: dict = field(default_factory=lambda: {"self": [0.0, 0.0, 0.0], "cross": [0.0, 0.0, 0.0]})
    cross_ratio: dict = field(default_factory=lambda: {"min": math.inf, "max": -math.inf, "sum": 0.0, "count": 0.0})
    loss: list = field(default_factory=list)
    grad_norm: list = field(default_factory=list)
    logp_mismatch: list = field(default_factory=list)
    fates: dict = field(default_factory=dict)  # row index -> flow.Fate at its mini-batch

    def add(self, how: RowObjective, met: dict[str, float]) -> None:
        low, high, count = self.clip[how.group]
        self.clip[how.group] = [low + met[how.low] * met["count"], high + met[how.high] * met["count"],
                                count + met["count"]]
        if "cross_ratio/min" in met:
            c = self.cross_ratio
            c["min"], c["max"] = min(c["min"], met["cross_ratio/min"]), max(c["max"], met["cross_ratio/max"])
            c["sum"] += met["cross_ratio/mean"] * met["count"]
            c["count"] += met["count"]

    def summary(self) -> dict[str, float]:
        out = {"loss": _mean(self.loss), "grad_norm": _mean(self.grad_norm)}
        if self.logp_mismatch:  # only when the first mini-batch held own samples
            out["logp_mismatch"] = _mean(self.logp_mismatch)
        for kind, (low, high, count) in self.clip.items():
            out[f"clip_ratio/{kind}_low"] = low / count if count else 0.0
            out[f"clip_ratio/{kind}_high"] = high / count if count else 0.0
        c = self.cross_ratio
        if c["count"]:
            out.update({"cross_ratio/min": c["min"], "cross_ratio/mean": c["sum"] / c["count"],
                        "cross_ratio/max": c["max"]})
        return out


def microbatch_objective(rows, idx: list[int], new_mean: Tensor, lp: Tensor, mask: Tensor, old: OldLogps, spec,
                         m: int, stats: UpdateStats) -> Tensor:
    """(b,) objectives of the micro-batch's rows, kind by kind in a fixed order (the loss sums them
    in this order; a set's order would change with each process's string-hash seed)."""
    dev = lp.device
    adv = torch.tensor([rows[i].advantage for i in idx], device=dev)
    kinds = [rows[i].kind for i in idx]
    pieces = []
    for kind in sorted(set(kinds)):
        sel = torch.tensor([k == kind for k in kinds], device=dev)
        these = [i for i, k in zip(idx, kinds) if k == kind]
        old_tokens = _scatter_tokens(mask[sel], [old.tokens[i] for i in these]) if kind == "grpo" else None
        part = KindRows(new_mean[sel], lp[sel], mask[sel], torch.tensor([old.mean[i] for i in these], device=dev),
                        old_tokens, adv[sel], torch.tensor([rows[i].coef for i in these], device=dev))
        objective, met = ROW_OBJECTIVES[kind].score(part, spec, m)
        stats.add(ROW_OBJECTIVES[kind], met)
        stats.fates.update(zip(these, row_fates([rows[i] for i in these], kind, part, spec, met)))
        pieces.append(objective)
    return torch.cat(pieces)


def row_fates(rows, kind: str, part: KindRows, spec, met: dict[str, float]) -> list[flow.Fate]:
    """Did each row of one kind carry gradient at this mini-batch (`train.flow`)? The ratio is
    recomputed by `core.sequence_ratio` from the same detached inputs as the objective's, so the
    verdict is the clamp's own; nothing here touches the loss."""
    if kind == "grpo":  # token-level clip: counted as carrying gradient (see train/flow.py)
        return [fate(r, grad=True) for r in rows]
    with torch.no_grad():
        new = part.new_mean.detach()
        s = core.sequence_ratio(new, part.old_mean)  # exactly the objective's s
        log_s = new.double() - part.old_mean.double()  # unclamped, for the spread and the +-10 check
        if kind == "cross":
            side = flow.window_side(s, met["clip/cross_lower_bound"], 1.0 if spec.cross_clip else math.inf)
            grad = flow.cross_carries_gradient(side, log_s)
        else:
            side = None
            grad = flow.self_carries_gradient(s, log_s, part.advantages, spec.eps_low, spec.eps_high)
    return [fate(r, grad=bool(g), log_ratio=float(x), side=None if side is None else int(side[b]))
            for b, (r, g, x) in enumerate(zip(rows, grad.tolist(), log_s.tolist()))]


def fate(row: LearnerRow, *, grad: bool, log_ratio: float = math.nan, side: int | None = None) -> flow.Fate:
    """The `flow.Fate` of one learner row (external records are reported as source "external")."""
    rec = row.record
    return flow.Fate(source=flow.EXTERNAL if rec.external else rec.source, prompt_id=rec.prompt_id,
                     reward=rec.reward, advantage=row.advantage, is_peer=not row.is_self, grad=grad,
                     log_ratio=log_ratio, side=side)


def optimizer_step(model, optimizer, max_grad_norm: float) -> float:
    """Clip the accumulated gradient and step; returns its norm, or NaN (no step) when not finite."""
    params = [p for p in model.parameters() if p.grad is not None]
    grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_grad_norm)) if params else 0.0
    if math.isfinite(grad_norm):
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return grad_norm


def update_policy(agent, optimizer, rows: Sequence[LearnerRow], spec, *, seed: int, max_grad_norm: float,
                  max_prompt_tokens: int | None, max_response_tokens: int | None, token_budget: int,
                  reference=None) -> dict[str, float]:
    """All mini-batch updates of one step for one learner (`spec`: its `AlgoSpec`, minibatch_size
    set; `reference`: the frozen KL model when spec.kl_beta > 0); returns metrics.

    NaN/inf in a loss or in the gradients skips that optimizer update (grads zeroed) and counts
    it in `nan_skips`; `nan_consecutive` reports the trailing run so the loop can stop. The
    `flow/` metrics (`train.flow`: what the learner took from its peers' rows) come along.
    """
    n, size = len(rows), spec.minibatch_size
    if n == 0:
        return {"nan_skips": 0.0, "nan_consecutive": 0.0}
    enc, at = encode_rows(agent, rows, max_prompt_tokens=max_prompt_tokens, max_response_tokens=max_response_tokens)
    order = minibatch_order(rows, spec.shuffle, seed)
    old = OldLogps.before_update(agent, rows, enc, at, set(order[:size]), token_budget=token_budget)
    ref = reference_logps(agent, rows, enc, at, reference if spec.kl_beta > 0 else None, token_budget=token_budget)
    if spec.cross_window == "centered":
        center_cross_window(agent, rows, enc, at, old, token_budget=token_budget)
    stats, nan_skips, consecutive = UpdateStats(), 0, 0
    for m, start in enumerate(range(0, n, size)):
        mini = order[start:start + size]
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for micro_idx, micro in agent.micro_batches(enc.select([at[i] for i in mini]), token_budget=token_budget):
            idx = [mini[int(j)] for j in micro_idx]
            lp, mask = token_logps(agent, micro)
            new_mean = core.token_mean(lp, mask)
            if m == 0:
                _first_forward(rows, idx, new_mean, lp, mask, old, stats)
            kl = core.k3_kl(lp, _ref_tokens(mask, idx, ref), mask * _is_in(idx, ref, mask)) if ref else None
            objective = microbatch_objective(rows, idx, new_mean, lp, mask, old, spec, m, stats)
            loss = core.minibatch_loss(objective, kl, kl_beta=spec.kl_beta, minibatch_size=len(mini))
            if not torch.isfinite(loss):
                total = math.nan
                break
            loss.backward()
            total += float(loss.detach())
        grad_norm = optimizer_step(agent.model, optimizer, max_grad_norm) if math.isfinite(total) else math.nan
        if math.isfinite(grad_norm):
            consecutive = 0
            stats.loss.append(total)
            stats.grad_norm.append(grad_norm)
        else:
            optimizer.zero_grad(set_to_none=True)
            nan_skips, consecutive = nan_skips + 1, consecutive + 1
            for i in mini:  # the update was skipped: nothing of this mini-batch was learned
                stats.fates.pop(i, None)
    # a row without a fate was not learned from (a skipped mini-batch, or one cut short by a NaN loss)
    fates = [stats.fates.get(i) or fate(rows[i], grad=False) for i in range(n)]
    return {**stats.summary(), "nan_skips": float(nan_skips), "nan_consecutive": float(consecutive),
            "updates": float(math.ceil(n / size)), **flow.flow_metrics(fates)}


def _first_forward(rows, idx, new_mean, lp, mask, old: OldLogps, stats: UpdateStats) -> None:
    """Before any step: compare the sampler with the training model (for free) and fill pi_old."""
    pre = new_mean.detach().tolist()
    for r, i in enumerate(idx):
        sampled = rows[i].record.sampling_mean_logp
        if rows[i].is_self and sampled is not None:
            stats.logp_mismatch.append(abs(sampled - pre[r]))
    old.fill_from_forward(rows, idx, new_mean, lp, mask)


def _ref_tokens(mask: Tensor, idx: list[int], ref: dict[int, list[float]]) -> Tensor:
    """(b, T) reference token log-probs at the response positions of the rows that have them."""
    rows_with = _is_in(idx, ref, mask)[:, 0].bool()
    out = torch.zeros_like(mask)
    if rows_with.any():
        out[rows_with] = _scatter_tokens(mask[rows_with], [ref[i] for i in idx if i in ref])
    return out


def _is_in(idx: list[int], ref: dict, mask: Tensor) -> Tensor:
    return torch.tensor([[1.0] if i in ref else [0.0] for i in idx], dtype=mask.dtype, device=mask.device)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _scatter_tokens(mask: Tensor, token_lists: list) -> Tensor:
    """Place per-row response-token values at the response positions of `mask` (B, L)."""
    out = torch.zeros_like(mask)
    flat = torch.tensor([v for lst in token_lists for v in lst], dtype=out.dtype, device=out.device)
    if flat.numel() != int(mask.sum()):
        raise ValueError(f"old token log-probs ({flat.numel()}) do not match the response tokens ({int(mask.sum())}); "
                         "the rollout and the update must use the same encoding limits")
    out[mask.bool()] = flat
    return out
