"""A lean one-token decode step for Llama-family models (Llama, Qwen2, SmolLM2) with a static KV cache.

transformers' forward is built for every case (mask builders, cache objects that grow by
concatenation, GQA by copying K/V per head, output wrappers); for small models at batch 64 that
overhead, not arithmetic, bounds decoding speed. This step reuses the model's own submodules
(projections, RMSNorm, rotary embedding, MLP) so the numerics match the model's forward, keeps K/V in
preallocated buffers written in place, and lets SDPA broadcast K/V heads (`enable_gqa`).

Only decoding uses it: the prompt pass runs the model's own forward and its cache is copied in.
Architectures it does not cover fall back to the plain transformers loop in `engine.py`.
"""

from __future__ import annotations

import sys

import torch
from torch import Tensor, nn

SUPPORTED = ("LlamaForCausalLM", "Qwen2ForCausalLM")
_GQA_SDPA = tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 5)


def supports(model: nn.Module) -> bool:
    cfg = getattr(model, "config", None)
    return (type(model).__name__ in SUPPORTED and cfg is not None
            and not getattr(cfg, "use_sliding_window", False)
            and getattr(cfg, "attention_dropout", 0.0) == 0.0)


class StaticKVDecoder:
    """Holds K/V buffers of shape (layers, B, kv_heads, max_len, head_dim) for one generate call."""

    def __init__(self, model: nn.Module, prefill_cache, batch: int, prompt_len: int, max_new_tokens: int) -> None:
        self.model = model
        self.inner = model.model
        self.layers = list(self.inner.layers)
        attn = self.layers[0].self_attn
        self.head_dim = attn.head_dim
        self.heads = model.config.num_attention_heads
        self.kv_heads = model.config.num_key_value_heads
        self.scaling = attn.scaling
        self.rope = sys.modules[type(self.layers[0].self_attn).__module__].apply_rotary_pos_emb
        first = prefill_cache.layers[0].keys
        shape = (len(self.layers), batch, self.kv_heads, prompt_len + max_new_tokens, self.head_dim)
        self.k = torch.empty(shape, dtype=first.dtype, device=first.device)
        self.v = torch.empty(shape, dtype=first.dtype, device=first.device)
        for i, layer in enumerate(prefill_cache.layers):
            self.k[i, :, :, :prompt_len] = layer.keys
            self.v[i, :, :, :prompt_len] = layer.values

    def select(self, keep: Tensor) -> None:
        """Keep only batch rows `keep` (rows that are still generating)."""
        self.k = self.k[:, keep]
        self.v = self.v[:, keep]

    def step(self, tokens: Tensor, position_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """tokens (B,), position_ids (B, 1), attention_mask (B, T) with column T-1 the new token.

        Returns the next-token logits (B, V).
        """
        b, t = attention_mask.shape
        col = t - 1
        x = self.inner.embed_tokens(tokens[:, None])                    # (B, 1, D)
        cos, sin = self.inner.rotary_emb(x, position_ids)
        keep = attention_mask.bool()[:, None, None, :]                   # (B, 1, 1, T)
        for i, layer in enumerate(self.layers):
            attn = layer.self_attn
            h = layer.input_layernorm(x)
            q = attn.q_proj(h).view(b, 1, self.heads, self.head_dim).transpose(1, 2)      # (B, H, 1, hd)
            k = attn.k_proj(h).view(b, 1, self.kv_heads, self.head_dim).transpose(1, 2)   # (B, KV, 1, hd)
            v = attn.v_proj(h).view(b, 1, self.kv_heads, self.head_dim).transpose(1, 2)
            q, k = self.rope(q, k, cos, sin)
            self.k[i, :, :, col] = k[:, :, 0]
            self.v[i, :, :, col] = v[:, :, 0]
            keys, values = self.k[i, :, :, :t], self.v[i, :, :, :t]
            if _GQA_SDPA:
                o = torch.nn.functional.scaled_dot_product_attention(
                    q, keys, values, attn_mask=keep, scale=self.scaling, enable_gqa=self.heads != self.kv_heads)
            else:  # torch < 2.5: repeat K/V heads explicitly
                rep = self.heads // self.kv_heads
                o = torch.nn.functional.scaled_dot_product_attention(
                    q, keys.repeat_interleave(rep, 1), values.repeat_interleave(rep, 1), attn_mask=keep,
                    scale=self.scaling)
            x = x + attn.o_proj(o.transpose(1, 2).reshape(b, 1, self.heads * self.head_dim))
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        return self.model.lm_head(self.inner.norm(x))[:, 0]
