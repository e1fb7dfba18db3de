"""Train heterogeneous agents with HACPO (or a baseline variant).

    python train/hacpo.py                                   # the embedded default (tiny zoo agents, CPU)
    python train/hacpo.py --config configs/smoke.yaml       # a preset
    python train/hacpo.py --config configs/smoke.yaml --algo.name=gspo schedule.steps=5
    python train/hacpo.py --algo.name gspo --run_name my_gspo      # `--key value` works too
    python train/hacpo.py --backend=ray                     # one Ray actor per agent, all in parallel
    python train/hacpo.py --resume runs/<run>               # continue an interrupted run (newest intact checkpoint)
    python train/hacpo.py --resume runs/<run>/checkpoints/step_40 --schedule.steps=200   # from that checkpoint

A resumed run uses its own config.yaml; only schedule.steps, the eval and save cadence, logging, the
backend and threads, and where each agent runs may change (recorded in <run>/resumes.jsonl).
Everything else is refused.

Config: one YAML file (`configs/`) plus dotted overrides; see train/config.py for every key.
This script holds no math: it parses arguments and calls `train.loop.train`.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `import train.x` work from a clone
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> dict:
    from train.checkpoint import CheckpointWriteError
    from train.config import ConfigError, load_config, split_cli_args
    from train.loop import train
    from train.run_dir import locate_run

    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return {}
    try:
        path, overrides = split_cli_args(argv)
        resume = next((o.split("=", 1)[1] for o in reversed(overrides) if o.lstrip("-").startswith("resume=")), None)
        if resume == "":
            raise ValueError("--resume needs a run directory, e.g. --resume runs/20260101-120000-hacpo")
        if resume and path is None:
            # a resumed run keeps its own config: the overrides apply on top of it, and train()
            # refuses those that would change what was trained
            path = str(locate_run(resume)[0] / "config.yaml")
        cfg = load_config(path, overrides)
    except ValueError as e:  # the arguments or the config: one message, no traceback
        raise SystemExit(f"error: {e}") from None
    try:
        return train(cfg, resume=resume)
    except ConfigError as e:  # the envs, data, models or resume point it names: checked before any work
        raise SystemExit(f"error: {e}") from None
    except CheckpointWriteError as e:  # a full disk mid-run: what to free, and how to continue
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    # warnings (a damaged checkpoint skipped, newer ones set aside) as one line each, no source line
    warnings.formatwarning = lambda message, category, *args, **kwargs: f"warning: {message}\n"
    main()
