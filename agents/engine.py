"""Rollout engines: batched sampling behind one small interface.

`RolloutEngine` is what `LLMAgent.generate` calls; `TransformersEngine` is the shipped one (our own
decode loop over a transformers model with a KV cache). A vLLM engine can be added later as an
optional extra by implementing the same protocol on token ids.

Log-prob convention: every returned log-prob is log softmax of the model's RAW logits at the
sampled token (the temperature-1, untruncated distribution), whatever temperature/top_p were used
to draw it. That is the quantity the trainer compares against a re-scoring forward pass.
"""

from __future__ import annotations

import inspect
import random
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


class TransformersEngine:
    """Batched sampling over prompts x n with a KV cache, left padding and several EOS ids.

    One forward per new token for the whole batch; no per-prompt Python loop. Rows that finished
    keep feeding a pad token (masked out) so the cache stays rectangular; the loop stops when every
    row has finished or `max_new_tokens` is reached.

    autocast_dtype: run forwards under CPU/CUDA autocast in this dtype (e.g. torch.bfloat16) for
    speed. Log-probs are then approximate; the default (None) is the exact path.
    """

    def __init__(self, model: nn.Module, *, eos_token_ids: Sequence[int], pad_token_id: int,
                 autocast_dtype: torch.dtype | None = None, fast_decode: bool = True) -> None:
        if not eos_token_ids:
            raise ValueError("the engine needs at least one EOS token id to know when a response ends")
        self.model = model
        self.eos_token_ids = list(eos_token_ids)
        self.pad_token_id = pad_token_id
        self.autocast_dtype = autocast_dtype
        # Lean static-cache decode step for Llama-family models (see fast_decode.py); others use HF's forward.
        self.fast_decode = fast_decode and fast_decode_mod.supports(model)
        # transformers 5.x renamed the forward's `past_key_values` to `cache`; older releases only know the first.
        params = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

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

        rows = [list(p) for p in prompt_ids for _ in range(params.n)]
        batch, width = len(rows), max(len(r) for r in rows)
        input_ids = torch.full((batch, width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((batch, width), dtype=torch.long)
        for i, r in enumerate(rows):  # left padding: every row's last prompt token is in the last column
            input_ids[i, width - len(r):] = torch.as_tensor(r)
            attention_mask[i, width - len(r):] = 1
        input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
        position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)

        # One autocast region for the whole decode: autocast caches its bf16 weight copies until the
        # region exits, so the weights are cast once per generate call instead of once per token.
        with self._autocast():
            return self._decode(input_ids, attention_mask, position_ids, params, gen)

    def _decode(self, input_ids: Tensor, attention_mask: Tensor, position_ids: Tensor, params: SamplingParams,
                gen: torch.Generator) -> list[Completion]:
        device = input_ids.device
        batch, width = input_ids.shape
        eos = torch.as_tensor(self.eos_token_ids, device=device)
        steps = params.max_new_tokens
        # Outputs are indexed by original row; `rows` maps the (shrinking) live batch to them.
        tokens = torch.full((batch, steps), self.pad_token_id, dtype=torch.long, device=device)
        logprobs = torch.zeros((batch, steps), dtype=torch.float32, device=device)
        lengths = torch.zeros(batch, dtype=torch.long, device=device)
        finished_out = torch.zeros(batch, dtype=torch.bool, device=device)
        rows = torch.arange(batch, device=device)
        finished = torch.zeros(batch, dtype=torch.bool, device=device)
        # Preallocated mask; column width+t becomes 1 for rows whose token t is real.
        full_mask = torch.cat([attention_mask, torch.zeros((batch, steps), dtype=torch.long, device=device)], dim=1)
        cache = DynamicCache()
        next_pos = position_ids[:, -1:] + 1
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         use_cache=True, logits_to_keep=1, **{self._cache_kw: cache})
        next_logits = out.logits[:, -1, :]
        static = fast_decode_mod.StaticKVDecoder(self.model, cache, batch, width, steps) if self.fast_decode else None
        for t in range(steps):
            logits = next_logits.float()
            logp = torch.log_softmax(logits, dim=-1)
            if t < params.min_new_tokens:
                logits = logits.index_fill(-1, eos, float("-inf"))
            if params.greedy:
                tok = logits.argmax(dim=-1)
            else:
                scaled = logits / params.temperature
                if params.top_p < 1.0:
                    scaled = _top_p_filter(scaled, params.top_p)
                tok = torch.multinomial(torch.softmax(scaled, dim=-1), 1, generator=gen).squeeze(1)
            alive = ~finished
            tok = torch.where(alive, tok, torch.full_like(tok, self.pad_token_id))
            tokens[rows, t] = tok
            logprobs[rows, t] = torch.where(alive, logp.gather(1, tok[:, None]).squeeze(1), 0.0)
            lengths[rows] += alive.long()
            ended = alive & torch.isin(tok, eos)
            finished_out[rows[ended]] = True
            finished = finished | ended
            live = int((~finished).sum())
            if live == 0 or t == steps - 1:
                break
            full_mask[:, width + t] = alive.long()
            if live <= len(rows) // 2:
                # Most rows are done: drop them (cache included) so later steps cost only live rows.
                keep = (~finished).nonzero().squeeze(1)
                if static is not None:
                    static.select(keep)
                else:
                    cache.batch_select_indices(keep)
                full_mask, next_pos, tok = full_mask[keep], next_pos[keep], tok[keep]
                rows, finished = rows[keep], finished[keep]
            if static is not None:
                next_logits = static.step(tok, next_pos, full_mask[:, : width + t + 1])
            else:
                out = self.model(input_ids=tok[:, None], attention_mask=full_mask[:, : width + t + 1],
                                 position_ids=next_pos, use_cache=True, **{self._cache_kw: cache})
                next_logits = out.logits[:, -1, :]
            next_pos = next_pos + 1

        tokens_l, logprobs_l = tokens.cpu().tolist(), logprobs.cpu().tolist()
        lengths_l, finished_l = lengths.cpu().tolist(), finished_out.cpu().tolist()
        return [Completion(token_ids=tokens_l[i][: lengths_l[i]], logprobs=logprobs_l[i][: lengths_l[i]],
                           finished=bool(finished_l[i])) for i in range(batch)]
