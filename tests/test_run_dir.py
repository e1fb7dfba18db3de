"""train/run_dir.py, train/checkpoint.py, train/plots.py: metrics log, TensorBoard, plots, atomic
checkpoints (crash mid-save leaves the previous one loadable), resume truncation and pruning."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hacrl_env.jsonl import DataError
from train.atomic import atomic_open, write_text_atomic
from train.checkpoint import (
    find_latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_newest_intact,
    resolve_checkpoint,
)
from train.config import load_config
from train.plots import PLOT_FILES, read_metrics
from train.run_dir import RunDir, make_run_path


class FakeAgent:
    """Stands in for agents.LLMAgent: save_pretrained writes a recognisable file (or fails)."""

    def __init__(self, name: str, weight: float, fail: bool = False):
        self.name, self.weight, self.fail = name, weight, fail

    def save_pretrained(self, path) -> Path:
        if self.fail:
            raise RuntimeError("disk full (injected)")
        path = Path(path)
        path.mkdir(parents=True)
        (path / "config.json").write_text(json.dumps({"weight": self.weight}))
        return path


def _weight(agent_dir: Path) -> float:
    return json.loads((agent_dir / "config.json").read_text())["weight"]


def _log_steps(run: RunDir, steps: range) -> None:
    for s in steps:
        run.log(s, {"llama/reward": 0.1 * s, "qwen2/reward": 0.05 * s,
                    "llama/cost/generated_tokens": 100, "qwen2/cost/generated_tokens_total": 80 * s,
                    "time/step": 1.5})


def test_log_writes_flat_strict_json_rows(tmp_path: Path) -> None:
    with RunDir(tmp_path / "run", tensorboard=False) as run:
        row = run.log(3, {"llama": {"reward": torch.tensor(0.5), "loss": float("nan")},
                          "n": np.int64(4), "ok": True, "time/step": np.float32(0.25)})
    assert row == {"step": 3, "llama/reward": 0.5, "llama/loss": None, "n": 4, "ok": True, "time/step": 0.25}
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == row  # NaN written as null: the file stays strict JSON


@pytest.mark.parametrize("step, metrics, fragment", [
    (-1, {}, "non-negative int"),
    (1.5, {}, "non-negative int"),
    (1, {"step": 2}, "must not contain 'step'"),
    (1, {"x": torch.ones(3)}, "shape (3,)"),
    (1, {"x": [1, 2]}, "must be a number"),
])
def test_log_rejects_bad_input(tmp_path: Path, step, metrics, fragment) -> None:
    run = RunDir(tmp_path, tensorboard=False)
    with pytest.raises(ValueError) as info:
        run.log(step, metrics)
    assert fragment in str(info.value)


def test_tensorboard_events_and_plots(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    pytest.importorskip("matplotlib")
    run = RunDir(tmp_path, tensorboard=True)
    _log_steps(run, range(1, 5))
    run.log(4, {"llama/eval/greedy_acc": 0.3, "llama/eval/greedy_ci_low": 0.1, "llama/eval/greedy_ci_high": 0.5,
                "llama/eval/avg_at_k": 0.25, "qwen2/eval/greedy_acc": 0.2})
    run.log(0, {"llama/eval/greedy_acc": 0.1, "llama/eval/greedy_ci_low": 0.0, "llama/eval/greedy_ci_high": 0.3})
    written = run.plot()
    run.close()
    assert sorted(p.name for p in written) == sorted(PLOT_FILES)
    for p in written:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_read_metrics_merges_rows_by_step_and_skips_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 2, "a/reward": 1}\n{"step": 1, "a/reward": 0}\n{"step": 2, "a/eval/greedy_acc": 0.5}\n'
                    '{"step": 3, "a/rew')
    assert read_metrics(path) == [{"step": 1, "a/reward": 0}, {"step": 2, "a/reward": 1, "a/eval/greedy_acc": 0.5}]


def test_metrics_reading_skips_torn_lines_only(tmp_path: Path) -> None:
    """read_metrics and the resume rewind read through hacrl_env.jsonl.iter_jsonl(skip_torn=True):
    a torn line anywhere (a resumed run appends after it) is skipped, corruption is named."""
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "a/reward": 0.5}\n{"step": 2, "a/rew\n{"step": 2, "a/reward": 0.25}\n'
                    '{"step": 3, "a/reward": 1.0}\n')
    assert [r["step"] for r in read_metrics(path)] == [1, 2, 3]
    run = RunDir(tmp_path, tensorboard=False)
    run._truncate_metrics_after(2)  # what rewind_to does to metrics.jsonl
    assert path.read_text() == '{"step": 1, "a/reward": 0.5}\n{"step": 2, "a/reward": 0.25}\n'
    path.write_text('{"step": 1, "a/reward": NaN}\n')
    with pytest.raises(DataError, match=r"metrics.jsonl:1: field 'a/reward' is NaN"):
        read_metrics(path)


def test_atomic_write_leaves_the_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    write_text_atomic(path, "old\n")
    with pytest.raises(RuntimeError, match="injected"):
        with atomic_open(path) as f:
            f.write("half of the new")
            raise RuntimeError("injected")
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["config.yaml"]


def test_logging_after_a_torn_last_line_keeps_the_new_row(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "a/reward": 0.5}\n{"step": 2, "a/rew')  # killed mid-write
    run = RunDir(tmp_path, tensorboard=False)
    run.log(2, {"a/reward": 0.7})
    assert run.read_metrics() == [{"step": 1, "a/reward": 0.5}, {"step": 2, "a/reward": 0.7}]


def test_checkpoint_round_trip_and_latest_pointer(tmp_path: Path) -> None:
    from train.resume import capture_rng, restore_rng

    run = RunDir(tmp_path, tensorboard=False, keep_checkpoints=3)
    np.random.seed(3)
    state = {"step": 5, "optimizers": {"llama": {"lr": 1e-4}}, "rng": capture_rng(),
             "capability": torch.tensor([[0.2, 0.4]])}
    expected = np.random.rand(3)
    path = run.save_checkpoint(5, [FakeAgent("llama", 1.0), FakeAgent("qwen2", 2.0)], state)
    assert path == tmp_path / "checkpoints" / "step_5"
    assert (tmp_path / "checkpoints" / "latest").read_text() == "step_5"
    dirs, loaded = load_checkpoint(resolve_checkpoint(tmp_path))
    assert {n: _weight(d) for n, d in dirs.items()} == {"llama": 1.0, "qwen2": 2.0}
    assert loaded["step"] == 5 and loaded["optimizers"] == state["optimizers"]
    restore_rng(loaded["rng"])  # the numpy stream continues exactly where it was saved
    assert np.array_equal(np.random.rand(3), expected)
    assert torch.equal(loaded["capability"], state["capability"])


def test_a_checkpoint_that_needs_the_full_unpickler_is_refused_unless_trusted(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    run = RunDir(tmp_path, tensorboard=False, keep_checkpoints=3)
    run.save_checkpoint(1, [FakeAgent("llama", 1.0)], {"rng": np.random.get_state()})  # a raw numpy array
    monkeypatch.delenv("HACRL_TRUST_CHECKPOINTS", raising=False)
    with pytest.raises(ValueError, match="could run code.*HACRL_TRUST_CHECKPOINTS=1"):
        load_checkpoint(resolve_checkpoint(tmp_path))
    monkeypatch.setenv("HACRL_TRUST_CHECKPOINTS", "1")
    _, loaded = load_checkpoint(resolve_checkpoint(tmp_path))
    assert isinstance(loaded["rng"][1], np.ndarray)


def test_crash_mid_save_leaves_previous_checkpoint_intact(tmp_path: Path) -> None:
    run = RunDir(tmp_path, tensorboard=False, keep_checkpoints=1)
    run.save_checkpoint(10, [FakeAgent("llama", 1.0), FakeAgent("qwen2", 2.0)], {"step": 10})
    # the first agent is written, then the second fails: a crash in the middle of step 20's save
    with pytest.raises(RuntimeError, match="injected"):
        run.save_checkpoint(20, [FakeAgent("llama", 9.0), FakeAgent("qwen2", 9.0, fail=True)], {"step": 20})
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [10]
    assert (tmp_path / "checkpoints" / "latest").read_text() == "step_10"
    _, dirs, state, skipped = load_newest_intact(tmp_path / "checkpoints")
    assert state["step"] == 10 and not skipped and _weight(dirs["llama"]) == 1.0
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["latest", "step_10"]


def test_a_full_disk_is_named_with_the_way_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the real-pair sweep filled the disk: torch.save died with "unexpected pos" deep inside a worker
    from collections import namedtuple

    import train.checkpoint as ckpt

    run = RunDir(tmp_path, tensorboard=False, keep_checkpoints=2)
    run.save_checkpoint(5, [FakeAgent("llama", 1.0)], {"step": 5})
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(ckpt.shutil, "disk_usage", lambda p: usage(10 * 2**30, 10 * 2**30 - 2**28, 2**28))
    with pytest.raises(ckpt.CheckpointWriteError) as err:
        run.save_checkpoint(10, [FakeAgent("llama", 9.0, fail=True)], {"step": 10})
    msg = str(err.value)
    assert "checkpoint step 10 could not be written" in msg and "injected" in msg
    assert "0.2 GiB free there - the disk is (nearly) full" in msg and "(newest: step_5)" in msg
    assert "schedule.keep_checkpoints=1" in msg and f"--resume {tmp_path}" in msg
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [5]  # nothing lost, no leftovers
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["latest", "step_5"]


def test_leftovers_of_a_killed_save_are_ignored_then_cleared_by_the_next_save(tmp_path: Path) -> None:
    run = RunDir(tmp_path, tensorboard=False)
    run.save_checkpoint(1, [FakeAgent("a", 1.0)], {"step": 1})
    # what kill -9 during a save or a prune leaves behind: a half-written temp dir and trash
    (tmp_path / "checkpoints" / ".tmp-step_2-deadbeef" / "a").mkdir(parents=True)
    (tmp_path / "checkpoints" / ".trash-step_0-deadbeef").mkdir()
    (tmp_path / "checkpoints" / "step_3").mkdir()  # no meta.json: not a complete checkpoint
    assert find_latest_checkpoint(tmp_path) == tmp_path / "checkpoints" / "step_1"
    RunDir(tmp_path, tensorboard=False)  # opening (e.g. to plot a live run) deletes nothing
    assert len(list((tmp_path / "checkpoints").glob(".t*"))) == 2
    run.save_checkpoint(4, [FakeAgent("a", 4.0)], {"step": 4})  # the writer clears them
    assert not list((tmp_path / "checkpoints").glob(".t*"))


def test_pruning_keeps_the_newest(tmp_path: Path) -> None:
    run = RunDir(tmp_path, tensorboard=False, keep_checkpoints=2)
    for step in (2, 4, 10, 6):  # not in order: pruning ranks by step number, not by name or time
        run.save_checkpoint(step, {"a": FakeAgent("a", float(step))}, {"step": step})
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [6, 10]
    assert resolve_checkpoint(tmp_path) == tmp_path / "checkpoints" / "step_10"
    assert load_checkpoint(resolve_checkpoint(tmp_path, 6))[1]["step"] == 6
    with pytest.raises(ValueError, match=r"available steps: \[6, 10\]"):
        resolve_checkpoint(tmp_path, 2)


def test_rewinding_to_a_checkpoint_drops_later_metrics_and_sets_newer_checkpoints_aside(tmp_path: Path) -> None:
    run = RunDir(tmp_path, config=load_config(None, ["logging.tensorboard=false"]))
    _log_steps(run, range(1, 4))
    run.save_checkpoint(3, [FakeAgent("a", 1.0)], {"step": 3})
    _log_steps(run, range(4, 7))
    run.save_checkpoint(6, [FakeAgent("a", 6.0)], {"step": 6})
    run.log(7, {"llama/reward": 0.7})  # then the process dies at step 7
    run.close()
    resumed = RunDir.open(tmp_path / "checkpoints" / "step_3")  # also accepts a checkpoint dir
    assert resumed.path == tmp_path
    with pytest.warns(UserWarning, match="step_6 is newer"):
        resumed.rewind_to(tmp_path / "checkpoints" / "step_3")  # resuming from step 3 on purpose
    resumed.log(4, {"llama/reward": 0.9})
    assert [r["step"] for r in resumed.read_metrics()] == [1, 2, 3, 4]
    assert resumed.read_metrics()[-1]["llama/reward"] == 0.9
    # step 6 belongs to a future the resumed run will not have: kept, but out of a later resume's way
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [3]
    assert [_weight(d / "a") for d in (tmp_path / "checkpoints" / "superseded").iterdir()] == [6.0]
    assert (tmp_path / "checkpoints" / "latest").read_text() == "step_3"


def test_create_writes_config_and_names_the_run(tmp_path: Path) -> None:
    cfg = load_config(None, [f"output_dir={tmp_path}", "logging.tensorboard=false"])
    run = RunDir.create(cfg)
    assert run.path.parent == tmp_path and run.path.name.endswith("-hacpo")
    assert load_config(run.path / "config.yaml", []) == cfg
    assert make_run_path(cfg) != run.path  # the timestamp name is taken now: a suffix keeps runs apart
    named = load_config(None, [f"output_dir={tmp_path}", "run_name=exp1"])
    assert make_run_path(named) == tmp_path / "exp1"
    with pytest.raises(ValueError, match="does not exist"):
        RunDir.open(tmp_path / "nope")
    (tmp_path / "not_a_run").mkdir()
    with pytest.raises(ValueError, match="is not a run directory"):
        RunDir.open(tmp_path / "not_a_run", cfg)
    assert list((tmp_path / "not_a_run").iterdir()) == []  # nothing written into it


def test_missing_optional_packages_are_named_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    import train.run_dir as run_dir

    monkeypatch.setattr(run_dir, "tensorboard_available", lambda: False)
    with pytest.raises(ValueError, match=r"tensorboard is not installed; pip install 'hacrl\[train\]'"):
        RunDir(tmp_path, tensorboard=True)
    assert RunDir(tmp_path, tensorboard=None).use_tensorboard is False  # auto: off when missing
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    with pytest.raises(ValueError, match="matplotlib is not installed"):
        RunDir(tmp_path, tensorboard=False)
    assert RunDir(tmp_path, tensorboard=False, plots=False).plot() == []


def test_no_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no checkpoint found"):
        load_newest_intact(tmp_path / "checkpoints")


def test_plots_without_cost_metrics_draw_step_axes_only(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    run = RunDir(tmp_path, tensorboard=False)
    for s in range(3):
        run.log(s, {"a/reward": math.sin(s)})
    assert [p.name for p in run.plot()] == ["reward_vs_step.png"]
