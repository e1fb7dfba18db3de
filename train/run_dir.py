"""One training run's directory: resolved config, metrics log, TensorBoard events, plots, checkpoints.

    <run>/config.yaml          the resolved TrainConfig (rewritten on resume with the changed settings)
    <run>/metrics.jsonl        one JSON object per `log` call: "step" + flat "<agent>/<metric>" keys
    <run>/resumes.jsonl        one line per resume: when, from which checkpoint, what changed
    <run>/tb/                  TensorBoard events (when enabled and installed)
    <run>/plots/*.png          train/plots.py
    <run>/checkpoints/step_<N>/{<agent>/, trainer_state.pt, meta.json}, checkpoints/latest

    run = RunDir(make_run_path(cfg), config=cfg)
    run.log(step, {"llama/reward": 0.4, "time/step": 1.2})
    run.save_checkpoint(step, agents, {"optimizers": ..., "rng": ..., "step": step})
    run.plot(); run.close()

Resuming (train/resume.py picks and loads the checkpoint; then `RunDir.open(path, cfg)` and
`rewind_to(checkpoint)`) drops metrics.jsonl rows logged after the checkpoint's step and purges
those TensorBoard events, so the resumed run re-logs those steps once instead of twice.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import numbers
import os
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hacrl_env.jsonl import iter_jsonl
from train import checkpoint as ckpt
from train.atomic import write_text_atomic
from train.config import ConfigError, TrainConfig, config_to_yaml, load_config
from train.plots import plot_metrics, read_metrics


def make_run_path(cfg: TrainConfig, now: float | None = None) -> Path:
    """output_dir/<run_name>, or output_dir/<YYYYmmdd-HHMMSS>-<algo> (suffixed -1, -2.. if taken)."""
    root = Path(cfg.output_dir)
    if cfg.run_name:
        return root / cfg.run_name
    base = f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{cfg.algo.name}"
    path, i = root / base, 0
    while path.exists():
        i += 1
        path = root / f"{base}-{i}"
    return path


def locate_run(path: str | Path) -> tuple[Path, Path | None]:
    """(run dir, checkpoint dir or None) of a path to a run dir or to one of its
    checkpoints/step_<N> dirs. A path that is neither is a ValueError that says what a run holds."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ValueError(f"{str(p)!r} does not exist; pass the directory of an earlier run (it holds "
                         "config.yaml, metrics.jsonl and checkpoints/) or one of its checkpoints/step_<N> dirs")
    checkpoint = p if (p / ckpt.META_FILE).is_file() else None
    run = p.parent.parent if checkpoint is not None else p
    if not (run / "config.yaml").is_file():
        raise ValueError(f"{str(p)!r} is not a run directory: {str(run / 'config.yaml')!r} is missing. Pass the "
                         "directory `python train/hacpo.py` created (runs/<name>), or one of its "
                         "checkpoints/step_<N> dirs")
    return run, checkpoint


def tensorboard_available() -> bool:
    try:
        import tensorboard  # noqa: F401  (SummaryWriter needs the package, not just torch)
    except ImportError:
        return False
    return True


class RunDir:
    """Writes one run's files. `tensorboard=None` enables TensorBoard if installed."""

    def __init__(self, path: str | Path, *, config: TrainConfig | None = None,
                 tensorboard: bool | None = None, plots: bool = True, keep_checkpoints: int = 2):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.checkpoints_dir = self.path / "checkpoints"
        self.metrics_path = self.path / "metrics.jsonl"
        self.plots_dir = self.path / "plots"
        if config is not None:
            tensorboard = config.logging.tensorboard if tensorboard is None else tensorboard
            plots = config.logging.plots
            keep_checkpoints = config.schedule.keep_checkpoints
            # without `resume`: resumes.jsonl records those, and this file reused with --config
            # must start a fresh run, not resume an old checkpoint
            write_text_atomic(self.path / "config.yaml", config_to_yaml(dataclasses.replace(config, resume=None)))
        if tensorboard and not tensorboard_available():
            raise ValueError("logging.tensorboard=true but tensorboard is not installed; "
                             "pip install 'hacrl[train]' or set logging.tensorboard=false")
        self.use_tensorboard = tensorboard_available() if tensorboard is None else tensorboard
        if plots and importlib.util.find_spec("matplotlib") is None:
            raise ValueError("logging.plots=true but matplotlib is not installed; "
                             "pip install 'hacrl[train]' or set logging.plots=false")
        self.plots_enabled = plots
        if keep_checkpoints < 1:
            raise ValueError(f"keep_checkpoints must be >= 1, got {keep_checkpoints}")
        self.keep_checkpoints = keep_checkpoints
        self._writer: Any = None
        self._purge_step: int | None = None
        self._metrics_file = None

    @classmethod
    def create(cls, cfg: TrainConfig, *, echo: bool = True) -> "RunDir":
        """A new run dir at `make_run_path(cfg)`, holding the resolved config.yaml (also printed
        when `echo`, so a log of the console shows exactly what ran). A directory that already
        holds a run is refused: a fresh run must not append to another run's files."""
        path = make_run_path(cfg)
        if any((path / name).exists() for name in ("config.yaml", "metrics.jsonl", "checkpoints")):
            raise ConfigError([("run_name", f"{str(path)!r} already holds a run; continue it with --resume {path}, "
                                            "or pick another run_name (null: a new timestamped name)")],
                              headline="cannot start the run")
        run = cls(path, config=cfg)
        if echo:
            print(f"run dir: {run.path}\n--- resolved config ---\n{config_to_yaml(cfg)}---", flush=True)
        return run

    @classmethod
    def open(cls, path: str | Path, cfg: TrainConfig | None = None) -> "RunDir":
        """An existing run dir (or the run of one of its checkpoints/step_<N> dirs), to resume it.
        Logging settings come from `cfg` if given (its config.yaml is then rewritten: it describes
        the run from here on), else from the run's own config.yaml. Nothing is written into a
        directory that is not a run."""
        run_path, _ = locate_run(path)
        if cfg is not None:
            return cls(run_path, config=cfg)
        saved = load_config(run_path / "config.yaml", check_hardware=False)
        return cls(run_path, tensorboard=saved.logging.tensorboard, plots=saved.logging.plots,
                   keep_checkpoints=saved.schedule.keep_checkpoints)

    # -- metrics -------------------------------------------------------------------------------

    def log(self, step: int, metrics: Mapping[str, Any]) -> dict[str, Any]:
        """Append one row {"step": step, **metrics} to metrics.jsonl (nested dicts are flattened
        with "/"; tensors and numpy scalars become numbers; NaN/inf become null, keeping the file
        strict JSON) and mirror the numbers to TensorBoard. Returns the row written."""
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(f"step must be a non-negative int, got {step!r}")
        row: dict[str, Any] = {"step": int(step)}
        for key, value in _flatten(metrics):
            if key == "step":
                raise ValueError("metrics must not contain 'step'; pass it as the first argument")
            row[key] = _jsonable(key, value)
        if self._metrics_file is None:
            torn = self.metrics_path.is_file() and not _ends_with_newline(self.metrics_path)
            self._metrics_file = open(self.metrics_path, "a", encoding="utf-8")
            if torn:  # killed mid-write: end the torn line so this row stays parseable on its own
                self._metrics_file.write("\n")
        self._metrics_file.write(json.dumps(row, allow_nan=False) + "\n")
        self._metrics_file.flush()  # a crash loses at most the row being written
        if self.use_tensorboard:
            writer = self._tensorboard()
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    writer.add_scalar(key, value, int(step))
        return row

    def write_json(self, name: str, obj: Any) -> Path:
        """Write `obj` as `<run>/<name>` atomically (a kill mid-write leaves the old file)."""
        path = self.path / name
        write_text_atomic(path, json.dumps(obj, indent=1) + "\n")
        return path

    def read_metrics(self) -> list[dict[str, Any]]:
        """metrics.jsonl rows merged by step, sorted by step."""
        if self._metrics_file is not None:
            self._metrics_file.flush()
        return read_metrics(self.metrics_path)

    def plot(self) -> list[Path]:
        """(Re)draw plots/*.png from metrics.jsonl; returns the files written (none if disabled)."""
        if not self.plots_enabled:
            return []
        if self._metrics_file is not None:
            self._metrics_file.flush()
        return plot_metrics(self.metrics_path, self.plots_dir)

    # -- checkpoints ---------------------------------------------------------------------------

    def save_checkpoint(self, step: int, agents: Mapping[str, Any] | Iterable[Any],
                        state: Mapping[str, Any]) -> Path:
        """Atomically write checkpoints/step_<step>/ (agents via save_pretrained + trainer_state.pt)
        and keep only the newest `keep_checkpoints`. Returns the checkpoint dir."""
        if self._writer is not None:
            self._writer.flush()  # events up to this step are on disk with the checkpoint
        # Temp/trash dirs of a process killed mid-save. Cleared here, by the writer, not on open:
        # a reader opening a live run must not delete the trainer's in-progress save.
        ckpt.clear_leftovers(self.checkpoints_dir)
        return ckpt.save_checkpoint(self.checkpoints_dir, step, agents, state, keep=self.keep_checkpoints)

    def rewind_to(self, checkpoint: Path) -> None:
        """Make `checkpoint` the run's present: metrics.jsonl rows and TensorBoard events after its
        step are dropped, and newer checkpoints (a future this run will not have) are moved to
        checkpoints/superseded/, so a later resume cannot pick them up."""
        step = int(json.loads((checkpoint / ckpt.META_FILE).read_text(encoding="utf-8"))["step"])
        for newer_step, newer in ckpt.list_checkpoints(self.checkpoints_dir):
            if newer_step > step:
                moved = ckpt.set_aside(newer)
                warnings.warn(f"{newer.name} is newer than the checkpoint the run resumes from; moved to "
                              f"{moved} (delete it if you do not need it)", stacklevel=2)
        if checkpoint.parent == self.checkpoints_dir:
            ckpt.write_latest(self.checkpoints_dir, checkpoint.name)
        self._truncate_metrics_after(step)

    def record_resume(self, entry: Mapping[str, Any]) -> None:
        """Append one line to resumes.jsonl: when the run was resumed, from which checkpoint, and
        which settings changed (old -> new)."""
        with open(self.path / "resumes.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **entry}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def close(self) -> None:
        """Flush and close the metrics file and the TensorBoard writer (call `plot()` first for final plots)."""
        if self._metrics_file is not None:
            self._metrics_file.close()
            self._metrics_file = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> "RunDir":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------

    def _tensorboard(self) -> Any:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step hides events a crashed run wrote after the checkpoint we resumed from.
            self._writer = SummaryWriter(str(self.path / "tb"), purge_step=self._purge_step)
        return self._writer

    def _truncate_metrics_after(self, step: int) -> None:
        if self._metrics_file is not None:
            self._metrics_file.close()
            self._metrics_file = None
        if self.metrics_path.is_file():
            # Torn lines from the crash are dropped; rows are written back as log wrote them.
            kept = [json.dumps(row, allow_nan=False) + "\n"
                    for _, row in iter_jsonl(self.metrics_path, skip_torn=True)
                    if isinstance(row.get("step"), int) and row["step"] <= step]
            write_text_atomic(self.metrics_path, "".join(kept))
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._purge_step = step + 1


def _flatten(metrics: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in metrics.items():
        if not isinstance(key, str):
            raise ValueError(f"metric names must be strings, got {key!r}")
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, full + "/")
        else:
            yield full, value


def _jsonable(key: str, value: Any) -> Any:
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        n = value.numel() if isinstance(value, torch.Tensor) else value.size
        if n != 1:
            raise ValueError(f"metric {key!r} is an array of shape {tuple(value.shape)}; log a scalar "
                             "(e.g. its mean) instead")
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        return v if math.isfinite(v) else None
    raise ValueError(f"metric {key!r} must be a number, bool, str or None, got {type(value).__name__}; "
                     "log a scalar (e.g. tensor.item()) or a dict of scalars")


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        if f.seek(0, os.SEEK_END) == 0:
            return True
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"
