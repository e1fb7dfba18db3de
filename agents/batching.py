"""Token batches for scoring and training: encode prompt+response pairs, pad, split by token budget.

Scoring batches are RIGHT-padded (prompt, response, then pads). Under a causal mask a real token
never attends to a later pad, so right padding cannot change any real token's log-prob; positions
are still passed explicitly (`position_ids`, 0-based over real tokens) so a model never depends on
its own padding heuristics. Generation uses left padding instead (see `engine.py`); the agreement
test checks that both paths give the same log-probs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch import Tensor


@dataclass(frozen=True)
class EncodedBatch:
    """A padded batch of (prompt, response) token sequences.

    input_ids: (B, L) long. attention_mask: (B, L) long, 1 on real tokens.
    response_mask: (B, L) bool, True on the response tokens that are scored/trained.
    position_ids: (B, L) long, 0-based position of each real token (0 on pads).
    """

    input_ids: Tensor
    attention_mask: Tensor
    response_mask: Tensor
    position_ids: Tensor

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def num_response_tokens(self) -> Tensor:
        """(B,) long: number of scored response tokens per row."""
        return self.response_mask.sum(dim=1).long()

    @property
    def lengths(self) -> Tensor:
        """(B,) long: number of real (unpadded) tokens per row."""
        return self.attention_mask.sum(dim=1).long()

    def select(self, indices: Sequence[int] | Tensor) -> "EncodedBatch":
        """Rows `indices`, with the padding columns no selected row needs trimmed off."""
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.input_ids.device)
        width = int(self.attention_mask[idx].sum(dim=1).max().item()) if len(idx) else 0
        return EncodedBatch(
            input_ids=self.input_ids[idx, :width],
            attention_mask=self.attention_mask[idx, :width],
            response_mask=self.response_mask[idx, :width],
            position_ids=self.position_ids[idx, :width],
        )

    def to(self, device: torch.device | str) -> "EncodedBatch":
        return EncodedBatch(*(t.to(device) for t in
                              (self.input_ids, self.attention_mask, self.response_mask, self.position_ids)))


def concat(batches: Sequence[EncodedBatch]) -> EncodedBatch:
    """Stack right-padded batches row-wise, padding each to the widest (pads: id 0, masked out)."""
    width = max(b.input_ids.shape[1] for b in batches)

    def pad(t: Tensor, value) -> Tensor:
        return torch.nn.functional.pad(t, (0, width - t.shape[1]), value=value)

    return EncodedBatch(*(torch.cat([pad(getattr(b, f), fill) for b in batches])
                          for f, fill in (("input_ids", 0), ("attention_mask", 0), ("response_mask", False),
                                          ("position_ids", 0))))


def pad_right(sequences: Sequence[Sequence[int]], response_starts: Sequence[int], pad_id: int) -> EncodedBatch:
    """Right-pad token sequences; tokens at index >= response_starts[i] form row i's response."""
    if not sequences:
        raise ValueError("cannot build an EncodedBatch from zero sequences; pass at least one prompt")
    width = max(len(s) for s in sequences)
    # One tensor from padded lists and masks by comparison: per-row tensor writes cost ~10 us each.
    input_ids = torch.tensor([[*s, *[pad_id] * (width - len(s))] for s in sequences], dtype=torch.long)
    cols = torch.arange(width)
    ends = torch.tensor([len(s) for s in sequences])[:, None]
    attention_mask = (cols < ends).long()
    response_mask = (cols >= torch.tensor(list(response_starts))[:, None]) & (cols < ends)
    position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0) * attention_mask
    return EncodedBatch(input_ids, attention_mask, response_mask, position_ids)


def join_prompt_response(
    prompt_ids: Sequence[Sequence[int]],
    response_ids: Sequence[Sequence[int]],
    *,
    append_eos: Sequence[bool],
    eos_id: int,
    pad_id: int,
    max_prompt_tokens: int | None = None,
    max_response_tokens: int | None = None,
) -> EncodedBatch:
    """Concatenate prompt and response ids per row and right-pad them.

    A prompt longer than `max_prompt_tokens` keeps its LAST tokens (the generation prompt and the
    question's end matter most). A response longer than `max_response_tokens` keeps its first
    tokens and then gets no EOS: it was cut, so it did not end.
    """
    if not (len(prompt_ids) == len(response_ids) == len(append_eos)):
        raise ValueError(f"got {len(prompt_ids)} prompts, {len(response_ids)} responses and "
                         f"{len(append_eos)} append_eos flags; pass one of each per row")
    sequences, starts = [], []
    for p, r, eos in zip(prompt_ids, response_ids, append_eos):
        p, r = list(p), list(r)
        if max_prompt_tokens is not None and len(p) > max_prompt_tokens:
            p = p[len(p) - max_prompt_tokens:]
        if eos:
            r = r + [eos_id]
        if max_response_tokens is not None and len(r) > max_response_tokens:
            r = r[:max_response_tokens]
        sequences.append(p + r)
        starts.append(len(p))
    return pad_right(sequences, starts, pad_id)


def micro_batches(batch: EncodedBatch, token_budget: int = 8192) -> Iterator[tuple[list[int], EncodedBatch]]:
    """Yield (row indices, sub-batch) chunks of at most ~`token_budget` padded tokens.

    Rows are sorted by length (longest first) so rows in one chunk have similar lengths and little
    padding; a single row longer than the budget still forms its own chunk.
    """
    if token_budget <= 0:
        raise ValueError(f"token_budget must be positive, got {token_budget}")
    lengths = batch.lengths.tolist()
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    chunk: list[int] = []
    for i in order:
        # Longest-first: the chunk's padded width is its first row's length.
        width = lengths[chunk[0]] if chunk else lengths[i]
        if chunk and (len(chunk) + 1) * width > token_budget:
            yield chunk, batch.select(chunk)
            chunk = []
        chunk.append(i)
    if chunk:
        yield chunk, batch.select(chunk)
