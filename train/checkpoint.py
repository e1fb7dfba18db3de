"""Atomic checkpoints: `<run>/checkpoints/step_<N>/{<agent>/, trainer_state.pt, meta.json}`.

A checkpoint is built in a temp dir next to its final place, every file and dir is fsynced, and
the temp dir is renamed to `step_<N>` with `os.replace`: the rename is the commit point, so a
`step_<N>` dir is always complete and a kill at any moment leaves the previous checkpoint intact.
The `latest` pointer file (text: "step_<N>") is replaced atomically last, for tools that read it;
`find_latest_checkpoint` trusts the dirs themselves, so a kill between the rename and the pointer
update loses nothing. Old checkpoints are renamed aside before deletion for the same reason.

Each `<agent>/` is a plain Hugging Face dir written by `agent.save_pretrained`. `trainer_state.pt`
holds whatever dict the loop passes (optimizers, RNG states, capability history, data cursor,
step, metrics so far) as tensors and plain containers only, and is read with torch's restricted
unpickler (`weights_only=True`), so a checkpoint cannot run code on load. A file that needs the
full unpickler is refused unless HACRL_TRUST_CHECKPOINTS=1 says it comes from a trusted source.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import time
import uuid
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import torch

from train.atomic import TEMP_PREFIX, fsync_dir, write_text_atomic

STATE_FILE = "trainer_state.pt"
META_FILE = "meta.json"
LATEST_FILE = "latest"
_STEP_DIR = re.compile(r"^step_(\d+)$")
_TRASH_PREFIX = ".trash-"


class SavableAgent(Protocol):
    name: str

    def save_pretrained(self, path: str | os.PathLike) -> Any: ...


#: Free space below which a failed checkpoint write is reported as a full disk.
_LOW_FREE_BYTES = 2 * 2**30


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written (typically a full disk: torch.save then fails deep inside
    with "unexpected pos" or "iostream error"). The partial copy is removed; earlier checkpoints
    are untouched. The message names the cause, the free space and the way out."""

    def __init__(self, step: int, root: Path, cause: BaseException, free_bytes: int):
        full = " - the disk is (nearly) full" if free_bytes < _LOW_FREE_BYTES else ""
        found = list_checkpoints(root)
        newest = found[-1][1].name if found else None
        super().__init__(
            f"checkpoint step {step} could not be written to {root} ({type(cause).__name__}: "
            f"{str(cause).strip().splitlines()[-1] if str(cause).strip() else ''}); "
            f"{free_bytes / 2**30:.1f} GiB free there{full}. Earlier checkpoints are intact "
            f"(newest: {newest or 'none'}). Free space, or keep fewer (schedule.keep_checkpoints=1) "
            f"or rarer (a larger schedule.save_every) checkpoints, then continue with "
            f"`python train/hacpo.py --resume {root.parent}`.")


def save_checkpoint(checkpoints_dir: str | Path, step: int,
                    agents: Mapping[str, SavableAgent] | Iterable[SavableAgent],
                    state: Mapping[str, Any], *, keep: int | None = None) -> Path:
    """Write checkpoint `step` atomically and return its dir; then keep only the `keep` newest."""
    if step < 0:
        raise ValueError(f"checkpoint step must be >= 0, got {step}")
    root = Path(checkpoints_dir)
    root.mkdir(parents=True, exist_ok=True)
    named = dict(agents) if isinstance(agents, Mapping) else {a.name: a for a in agents}
    bad = [n for n in named if not n or "/" in n or n.startswith(".") or n in (STATE_FILE, META_FILE)]
    if bad:
        raise ValueError(f"agent names {bad} cannot name checkpoint dirs; rename the agents")
    final = root / f"step_{step}"
    # Same parent as the final dir, so os.replace is a rename within one filesystem (atomic).
    tmp = root / f"{TEMP_PREFIX}step_{step}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for name, agent in named.items():
            agent.save_pretrained(tmp / name)
        torch.save(dict(state), tmp / STATE_FILE)
        # Every file's size, so a resume can tell a truncated or missing file from an intact one.
        files = {str(f.relative_to(tmp)): f.stat().st_size for f in sorted(tmp.rglob("*")) if f.is_file()}
        meta = {"step": step, "agents": list(named), "saved_at": time.time(), "files": files}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        _fsync_tree(tmp)
        if final.exists():  # re-saving a step (e.g. after a resume): move the old copy aside first
            _remove_dir(final)
        os.replace(tmp, final)
        fsync_dir(root)
    except Exception as exc:
        free = shutil.disk_usage(root).free  # before removing the partial copy, which frees space
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointWriteError(step, root, exc, free) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a kill -9 cannot get here; RunDir clears leftovers
        raise
    write_latest(root, final.name)
    if keep is not None:
        prune_checkpoints(root, keep)
    return final


class CheckpointDamaged(ValueError):
    """A checkpoint dir that cannot be loaded whole: a file missing, truncated or unreadable."""


def load_checkpoint(checkpoint_dir: str | Path) -> tuple[dict[str, Path], dict[str, Any]]:
    """(agent name -> HF dir, trainer state dict) of one checkpoint dir. Raises CheckpointDamaged
    naming what is wrong with a damaged one."""
    ckpt = Path(checkpoint_dir)
    meta_path = ckpt / META_FILE
    if not meta_path.is_file():
        raise ValueError(f"{str(ckpt)!r} is not a checkpoint dir (no {META_FILE}); pass "
                         "a run dir or one of its checkpoints/step_<N> dirs")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        agents = [str(a) for a in meta["agents"]]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise CheckpointDamaged(f"{meta_path} is unreadable ({type(exc).__name__}: {exc})") from None
    _check_files(ckpt, meta.get("files"), agents)
    if not zipfile.is_zipfile(ckpt / STATE_FILE):  # torch.save writes a zip; anything else is damage
        raise CheckpointDamaged(f"{ckpt / STATE_FILE} is unreadable (not a torch.save archive)")
    try:
        state = torch.load(ckpt / STATE_FILE, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if os.environ.get("HACRL_TRUST_CHECKPOINTS") != "1":
            raise ValueError(f"{str(ckpt / STATE_FILE)!r} holds objects beyond tensors and plain containers "
                             f"({str(exc).splitlines()[-1][:200]}), so loading it could run code. If you wrote "
                             "it yourself (e.g. with an older hacrl), set HACRL_TRUST_CHECKPOINTS=1 and retry") from None
        state = torch.load(ckpt / STATE_FILE, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, OSError) as exc:  # a truncated or corrupt zip archive
        raise CheckpointDamaged(f"{ckpt / STATE_FILE} is unreadable ({str(exc).splitlines()[0][:200]})") from None
    return {name: ckpt / name for name in agents}, state


def _check_files(ckpt: Path, sizes: dict[str, int] | None, agents: list[str]) -> None:
    """Every file the save recorded is there at its size (older checkpoints record none: then the
    trainer state and each agent's config.json must at least exist)."""
    expected = sizes if isinstance(sizes, dict) else {STATE_FILE: None, **{f"{a}/config.json": None for a in agents}}
    for rel, size in expected.items():
        path = ckpt / rel
        if not path.is_file():
            raise CheckpointDamaged(f"{ckpt} is missing {rel}")
        if size is not None and path.stat().st_size != size:
            raise CheckpointDamaged(f"{path} has {path.stat().st_size} bytes, {size} were saved (truncated or "
                                    "overwritten)")


def load_newest_intact(checkpoints_dir: str | Path) -> tuple[Path, dict[str, Path], dict[str, Any], list[str]]:
    """The newest checkpoint that loads whole: (its dir, agent dirs, state, why each newer one was
    skipped). Raises ValueError when none does."""
    skipped: list[str] = []
    for _, path in reversed(list_checkpoints(checkpoints_dir)):
        try:
            agent_dirs, state = load_checkpoint(path)
        except CheckpointDamaged as exc:
            skipped.append(str(exc))
            continue
        return path, agent_dirs, state, skipped
    if skipped:
        raise ValueError(f"no intact checkpoint in {str(checkpoints_dir)!r}:\n  " + "\n  ".join(skipped))
    raise ValueError(f"no checkpoint found in {str(checkpoints_dir)!r}; expected <run>/checkpoints/step_<N>/ "
                     "(was the run saved? see schedule.save_every)")


def set_aside(checkpoint_dir: Path) -> Path:
    """Move a checkpoint out of the resume path (into checkpoints/superseded/), keeping its files:
    used for checkpoints newer than the one a run resumes from, which belong to a discarded future."""
    target = checkpoint_dir.parent / "superseded" / f"{checkpoint_dir.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    target.parent.mkdir(exist_ok=True)
    os.replace(checkpoint_dir, target)
    fsync_dir(checkpoint_dir.parent)
    return target


def list_checkpoints(checkpoints_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints as (step, dir), oldest first (temp and trash dirs are skipped)."""
    root = Path(checkpoints_dir)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        m = _STEP_DIR.match(child.name)
        if m and child.is_dir() and (child / META_FILE).is_file():
            found.append((int(m.group(1)), child))
    return sorted(found)


def find_latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run dir (or of a checkpoints dir), or None."""
    run = Path(run_dir)
    root = run / "checkpoints" if (run / "checkpoints").is_dir() else run
    found = list_checkpoints(root)
    return found[-1][1] if found else None


def resolve_checkpoint(path: str | Path, step: int | None = None) -> Path:
    """A checkpoint dir from a run dir (newest, or `step`) or from a checkpoint dir itself."""
    p = Path(path)
    if (p / META_FILE).is_file():
        return p
    if step is not None:
        root = p / "checkpoints" if (p / "checkpoints").is_dir() else p
        ckpt = root / f"step_{step}"
        if not (ckpt / META_FILE).is_file():
            have = [s for s, _ in list_checkpoints(root)]
            raise ValueError(f"no checkpoint for step {step} in {str(root)!r}; available steps: {have}")
        return ckpt
    latest = find_latest_checkpoint(p)
    if latest is None:
        raise ValueError(f"no checkpoint found in {str(p)!r}; expected <run>/checkpoints/step_<N>/ "
                         "(was the run saved? see schedule.save_every)")
    return latest


def prune_checkpoints(checkpoints_dir: str | Path, keep: int) -> list[Path]:
    """Delete all but the `keep` newest checkpoints; returns the removed dirs."""
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    old = [d for _, d in list_checkpoints(checkpoints_dir)[:-keep]]
    for d in old:
        _remove_dir(d)
    return old


def clear_leftovers(checkpoints_dir: str | Path) -> None:
    """Remove temp and trash dirs left by a process killed mid-save or mid-prune."""
    root = Path(checkpoints_dir)
    if root.is_dir():
        for child in root.iterdir():
            if child.name.startswith((TEMP_PREFIX, _TRASH_PREFIX)):
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)


def _remove_dir(d: Path) -> None:
    # Rename first: a kill during rmtree must not leave a half-deleted dir that still looks complete.
    trash = d.with_name(f"{_TRASH_PREFIX}{d.name}-{uuid.uuid4().hex[:8]}")
    os.replace(d, trash)
    shutil.rmtree(trash, ignore_errors=True)


def write_latest(checkpoints_dir: Path, name: str) -> None:
    """Point the `latest` file at checkpoint dir `name`."""
    write_text_atomic(checkpoints_dir / LATEST_FILE, name)


def _fsync_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as f:
                os.fsync(f.fileno())
        fsync_dir(dirpath)
