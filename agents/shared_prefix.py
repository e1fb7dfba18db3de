"""Score many responses to one prompt with ONE forward of that prompt (shared-prefix scoring).

In RL every prompt has G responses, and a plain forward over (prompt + response) rows runs each
prompt's tokens G times, forward and backward. Here every distinct prompt runs once: its per-layer
keys and values are indexed out to its rows (autograd sums their gradients back) and only the
responses run per row. The attention inputs are the same, so log-probs and gradients equal the
plain forward's up to float rounding (tests compare both). TRL's GRPOTrainer runs the plain forward.

The split keeps the prompt's LAST token in the per-row part, so every scored token's logit comes
from the per-row forward and the prompt forward needs no LM head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from agents.batching import EncodedBatch
from agents.engine import cache_keyword

MIN_SAVING = 0.9  # share only when the two forwards cover at most 90% of the plain forward's padded tokens


@dataclass(frozen=True)
class PrefixSplit:
    """A right-padded batch cut into distinct prefixes and per-row suffixes.

    prefix_*: (U, P) for the U distinct prefixes. owner: (B,) long, row -> its prefix.
    suffix_*: (B, S), the rest of each row from its split point on. suffix_scored: (B, S) bool, the
    batch's response_mask in suffix columns.
    """

    prefix_ids: Tensor
    prefix_mask: Tensor
    prefix_positions: Tensor
    owner: Tensor
    suffix_ids: Tensor
    suffix_mask: Tensor
    suffix_positions: Tensor
    suffix_scored: Tensor


def split_shared_prefix(batch: EncodedBatch) -> PrefixSplit | None:
    """Cut each row one token before its first response token; None unless that saves >= 10% of tokens.

    A row without response tokens is cut before its last token. None also when a row has fewer
    than 2 real tokens (nothing to share).
    """
    lengths = batch.lengths
    dev = batch.input_ids.device
    has_resp = batch.response_mask.any(dim=1)
    first_resp = batch.response_mask.float().argmax(dim=1)
    cut = torch.where(has_resp, first_resp - 1, lengths - 1)  # prefix length per row
    if len(batch) < 2 or bool((cut < 1).any()):
        return None
    width_p = int(cut.max())
    in_prefix = torch.arange(width_p, device=dev)[None, :] < cut[:, None]
    # -1 past each row's cut (no token id is negative), so equal prefixes are equal rows.
    prefixes, owner = torch.unique(batch.input_ids[:, :width_p].masked_fill(~in_prefix, -1), dim=0,
                                   return_inverse=True)
    suffix_len = lengths - cut
    width_s = int(suffix_len.max())
    if len(prefixes) * width_p + len(batch) * width_s > MIN_SAVING * len(batch) * batch.input_ids.shape[1]:
        return None  # too few tokens saved to pay for a second forward call

    prefix_mask = (prefixes >= 0).long()
    steps = torch.arange(width_s, device=dev)[None, :]
    real = steps < suffix_len[:, None]
    cols = torch.where(real, cut[:, None] + steps, 0)  # pads read column 0, masked out below
    suffix_mask = real.long()
    return PrefixSplit(
        prefix_ids=prefixes.clamp(min=0),  # pads: any id, masked out
        prefix_mask=prefix_mask,
        prefix_positions=torch.arange(width_p, device=dev)[None, :] * prefix_mask,
        owner=owner,
        suffix_ids=batch.input_ids.gather(1, cols) * suffix_mask,
        suffix_mask=suffix_mask,
        suffix_positions=cols * suffix_mask,
        suffix_scored=batch.response_mask.gather(1, cols) & real,
    )


def _prefix_cache(model: nn.Module, width: int):
    """An empty per-layer key/value cache the rows can share, or None where this is not exact.

    Needs transformers' layered `DynamicCache` (transformers >= 4.56); a sliding-window layer
    is fine only while the whole row fits its window (it would drop the oldest keys otherwise).
    Other cache kinds (recurrent, quantized, static) are not shared.
    """
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer, DynamicSlidingWindowLayer
    except ImportError:
        return None
    config = getattr(model, "config", None)
    if config is None or getattr(config, "is_encoder_decoder", False):
        return None
    try:
        cache = DynamicCache(config=config)
    except (TypeError, ValueError):
        return None
    if not hasattr(cache, "layers"):
        return None
    for layer in cache.layers:
        if type(layer) is DynamicSlidingWindowLayer:
            if width >= layer.sliding_window:
                return None
        elif type(layer) is not DynamicLayer:
            return None
    return cache


def shared_prefix_logits(model: nn.Module, split: PrefixSplit) -> Tensor | None:
    """(B, S, V) logits of every suffix position, or None where sharing is not exact for `model`.

    The prefix keys/values carry grad iff grad is enabled, so a backward through the logits
    reaches the prompt tokens' computation once per distinct prompt.
    """
    width = split.prefix_ids.shape[1] + split.suffix_ids.shape[1]
    cache = _prefix_cache(model, width)
    if cache is None:
        return None
    kw = cache_keyword(model)
    model(input_ids=split.prefix_ids, attention_mask=split.prefix_mask, position_ids=split.prefix_positions,
          use_cache=True, logits_to_keep=1, **{kw: cache})
    if cache.get_seq_length() != split.prefix_ids.shape[1]:
        return None  # the model ignored the cache: score the plain way
    cache.batch_select_indices(split.owner)
    mask = torch.cat([split.prefix_mask[split.owner], split.suffix_mask], dim=1)
    return model(input_ids=split.suffix_ids, attention_mask=mask, position_ids=split.suffix_positions,
                 use_cache=True, **{kw: cache}).logits
