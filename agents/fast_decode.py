"""A lean forward for Llama-family models (Llama, Qwen2, SmolLM2) with a static KV cache.

transformers' forward is built for every case (mask builders, cache objects that grow by
concatenation, GQA by copying K/V per head, output wrappers, per-step rotary tables); for small
models at batch 64 that per-op overhead, not arithmetic, bounds decoding speed. Here:

- `DecodePlan` pre-binds every projection to `F.linear` on the model's own parameters (no
  nn.Module call overhead) and, for small models, fuses q/k/v and gate/up into one matmul each
  (concatenated copies, rebuilt by the engine whenever the weights change);
- `StaticKVDecoder` computes the rotary tables for every position of the call once, keeps K/V in
  preallocated buffers written in place, lets one-token decode attend per KV head with the query
  heads grouped (no K/V repeat), and runs the prompt pass through the same code (causal mask, no
  transformers cache to copy).

Numerics follow the model's forward (same weights, RMSNorm, rotary embedding module, activation),
up to fp32 rounding order. Architectures it does not cover use the plain transformers loop in
`engine.py`. Projections that are not plain `nn.Linear` (e.g. int8 dynamically quantized ones in
the engine's rollout copy) are called as modules and never fused.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SUPPORTED = ("LlamaForCausalLM", "Qwen2ForCausalLM")
_GQA_SDPA = tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 5)
# Fusing copies the projection weights; above this size the copy costs more memory than it saves time.
FUSE_MAX_BYTES = 64 * 2**20


def supports(model: nn.Module) -> bool:
    cfg = getattr(model, "config", None)
    return (type(model).__name__ in SUPPORTED and cfg is not None
            and not getattr(cfg, "use_sliding_window", False)
            and getattr(cfg, "attention_dropout", 0.0) == 0.0
            and getattr(cfg, "partial_rotary_factor", None) in (None, 1.0))


# Linear layers an int8 sampler keeps in fp32: the MLP's output projection. Its input, the gated
# activation, has a few huge channels, and dynamic quantization gives each input row one scale, so
# the rest of the row rounds to nothing: with it int8, SmolLM2-135M's greedy accuracy on 200 held-out
# chain sums was 0.085 against 0.19 at fp32; with it fp32, 0.18 (docs/performance.md, "int8").
FP32_IN_INT8 = ("down_proj", "dense_4h_to_h")


def keeps_fp32(module_name: str) -> bool:
    """Does an int8 sampler keep the Linear called `module_name` (a dotted path) in fp32?"""
    return module_name.rsplit(".", 1)[-1] in FP32_IN_INT8


def int8_linear(weight: Tensor, bias: Tensor | None) -> nn.Module:
    """An int8 dynamically quantized linear layer (per-output-channel weight scales, activations
    quantized per call; fbgemm/x86 CPU kernels) computing x @ weight.T + bias."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
    from torch.ao.quantization import per_channel_dynamic_qconfig

    lin = torch.nn.utils.skip_init(nn.Linear, weight.shape[1], weight.shape[0], bias=bias is not None)
    lin.weight = nn.Parameter(weight.detach(), requires_grad=False)  # shared, not copied: only read here
    if bias is not None:
        lin.bias = nn.Parameter(bias.detach(), requires_grad=False)
    lin.qconfig = per_channel_dynamic_qconfig
    with warnings.catch_warnings():  # torch.ao eager quantization warns that it is moving to torchao
        warnings.simplefilter("ignore")
        return DynamicLinear.from_float(lin)


def _linear(m: nn.Module, int8: bool = False) -> Callable[[Tensor], Tensor]:
    """F.linear bound to a plain Linear's parameters (skips module-call overhead), or its int8
    version; modules that are not plain Linears are called as they are."""
    if type(m) is not nn.Linear:
        return m
    if int8:
        return int8_linear(m.weight, m.bias)
    return partial(F.linear, weight=m.weight, bias=m.bias)


def _fused(mods: list[nn.Module], fuse: bool, int8: bool = False) -> Callable[[Tensor], Tensor]:
    """One projection computing the concatenation of `mods`' outputs along the last dimension."""
    biases = [m.bias is not None for m in mods if type(m) is nn.Linear]
    if (fuse or int8) and all(type(m) is nn.Linear for m in mods) and len(set(biases)) == 1:
        weight = torch.cat([m.weight.detach() for m in mods])
        bias = torch.cat([m.bias.detach() for m in mods]) if biases[0] else None
        return int8_linear(weight, bias) if int8 else partial(F.linear, weight=weight, bias=bias)
    calls = [_linear(m, int8) for m in mods]
    return lambda h: torch.cat([c(h) for c in calls], dim=-1)


def _rms_norm(m: nn.Module) -> Callable[[Tensor], Tensor]:
    return partial(F.rms_norm, normalized_shape=(m.weight.shape[0],), weight=m.weight, eps=m.variance_epsilon)


def linear_weight_bytes(model: nn.Module) -> int:
    return sum(m.weight.numel() * m.weight.element_size() for m in model.modules() if type(m) is nn.Linear)


class DecodePlan:
    """Per-layer callables of one model. Holds references to its parameters (plus fused copies when
    `fuse`), so the engine rebuilds it when the weights are replaced or updated.

    int8: every projection but the MLP's output (`keeps_fp32`) and the LM head become int8 dynamically
    quantized copies (q/k/v and gate/up fused before quantizing); embeddings, norms and rotary
    tables stay the model's own.
    """

    def __init__(self, model: nn.Module, fuse: bool, int8: bool = False) -> None:
        inner, cfg = model.model, model.config
        attn0 = inner.layers[0].self_attn
        self.heads, self.kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
        self.head_dim, self.scaling = attn0.head_dim, attn0.scaling
        self.embed = inner.embed_tokens
        self.rotary = inner.rotary_emb
        self.layers = []
        for layer in inner.layers:
            a, m = layer.self_attn, layer.mlp
            self.layers.append((_rms_norm(layer.input_layernorm),
                                _fused([a.q_proj, a.k_proj, a.v_proj], fuse, int8), _linear(a.o_proj, int8),
                                _rms_norm(layer.post_attention_layernorm), _fused([m.gate_proj, m.up_proj], fuse, int8),
                                m.act_fn, _linear(m.down_proj, int8 and not keeps_fp32("down_proj"))))
        self.norm = _rms_norm(inner.norm)
        # Called as a module on the exact path: forward hooks on the LM head still fire.
        self.lm_head = _linear(model.lm_head, int8=True) if int8 else model.lm_head


class StaticKVDecoder:
    """One generate call: K/V buffers (layers, B, kv_heads, prompt_len + max_new_tokens, head_dim).

    attention_mask (B, W) marks real prompt tokens (left padding); position_ids (B, W) their positions.
    New tokens continue each row's positions; rows whose answer ended keep decoding garbage that the
    engine discards, so no per-step mask update is needed.
    """

    def __init__(self, plan: DecodePlan, attention_mask: Tensor, position_ids: Tensor, max_new_tokens: int) -> None:
        self.plan = plan
        b, w = attention_mask.shape
        device = attention_mask.device
        self.width, self.total = w, w + max_new_tokens
        steps = position_ids[:, -1:] + 1 + torch.arange(max_new_tokens, device=device)
        anchor = plan.embed.weight.new_empty(0)  # the rotary module reads only dtype and device from it
        cos, sin = plan.rotary(anchor, torch.cat([position_ids, steps], dim=1))   # (B, total, hd)
        # rotate_half(x) * sin == roll(x, hd/2) * sign * sin with sign -1 on the first half.
        half = self.plan.head_dim // 2
        sign = torch.ones(self.plan.head_dim, dtype=sin.dtype, device=device)
        sign[:half] = -1
        self.cos, self.sin = cos[:, :, None, :], (sin * sign)[:, :, None, :]  # (B, total, 1, hd)
        ones = torch.ones((b, max_new_tokens), dtype=torch.bool, device=device)
        self.key_ok = torch.cat([attention_mask.bool(), ones], dim=1)[:, None, None, :]  # (B, 1, 1, total)
        # Additive form for decode attention, one row per (batch row, KV head) as its batched matmul
        # sees them: 0 where a key may be attended, -inf on left padding.
        kv = plan.kv_heads
        self.key_bias = torch.zeros((b, kv, 1, self.total), dtype=torch.float32, device=device).masked_fill(
            ~self.key_ok, float("-inf")).view(b * kv, 1, self.total)
        self.k: Tensor | None = None  # allocated on first write, in the dtype the projections produce
        self.v: Tensor | None = None

    def select(self, keep: Tensor) -> None:
        """Keep only batch rows `keep` (rows that are still generating)."""
        self.k, self.v = self.k[:, keep], self.v[:, keep]
        self.cos, self.sin = self.cos[keep], self.sin[keep]
        kv = self.plan.kv_heads
        self.key_ok = self.key_ok[keep]
        self.key_bias = self.key_bias.view(-1, kv, 1, self.total)[keep].view(-1, 1, self.total)

    def prefill(self, input_ids: Tensor, n: int = 1) -> Tensor:
        """Prompt pass over (B, W) left-padded ids; returns the next-token logits (B, V).

        n: rows come in groups of n copies of one prompt (n samples per prompt); only the first row
        of each group runs the forward and its K/V are copied to the others (n times less prefill).
        """
        b, w = input_ids.shape
        first = slice(None, None, n)
        causal = torch.ones((w, w), dtype=torch.bool, device=input_ids.device).tril()
        # Every query also sees itself, so padding rows never attend to nothing (SDPA would give NaN,
        # and NaN in a padding position's V would leak through 0-weight attention into real rows).
        mask = (self.key_ok[first, :, :, :w] & causal) | torch.eye(w, dtype=torch.bool, device=input_ids.device)
        logits = self._forward(input_ids[first], 0, mask, rows=first)
        if n > 1:
            for cache in (self.k, self.v):
                groups = cache[:, :, :, :w].unflatten(1, (b // n, n))      # (L, B/n, n, KV, W, hd) view
                groups[:, :, 1:].copy_(groups[:, :, :1].expand_as(groups[:, :, 1:]))
            logits = logits.repeat_interleave(n, dim=0)
        return logits

    def step(self, tokens: Tensor, t: int) -> Tensor:
        """Feed new token number t (B,) of every live row; returns the next-token logits (B, V)."""
        col = self.width + t
        return self._forward(tokens[:, None], col, self.key_bias[..., : col + 1])

    def _forward(self, ids: Tensor, col: int, mask: Tensor | None, rows: slice = slice(None)) -> Tensor:
        """ids (b, S) for batch rows `rows` of the cache, written at columns col..col+S-1."""
        p = self.plan
        b, s = ids.shape
        end = col + s
        heads, kv, hd = p.heads, p.kv_heads, p.head_dim
        x = p.embed(ids)                                                    # (b, S, D)
        cos, sin = self.cos[rows, col:end], self.sin[rows, col:end]
        for i, (ln1, qkv, o_proj, ln2, gate_up, act, down) in enumerate(p.layers):
            y = qkv(ln1(x)).view(b, s, heads + 2 * kv, hd)
            qk = y[:, :, : heads + kv]
            qk = torch.addcmul(qk * cos, qk.roll(hd // 2, dims=-1), sin).to(y.dtype)  # rotary on q and k at once
            if self.k is None:
                shape = (len(p.layers), self.key_ok.shape[0], kv, self.total, hd)
                self.k = torch.empty(shape, dtype=y.dtype, device=y.device)
                self.v = torch.empty(shape, dtype=y.dtype, device=y.device)
            self.k[i, rows, :, col:end] = qk[:, :, heads:].transpose(1, 2)
            self.v[i, rows, :, col:end] = y[:, :, heads + kv:].transpose(1, 2)
            keys, values = self.k[i, rows, :, :end], self.v[i, rows, :, :end]
            if s == 1:
                # Decode: query heads grouped per KV head (HF's repeat_kv order), so K/V are never copied;
                # plain matmul attention, because for one query CPU SDPA kernels cost ~10x more here.
                # (B*KV) batched matmuls; the key bias (left padding) is added inside baddbmm.
                q = qk[:, 0, :heads].reshape(b * kv, heads // kv, hd) * p.scaling
                keys_t = keys.reshape(b * kv, end, hd).transpose(1, 2)
                scores = torch.baddbmm(mask.to(q.dtype), q, keys_t)                  # (B*KV, rep, T)
                attn = torch.bmm(torch.softmax(scores, dim=-1, dtype=torch.float32).to(values.dtype),
                                 values.reshape(b * kv, end, hd)).reshape(b, 1, heads * hd)
            else:
                q = qk[:, :, :heads].transpose(1, 2)
                if _GQA_SDPA:
                    o = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=p.scaling,
                                                       enable_gqa=heads != kv)
                else:  # torch < 2.5: repeat K/V heads explicitly
                    rep = heads // kv
                    o = F.scaled_dot_product_attention(q, keys.repeat_interleave(rep, 1),
                                                       values.repeat_interleave(rep, 1), attn_mask=mask,
                                                       scale=p.scaling)
                attn = o.transpose(1, 2).reshape(b, s, heads * hd)
            x = x + o_proj(attn)
            gate, up = gate_up(ln2(x)).chunk(2, dim=-1)
            x = x + down(act(gate) * up)
        return p.lm_head(p.norm(x[:, -1:]))[:, 0]
