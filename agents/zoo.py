"""The offline model zoo: tiny heterogeneous agents built in-process, warm-started and cached.

Each zoo agent differs from the others in architecture (Llama, Qwen2, GPT-NeoX), tokenizer
(byte-level BPE with split digits, character-level, byte-level BPE with merged numbers, trained
offline with `tokenizers` on the task's training text), chat template, and size. A short
deterministic SFT on the warm-start task's TRAINING split gives each a non-trivial but imperfect
accuracy, so RL has signal both ways. Results are cached under
`$HACRL_CACHE/zoo/<name>-<hash>/` (default `~/.cache/hacrl/zoo/`) as plain HF directories.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import string
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, GPTNeoXConfig, LlamaConfig, PreTrainedTokenizerFast, Qwen2Config

from agents.llm import LLMAgent
from agents.zoo_task import TASK_KEY, WARMSTART_ENV_ID, WARMSTART_TASK_KWARGS, is_correct, target_response, task_problems

ZOO_VERSION = 2  # bump when building code changes what a cached agent would contain

LLAMA_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>\n{% endfor %}"
                  "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
CHATML_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                   "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
NEOX_TEMPLATE = ("{% for m in messages %}{% if m['role'] == 'assistant' %}### Answer: {{ m['content'] }}<|endoftext|>\n"
                 "{% elif m['role'] == 'user' %}### Question: {{ m['content'] }}\n{% else %}{{ m['content'] }}\n{% endif %}"
                 "{% endfor %}{% if add_generation_prompt %}### Answer: {% endif %}")


@dataclass(frozen=True)
class ZooSpec:
    """Everything that determines a zoo agent (its hash keys the cache)."""

    arch: str                   # "llama" | "qwen2" | "gpt_neox"
    tokenizer: str              # "bpe_split_digits" | "byte_char" | "bpe"
    vocab_size: int             # BPE target size (ignored for "byte_char")
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    chat_template: str
    specials: tuple[str, ...]   # special tokens; eos and pad are among them
    eos: str
    pad: str
    sft_steps: int
    sft_lr: float
    sft_batch: int = 32
    target_style: str = "answer"  # SFT target format, see zoo_task.target_response
    seed: int = 0
    extra: dict = field(default_factory=dict)
    # Which training problems the warm start sees (agents.zoo_task.SUBSETS): "all", or one kind
    # ("add", "sub", "short", "long") to give an agent a skill the others lack. "all" stays out of
    # the cache key, so agents cached before this field existed keep their directories.
    sft_subset: str = "all"


ZOO: dict[str, ZooSpec] = {
    "tiny-llama-bpe": ZooSpec(
        arch="llama", tokenizer="bpe_split_digits", vocab_size=384, hidden=128, layers=3, heads=4, kv_heads=2,
        intermediate=352, chat_template=LLAMA_TEMPLATE, specials=("</s>", "<pad>", "<|user|>", "<|assistant|>", "<|system|>"),
        eos="</s>", pad="<pad>", sft_steps=250, sft_lr=3e-3, target_style="steps", seed=1),
    "tiny-qwen2-char": ZooSpec(
        arch="qwen2", tokenizer="byte_char", vocab_size=0, hidden=96, layers=2, heads=4, kv_heads=2,
        intermediate=256, chat_template=CHATML_TEMPLATE, specials=("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
        eos="<|im_end|>", pad="<|endoftext|>", sft_steps=700, sft_lr=6e-3, target_style="steps", seed=2),
    "tiny-neox-bpe": ZooSpec(
        arch="gpt_neox", tokenizer="bpe", vocab_size=512, hidden=160, layers=2, heads=4, kv_heads=4,
        intermediate=512, chat_template=NEOX_TEMPLATE, specials=("<|endoftext|>", "<|padding|>"),
        eos="<|endoftext|>", pad="<|padding|>", sft_steps=300, sft_lr=3e-3, target_style="steps", seed=3),
}
# Skill-split variants (configs/skill_split.yaml): the same architectures and tokenizers as above,
# warm-started on complementary halves of the training split, so each solves problems the other
# cannot (measured per kind in docs/agents.md, bench/skill_split.py).
ZOO["tiny-llama-bpe-add"] = replace(ZOO["tiny-llama-bpe"], sft_subset="add", sft_steps=250)
ZOO["tiny-qwen2-char-sub"] = replace(ZOO["tiny-qwen2-char"], sft_subset="sub", sft_steps=700)


def spec_hash(spec: ZooSpec) -> str:
    fields = asdict(spec)
    if fields["sft_subset"] == "all":  # the key of every zoo agent built before the field existed
        del fields["sft_subset"]
    key = dict(fields, zoo_version=ZOO_VERSION, env=WARMSTART_ENV_ID, task=WARMSTART_TASK_KWARGS,
               source=TASK_KEY)
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def cache_root() -> Path:
    base = os.environ.get("HACRL_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "hacrl") / "zoo"


def tokenizer_corpus(limit: int = 2000) -> list[str]:
    """Offline text to train tokenizers on: train prompts + targets, digits and operators."""
    problems = task_problems("train", limit=limit)
    extra = [string.digits, "+ - * / = ( ) #### -", string.ascii_letters, string.punctuation]
    return [p.prompt for p in problems] + [target_response(p) for p in problems] + extra


def build_tokenizer(spec: ZooSpec, corpus: list[str]) -> PreTrainedTokenizerFast:
    if spec.tokenizer == "byte_char":
        # One token per UTF-8 byte (GPT-2's printable byte alphabet, no merges): a character-level
        # vocabulary for ASCII text that still round-trips any text another agent writes. It is
        # built the way a byte-level BPE is stored (vocab + empty merges + ByteLevel), because
        # transformers >= 5 rebuilds a Qwen2 checkpoint's tokenizer from vocab and merges with
        # Qwen2's own byte-level pipeline on AutoTokenizer.from_pretrained: a plain character
        # BPE saved next to a qwen2 config came back dropping every space.
        alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
        tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(alphabet)}, merges=[]))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.add_special_tokens(list(spec.specials))
        unk = None
    elif spec.tokenizer in ("bpe", "bpe_split_digits"):
        tok = Tokenizer(models.BPE())
        byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
                             if spec.tokenizer == "bpe_split_digits" else byte_level)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=spec.vocab_size, special_tokens=list(spec.specials),
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        tok.train_from_iterator(corpus, trainer)
        unk = None
    else:
        raise ValueError(f"unknown zoo tokenizer kind {spec.tokenizer!r}")
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=spec.eos, pad_token=spec.pad, unk_token=unk,
                                 additional_special_tokens=[s for s in spec.specials if s not in (spec.eos, spec.pad)])
    hf.chat_template = spec.chat_template
    return hf


def build_model(spec: ZooSpec, tokenizer: PreTrainedTokenizerFast) -> torch.nn.Module:
    common = dict(vocab_size=len(tokenizer), hidden_size=spec.hidden, num_hidden_layers=spec.layers,
                  num_attention_heads=spec.heads, intermediate_size=spec.intermediate, max_position_embeddings=512,
                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                  bos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True, **spec.extra)
    if spec.arch == "llama":
        config = LlamaConfig(num_key_value_heads=spec.kv_heads, **common)
    elif spec.arch == "qwen2":
        config = Qwen2Config(num_key_value_heads=spec.kv_heads, **common)
    elif spec.arch == "gpt_neox":
        config = GPTNeoXConfig(**common)
    else:
        raise ValueError(f"unknown zoo architecture {spec.arch!r}")
    config._attn_implementation = "sdpa"
    torch.manual_seed(spec.seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def build_untrained(name: str, *, corpus: list[str] | None = None, device: str | None = None) -> LLMAgent:
    """A zoo agent with random weights (fast; for tests that need no warm start)."""
    spec = _spec(name)
    tokenizer = build_tokenizer(spec, corpus if corpus is not None else tokenizer_corpus())
    model = build_model(spec, tokenizer)
    if device is not None:
        model = model.to(device)
    return LLMAgent(model, tokenizer, name=name)


def warm_start(agent: LLMAgent, spec: ZooSpec, *, steps: int | None = None, log_every: int = 0) -> dict:
    """Deterministic SFT on the task's training split (only its `spec.sft_subset` kind of problems);
    returns {"steps", "final_loss", "seconds"}."""
    problems = task_problems("train", subset=spec.sft_subset)
    gen = torch.Generator().manual_seed(spec.seed)
    torch.manual_seed(spec.seed)
    batch = agent.encode([p.prompt for p in problems], responses=[target_response(p, spec.target_style) for p in problems],
                         append_eos=True)
    opt = torch.optim.AdamW(agent.model.parameters(), lr=spec.sft_lr, weight_decay=0.01, betas=(0.9, 0.98))
    steps = spec.sft_steps if steps is None else steps
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(  # linear warmup then linear decay to 10%
        opt, lambda s: min((s + 1) / warmup, max(0.1, 1 - (s - warmup) / max(1, steps - warmup))))
    agent.model.train()
    # The plain forward keeps the built models bit-identical to those every published result used
    # (shared-prefix scoring rounds differently, and 250-700 SFT steps amplify that); SFT batches
    # of distinct problems rarely share a prompt, so sharing would save nothing here.
    sharing, agent.share_prompt_forward = agent.share_prompt_forward, False
    start, loss_value = time.perf_counter(), float("nan")
    for step in range(steps):
        idx = torch.randint(len(batch), (spec.sft_batch,), generator=gen)
        mb = batch.select(idx)
        lp = agent.token_logprobs(mb)
        loss = -lp.sum() / mb.num_response_tokens.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(agent.model.parameters(), 1.0)
        opt.step()
        sched.step()
        loss_value = float(loss.detach())
        if log_every and step % log_every == 0:
            print(f"[zoo] {agent.name} step {step} loss {loss_value:.3f}", flush=True)
    agent.model.eval()
    agent.share_prompt_forward = sharing
    return {"steps": steps, "final_loss": loss_value, "seconds": time.perf_counter() - start}


def evaluate(agent: LLMAgent, *, num_problems: int = 200, greedy: bool = True, seed: int = 0,
             max_new_tokens: int = 32, subset: str = "all") -> float:
    """Accuracy on the first `num_problems` held-out ("test") problems (of kind `subset`)."""
    problems = task_problems("test", limit=num_problems, subset=subset)
    samples = agent.generate([p.prompt for p in problems], n=1, greedy=greedy, seed=seed, max_new_tokens=max_new_tokens)
    return sum(is_correct(s[0].text, p.answer) for s, p in zip(samples, problems)) / len(problems)


def _spec(name: str) -> ZooSpec:
    if name not in ZOO:
        raise KeyError(f"unknown zoo agent {name!r}; available: {', '.join(ZOO)}")
    return ZOO[name]


def zoo_path(name: str) -> Path:
    return cache_root() / f"{name}-{spec_hash(_spec(name))}"


def load_zoo(zoo_name: str, *, device: str | torch.device | None = None, rebuild: bool = False,
             verbose: bool = True, **agent_kwargs) -> LLMAgent:
    """The warm-started zoo agent `zoo_name`, built (and cached atomically) if missing."""
    name = zoo_name
    spec = _spec(name)
    path = zoo_path(name)
    if rebuild and path.exists():
        shutil.rmtree(path)
    if not (path / "config.json").exists():
        if verbose:
            print(f"[zoo] building {name} (one-off warm start; cached at {path})", flush=True)
        agent = build_untrained(name)
        info = warm_start(agent, spec)
        info["greedy_accuracy"] = evaluate(agent)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=path.parent))
        agent.save_pretrained(tmp)
        (tmp / "zoo_info.json").write_text(json.dumps({"spec": asdict(spec), **info}, indent=2))
        try:
            os.rename(tmp, path)  # atomic: readers see a complete directory or none
        except OSError:  # another process finished first; its copy is equivalent
            shutil.rmtree(tmp, ignore_errors=True)
        if verbose:
            print(f"[zoo] {name}: {info['seconds']:.0f}s SFT, loss {info['final_loss']:.3f}, "
                  f"greedy held-out accuracy {info['greedy_accuracy']:.2f}", flush=True)
    agent_kwargs.setdefault("name", name)  # a caller may rename the agent (e.g. to its run role)
    return LLMAgent.from_pretrained(path, device=device, **agent_kwargs)
