"""Rollout engines: batched sampling behind one small interface.

`RolloutEngine` is what `LLMAgent.generate` calls; `TransformersEngine` is the shipped one (our own
decode loop over a transformers model with a KV cache). A vLLM engine can be added later as an
optional extra by implementing the same protocol on token ids.

Log-prob convention: every returned log-prob is log softmax of the SAMPLING model's raw logits at
the sampled token (the temperature-1, untruncated distribution), whatever temperature/top_p were
used to draw it. On the exact path (the default) the sampling model is the training model, so
these equal a re-scoring forward pass within fp32 rounding. With `int8=True` the sampling model
is an int8 copy and the log-probs are those of that copy's distribution (the one the tokens were
really drawn from), NOT the training model's; the trainer re-scores behaviour log-probs with the
training model anyway.
"""

from __future__ import annotations

import copy
import inspect
import random
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

import torch
from torch import Tensor, nn
from transformers import DynamicCache

from agents import fast_decode as fast_decode_mod


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. n: completions per prompt. greedy=True ignores temperature and top_p.

    min_new_tokens: EOS is forbidden before this many tokens (benchmarks force equal lengths).
    """

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 128
    seed: int | None = None
    greedy: bool = False
    min_new_tokens: int = 0

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not self.greedy and self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 (got {self.temperature}); use greedy=True for argmax decoding")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


@dataclass(frozen=True)
class Completion:
    """One sampled continuation in token space (the agent decodes it into a `Sample`)."""

    token_ids: list[int]
    logprobs: list[float]
    finished: bool


@runtime_checkable
class RolloutEngine(Protocol):
    """Samples completions for tokenized prompts.

    Returns completions row-major: prompt 0's n completions, then prompt 1's, and so on.
    """

    def generate(self, prompt_ids: Sequence[Sequence[int]], params: SamplingParams) -> list[Completion]:
        ...


def _top_p_filter(logits: Tensor, top_p: float) -> Tensor:
    """Set logits outside the smallest set with cumulative probability >= top_p to -inf."""
    sorted_logits, sorted_idx = torch.sort(logits, descending=True, dim=-1)
    probs = torch.softmax(sorted_logits, dim=-1)
    # Drop a token when the mass strictly before it already reaches top_p (the top token is always kept).
    drop_sorted = (probs.cumsum(dim=-1) - probs) >= top_p
    drop = torch.zeros_like(drop_sorted).scatter(-1, sorted_idx, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def weights_fingerprint(model: nn.Module) -> tuple:
    """Changes whenever a parameter is replaced or updated in place (optimizer steps, load_state_dict
    and `copy_` bump a tensor's version counter; writes through `.data` and torch's fused AdamW
    (`fused=True`) do NOT: call `TransformersEngine.invalidate()` after those; the trainer's
    workers do after every update)."""
    return tuple((p.data_ptr(), p._version) for p in model.parameters())


def int8_copy(model: nn.Module) -> nn.Module:
    """An inference copy of `model` with its nn.Linear layers (LM head included) int8 dynamically
    quantized (per-output-channel weight scales; activations quantized per call), except the MLP
    output projections `fast_decode.keeps_fp32` names. CPU only (fbgemm/x86 kernels)."""
    grads = {p: p.grad for p in model.parameters()}
    for p in grads:
        p.grad = None  # keep gradients out of the copy
    try:
        with torch.inference_mode(False), torch.no_grad():
            clone = copy.deepcopy(model).eval().requires_grad_(False)
            with warnings.catch_warnings():  # torch.ao eager quantization warns that it is moving to torchao
                warnings.simplefilter("ignore")
                from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

                names = {name for name, m in clone.named_modules()
                         if isinstance(m, nn.Linear) and not fast_decode_mod.keeps_fp32(name)}
                return quantize_dynamic(clone, dict.fromkeys(names, per_channel_dynamic_qconfig),
                                        dtype=torch.qint8, inplace=True)
    finally:
        for p, g in grads.items():
            p.grad = g


def cache_keyword(model: nn.Module) -> str:
    """The forward's key/value-cache argument: transformers 5.x renamed `past_key_values` to `cache`."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


class _HFStepper:
    """The plain transformers forward with a DynamicCache, behind StaticKVDecoder's interface."""

    def __init__(self, model: nn.Module, cache_kw: str, attention_mask: Tensor, position_ids: Tensor,
                 max_new_tokens: int) -> None:
        self.model, self.cache_kw, self.cache = model, cache_kw, DynamicCache()
        ones = torch.ones((attention_mask.shape[0], max_new_tokens), dtype=attention_mask.dtype,
                          device=attention_mask.device)
        # New columns stay 1: rows that ended keep decoding garbage the engine discards.
        self.mask, self.width = torch.cat([attention_mask, ones], dim=1), attention_mask.shape[1]
        self.position_ids, self.next_pos = position_ids, position_ids[:, -1:] + 1

    def prefill(self, input_ids: Tensor, n: int = 1) -> Tensor:
        first = slice(None, None, n)  # one forward per prompt; its cache is repeated for the n samples
        out = self.model(input_ids=input_ids[first], attention_mask=self.mask[first, : self.width],
                         position_ids=self.position_ids[first], use_cache=True, logits_to_keep=1,
                         **{self.cache_kw: self.cache})
        if n > 1:
            self.cache.batch_repeat_interleave(n)
        return out.logits[:, -1, :].repeat_interleave(n, dim=0)

    def step(self, tokens: Tensor, t: int) -> Tensor:
        out = self.model(input_ids=tokens[:, None], attention_mask=self.mask[:, : self.width + t + 1],
                         position_ids=self.next_pos, use_cache=True, **{self.cache_kw: self.cache})
        self.next_pos = self.next_pos + 1
        return out.logits[:, -1, :]

    def select(self, keep: Tensor) -> None:
        self.cache.batch_select_indices(keep)
        self.mask, self.next_pos = self.mask[keep], self.next_pos[keep]


def sample_from(probs: Tensor, gen: torch.Generator) -> Tensor:
    """One token per row of `probs` (B, V), drawn with probability proportional to its entry: (B, 1).

    Inverse-CDF sampling: one uniform per row against a float64 running sum (exact to ~1e-16), instead
    of torch.multinomial's one exponential variate per vocabulary entry (3M draws per step for a
    49k vocabulary at batch 64). Zero-probability entries (banned or top-p-filtered) are never drawn.
    """
    cdf = probs.cumsum(dim=-1, dtype=torch.float64)
    u = torch.rand((probs.shape[0], 1), generator=gen, dtype=torch.float64, device=probs.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).clamp_(max=probs.shape[1] - 1)


#: One stretch of a decode between batch shrinks: the original rows then live, the step it starts at,
#: and its per-step (B, 1) tokens and log-probs.
_Segment = tuple[Tensor, int, list[Tensor], list[Tensor]]


def _draw(logits: Tensor, banned: bool, params: SamplingParams, eos: Tensor,
          gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """One decode step's tokens (B, 1) from fp32 `logits` (B, V), and their log-probs under the raw
    logits (see the module docstring). `banned`: EOS may not be drawn yet (`min_new_tokens`)."""
    # T=1 without top-p samples straight from softmax(raw logits): one softmax serves both the draw
    # and the log-prob (log of a sampled token's probability; never underflows in practice).
    plain = not params.greedy and params.temperature == 1.0 and params.top_p == 1.0
    if plain and not banned:
        probs = torch.softmax(logits, dim=-1)
        tok = sample_from(probs, gen)                                         # (B, 1)
        return tok, probs.gather(1, tok).log_()
    lse = torch.logsumexp(logits, dim=-1, keepdim=True)
    chosen = logits.index_fill(-1, eos, float("-inf")) if banned else logits
    if params.greedy:
        tok = chosen.argmax(dim=-1, keepdim=True)
    else:
        scaled = chosen / params.temperature if params.temperature != 1.0 else chosen
        if params.top_p < 1.0:
            scaled = _top_p_filter(scaled, params.top_p)
        tok = sample_from(torch.softmax(scaled, dim=-1), gen)
    return tok, logits.gather(1, tok) - lse


class TransformersEngine:
    """Batched sampling over prompts x n with a KV cache, left padding and several EOS ids.

    One forward per new token for the whole batch; no per-prompt Python loop. Rows that finished
    keep decoding (their tokens are discarded) until at least half the batch is done; then they are
    dropped from the batch and cache. The loop stops when every row has finished or
    `max_new_tokens` is reached.

    autocast_dtype: run forwards under CPU/CUDA autocast in this dtype (e.g. torch.bfloat16).
    int8: sample through int8 dynamically quantized projections and LM head (CPU only; built from
    the training weights, never modifying them, and rebuilt whenever they change, see
    `weights_fingerprint`). Both are approximate: log-probs are
    those of the distribution actually sampled from, not the fp32 model's. The default is exact.
    """

    def __init__(self, model: nn.Module, *, eos_token_ids: Sequence[int], pad_token_id: int,
                 autocast_dtype: torch.dtype | None = None, fast_decode: bool = True, int8: bool = False) -> None:
        if not eos_token_ids:
            raise ValueError("the engine needs at least one EOS token id to know when a response ends")
        self.model = model
        self.eos_token_ids = list(eos_token_ids)
        self.pad_token_id = pad_token_id
        self.autocast_dtype = autocast_dtype
        self.int8 = int8
        # Lean static-cache decode for Llama-family models (see fast_decode.py); others use HF's forward.
        self.fast_decode = fast_decode and fast_decode_mod.supports(model)
        self._cache_kw = cache_keyword(model)
        self._key: tuple | None = None  # fingerprint of the weights the cached rollout model/plan were built from
        self._rollout: nn.Module | None = None
        self._plan: fast_decode_mod.DecodePlan | None = None
        self.rebuilds = 0  # how often a weight change was seen (int8: the copy was rebuilt); tests read it

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def exact(self) -> bool:
        """Sampling runs the model's own fp32 weights (no autocast, no int8) in full fp32 matmul
        precision: the returned log-probs are the model's within fp32 rounding, so a trainer may use
        them instead of re-scoring. TF32 / bf16 matmuls (`torch.set_float32_matmul_precision` other
        than "highest") round differently in decode and training kernels, so they do not count."""
        return (not self.int8 and self.autocast_dtype is None and torch.get_float32_matmul_precision() == "highest"
                and next(self.model.parameters()).dtype == torch.float32)

    def invalidate(self) -> None:
        """Forget the cached rollout copy / decode plan (needed after writes through `.data` or torch's
        fused AdamW, which leave version counters alone)."""
        self._key = self._rollout = self._plan = None

    def _prepare(self) -> None:
        """(Re)build the int8 copy and the fast-path plan if the training weights changed since last time."""
        key = weights_fingerprint(self.model)
        stale_copy = self.int8 and not self.fast_decode and self._rollout is self.model
        if key != self._key or stale_copy:
            if self.int8 and self.device.type != "cpu":
                raise ValueError(f"int8 generation runs on CPU only (model is on {self.device}); "
                                 "use generation_precision='bf16' on a GPU")
            # The fast path quantizes inside its plan (fused, no model copy); other models get an int8 copy.
            self._rollout = int8_copy(self.model) if self.int8 and not self.fast_decode else self.model
            self._plan, self._key = None, key
            self.rebuilds += 1
        if self.fast_decode and self._plan is None:
            fuse = fast_decode_mod.linear_weight_bytes(self._rollout) <= fast_decode_mod.FUSE_MAX_BYTES
            self._plan = fast_decode_mod.DecodePlan(self._rollout, fuse, int8=self.int8)

    def _autocast(self):
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    @torch.inference_mode()
    def generate(self, prompt_ids: Sequence[Sequence[int]], params: SamplingParams) -> list[Completion]:
        if not prompt_ids:
            return []
        if any(len(p) == 0 for p in prompt_ids):
            raise ValueError("empty prompt: every prompt needs at least one token (the chat template adds some)")
        device = self.device
        seed = params.seed if params.seed is not None else random.SystemRandom().randrange(2**62)
        gen = torch.Generator(device=device).manual_seed(seed)
        self._prepare()

        rows = [list(p) for p in prompt_ids for _ in range(params.n)]
        batch, width = len(rows), max(len(r) for r in rows)
        input_ids = torch.full((batch, width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((batch, width), dtype=torch.long)
        for i, r in enumerate(rows):  # left padding: every row's last prompt token is in the last column
            input_ids[i, width - len(r):] = torch.as_tensor(r)
            attention_mask[i, width - len(r):] = 1
        input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
        position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
        steps = params.max_new_tokens
        if self.fast_decode:
            stepper = fast_decode_mod.StaticKVDecoder(self._plan, attention_mask, position_ids, steps)
        else:
            stepper = _HFStepper(self._rollout, self._cache_kw, attention_mask, position_ids, steps)
        # One autocast region for the whole decode: autocast caches its bf16 weight copies until the
        # region exits, so the weights are cast once per generate call instead of once per token.
        with self._autocast():
            return self._decode(stepper, input_ids, params, gen)

    def _decode(self, stepper, input_ids: Tensor, params: SamplingParams, gen: torch.Generator) -> list[Completion]:
        device = input_ids.device
        batch = input_ids.shape[0]
        eos = torch.as_tensor(self.eos_token_ids, device=device)
        steps = params.max_new_tokens
        rows = torch.arange(batch, device=device)          # live batch position -> original row
        finished = torch.zeros(batch, dtype=torch.bool, device=device)
        # Per-step outputs of the live rows, in segments between batch shrinks; scattered once at the end.
        segments: list[_Segment] = []
        seg_toks: list[Tensor] = []
        seg_lps: list[Tensor] = []
        seg_start = 0
        logits = stepper.prefill(input_ids, params.n)
        for t in range(steps):
            tok, lp = _draw(logits.float(), t < params.min_new_tokens, params, eos, gen)
            seg_toks.append(tok)
            seg_lps.append(lp)
            finished |= (tok[:, 0] == eos[0]) if len(eos) == 1 else torch.isin(tok[:, 0], eos)
            done = int(finished.sum())
            if done == len(rows) or t == steps - 1:
                break
            if len(rows) - done <= len(rows) // 2:
                # Most rows are done: drop them (cache included) so later steps cost only live rows.
                segments.append((rows, seg_start, seg_toks, seg_lps))
                seg_toks, seg_lps, seg_start = [], [], t + 1
                keep = (~finished).nonzero().squeeze(1)
                stepper.select(keep)
                rows, finished, tok = rows[keep], finished[keep], tok[keep]
            logits = stepper.step(tok[:, 0], t)
        segments.append((rows, seg_start, seg_toks, seg_lps))
        return self._completions(segments, batch, t + 1, eos)

    def _completions(self, segments: list[_Segment], batch: int, ran: int, eos: Tensor) -> list[Completion]:
        """Each original row's tokens and log-probs, scattered from the decode's segments and cut
        after the row's first EOS."""
        device = eos.device
        tokens = torch.full((batch, ran), self.pad_token_id, dtype=torch.long, device=device)
        logprobs = torch.zeros((batch, ran), dtype=torch.float32, device=device)
        for seg_rows, start, toks, lps in segments:
            if toks:
                tokens[seg_rows, start:start + len(toks)] = torch.cat(toks, dim=1)
                logprobs[seg_rows, start:start + len(toks)] = torch.cat(lps, dim=1).float()
        # A response ends at its first EOS (rows keep sampling after it until dropped; pads only follow it).
        is_eos = torch.isin(tokens, eos)
        ended = is_eos.any(dim=1)
        lengths = torch.where(ended, is_eos.int().argmax(dim=1) + 1, ran)
        tokens_l, logprobs_l = tokens.cpu().tolist(), logprobs.cpu().tolist()
        lengths_l, ended_l = lengths.cpu().tolist(), ended.cpu().tolist()
        return [Completion(token_ids=tokens_l[i][: lengths_l[i]], logprobs=logprobs_l[i][: lengths_l[i]],
                           finished=bool(ended_l[i])) for i in range(batch)]
