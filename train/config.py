"""The training configuration: one dataclass tree, loaded from one YAML file plus dotted overrides.

    cfg = load_config("configs/smoke.yaml", ["--algo.alpha=3", "agents.0.lr=1e-5"])
    print(config_to_yaml(cfg))

The dataclass defaults ARE the embedded default run (`configs/default.yaml` mirrors them): two
tiny zoo agents of different architectures and tokenizers on `rg-chain_sum-v0`, sized for a
2-core CPU. Each default lives only in its field. Algorithm hyperparameters default to None,
meaning "the algorithm's own default from `train/algorithms.py`", so they are defined once.

`load_config` returns plain dataclass instances (not DictConfig), already validated. Helpers:
`resolve_algo(cfg)` -> the AlgoSpec the run uses; `resolved_config(cfg)` -> cfg with the algo
settings it uses filled in (what a run prints and saves); `resolve_device(agent_cfg)`;
`split_cli_args(argv)` -> (config path, overrides).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING, OmegaConf

from train.config_overrides import (
    apply_overrides,
    layer_keys,
    merge_layer,
    parse_overrides,
    read_yaml_layer,
    yaml_key_lines,
)

# A copy of `agents.zoo.WARMSTART_TASK_KWARGS`: the zoo warm-starts its tiny agents on exactly this
# task, so the default RL run must use the same one. Copied (not imported) so that reading a config
# never builds or imports the model zoo; tests/test_config.py asserts the two stay equal.
_DEFAULT_TASK_KWARGS: dict[str, Any] = dict(min_terms=2, max_terms=3, min_digits=1, max_digits=1)

PRECISIONS = ("fp32", "bf16")
LR_SCHEDULERS = ("constant", "linear", "cosine")
BACKENDS = ("local", "ray")


@dataclass
class AlgoConfig:
    """Which algorithm variant and its hyperparameters (None = the variant's default).

    Defaults and ranges live once, in `train.algorithms.AlgoSpec`; a None here takes the variant's
    value, and the config a run saves and prints shows the values it used (`resolved_config`).
    The hyperparameters belong to `name`: a layer that changes `name` resets them to None first,
    so a saved config.yaml reused with another variant does not carry the old variant's values."""

    # variant name from train/algorithms.py: hacpo, gspo, gspo2x, grpo, naive, one_way, ablations
    name: str = "hacpo"
    # exponent of the detached cross-ratio factor sg(s)^alpha (HACPO.md §3c); 0 = plain IS
    alpha: float | None = None
    # cross-sample clip window starts at [1 - delta, 1] (HACPO.md §3d)
    delta: float | None = None
    # the lower bound rises by delta_step per optimizer update m within a step
    delta_step: float | None = None
    # GSPO self-sample clip: s in [1 - eps_low, 1 + eps_high]
    eps_low: float | None = None
    # GSPO self-sample clip upper epsilon
    eps_high: float | None = None
    # GRPO token-level clip lower epsilon (grpo variant only)
    grpo_eps_low: float | None = None
    # GRPO token-level clip upper epsilon (grpo variant only)
    grpo_eps_high: float | None = None
    # capability window K in steps, current step included (HACPO.md eq. 9)
    window: int | None = None
    # lower clip of the source/learner capability ratio r (HACPO.md §8.1)
    ratio_clip_low: float | None = None
    # upper clip of the capability ratio r
    ratio_clip_high: float | None = None
    # KL-to-reference coefficient on self samples only; 0 = no reference model (as in GSPO)
    kl_beta: float | None = None
    # shuffle self+cross samples together before mini-batching (HACPO.md §10.4); False = V1 self-first
    shuffle: bool | None = None
    # sequences per optimizer update; None = prompts_per_step*group_size/2 (the paper's ratio)
    minibatch_size: int | None = None
    # where behaviour log-probs come from: "auto" (the default) reuses an exact fp32 sampler's own
    # log-probs and re-scores the rest; "recompute" always re-scores with the training model
    behaviour_logprobs: str | None = None
    # pairs far apart (docs/variants.md): "positive" = peers' samples only with a positive advantage;
    # "rescue" = only those that beat all the learner's own samples of the prompt
    cross_gate: str | None = None
    # the learner's own all-wrong (uniform) group gets no negative advantage from peers' successes
    own_uniform_guard: bool | None = None
    # "centered" = the cross window sits at the pair's measured median log-ratio; "fixed" = [1 - delta, 1]
    cross_window: str | None = None


@dataclass
class EnvConfig:
    """The task: training env, its kwargs, and the held-out evaluation split.

    kwargs, verifier, eval_id, train_split and eval_split belong to `id`: a config file or command
    line that changes `id` without setting them gets the new env's own (no kwargs, its own grader,
    train on "train", evaluate on its "test"), not the previous env's (ENV_OWN_DEFAULTS). `kwargs`
    given whole replaces the old mapping (`--env.kwargs={}` or null clears it); `env.kwargs.<key>=v`
    sets one key."""

    # env id from hacrl_env's registry (short ids resolve to the hacrl/ namespace)
    id: str = "rg-chain_sum-v0"
    # task kwargs passed to hacrl_env.make (rg-* tasks: size, seed, min_terms, ...; gsm8k/math: none)
    kwargs: dict[str, Any] = field(default_factory=lambda: dict(_DEFAULT_TASK_KWARGS))
    # split the prompts are drawn from
    train_split: str = "train"
    # held-out split for periodic evaluation
    eval_split: str = "test"
    # env id for evaluation; None = the training env id (kwargs are shared)
    eval_id: str | None = None
    # problems per periodic evaluation (capped at the split size)
    eval_size: int = 200
    # verifier name overriding the env's default; None = the env's own. The default task is graded
    # by `gsm8k` (binary: the number after '####'), not by reasoning-gym's chain_sum scorer, which
    # gives partial credit to any answer that merely contains the gold's digits ("-22" for "-2"
    # scores 2/3): that rewards digit spam, and HACPO counts every reward > 0 as a success when
    # it estimates capability.
    verifier: str | None = "gsm8k"


@dataclass
class ScheduleConfig:
    """How long to train, batch shapes, and how often to evaluate and save."""

    # training steps (one prompt batch each). 150 x 32 prompts: with 8 prompts per step held-out
    # accuracy did not move; at 100 steps llama's sampled gain on seed 0 was +1.4 to +4.7 points
    # depending on float rounding alone, at 150 +4.7 to +8.6 (docs/results.md). About 3.5 s a
    # step on 2 cores since shared-prefix scoring: 10-11 min fresh, zoo build included.
    steps: int = 150
    # prompts per step, shared by every agent
    prompts_per_step: int = 32
    # G: responses per agent per prompt
    group_size: int = 8
    # evaluate every N steps (and after the last); 0 = only after the last step
    eval_every: int = 50
    # k sampled responses per problem for avg@k at evaluation (greedy pass@1 is always computed);
    # with 32, sampling noise no longer hides a 3-5 point change on 200 problems (docs/results.md)
    eval_k: int = 32
    # checkpoint every N steps (and after the last); 0 = only after the last step
    save_every: int = 0
    # number of most recent checkpoints kept on disk
    keep_checkpoints: int = 2
    # abort after this many updates skipped for a non-finite loss or gradient
    max_nan_skips: int = 3
    # JSONL of trajectories from outside agents (train/pool.py format) mixed into each step's pool
    external_trajectories: str | None = None


@dataclass
class AgentConfig:
    """One agent: which model, and how it samples and learns."""

    # name used in metrics and checkpoint dirs (unique)
    name: str = MISSING
    # zoo name (agents/zoo.py), a local HF dir, or a hub id
    model: str = MISSING
    # AdamW learning rate (the peak, when a schedule is set)
    lr: float = 1e-4
    # learning-rate schedule over the run's training steps, as TRL's `lr_scheduler_type`:
    # "constant" (the paper's), "linear" (decay to 0) or "cosine" (to 0); stepped once per training step
    lr_scheduler: str = "constant"
    # fraction of the run's steps spent warming the lr up linearly from 0 (TRL's `warmup_ratio`)
    warmup_ratio: float = 0.0
    # AdamW weight decay
    weight_decay: float = 0.0
    # gradient-norm clip per optimizer update
    max_grad_norm: float = 1.0
    # "fp32" or "bf16" weights and compute
    precision: str = "fp32"
    # rollout sampling precision; null = `precision`. "int8" (CPU) samples from an int8-quantized
    # copy (faster on SmolLM2-135M, docs/performance.md). Approximate: the tokens come from that copy
    # and the update scores them with the training model (behaviour log-probs re-computed; only an
    # exact fp32 sampler's own are reused, algo.behaviour_logprobs). Held-out evaluation always
    # samples the training model itself
    generation_precision: str | None = None
    # rollout engine: "transformers" (built in) or "vllm" (pip install 'hacrl[vllm]'; in-process, weights
    # synced after every optimizer step, its log-probs re-scored by the training model)
    engine: str = "transformers"
    # engine=vllm on a GPU: the fraction of the GPU's memory vLLM may use (weights, activations, KV
    # cache), as TRL's vllm_gpu_memory_utilization; the learner shares the rest, and vLLM sleeps during
    # updates (sleep mode). In (0, 1); ignored on CPU (1 GiB KV cache) and by engine=transformers
    vllm_gpu_memory_utilization: float = 0.3
    # sampling temperature for training rollouts
    temperature: float = 1.0
    # nucleus sampling threshold for training rollouts
    top_p: float = 1.0
    # generation cap per response (responses hitting it count as clipped)
    max_new_tokens: int = 28
    # templated prompt tokens kept (the tail) for rollouts and updates alike, as TRL's
    # max_prompt_length; held-out evaluation sees whole prompts, as a deployed agent does
    max_prompt_tokens: int = 256
    # padded tokens per scoring/training micro-batch: trades memory for speed
    token_budget: int = 8192
    # "cpu", "cuda", "cuda:1", ...; None = cuda if available else cpu (under Ray: in the actor,
    # which sees only the GPUs num_gpus reserved for it)
    device: str | None = None
    # backend=ray: CPUs reserved for this agent's actor; its torch threads are this rounded down
    # (at least 1), so 0.5 lets two one-thread agents share a core
    num_cpus: float = 1.0
    # backend=ray: GPUs reserved for this agent's actor; a fraction (0.5) lets agents share one GPU
    num_gpus: float = 0.0


def _default_agents() -> list[AgentConfig]:
    # Different architectures AND tokenizers: the heterogeneous-model setting (HACPO.md §6).
    return [AgentConfig(name="llama", model="tiny-llama-bpe"),
            AgentConfig(name="qwen2", model="tiny-qwen2-char")]


@dataclass
class LoggingConfig:
    """What the run directory records besides metrics.jsonl and checkpoints."""

    # write TensorBoard events; None = on if tensorboard is installed
    tensorboard: bool | None = None
    # write PNG plots of reward and eval accuracy at each evaluation and at the end
    plots: bool = True
    # show a progress bar
    progress: bool = True
    # also keep every step's rollout pool as pools/step_<N>.jsonl (the latest is always kept)
    dump_pools: bool = False


@dataclass
class RayConfig:
    """Where the `ray` backend runs its actors."""

    # None: join the cluster `ray start` runs on this machine, else start a local Ray on this
    # machine's cores and stop it at the end of the run; "auto": join that cluster (or fail);
    # "ray://host:port": a remote cluster
    address: str | None = None
    # seconds to wait for every agent's resources (CPUs, GPUs) before failing with what is missing
    placement_timeout: float = 60.0


@dataclass
class TrainConfig:
    """The whole run."""

    # seeds python, numpy and torch RNGs and the data order
    seed: int = 0
    # parent of run dirs: run dir = output_dir/<run_name or timestamp-algo>
    output_dir: str = "runs"
    # run dir name; None = "<YYYYmmdd-HHMMSS>-<algo.name>"
    run_name: str | None = None
    # run dir or checkpoint dir to resume from; None = start fresh
    resume: str | None = None
    # algorithm variant and hyperparameters
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    # task and evaluation data
    env: EnvConfig = field(default_factory=EnvConfig)
    # steps, batch shapes, eval and save cadence
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    # the agents, at least one (HACPO needs two or more)
    agents: list[AgentConfig] = field(default_factory=_default_agents)
    # TensorBoard, plots, progress bar
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    # where the agents run: "local" (all in this process, one after another) or "ray" (one Ray
    # actor per agent, all generating and all updating at the same time; agents.N.num_cpus/num_gpus)
    backend: str = "local"
    # torch threads of this process; with backend=local every agent computes on them. 1 by
    # measurement: 2 threads are 1.27x faster idle but collapse 10x and worse when any other
    # process competes for a core (docs/performance.md, "Threads")
    threads: int = 1
    # backend=ray: which cluster
    ray: RayConfig = field(default_factory=RayConfig)


# ---------------------------------------------------------------------------------------------
# Loading


def split_cli_args(argv: list[str]) -> tuple[str | None, list[str]]:
    """Split `[--config PATH | -c PATH | --config=PATH] [--a.b=c | --a.b c | a.b=c ...]` into (path, overrides)."""
    path, overrides, i = None, [], 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--config", "-c"):
            if i + 1 >= len(argv):
                raise ValueError(f"{arg} needs a YAML path, e.g. {arg} configs/smoke.yaml")
            path, i = argv[i + 1], i + 2
            continue
        if arg.startswith("--config="):
            path = arg.split("=", 1)[1]
            if not path:
                raise ValueError("--config= needs a YAML path, e.g. --config=configs/smoke.yaml")
        elif arg.startswith("--") and "=" not in arg and (i + 1 >= len(argv) or argv[i + 1].startswith("--")
                                                          or argv[i + 1] == "-c"):
            raise ValueError(f"{arg} needs a value: write {arg}=<value> or {arg} <value>")
        elif arg.startswith("--") and "=" not in arg and i + 1 < len(argv) \
                and not argv[i + 1].startswith("--") and argv[i + 1] != "-c":
            # argparse habit: `--run_name probe` means `--run_name=probe`
            overrides.append(f"{arg}={argv[i + 1]}")
            i += 1
        else:
            overrides.append(arg)
        i += 1
    return path, overrides


class ConfigError(ValueError):
    """A config that cannot run: `problems` lists (key, what is wrong and the fix); the message
    adds where each key was set (file:line or the override)."""

    def __init__(self, problems: list[tuple[str, str]], origins: dict[str, str] | None = None, *,
                 headline: str = "invalid config"):
        self.problems, self.headline = problems, headline
        lines = []
        for key, problem in problems:
            origin = _origin_of(key, origins or {})
            lines.append(f"{key}: {problem}" + (f" (set at {origin})" if origin else ""))
        super().__init__(f"{headline}:\n  " + "\n  ".join(lines))


def _origin_of(key: str, origins: dict[str, str]) -> str | None:
    """Where the longest prefix of `key` that a layer set was set (`agents.0.lr`: the file line
    of that key, else of `agents.0`, else of `agents`)."""
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        found = origins.get(".".join(parts[:n]))
        if found:
            return found
    return None


# Settings that belong to another: a layer (a YAML file, or the command line) that changes the
# owner (env.id, algo.name) resets them to these before applying its own values. Otherwise the
# default task's kwargs and grader would leak into any env chosen by `--env.id` alone, and a saved
# config's resolved hyperparameters into another variant (alpha0 is hacpo with alpha 0).
ENV_OWN_DEFAULTS: dict[str, Any] = dict(kwargs={}, verifier=None, eval_id=None, train_split="train",
                                        eval_split="test")
ALGO_OWN_DEFAULTS: dict[str, Any] = {f.name: None for f in dataclasses.fields(AlgoConfig) if f.name != "name"}
_OWNED = {("env", "id"): ENV_OWN_DEFAULTS, ("algo", "name"): ALGO_OWN_DEFAULTS}


def _rebind(cfg: Any, layer: dict[str, Any]) -> None:
    """Reset the settings owned by each owner that `layer` ({dotted key: value}) changes."""
    for (section, owner), defaults in _OWNED.items():
        new = layer.get(f"{section}.{owner}")
        if isinstance(new, str) and new != cfg[section][owner]:
            for key, value in defaults.items():
                cfg[section][key] = value


def _owner_values(layer: dict) -> dict[str, Any]:
    """{"env.id": ..., "algo.name": ...} as a YAML layer sets them."""
    return {f"{section}.{owner}": layer[section].get(owner) for section, owner in _OWNED
            if isinstance(layer.get(section), dict)}


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (), *,
                check_hardware: bool = True) -> TrainConfig:
    """Defaults <- YAML file <- dotted overrides (`--a.b=c` or `a.b=c`, list items by index:
    `agents.0.lr=1e-5`), then validated. check_hardware=False skips device/bf16 checks (to
    validate a GPU preset on a CPU machine). Raises ValueError (ConfigError for values that
    parse but cannot run, naming the file line or override that set each)."""
    cfg = OmegaConf.structured(TrainConfig)
    origins: dict[str, str] = {}
    if path is not None:
        path = Path(path)
        layer = read_yaml_layer(path)
        _rebind(cfg, _owner_values(layer))
        cfg = merge_layer(cfg, layer, f" (in {path})", TrainConfig)
        lines = yaml_key_lines(path)
        origins.update({k: f"{path}:{lines[k]}" for k in layer_keys(layer) if k in lines})
    parsed = parse_overrides(overrides)
    _rebind(cfg, {k: v for k, v, _ in parsed})  # the last override of a key wins
    cfg = apply_overrides(cfg, parsed, TrainConfig)
    origins.update({key: f"override {raw!r}" for key, _, raw in parsed})
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ValueError(f"config is missing required keys {missing}; set them in the YAML "
                         "(each agent needs a name and a model)")
    out = OmegaConf.to_object(cfg)
    assert isinstance(out, TrainConfig)
    from train.config_checks import validate_config

    try:
        validate_config(out, check_hardware=check_hardware)
    except ConfigError as exc:
        raise ConfigError(exc.problems, origins, headline=exc.headline) from None
    return out


def config_to_yaml(cfg: TrainConfig) -> str:
    """The resolved config as YAML (loadable again by `load_config`)."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    """Write the resolved config to `path` as YAML."""
    Path(path).write_text(config_to_yaml(cfg), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Derived values


def resolve_algo(cfg: TrainConfig) -> Any:
    """The `AlgoSpec` the run uses: variant cfg.algo.name with the config's non-None settings, and
    minibatch_size set (None: prompts_per_step * group_size / 2, HACPO.md §6: 64 of 128 prompts,
    i.e. 2 updates per step for gspo and 2n for hacpo with n agents). A ValueError names a bad
    variant or setting; an `AlgoSpecError` lists the settings out of range."""
    from train.algorithms import get_algo  # lazy: reading a config must not import torch-heavy code

    overrides = {f.name: getattr(cfg.algo, f.name) for f in dataclasses.fields(AlgoConfig)
                 if f.name != "name" and getattr(cfg.algo, f.name) is not None}
    if overrides.get("minibatch_size") is None:
        overrides["minibatch_size"] = max(1, cfg.schedule.prompts_per_step * cfg.schedule.group_size // 2)
    return get_algo(cfg.algo.name, **overrides)


def resolved_config(cfg: TrainConfig) -> TrainConfig:
    """`cfg` with every algo setting left None replaced by the value the run uses (what a run
    prints and saves, so a reader sees what ran)."""
    spec = resolve_algo(cfg)
    algo = AlgoConfig(**{f.name: getattr(spec, f.name) for f in dataclasses.fields(AlgoConfig)})
    return dataclasses.replace(cfg, algo=algo)


def resolve_device(agent: AgentConfig) -> str:
    """agent.device, or "cuda" when available else "cpu"."""
    import torch

    return agent.device or ("cuda" if torch.cuda.is_available() else "cpu")
