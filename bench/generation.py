"""Generation throughput: our batched engine vs transformers' own `model.generate`.

Same model, same prompts, 8 prompts x 8 samples = 64 responses, every response forced to exactly
`--tokens` new tokens (EOS banned until then), temperature 1, top_p 1, no top-k, one timed run each
after a short warm-up. Rows:

  ours fp32          LLMAgent.generate, exact fp32 path (the default; what the agreement test checks)
  ours bf16          LLMAgent.generate with generation_precision="bf16" (bf16 autocast, fp32 weights)
  ours int8          LLMAgent.generate with generation_precision="int8" (int8 dynamically quantized
                     rollout copy; its one-off build per weight version is timed separately)
  hf generate fp32   model.generate on the same left-padded batch of 64
  hf generate bf16   the same under bf16 autocast (a like-for-like check of the bf16 row)
  hf per-prompt      model.generate once per prompt (num_return_sequences=8): the naive loop
  vllm fp32          LLMAgent.generate with engine="vllm" (in-process vLLM, fp32; needs the vllm
                     extra, run from its own venv; its start-up is timed separately)

Run: python bench/generation.py            (full; tiny zoo model + SmolLM2-135M if installed)
     python bench/generation.py --quick    (seconds-long smoke run)
     --methods "ours fp32,ours int8,hf generate fp32"   (only these rows; SmolLM2 rows take minutes)
     --device cuda                          (models on that device; default cpu. "ours int8" is CPU-only)
     --json rows.json                       (the table's rows as JSON too: bench/gpu_check.sh reads it)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

from agents import LLMAgent
from agents.zoo import build_untrained

PROMPTS = [f"State the final answer to the following arithmetic problem: {a} + {b} - {c} =\n"
           "Give the final answer after '####'." for a, b, c in
           [(3, 4, 1), (12, 9, 30), (7, 7, 7), (81, 2, 5), (5, 60, 14), (9, 1, 8), (44, 21, 3), (2, 98, 50)]]


def _hf_inputs(agent: LLMAgent, prompts: list[str], n: int) -> dict:
    agent.tokenizer.padding_side = "left"
    texts = [agent.format_prompt(p) for p in prompts for _ in range(n)]
    batch = agent.tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt")
    device = next(agent.model.parameters()).device
    return {k: v.to(device) for k, v in batch.items()}


def _hf_generate(agent: LLMAgent, inputs: dict, tokens: int, autocast: bool, num_return_sequences: int = 1) -> int:
    device_type = next(agent.model.parameters()).device.type
    ctx = (torch.autocast(device_type, dtype=torch.bfloat16) if autocast
           else torch.autocast(device_type, enabled=False))
    with torch.inference_mode(), ctx:
        out = agent.model.generate(**inputs, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                                   max_new_tokens=tokens, min_new_tokens=tokens,
                                   num_return_sequences=num_return_sequences,
                                   pad_token_id=agent.pad_token_id, eos_token_id=agent.eos_token_ids)
    return (out.shape[1] - inputs["input_ids"].shape[1]) * out.shape[0]


def bench_model(label: str, agent: LLMAgent, prompts: list[str], n: int, tokens: int,
                methods: set[str] | None = None) -> list[tuple]:
    agent.model.eval()
    fast = LLMAgent(agent.model, agent.tokenizer, name=agent.name, generation_precision="bf16")
    int8 = LLMAgent(agent.model, agent.tokenizer, name=agent.name, generation_precision="int8")
    inputs = _hf_inputs(agent, prompts, n)
    runs = {
        "ours fp32": lambda: sum(s.num_tokens for row in agent.generate(
            prompts, n=n, max_new_tokens=tokens, min_new_tokens=tokens, seed=0) for s in row),
        "ours bf16": lambda: sum(s.num_tokens for row in fast.generate(
            prompts, n=n, max_new_tokens=tokens, min_new_tokens=tokens, seed=0) for s in row),
        "ours int8": lambda: sum(s.num_tokens for row in int8.generate(
            prompts, n=n, max_new_tokens=tokens, min_new_tokens=tokens, seed=0) for s in row),
        "hf generate fp32": lambda: _hf_generate(agent, inputs, tokens, autocast=False),
        "hf generate bf16": lambda: _hf_generate(agent, inputs, tokens, autocast=True),
        "hf per-prompt fp32": lambda: sum(_hf_generate(agent, _hf_inputs(agent, [p], 1), tokens, autocast=False,
                                                       num_return_sequences=n) for p in prompts),
    }
    if methods is not None and "vllm fp32" in methods:  # opt-in: needs the vllm extra
        vllm = _vllm_agent(label, agent)
        if vllm is not None:
            runs["vllm fp32"] = lambda: sum(s.num_tokens for row in vllm.generate(
                prompts, n=n, max_new_tokens=tokens, min_new_tokens=tokens, seed=0) for s in row)
            start = time.perf_counter()
            warm_vllm = vllm.generate(prompts[:2], n=2, max_new_tokens=4, min_new_tokens=4, seed=0)
            print(f"{label:28s} vllm start + warm-up: {time.perf_counter() - start:.2f} s "
                  f"({len(warm_vllm)} prompts)", flush=True)
    runs = {k: v for k, v in runs.items() if methods is None or k in methods}
    # Warm-up (allocator, kernels, lazy imports) with a short run of each batched path; the first int8
    # call builds the quantized copy (what a trainer pays once per weight update), timed here.
    warm = lambda a: a.generate(prompts[:2], n=2, max_new_tokens=4, min_new_tokens=4, seed=0)  # noqa: E731
    if "ours fp32" in runs:
        warm(agent)
    if "ours bf16" in runs:
        warm(fast)
    if "ours int8" in runs:
        start = time.perf_counter()
        int8.generate(prompts[:1], n=1, max_new_tokens=1, seed=0)
        print(f"{label:28s} int8 build + 1-token generate: {time.perf_counter() - start:.2f} s", flush=True)
        warm(int8)
    if any(k.startswith("hf") for k in runs):
        _hf_generate(agent, _hf_inputs(agent, prompts[:2], 2), 4, autocast=False)
    rows = []
    for method, fn in runs.items():
        start = time.perf_counter()
        produced = fn()
        seconds = time.perf_counter() - start
        rows.append((label, method, produced, seconds, produced / seconds))
        print(f"{label:28s} {method:20s} {produced:6d} tok {seconds:8.2f} s {produced / seconds:9.0f} tok/s",
              flush=True)
    return rows


def _vllm_agent(label: str, agent: LLMAgent) -> LLMAgent | None:
    """The agent's model behind the vLLM engine, or None (with the reason printed)."""
    try:
        return LLMAgent(agent.model, agent.tokenizer, name=agent.name, engine="vllm")
    except (ImportError, ValueError) as e:  # no vLLM here, or a head size its CPU attention lacks
        print(f"{label:28s} vllm fp32 skipped: {str(e).splitlines()[0]}", flush=True)
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 prompts x 2 samples x 8 tokens")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--skip-smollm2", action="store_true")
    parser.add_argument("--skip-tiny", action="store_true")
    parser.add_argument("--methods", help="comma-separated row names to run (default: all)")
    parser.add_argument("--device", default="cpu", help="where the models run: cpu (default), cuda, cuda:1, ...")
    parser.add_argument("--json", help="also write the rows to this JSON file (list of {model, method, tokens, "
                        "seconds, tok_per_s})")
    parser.add_argument("--config-dir", help="bench a random-weight model built from this HF dir's config and "
                        "tokenizer instead of SmolLM2 (e.g. SmolLM2's dir without its weights)")
    args = parser.parse_args()
    prompts, n, tokens = (PROMPTS[:2], 2, 8) if args.quick else (PROMPTS, 8, args.tokens)
    where = (torch.cuda.get_device_name(torch.device(args.device)) if args.device.startswith("cuda")
             else platform.processor() or platform.machine())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus, {args.device}: "
          f"{where}; {len(prompts)} prompts x {n} x {tokens} tokens", flush=True)
    methods = set(args.methods.split(",")) if args.methods else None
    table = []
    # Untrained tiny zoo models: weights don't change speed, so no warm start (or task data) needed.
    corpus = PROMPTS * 4 + ["#### -12 0123456789 3+4=7, 7-2=5"]
    if not args.skip_tiny:
        tiny = build_untrained("tiny-qwen2-char", corpus=corpus, device=args.device)
        table += bench_model("tiny-qwen2-char (0.24M, 2L d96)", tiny, prompts, n, tokens, methods)
        tiny = build_untrained("tiny-llama-bpe", corpus=corpus, device=args.device)
        table += bench_model("tiny-llama-bpe (0.6M, 3L d128)", tiny, prompts, n, tokens, methods)
    if args.config_dir:  # same shapes, random weights: speed does not depend on the weights
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        config = AutoConfig.from_pretrained(args.config_dir)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).to(args.device)
        agent = LLMAgent(model, AutoTokenizer.from_pretrained(args.config_dir), name="random")
        params = sum(p.numel() for p in model.parameters()) / 1e6
        table += bench_model(f"{config.model_type} {params:.0f}M (random weights)", agent, prompts, n, tokens,
                             methods)
    elif not args.skip_smollm2:
        try:
            import agents

            smol = agents.load("smollm2-135m-instruct", dtype=torch.float32, device=args.device)
        except ImportError as e:
            print(f"skipping SmolLM2-135M: {e}")
        else:
            table += bench_model("SmolLM2-135M-Instruct", smol, prompts, n, tokens, methods)
    print("\n| model | method | tokens | seconds | tok/s | vs hf generate fp32 |\n|---|---|---|---|---|---|")
    base = {label: tps for label, method, _, _, tps in table if method == "hf generate fp32"}
    for label, method, produced, seconds, tps in table:
        ratio = f"{tps / base[label]:.2f}x" if label in base else "-"
        print(f"| {label} | {method} | {produced} | {seconds:.2f} | {tps:.0f} | {ratio} |")
    if args.json:
        rows = [dict(model=label, method=method, tokens=produced, seconds=seconds, tok_per_s=tps, device=args.device)
                for label, method, produced, seconds, tps in table]
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
