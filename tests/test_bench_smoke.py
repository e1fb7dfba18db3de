"""bench/verifiers.py --quick runs end to end and prints its table (the numbers are not checked
here: speed targets live in docs/verifiers.md, never in timed unit tests). Its suites need the
full data sets (the public math-verify cases are not in the repository), so the run is a
full_data test; without the data the bench must stop at once with an error naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _bench(data_dir: Path | None, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HACRL_DATA_DIR"}
    if data_dir is not None:
        env["HACRL_DATA_DIR"] = str(data_dir)
    return subprocess.run([sys.executable, str(REPO / "bench" / "verifiers.py"), *args],
                          capture_output=True, text=True, timeout=300, cwd=REPO, env=env)


@pytest.mark.full_data
def test_verifier_bench_quick_runs(full_data_dir):
    out = _bench(full_data_dir, "--quick")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| suite | n | verifier | accuracy |" in out.stdout
    for suite in ("public-275", "suite-gsm8k", "gsm8k-test-golds", "hostile"):
        assert f"| {suite} |" in out.stdout, suite
    assert "Hostile checks over 0.5 s:" in out.stdout
    assert "public-275, as labelled vs corrected" in out.stdout


def test_verifier_bench_without_data_names_the_variable(fixture_data_dir):
    unset = _bench(None, "--quick", "--no-math-verify")
    assert unset.returncode != 0 and unset.stdout == ""
    assert "set HACRL_DATA_DIR=" in unset.stderr and "verifier-cases/cases.jsonl" in unset.stderr
    # The shipped fixtures have no public cases (never copied into the repo): named, not a traceback.
    partial = _bench(fixture_data_dir, "--quick", "--no-math-verify")
    assert partial.returncode != 0 and "Traceback" not in partial.stderr
    assert f"HACRL_DATA_DIR={str(fixture_data_dir)!r} lacks verifier-cases/cases.jsonl;" in partial.stderr
