"""`LLMAgent`: one heterogeneous agent — a trainable causal LM, its tokenizer, chat template and engine.

Everything the trainer needs goes through token ids in THIS agent's vocabulary: `generate` samples
with the agent's own template, `encode` re-tokenizes any agent's response text for this agent
(cross-tokenizer scoring, HACPO.md §10.6), and `token_logprobs` / `sequence_logprobs` score them.
"""

from __future__ import annotations

import json
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal, Sequence, Union

import torch
from torch import Tensor, nn

from agents.batching import EncodedBatch, join_prompt_response, micro_batches
from agents.engine import RolloutEngine, SamplingParams, TransformersEngine
from agents.memory import PeakMemory
from agents.shared_prefix import shared_prefix_logits, split_shared_prefix

Prompt = Union[str, list[dict]]
Precision = Literal["fp32", "bf16"]
GenerationPrecision = Literal["fp32", "bf16", "int8"]
ENGINES = ("transformers", "vllm")  # "vllm": the optional extra (agents/vllm_engine.py)


@dataclass(frozen=True)
class Sample:
    """One sampled response.

    text: decoded with special tokens skipped. token_ids: the generated ids, INCLUDING the terminal
    EOS when the response stopped on one. logprobs: per generated token, log softmax of the raw
    logits (temperature 1, no top-p) — not the adjusted distribution actually sampled from — of the
    model that sampled: the agent's own model by default, the int8 rollout copy with
    generation_precision="int8" (then they differ from `sequence_logprobs` by the quantization error).
    finished: True if it ended with EOS, False if cut at max_new_tokens.
    """

    text: str
    token_ids: list[int]
    logprobs: list[float]
    finished: bool

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)


@dataclass(frozen=True)
class SequenceLogprobs:
    """Per-sequence response log-probs. token_logprobs[i]: (T_i,) tensor; mean/sum/num_tokens: (B,)."""

    token_logprobs: list[Tensor]
    mean: Tensor
    sum: Tensor
    num_tokens: Tensor


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def default_dtype(device: torch.device) -> torch.dtype:
    # bf16 weights on GPUs; fp32 on CPU, where bf16 speed comes from autocast (precision="bf16").
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def _eos_ids(tokenizer, generation_config) -> list[int]:
    ids: list[int] = []
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    extra = getattr(generation_config, "eos_token_id", None) if generation_config is not None else None
    for i in ([extra] if isinstance(extra, int) else (extra or [])):
        if int(i) not in ids:
            ids.append(int(i))
    return ids


def _prompt_key(prompt: Prompt) -> tuple[bool, str]:
    """Equal for equal prompts (a str, or messages compared by content)."""
    if isinstance(prompt, str):
        return True, prompt
    return False, json.dumps(prompt, sort_keys=True, default=repr)


class LLMAgent:
    """A trainable causal LM agent.

    precision="bf16" runs scoring and generation forwards under bf16 autocast while the weights
    (what the optimizer updates) stay fp32; "fp32" (the CPU default) is exact.
    generation_precision overrides the precision used by `generate` only (a fast approximate
    sampler; the trainer re-scores behaviour log-probs with the training model, and evaluates under
    `model_precision_sampling`): "int8" samples from an int8 dynamically quantized copy of the model
    (CPU only), rebuilt automatically whenever the weights change; faster for models whose matmuls
    dominate (SmolLM2-135M), not for the tiny zoo models (docs/performance.md).
    """

    def __init__(self, model: nn.Module, tokenizer, *, name: str, precision: Precision = "fp32",
                 generation_precision: GenerationPrecision | None = None, engine: str = "transformers") -> None:
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; available: {', '.join(ENGINES)}")
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
        if generation_precision not in (None, "fp32", "bf16", "int8"):
            raise ValueError(f"generation_precision must be 'fp32', 'bf16' or 'int8', got {generation_precision!r}")
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError(f"tokenizer of {name!r} has no chat template; set tokenizer.chat_template "
                             "(a Jinja string) before building the agent")
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.precision: Precision = precision
        self.eos_token_ids = _eos_ids(tokenizer, getattr(model, "generation_config", None))
        if not self.eos_token_ids:
            raise ValueError(f"{name!r}: tokenizer has no eos_token; set tokenizer.eos_token")
        self.pad_token_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None
                                else self.eos_token_ids[0])
        gen_prec = generation_precision or precision
        if engine == "vllm":
            if gen_prec == "int8":
                raise ValueError("generation_precision='int8' is the transformers engine's; with engine='vllm' "
                                 "use 'fp32' or 'bf16'")
            from agents.vllm_engine import VLLMEngine

            self.engine: RolloutEngine = VLLMEngine(
                model, tokenizer, eos_token_ids=self.eos_token_ids, pad_token_id=self.pad_token_id,
                dtype="bfloat16" if gen_prec == "bf16" else "float32")
        else:
            self.engine = TransformersEngine(
                model, eos_token_ids=self.eos_token_ids, pad_token_id=self.pad_token_id,
                autocast_dtype=torch.bfloat16 if gen_prec == "bf16" else None, int8=gen_prec == "int8")
        self.peak_memory_bytes = 0
        # Score rows that share a prompt with one forward of that prompt (exact; off = plain forward).
        self.share_prompt_forward = True

    @contextmanager
    def model_precision_sampling(self) -> Iterator[None]:
        """Inside the block `generate` samples from the training weights at `precision`, not through
        an approximate `generation_precision` sampler (int8, or bf16 under fp32 training), so held-out
        evaluation measures the model that is trained and deployed rather than its rollout copy.
        Nothing changes when the two precisions agree, or for the vLLM engine (it samples from the
        same weights, synced after every update)."""
        engine = self.engine
        autocast = torch.bfloat16 if self.precision == "bf16" else None
        if not isinstance(engine, TransformersEngine) or (not engine.int8 and engine.autocast_dtype == autocast):
            yield
            return
        # a fresh engine per block: a cached one would miss weight writes that leave version counters
        # alone (fused AdamW), since the trainer invalidates only the rollout engine after updates
        self.engine = TransformersEngine(self.model, eos_token_ids=self.eos_token_ids,
                                         pad_token_id=self.pad_token_id, autocast_dtype=autocast)
        try:
            yield
        finally:
            self.engine = engine

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, *, name: str | None = None,
                        device: str | torch.device | None = None, dtype: torch.dtype | None = None,
                        engine: str = "transformers", precision: Precision = "fp32",
                        generation_precision: GenerationPrecision | None = None, **model_kwargs) -> "LLMAgent":
        """Load a plain Hugging Face directory or hub id (see `agents.load` for zoo names)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        dev = torch.device(device) if device is not None else default_device()
        dt = dtype or default_dtype(dev)
        model = AutoModelForCausalLM.from_pretrained(str(name_or_path), dtype=dt, **model_kwargs).to(dev)
        tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
        return cls(model, tokenizer, name=name or Path(str(name_or_path)).name, precision=precision,
                   generation_precision=generation_precision, engine=engine)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    # -- prompts and sampling -----------------------------------------------------------------
    def format_prompt(self, prompt: Prompt) -> str:
        """Chat-template a prompt (a str is one user message) with the generation prompt appended."""
        if isinstance(prompt, str):
            messages = [{"role": "user", "content": prompt}]
        elif isinstance(prompt, list) and all(isinstance(m, dict) and "role" in m and "content" in m for m in prompt):
            messages = prompt
        else:
            raise TypeError("a prompt must be a str or a list of {'role': ..., 'content': ...} messages, "
                            f"got {type(prompt).__name__}")
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def prompt_token_ids(self, prompts: Sequence[Prompt]) -> list[list[int]]:
        # Training batches repeat each prompt G times per agent: template and tokenize it once.
        slot: dict[tuple[bool, str], int] = {}
        first = [slot.setdefault(_prompt_key(p), i) for i, p in enumerate(prompts)]
        unique = list(slot.values())  # first occurrences, in order
        texts = [self.format_prompt(prompts[i]) for i in unique]
        ids = dict(zip(unique, self.tokenizer(texts, add_special_tokens=False)["input_ids"]))
        return [list(ids[i]) for i in first]

    def generate(self, prompts: Sequence[Prompt], n: int = 1, temperature: float = 1.0, top_p: float = 1.0,
                 max_new_tokens: int = 128, seed: int | None = None, greedy: bool = False,
                 min_new_tokens: int = 0, max_prompt_tokens: int | None = None) -> list[list[Sample]]:
        """Sample n responses per prompt in one batched decode; returns [len(prompts)][n] Samples.
        max_prompt_tokens: a longer templated prompt keeps its last this-many tokens, as `encode`
        cuts it, so a trainer samples from the very context it then trains on."""
        params = SamplingParams(n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                                seed=seed, greedy=greedy, min_new_tokens=min_new_tokens)
        ids = self.prompt_token_ids(prompts)
        if max_prompt_tokens is not None:
            ids = [p[len(p) - max_prompt_tokens:] if len(p) > max_prompt_tokens else p for p in ids]
        was_training = self.model.training
        self.model.eval()  # dropout off while sampling
        try:
            with PeakMemory(self.device) as mem:
                completions = self.engine.generate(ids, params)
        finally:
            self.model.train(was_training)
        self.peak_memory_bytes = mem.peak_bytes
        texts = self.tokenizer.batch_decode([c.token_ids for c in completions], skip_special_tokens=True)
        flat = [Sample(text=t, token_ids=c.token_ids, logprobs=c.logprobs, finished=c.finished)
                for t, c in zip(texts, completions)]
        return [flat[i * n:(i + 1) * n] for i in range(len(prompts))]

    # -- encoding and scoring -----------------------------------------------------------------
    def encode(self, prompts: Sequence[Prompt], *, responses: Sequence[str] | None = None,
               response_ids: Sequence[Sequence[int]] | None = None, append_eos: Sequence[bool] | bool = False,
               max_prompt_tokens: int | None = None, max_response_tokens: int | None = None) -> EncodedBatch:
        """Chat-template the prompts and append responses in THIS agent's vocabulary.

        responses: text from any agent, tokenized here without special tokens (cross samples).
        response_ids: this agent's own sampled ids (self samples; if they already end with EOS,
        pass append_eos=False). append_eos[i]: append this agent's EOS after response i.
        With neither, rows hold only the prompt and nothing is scored.
        """
        if responses is not None and response_ids is not None:
            raise ValueError("pass responses (text) or response_ids (this agent's ids), not both")
        if responses is not None:
            if len(responses) != len(prompts):
                raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
            resp = [list(r) for r in self.tokenizer(list(responses), add_special_tokens=False)["input_ids"]] \
                if responses else []
        elif response_ids is not None:
            if len(response_ids) != len(prompts):
                raise ValueError(f"{len(prompts)} prompts but {len(response_ids)} response_ids")
            resp = [list(r) for r in response_ids]
        else:
            resp = [[] for _ in prompts]
        eos = [append_eos] * len(prompts) if isinstance(append_eos, bool) else list(append_eos)
        return join_prompt_response(self.prompt_token_ids(prompts), resp, append_eos=eos,
                                    eos_id=self.eos_token_ids[0], pad_id=self.pad_token_id,
                                    max_prompt_tokens=max_prompt_tokens, max_response_tokens=max_response_tokens)

    def token_logprobs(self, batch: EncodedBatch, *, model: torch.nn.Module | None = None) -> Tensor:
        """(B, L) log pi(token_t | tokens before t) aligned with input_ids, 0 where response_mask is 0.

        One forward, or where rows share a prompt one forward of each distinct prompt plus one of the
        responses (`agents.shared_prefix`; same values). The caller chunks, e.g. with `micro_batches`.
        Carries grad iff grad is enabled. `model`: score with another model of this architecture
        and tokenizer (a frozen KL reference) through the same positions and padding; None = own.
        """
        model = self.model if model is None else model
        batch = batch.to(self.device)
        b, length = batch.input_ids.shape
        mask = batch.response_mask[:, 1:]
        if batch.response_mask[:, 0].any():
            raise ValueError("a response token sits at position 0 with no prompt before it; prompts must be non-empty")
        out = torch.zeros((b, length), dtype=torch.float32, device=self.device)
        if not mask.any():
            return out
        split = split_shared_prefix(batch) if self.share_prompt_forward else None
        with PeakMemory(self.device) as mem, self._autocast():
            logits = shared_prefix_logits(model, split) if split is not None else None
            if logits is not None:  # each distinct prompt ran once (agents/shared_prefix.py)
                scored = split.suffix_scored[:, 1:]
                sel = logits[:, :-1][scored].float()  # (N, V): rows predicting response tokens
                targets = split.suffix_ids[:, 1:][scored]
            else:
                # Only positions from the first response token's predecessor onward need logits.
                first = int(batch.response_mask.any(dim=0).nonzero()[0].item())
                logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                                position_ids=batch.position_ids, logits_to_keep=length - first + 1).logits
                sel = logits[:, :-1][mask[:, first - 1:]].float()
                targets = batch.input_ids[:, first:][mask[:, first - 1:]]
            lp = sel.gather(1, targets[:, None]).squeeze(1) - torch.logsumexp(sel, dim=-1)
        self.peak_memory_bytes = mem.peak_bytes
        return torch.cat([out[:, :1], out[:, 1:].masked_scatter(mask, lp)], dim=1)

    def micro_batches(self, batch: EncodedBatch, token_budget: int = 8192) -> Iterator[tuple[list[int], EncodedBatch]]:
        """(row indices, sub-batch) chunks of about token_budget padded tokens, sorted by length."""
        return micro_batches(batch, token_budget)

    def sequence_logprobs(self, prompts: Sequence[Prompt], *, responses: Sequence[str] | None = None,
                          response_ids: Sequence[Sequence[int]] | None = None,
                          append_eos: Sequence[bool] | bool = False, grad: bool = False,
                          token_budget: int = 8192, max_prompt_tokens: int | None = None,
                          max_response_tokens: int | None = None) -> SequenceLogprobs:
        """Score responses (chunked by token_budget). mean is over THIS agent's response tokens.

        With grad=True every chunk's graph is kept until the caller's backward; for large batches
        call `token_logprobs` per micro-batch and backward each chunk instead.
        """
        batch = self.encode(prompts, responses=responses, response_ids=response_ids, append_eos=append_eos,
                            max_prompt_tokens=max_prompt_tokens, max_response_tokens=max_response_tokens)
        rows: list[Tensor | None] = [None] * len(batch)
        peak = 0
        with torch.enable_grad() if grad else torch.no_grad():
            for idx, mb in micro_batches(batch, token_budget):
                lp = self.token_logprobs(mb)
                peak = max(peak, self.peak_memory_bytes)
                rmask = mb.response_mask.to(lp.device)
                for j, i in enumerate(idx):
                    rows[i] = lp[j][rmask[j]]
            done = [r for r in rows if r is not None]
            sums = torch.stack([r.sum() for r in done])
            counts = torch.tensor([r.numel() for r in done], dtype=torch.long, device=sums.device)
            mean = sums / counts.clamp(min=1)
        self.peak_memory_bytes = peak
        return SequenceLogprobs(token_logprobs=done, mean=mean, sum=sums, num_tokens=counts)

    # -- persistence --------------------------------------------------------------------------
    def save_pretrained(self, path: str | Path) -> Path:
        """Write a plain HF directory (safetensors, config, tokenizer, chat template, EOS ids)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        gen_cfg = getattr(self.model, "generation_config", None)
        if gen_cfg is not None:
            gen_cfg.eos_token_id = self.eos_token_ids if len(self.eos_token_ids) > 1 else self.eos_token_ids[0]
            gen_cfg.pad_token_id = self.pad_token_id
        self.model.config.eos_token_id = self.eos_token_ids[0]
        self.model.config.pad_token_id = self.pad_token_id
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        return path

    def __repr__(self) -> str:
        params = sum(p.numel() for p in self.model.parameters())
        return (f"LLMAgent(name={self.name!r}, arch={type(self.model).__name__}, params={params:,}, "
                f"vocab={len(self.tokenizer)}, device={self.device}, precision={self.precision})")
