"""One learner's optimizer updates for one training step (runs inside a worker).

The learner's batch is its self rows plus cross rows (HACPO.md §4.1 step 6), shuffled together
with a seeded generator (§10.4; `shuffle=False` keeps self rows first, the V1 order), cut into
mini-batches of `minibatch_size` sequences.  m = 0, 1, ... is the optimizer-update index used by
stepwise clipping.  Each mini-batch is split by token budget into micro-batches whose losses are
scaled by 1 / (mini-batch size), so the accumulated gradient equals that of one mean over the
whole mini-batch (§10.5).  The per-sequence objectives are `train.core`'s; nothing here re-derives
the math.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import torch

from agents.batching import concat
from train import core

OBJECTIVES = ("gspo", "grpo", "cross")


@dataclass
class LearnerBatch:
    """Plain-data rows for one learner (one entry per sequence).

    objective: "gspo" (GSPO clipped, old = `old_mean_logp`), "grpo" (token clip, old =
    `old_token_logps`), "cross" (HACPO cross term, `old_mean_logp` = the SOURCE's mean log-prob).
    A row with `response_ids` is encoded from the learner's own sampled ids; otherwise its
    `response` text is re-tokenised (with the learner's EOS iff `append_eos`).
    `old_mean_logp` None (with `old_token_logps` None on grpo rows) means "the learner's own
    pre-update log-prob": the `naive` baseline's cross rows, and the self rows of variants without a
    shared pool, whose source IS the learner (the loop then skips its separate behaviour pass).
    """

    prompts: list = field(default_factory=list)
    responses: list = field(default_factory=list)  # str | None
    response_ids: list = field(default_factory=list)  # list[int] | None
    append_eos: list = field(default_factory=list)
    objective: list = field(default_factory=list)
    advantages: list = field(default_factory=list)
    coef: list = field(default_factory=list)
    old_mean_logp: list = field(default_factory=list)  # float | None
    old_token_logps: list = field(default_factory=list)  # list[float] | None (grpo rows)
    is_self: list = field(default_factory=list)
    # the sampler's mean log-prob of a self row (for the `logp_mismatch` check), None elsewhere
    sampling_mean_logp: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.prompts)

    def add(self, *, prompt, objective: str, advantage: float, response: str | None = None,
            response_ids=None, append_eos: bool = False, coef: float = 1.0, old_mean_logp: float | None = None,
            old_token_logps=None, is_self: bool = False, sampling_mean_logp: float | None = None) -> None:
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown row objective {objective!r}; expected one of {OBJECTIVES}")
        if (response is None) == (response_ids is None):
            raise ValueError("a learner row needs exactly one of response (text) or response_ids")
        self.prompts.append(prompt)
        self.responses.append(response)
        self.response_ids.append(None if response_ids is None else list(response_ids))
        self.append_eos.append(bool(append_eos))
        self.objective.append(objective)
        self.advantages.append(float(advantage))
        self.coef.append(float(coef))
        self.old_mean_logp.append(None if old_mean_logp is None else float(old_mean_logp))
        self.old_token_logps.append(None if old_token_logps is None else list(old_token_logps))
        self.is_self.append(bool(is_self))
        self.sampling_mean_logp.append(None if sampling_mean_logp is None else float(sampling_mean_logp))


@dataclass(frozen=True)
class UpdateParams:
    """Algorithm hyperparameters the update needs (resolved from AlgoSpec + config)."""

    minibatch_size: int
    shuffle: bool = True
    eps_low: float = 3e-4
    eps_high: float = 4e-4
    grpo_eps_low: float = 0.2
    grpo_eps_high: float = 0.28
    alpha: float = 1.0
    delta: float = 0.2
    delta_step: float = 0.025
    cross_clip: bool = True
    stepwise: bool = True
    kl_beta: float = 0.0


def _response_logps(agent, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, L) fp32 token log-probs and the float response mask on the same device.

    bf16 autocast (agent.precision) happens inside the agent; the weights stay fp32."""
    lp = agent.token_logprobs(batch).float()
    return lp, batch.response_mask.to(lp.device).float()


def score_rows(agent, batch, *, token_budget: int) -> list[list[float]]:
    """Per-row response-token log-probs (no grad), chunked by token budget, in batch order."""
    out: list[list[float] | None] = [None] * len(batch)
    with torch.no_grad():
        for idx, mb in agent.micro_batches(batch, token_budget=token_budget):
            lp, mask = _response_logps(agent, mb)
            for row, i in enumerate(idx):
                out[int(i)] = lp[row][mask[row].bool()].tolist()
    return out  # type: ignore[return-value]


def _encode_rows(agent, rows: LearnerBatch, idx: list[int], *, max_prompt_tokens, max_response_tokens):
    prompts = [rows.prompts[i] for i in idx]
    if rows.response_ids[idx[0]] is not None:
        return agent.encode(prompts, response_ids=[rows.response_ids[i] for i in idx],
                            max_prompt_tokens=max_prompt_tokens, max_response_tokens=max_response_tokens)
    return agent.encode(prompts, responses=[rows.responses[i] for i in idx],
                        append_eos=[rows.append_eos[i] for i in idx],
                        max_prompt_tokens=max_prompt_tokens, max_response_tokens=max_response_tokens)


@contextlib.contextmanager
def _swapped_model(agent, model):
    """Score with `model` through the agent's own position/padding handling (KL reference)."""
    original = agent.model
    agent.model = model
    try:
        yield
    finally:
        agent.model = original


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def update_policy(agent, optimizer, rows: LearnerBatch, params: UpdateParams, *, seed: int,
                  max_grad_norm: float, max_prompt_tokens: int | None, max_response_tokens: int | None,
                  token_budget: int, reference=None) -> dict[str, float]:
    """Run all mini-batch updates of one step for one learner; returns metrics.

    NaN/inf in a loss or in the gradients skips that optimizer update (grads zeroed) and counts
    it in `nan_skips`; `nan_consecutive` reports the trailing run so the loop can stop.
    """
    n = len(rows)
    if n == 0:
        return {"nan_skips": 0.0, "nan_consecutive": 0.0}
    if params.minibatch_size < 1:
        raise ValueError(f"algo.minibatch_size must be >= 1, got {params.minibatch_size}")
    # Own sampled ids and re-tokenised text take different encode paths; one batch holds both, so
    # a mini-batch is one forward in which rows of the same prompt share its tokens' computation.
    own = [i for i in range(n) if rows.response_ids[i] is not None]
    text = [i for i in range(n) if rows.response_ids[i] is None]
    enc = concat([_encode_rows(agent, rows, idx, max_prompt_tokens=max_prompt_tokens,
                               max_response_tokens=max_response_tokens) for idx in (own, text) if idx])
    at = {i: pos for pos, i in enumerate(own + text)}  # row -> its position in enc

    order = list(range(n))
    if params.shuffle:
        gen = torch.Generator().manual_seed(int(seed))
        order = torch.randperm(n, generator=gen).tolist()
    else:  # V1 order: own samples first (rows are built self-first), then cross
        order = own + text
    mb_size = params.minibatch_size

    # Pre-update learner log-probs where the batch asks for them (old None). Rows of the first
    # mini-batch need no pass of their own: before the first optimizer update, the forward with
    # grad computes exactly these values (filled in below at m == 0; TRL skips the same pass).
    old_mean = list(rows.old_mean_logp)
    old_tok = list(rows.old_token_logps)
    first = set(order[:mb_size])
    ref_lps: dict[int, list[float]] = {}
    todo = [i for i in range(n) if old_mean[i] is None and i not in first]
    if todo:
        for i, lps in zip(todo, score_rows(agent, enc.select([at[i] for i in todo]), token_budget=token_budget)):
            old_mean[i] = sum(lps) / max(len(lps), 1)
            old_tok[i] = lps
    self_rows = [i for i in range(n) if rows.is_self[i]]
    if params.kl_beta > 0 and self_rows:
        with _swapped_model(agent, reference):
            batch = enc.select([at[i] for i in self_rows])
            ref_lps = dict(zip(self_rows, score_rows(agent, batch, token_budget=token_budget)))

    metrics: dict[str, list[float]] = {k: [] for k in ("loss", "grad_norm", "logp_mismatch")}
    stats = {"self": [0.0, 0.0, 0.0], "cross": [0.0, 0.0, 0.0]}  # clipped-low, clipped-high, count
    cross_ratio = {"min": math.inf, "max": -math.inf, "sum": 0.0, "count": 0.0}
    nan_skips = consecutive = 0
    for m, start in enumerate(range(0, n, mb_size)):
        mini = order[start:start + mb_size]
        optimizer.zero_grad(set_to_none=True)
        total_loss, finite = 0.0, True
        sub = enc.select([at[i] for i in mini])
        for micro_idx, micro in agent.micro_batches(sub, token_budget=token_budget):
            rows_here = [mini[int(j)] for j in micro_idx]
            lp, mask = _response_logps(agent, micro)
            ntok = mask.sum(-1).clamp(min=1)
            new_mean = (lp * mask).sum(-1) / ntok
            if m == 0:
                pre_update = new_mean.detach().tolist()  # no step taken yet: the pre-update policy
                for r, i in enumerate(rows_here):
                    if rows.sampling_mean_logp[i] is not None:  # sampler vs training model, for free
                        metrics["logp_mismatch"].append(abs(rows.sampling_mean_logp[i] - pre_update[r]))
                    if old_mean[i] is None:
                        old_mean[i] = pre_update[r]
                        if rows.objective[i] == "grpo":  # only token-level rows read these
                            old_tok[i] = lp[r][mask[r].bool()].detach().tolist()
            pieces = []  # per-kind objectives; the loss only needs their sum
            dev = lp.device
            adv = torch.tensor([rows.advantages[i] for i in rows_here], device=dev)
            kinds = [rows.objective[i] for i in rows_here]
            # A fixed order: the loss sums the pieces in this order, and a set's order changes with
            # each process's string-hash seed (the logged loss then differed in its last bits).
            for kind in sorted(set(kinds)):
                sel = torch.tensor([k == kind for k in kinds], device=dev)
                old = torch.tensor([old_mean[i] for i, k in zip(rows_here, kinds) if k == kind], device=dev)
                if kind == "gspo":
                    o, met = core.gspo_self_objective(new_mean[sel], old, adv[sel], params.eps_low,
                                                      params.eps_high)
                    _accumulate(stats, "self", met["clip/self_low_frac"], met["clip/self_high_frac"], met["count"])
                elif kind == "grpo":
                    sel_rows = [i for i, k in zip(rows_here, kinds) if k == kind]
                    old_t = _scatter_tokens(mask[sel], [old_tok[i] for i in sel_rows])
                    o, met = core.grpo_token_objective(lp[sel], old_t, mask[sel], adv[sel],
                                                       params.grpo_eps_low, params.grpo_eps_high)
                    _accumulate(stats, "self", met["clip/token_low_frac"], met["clip/token_high_frac"],
                                met["count"])
                else:
                    coef = torch.tensor([rows.coef[i] for i, k in zip(rows_here, kinds) if k == kind], device=dev)
                    o, met = core.cross_objective(new_mean[sel], old, adv[sel], coef, alpha=params.alpha,
                                                  delta=params.delta, delta_step=params.delta_step, m=m,
                                                  clip=params.cross_clip, stepwise=params.stepwise)
                    _accumulate(stats, "cross", met["clip/cross_low_frac"], met["clip/cross_high_frac"],
                                met["count"])
                    cross_ratio["min"] = min(cross_ratio["min"], met["cross_ratio/min"])
                    cross_ratio["max"] = max(cross_ratio["max"], met["cross_ratio/max"])
                    cross_ratio["sum"] += met["cross_ratio/mean"] * met["count"]
                    cross_ratio["count"] += met["count"]
                pieces.append(o)
            loss_sum = -torch.cat(pieces).sum()
            if params.kl_beta > 0:
                loss_sum = loss_sum + params.kl_beta * _self_kl(lp, mask, rows_here, rows, ref_lps).sum()
            # sum / (mini-batch size): micro-batch losses add up to the mini-batch mean
            loss = loss_sum / len(mini)
            if not torch.isfinite(loss):
                finite = False
                break
            loss.backward()
            total_loss += float(loss.detach())
        grad_norm = float("nan")
        if finite:
            params_list = [p for p in agent.model.parameters() if p.grad is not None]
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params_list, max_grad_norm)) if params_list else 0.0
            finite = math.isfinite(grad_norm)
        if finite:
            optimizer.step()
            consecutive = 0
            metrics["loss"].append(total_loss)
            metrics["grad_norm"].append(grad_norm)
        else:
            nan_skips += 1
            consecutive += 1
        optimizer.zero_grad(set_to_none=True)

    out = {"loss": _mean(metrics["loss"]), "grad_norm": _mean(metrics["grad_norm"]),
           "nan_skips": float(nan_skips), "nan_consecutive": float(consecutive),
           "updates": float(math.ceil(n / mb_size)),
           # the self rows' pre-update mean log-probs (None where a skipped update never scored them)
           "self_old_mean_logp": [old_mean[i] for i in range(n) if rows.is_self[i]]}
    if metrics["logp_mismatch"]:  # only when the first mini-batch held own samples
        out["logp_mismatch"] = _mean(metrics["logp_mismatch"])
    for kind, (low, high, count) in stats.items():
        out[f"clip_ratio/{kind}_low"] = low / count if count else 0.0
        out[f"clip_ratio/{kind}_high"] = high / count if count else 0.0
    if cross_ratio["count"]:
        out["cross_ratio/min"] = cross_ratio["min"]
        out["cross_ratio/mean"] = cross_ratio["sum"] / cross_ratio["count"]
        out["cross_ratio/max"] = cross_ratio["max"]
    return out


def _accumulate(stats: dict, kind: str, low_frac: float, high_frac: float, count: float) -> None:
    """Count-weighted sums so the step's clip fractions are over all its sequences."""
    stats[kind][0] += low_frac * count
    stats[kind][1] += high_frac * count
    stats[kind][2] += count


def _scatter_tokens(mask: torch.Tensor, token_lists: list) -> torch.Tensor:
    """Place per-row response-token values at the response positions of `mask` (B, L)."""
    out = torch.zeros_like(mask)
    flat = torch.tensor([v for lst in token_lists for v in lst], dtype=out.dtype, device=out.device)
    if flat.numel() != int(mask.sum()):
        raise ValueError(f"old token log-probs ({flat.numel()}) do not match the response tokens ({int(mask.sum())}); "
                         "the rollout and the update must use the same encoding limits")
    out[mask.bool()] = flat
    return out


def _self_kl(lp, mask, rows_here, rows: LearnerBatch, ref_lps) -> torch.Tensor:
    """Per-sequence token-mean low-variance KL (k3) to the frozen reference, self rows only (§10.7)."""
    out = []
    for r, i in enumerate(rows_here):
        if i not in ref_lps:
            out.append(torch.zeros((), dtype=lp.dtype, device=lp.device))
            continue
        new = lp[r][mask[r].bool()]
        ref = torch.tensor(ref_lps[i], dtype=lp.dtype, device=lp.device)
        d = ref - new
        out.append((torch.exp(d) - d - 1).mean() if new.numel() else torch.zeros((), dtype=lp.dtype, device=lp.device))
    return torch.stack(out)
