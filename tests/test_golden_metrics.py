"""The trainer's numbers are pinned: every run in `tests/golden_runs.py` (the default run cut to
three small steps, the three-agent end-to-end run, and one run per row kind and option of the
update: grpo, naive, one_way, gspo2x with int8 rollouts, KL with shuffling off, no_stepwise,
external trajectories) logs the metrics stored in tests/data/golden_metrics.json, on one torch
thread with the same seed. A refactor that moves one of them changed what the trainer computes.

Values are compared to 1e-5 relative, not bit for bit: a CPU whose kernels sum in another order
than the machine that wrote the file moves losses and gradient norms in their last bits. On the
machine that wrote it the runs repeat bit for bit.
"""

from __future__ import annotations

import json
import math

import pytest

from golden_runs import GOLDEN, RUNS, run

EXPECTED = json.loads(GOLDEN.read_text())


def test_every_golden_run_is_pinned():
    assert sorted(EXPECTED) == sorted(RUNS), "regenerate: python tests/golden_runs.py --write"


@pytest.mark.parametrize("name", sorted(RUNS))
def test_metrics_match_the_pinned_values(name, tmp_path):
    got, want = run(name, str(tmp_path)), EXPECTED[name]
    assert sorted(got) == sorted(want), f"{name}: logged steps differ"
    moved = []
    for step, metrics in want.items():
        assert sorted(got[step]) == sorted(metrics), f"{name} step {step}: metric names differ"
        for key, value in metrics.items():
            if not math.isclose(got[step][key], value, rel_tol=1e-5, abs_tol=1e-7):
                moved.append(f"step {step} {key}: {value!r} -> {got[step][key]!r}")
    assert not moved, f"{name}: {len(moved)} metrics moved:\n" + "\n".join(moved[:20])
