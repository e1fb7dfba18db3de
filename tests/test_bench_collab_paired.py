"""bench/collab_paired.py: arm minus baseline on the same problems, from the runs' last checkpoints."""

from __future__ import annotations

import json

import pytest
import torch

from bench import collab_paired


def _run(root, name, *, sampled, greedy, tokens, finished=True, step=150):
    run = root / name
    ck = run / "checkpoints" / f"step_{step}"
    ck.mkdir(parents=True)
    evals = {"a": {"sampled_acc": sampled, "greedy_correct": greedy, "n": len(sampled)}}
    torch.save({"trainer": {"step": step, "last_eval": evals, "generated_tokens_total": {"a": tokens}}, "rng": {}},
               ck / "trainer_state.pt")
    if finished:
        (run / "summary.json").write_text(json.dumps({"change": {}}))


def test_paired_difference_per_seed_tokens_and_unfinished_runs(tmp_path):
    _run(tmp_path, "gspo-s0", sampled=[0.0, 0.5, 0.5, 1.0], greedy=[0, 1, 0, 1], tokens=100)
    _run(tmp_path, "hacpo-s0", sampled=[0.5, 0.5, 1.0, 1.0], greedy=[1, 1, 0, 1], tokens=110)
    _run(tmp_path, "gspo2x-s0", sampled=[0.0, 0.5, 0.5, 1.0], greedy=[0, 1, 0, 1], tokens=200, finished=False)
    runs, unfinished = collab_paired.find_runs([str(tmp_path)])
    assert set(runs) == {("gspo", 0), ("hacpo", 0)} and unfinished == ["gspo2x-s0"]
    (row,) = collab_paired.paired_rows(runs, ["hacpo"], "gspo")
    # per-problem differences 0.5, 0, 0.5, 0: mean 0.25, sd 0.2887, half-width 1.96 * 0.2887 / 2
    d, lo, hi = row["avg"]
    assert d == pytest.approx(0.25) and hi - d == pytest.approx(1.959964 * 0.288675 / 2, rel=1e-3)
    assert row["greedy"][0] == pytest.approx(0.25) and row["tokens"] == pytest.approx(1.1)
    text = collab_paired.main(["--runs", str(tmp_path), "--baseline", "gspo"])
    assert "| hacpo | a | 0 | 0.750 | +25.0" in text and "Not finished (left out): gspo2x-s0" in text


def test_runs_on_different_problem_sets_are_refused(tmp_path):
    _run(tmp_path, "gspo-s0", sampled=[0.0, 1.0], greedy=[0, 1], tokens=1)
    _run(tmp_path, "hacpo-s0", sampled=[0.0, 1.0, 1.0], greedy=[0, 1, 1], tokens=1)
    with pytest.raises(ValueError, match="not the same held-out set"):
        collab_paired.paired_rows(collab_paired.find_runs([str(tmp_path)])[0], ["hacpo"], "gspo")
