"""Train heterogeneous agents with HACPO (or a baseline variant).

    python train/hacpo.py                                   # the embedded default (tiny zoo agents, CPU)
    python train/hacpo.py --config configs/smoke.yaml       # a preset
    python train/hacpo.py --config configs/smoke.yaml --algo.name=gspo schedule.steps=5
    python train/hacpo.py --algo.name gspo --run_name my_gspo      # `--key value` works too
    python train/hacpo.py --resume runs/<run>               # continue an interrupted run

Config: one YAML file (`configs/`) plus dotted overrides; see train/config.py for every key.
This script holds no math: it parses arguments and calls `train.loop.train`.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `import train.x` work from a clone
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> dict:
    from train.config import load_config, split_cli_args
    from train.loop import train

    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return {}
    resume = None
    if "--resume" in argv:
        i = argv.index("--resume")
        if i + 1 >= len(argv):
            raise SystemExit("--resume needs a run directory, e.g. --resume runs/20260101-120000-hacpo")
        resume = argv[i + 1]
        del argv[i:i + 2]
    path, overrides = split_cli_args(argv)
    if resume and path is None and (Path(resume) / "config.yaml").is_file():
        path = str(Path(resume) / "config.yaml")  # a resumed run keeps its own config
    try:
        cfg = load_config(path, overrides)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    return train(cfg, resume=resume)


if __name__ == "__main__":
    main()
