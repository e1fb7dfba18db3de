"""Checks of a loaded `TrainConfig`: every problem found at once, each with its key and the fix.

`load_config` runs `validate_config` on every config it returns; the algorithm's own ranges are
`train.algorithms.AlgoSpec`'s (checked there, once) and come back here keyed `algo.<field>`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from train.config import (BACKENDS, LR_SCHEDULERS, PRECISIONS, AgentConfig, ConfigError, TrainConfig, resolve_algo,
                          resolve_device)


#: agents.<i>.engine values: agents.llm.ENGINES, copied so reading a config does not import
#: transformers (tests/test_config.py keeps the two equal)
ENGINES = ("transformers", "vllm")


class Problems(list):
    """(key, what is wrong and the fix) pairs, collected so that one error lists them all."""

    def need(self, ok: bool, key: str, problem: str) -> None:
        if not ok:
            self.append((key, problem))


def validate_config(cfg: TrainConfig, *, check_hardware: bool = True) -> None:
    """Raise one ConfigError listing every problem found (each with its key and the fix)."""
    problems = Problems()
    for key, value in _float_fields(cfg):
        problems.need(math.isfinite(value), key, f"{value} must be a finite number")
    problems.need(0 <= cfg.seed < 2**63, "seed", f"{cfg.seed} must be a non-negative integer below 2**63")
    _check_schedule(cfg, problems)
    _check_backend(cfg, problems)
    _check_env(cfg, problems)
    _check_agents(cfg, problems, check_hardware)
    _check_algo(cfg, problems)
    if problems:
        raise ConfigError(list(problems))


def _check_schedule(cfg: TrainConfig, problems: Problems) -> None:
    s, need = cfg.schedule, problems.need
    need(s.steps >= 1, "schedule.steps", f"{s.steps} must be >= 1")
    need(s.prompts_per_step >= 1, "schedule.prompts_per_step", f"{s.prompts_per_step} must be >= 1")
    need(s.group_size >= 2, "schedule.group_size",
         f"{s.group_size} must be >= 2: group-normalised advantages need at least two responses")
    need(s.eval_every >= 0, "schedule.eval_every", f"{s.eval_every} must be >= 0 (0 = only at the end)")
    need(s.eval_k >= 1, "schedule.eval_k", f"{s.eval_k} must be >= 1")
    need(s.save_every >= 0, "schedule.save_every", f"{s.save_every} must be >= 0 (0 = only at the end)")
    need(s.keep_checkpoints >= 1, "schedule.keep_checkpoints", f"{s.keep_checkpoints} must be >= 1")
    need(s.max_nan_skips >= 0, "schedule.max_nan_skips", f"{s.max_nan_skips} must be >= 0")


def _check_backend(cfg: TrainConfig, problems: Problems) -> None:
    need = problems.need
    need(cfg.backend in BACKENDS, "backend", f"{cfg.backend!r} must be one of {BACKENDS}")
    need(cfg.threads >= 1, "threads", f"{cfg.threads} must be >= 1")
    need(cfg.ray.placement_timeout > 0, "ray.placement_timeout", f"{cfg.ray.placement_timeout} must be > 0")
    if cfg.backend == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            problems.append(("backend", "backend=ray needs Ray: pip install 'hacrl[ray]' (or use backend=local)"))


def _check_env(cfg: TrainConfig, problems: Problems) -> None:
    e, need = cfg.env, problems.need
    need(e.eval_size >= 1, "env.eval_size", f"{e.eval_size} must be >= 1")
    need(bool(e.id), "env.id", "must name an env, e.g. rg-chain_sum-v0 or gsm8k-v0")
    graded_by_number = e.verifier in ("gsm8k", "gsm8k-strict", "gsm8k-flexible")
    need(not (graded_by_number and any(i and i.startswith("math") for i in (e.id, e.eval_id))), "env.verifier",
         f"{e.verifier!r} grades the number after '####', but MATH answers are LaTeX; "
         "set env.verifier=null (the env's own `math` grader) or env.verifier=math")
    need(e.eval_id not in (None, e.id) or e.eval_split != e.train_split, "env.eval_split",
         f"evaluation would reuse the training split {e.train_split!r}; pick a held-out split "
         "(e.g. test) or another env.eval_id")


def _check_agents(cfg: TrainConfig, problems: Problems, check_hardware: bool) -> None:
    need = problems.need
    need(len(cfg.agents) >= 1, "agents", "list at least one agent (HACPO needs two or more)")
    names = [ag.name for ag in cfg.agents]
    dupes = sorted({n for n in names if names.count(n) > 1})
    need(not dupes, "agents", f"names must be unique, repeated: {dupes}; set agents.<i>.name")
    for i, ag in enumerate(cfg.agents):
        k = f"agents.{i}"
        need(bool(ag.name) and "/" not in ag.name, f"{k}.name",
             f"{ag.name!r} must be non-empty without '/' (it prefixes metrics and names a directory)")
        need(bool(ag.model), f"{k}.model", "must be a zoo name, a model dir or a hub id")
        need(ag.lr > 0, f"{k}.lr", f"{ag.lr} must be > 0")
        need(ag.lr_scheduler in LR_SCHEDULERS, f"{k}.lr_scheduler",
             f"{ag.lr_scheduler!r} must be one of {LR_SCHEDULERS}")
        need(0 <= ag.warmup_ratio < 1, f"{k}.warmup_ratio", f"{ag.warmup_ratio} must be in [0, 1)")
        need(ag.weight_decay >= 0, f"{k}.weight_decay", f"{ag.weight_decay} must be >= 0")
        need(ag.max_grad_norm > 0, f"{k}.max_grad_norm", f"{ag.max_grad_norm} must be > 0")
        need(ag.precision in PRECISIONS, f"{k}.precision", f"{ag.precision!r} must be one of {PRECISIONS}")
        need(ag.generation_precision in (None, *PRECISIONS, "int8"), f"{k}.generation_precision",
             f"{ag.generation_precision!r} must be null, one of {PRECISIONS} or 'int8'")
        need(ag.engine in ENGINES, f"{k}.engine", f"{ag.engine!r} must be one of {ENGINES}")
        need(0 < ag.vllm_gpu_memory_utilization < 1, f"{k}.vllm_gpu_memory_utilization",
             f"{ag.vllm_gpu_memory_utilization} must be in (0, 1): the fraction of the GPU's memory vLLM may "
             "use, the learner sharing the rest (default 0.3)")
        if ag.engine == "vllm":
            need(ag.generation_precision != "int8", f"{k}.generation_precision",
                 "'int8' is the transformers engine's; with engine=vllm use null, 'fp32' or 'bf16'")
            problem = _vllm_problem() if cfg.backend != "ray" else None  # Ray: the actor's machine may differ
            need(problem is None, f"{k}.engine", f"engine=vllm needs vLLM: pip install 'hacrl[vllm]' ({problem})")
        need(ag.temperature > 0, f"{k}.temperature", f"{ag.temperature} must be > 0")
        need(0 < ag.top_p <= 1, f"{k}.top_p", f"{ag.top_p} must be in (0, 1]")
        need(ag.max_new_tokens >= 1, f"{k}.max_new_tokens", f"{ag.max_new_tokens} must be >= 1")
        need(ag.max_prompt_tokens >= 1, f"{k}.max_prompt_tokens", f"{ag.max_prompt_tokens} must be >= 1")
        need(ag.token_budget >= ag.max_prompt_tokens + ag.max_new_tokens, f"{k}.token_budget",
             f"{ag.token_budget} cannot hold one full sequence (max_prompt_tokens + max_new_tokens = "
             f"{ag.max_prompt_tokens + ag.max_new_tokens}); raise it")
        need(ag.num_cpus > 0, f"{k}.num_cpus", f"{ag.num_cpus} must be > 0")
        need(ag.num_gpus >= 0, f"{k}.num_gpus", f"{ag.num_gpus} must be >= 0 (a fraction shares a GPU)")
        if cfg.backend == "ray":
            need(not (ag.device or "").startswith("cuda") or ag.num_gpus > 0, f"{k}.num_gpus",
                 f"device {ag.device!r} under backend=ray needs num_gpus > 0 (an actor sees only the GPUs it reserves)")
        elif check_hardware and not problems:  # under Ray the agent's machine is not this one
            problem = _hardware_problem(ag)
            need(problem is None, f"{k}.precision/device", problem or "")


def _vllm_problem() -> str | None:
    """None if vLLM imports here, else why not (only asked when an agent wants the vLLM engine)."""
    from agents.vllm_engine import vllm_available

    return vllm_available()


def _check_algo(cfg: TrainConfig, problems: Problems) -> None:
    """The variant exists and its settings are in range (AlgoSpec's own checks, keyed algo.<field>);
    then, on an otherwise valid config, that it fits the agents and the batch shape."""
    from train.algorithms import AlgoSpecError

    try:
        spec = resolve_algo(cfg)
    except AlgoSpecError as exc:
        problems.extend((f"algo.{key}", problem) for key, problem in exc.problems)
        return
    except ValueError as exc:  # unknown variant or setting (with did-you-mean), or a wrong type
        problems.append(("algo", str(exc)))
        return
    if problems:
        return
    problems.need(not (spec.share_pool and len(cfg.agents) < 2), "agents",
                  f"algo {cfg.algo.name!r} learns from peers and needs at least 2 agents; add one or use algo.name=gspo")
    mb, sizes = spec.minibatch_size, learner_batch_sizes(cfg, spec)
    problems.need(all(n % mb == 0 for n in sizes), "algo.minibatch_size",
                  f"{mb} must divide every learner's batch {sorted(sizes)} (prompts_per_step * group_size "
                  "* samples per prompt); pick a divisor")


def _float_fields(node: Any, prefix: str = "") -> list[tuple[str, float]]:
    """(dotted key, value) of every float set in the config tree (None and non-floats skipped)."""
    out = []
    for f in dataclasses.fields(node):
        value, key = getattr(node, f.name), f"{prefix}{f.name}"
        if isinstance(value, float):
            out.append((key, value))
        elif dataclasses.is_dataclass(value):
            out.extend(_float_fields(value, key + "."))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if dataclasses.is_dataclass(item):
                    out.extend(_float_fields(item, f"{key}.{i}."))
    return out


def learner_batch_sizes(cfg: TrainConfig, spec: Any) -> set[int]:
    """Sequences one learner trains on per step: own samples (x rollout_multiplier), plus peers'
    when the variant shares the pool (one_way: the strongest agent trains on its own only)."""
    own = cfg.schedule.prompts_per_step * cfg.schedule.group_size * spec.rollout_multiplier
    sizes = {own * len(cfg.agents)} if spec.share_pool else {own}
    if spec.one_way:
        sizes.add(own)
    return sizes


def cpu_supports_bf16() -> bool:
    """Native bf16 on this CPU (AVX512-BF16 / AMX). Without it torch emulates bf16 slowly."""
    import torch

    checks = [getattr(torch.cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(c is not None and c() for c in checks)


def _hardware_problem(agent: AgentConfig) -> str | None:
    import torch

    device = resolve_device(agent)
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            return f"device {device!r} requested but CUDA is not available; set device=cpu"
        index = device.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            return (f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} "
                    "GPU(s), cuda:0.. ; pick one of those")
        if agent.precision == "bf16" and not torch.cuda.is_bf16_supported():
            return "bf16 requested but this GPU has no bf16 support; set precision=fp32"
    elif device == "cpu":
        if agent.precision == "bf16" and not cpu_supports_bf16():
            return ("bf16 requested on a CPU without native bf16 (no AVX512-BF16/AMX); "
                    "set precision=fp32")
    elif device != "mps":
        return f"unknown device {device!r}; use cpu, cuda, cuda:<i> or mps"
    return None
