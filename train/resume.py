"""Resuming a run without mixing runs: find the run and its checkpoint, compare the config to the
one the run was trained with, and load the newest intact checkpoint (or the one asked for).

    point = prepare_resume("runs/x/checkpoints/step_11", cfg)   # reads only; raises ConfigError
    point.run_dir, point.checkpoint, point.changes                # {"schedule.steps": (100, 150)}

A resumed run trains the weights its checkpoint holds under the config in its config.yaml. Only
settings that do not change what those weights were trained on may differ (RESUMABLE): how long
to train, how often to evaluate and save, logging, and where each agent runs. Anything else is
refused with the list of what differs, before anything is written.
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from train import checkpoint as ckpt
from train.config import ConfigError, TrainConfig, load_config, resolved_config
from train.run_dir import locate_run

#: Keys (fnmatch patterns over dotted keys) a resume may change; each is recorded in resumes.jsonl.
RESUMABLE = ("schedule.steps", "schedule.eval_every", "schedule.save_every", "schedule.keep_checkpoints",
             "schedule.max_nan_skips", "logging.*", "agents.*.device", "agents.*.token_budget", "backend", "threads",
             "ray.*", "agents.*.num_cpus", "agents.*.num_gpus", "agents.*.vllm_gpu_memory_utilization")
#: Where the run lives, not what it trains: never compared.
LOCATION = ("output_dir", "run_name", "resume")


@dataclass
class ResumePoint:
    """A checked place to resume from. checkpoint: the dir to load; skipped: why newer
    checkpoints were passed over (damaged); changes: key -> (saved value, new value)."""

    run_dir: Path
    checkpoint: Path
    agent_dirs: dict[str, Path]
    state: dict[str, Any]
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def step(self) -> int:
        return int(self.state["trainer"]["step"])


def saved_config(path: str | Path) -> TrainConfig:
    """The config a run (or the run of a checkpoint dir) was trained with."""
    run_dir, _ = locate_run(path)
    return load_config(run_dir / "config.yaml", check_hardware=False)


def prepare_resume(path: str | Path, cfg: TrainConfig) -> ResumePoint:
    """Check that `cfg` may resume the run at `path` (a run dir or one of its checkpoint dirs)
    and load the checkpoint: the one named, else the newest intact one. Writes nothing."""
    try:
        run_dir, named = locate_run(path)
    except ValueError as exc:
        raise ConfigError([("resume", str(exc))], headline="cannot resume") from None
    changes = config_changes(saved_config(run_dir), cfg, run_dir)
    try:
        if named is not None:
            agent_dirs, state = ckpt.load_checkpoint(named)
            checkpoint, skipped = named, []
        else:
            checkpoint, agent_dirs, state, skipped = ckpt.load_newest_intact(run_dir / "checkpoints")
    except ValueError as exc:
        raise ConfigError([("resume", str(exc))], headline="cannot resume") from None
    wanted = [a.name for a in cfg.agents]
    if sorted(agent_dirs) != sorted(wanted):
        raise ConfigError([("agents", f"the checkpoint {checkpoint} holds agents {sorted(agent_dirs)}, the config "
                                      f"names {sorted(wanted)}; resume with the run's own agents")],
                          headline="cannot resume")
    return ResumePoint(run_dir, checkpoint, agent_dirs, state, changes, skipped)


def config_changes(saved: TrainConfig, cfg: TrainConfig, run_dir: Path | str = "the run") -> dict[str, tuple[Any, Any]]:
    """{dotted key: (saved, new)} for every setting `cfg` changes; a ConfigError listing them if any
    of them is not RESUMABLE."""
    # compared as the runs use them: a config.yaml without the algo defaults filled in (older runs)
    # equals one with them
    old, new = _flat(resolved_config(saved)), _flat(resolved_config(cfg))
    changed = {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new))
               if k.split(".")[0] not in LOCATION and old.get(k, _ABSENT) != new.get(k, _ABSENT)}
    refused = [k for k in changed if not any(fnmatch.fnmatchcase(k, p) for p in RESUMABLE)]
    if refused:
        problems = [(k, f"{changed[k][0]!r} -> {changed[k][1]!r}") for k in refused]
        raise ConfigError(problems, headline=(
            f"cannot resume {run_dir}: these settings differ from its config.yaml and would change what was "
            f"trained (only {', '.join(RESUMABLE)} may change on resume; drop the overrides, or start a new run "
            "without --resume)"))
    return changed


_ABSENT = object()


def _flat(cfg: TrainConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            if not node and prefix:
                out[prefix.rstrip(".")] = {}
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
        elif isinstance(node, list):
            out[prefix + "len"] = len(node)  # an added or removed agent shows even when names match
            for i, v in enumerate(node):
                walk(v, f"{prefix}{i}.")
        else:
            out[prefix.rstrip(".")] = node

    walk(OmegaConf.to_container(OmegaConf.structured(cfg)), "")
    return out


def capture_rng() -> dict:
    """RNG states as tensors and plain containers, so checkpoints load with weights_only=True."""
    name, key, pos, has_gauss, cached = np.random.get_state()
    return {"python": random.getstate(), "numpy": (name, key.tolist(), pos, has_gauss, cached),
            "torch": torch.get_rng_state()}


def restore_rng(saved: dict) -> None:
    random.setstate(saved["python"])
    name, key, pos, has_gauss, cached = saved["numpy"]
    np.random.set_state((name, np.asarray(key, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(saved["torch"])
