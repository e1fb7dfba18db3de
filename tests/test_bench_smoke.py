"""bench/verifiers.py --quick runs end to end and prints its table (the numbers are not checked
here: speed targets live in docs/verifiers.md, never in timed unit tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_verifier_bench_quick_runs():
    out = subprocess.run([sys.executable, str(REPO / "bench" / "verifiers.py"), "--quick"],
                         capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| suite | n | verifier | accuracy |" in out.stdout
    for suite in ("public-275", "suite-gsm8k", "gsm8k-test-golds", "hostile"):
        assert f"| {suite} |" in out.stdout, suite
    assert "Hostile checks over 0.5 s:" in out.stdout
    assert "public-275, as labelled vs corrected" in out.stdout
