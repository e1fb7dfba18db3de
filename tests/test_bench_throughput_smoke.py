"""bench/throughput.py --quick runs end to end and prints its tables and plot. The numbers are not
checked here: the speed target (our gspo step <= half of TRL's) is measured by the full bench and
recorded in docs/performance.md, never in a timed unit test."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench" / "throughput.py"


def _run(*args: str) -> str:
    out = subprocess.run([sys.executable, str(BENCH), "--quick", *args], capture_output=True, text=True,
                         timeout=600, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.slow
def test_throughput_quick_phases_and_scaling(tmp_path):
    plot = tmp_path / "scaling.png"
    text = _run("--parts", "phases,scaling", "--plot", str(plot))
    assert "| generate | verify | score | update | other | step | optimizer updates |" in text
    # n agents each train on all n*P*G rows in minibatches of P*G/2: 2n updates per learner per step
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| hacpo ")}
    assert rows["hacpo n=2 P=2 G=2 T=4"].endswith("| 8 |"), rows
    assert rows["hacpo n=3 P=2 G=2 T=4"].endswith("| 18 |"), rows
    for axis in ("| G |", "| T |", "| n |"):
        assert axis in text, axis
    assert plot.stat().st_size > 10_000  # a real PNG, not an empty figure


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("trl") is None,
                    reason="trl is not installed; the TRL comparison needs the bench extra: pip install -e '.[bench]'")
def test_throughput_quick_trl_comparison():
    text = _run("--parts", "trl", "--trl-repeats", "2")
    assert "| hacrl gspo |" in text and "GRPOTrainer |" in text
    assert [line.split("|")[1].strip() for line in text.splitlines() if line.startswith(("| 1 |", "| 2 |"))] == ["1", "2"]
    assert "(median of the runs)" in text
    rows = [line for line in text.splitlines() if line.startswith(("| hacrl gspo |", "| TRL "))]
    # both sides did 2 optimizer updates and generated exactly P*G*T = 2*2*4 tokens per RL step
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[3] == "2" and cells[4] == "16", row
    assert "ours / TRL = " in text


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the ray extra: pip install -e '.[ray]'")
def test_backend_comparison_runs_every_setup_idle_and_busy():
    out = subprocess.run([sys.executable, str(BENCH), "--backend", "ray", "--presets", "smoke", "--repeats", "1",
                          "--steps", "1", "--warmup", "0"], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("| smoke |")]
    assert [r.split("|")[2].strip() for r in rows] == ["local, 2 threads", "local, 1 thread",
                                                      "ray, 1 thread per actor",
                                                      "bound: each agent 1 thread on its own core, trainer free"]
    assert all(float(r.split("|")[3]) > 0 and float(r.split("|")[4]) > 0 for r in rows[:3])  # idle and busy timed
    # the bound is the slowest agent of each phase of the local 1-thread step: part of that step
    assert 0 < float(rows[3].split("|")[3]) < float(rows[1].split("|")[3])
