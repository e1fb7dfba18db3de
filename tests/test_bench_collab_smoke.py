"""bench/collab.py: the --quick sweep runs end to end, and the analysis (token-grid interpolation,
mean/spread over seeds, the claim verdicts) gives hand-computed numbers on synthetic run dirs.
The accuracies of real runs are not checked here: the sweep's results go to docs/results.md."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # bench/ is a folder of scripts, not an installed package
    sys.path.insert(0, str(REPO))

from bench import collab, collab_report as cr  # noqa: E402
AGENTS = ("llama", "qwen2")


def fake_run(out: Path, arm: str, seed: int, accs: dict[int, float], tokens_per_step: float, *,
             steps: int = 24, last_logged: int | None = None) -> Path:
    """A run dir like train.loop writes: config.yaml (schedule.steps) and metrics.jsonl with a cost
    row per step and `eval/*` at the steps in `accs` (both agents get the same numbers)."""
    path = out / f"{arm}-s{seed}"
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(f"seed: {seed}\nschedule:\n  steps: {steps}\n")
    rows = []
    for step in range(0, (steps if last_logged is None else last_logged) + 1):
        row: dict = {"step": step}
        for a in AGENTS:
            if step > 0:
                row[f"{a}/reward"] = 0.1
                row[f"{a}/cost/generated_tokens"] = tokens_per_step
                row[f"{a}/cost/generated_tokens_total"] = tokens_per_step * step
            if step in accs:
                row[f"{a}/eval/greedy_acc"] = accs[step]
                row[f"{a}/eval/avg_at_k"] = accs[step] / 2
        rows.append(json.dumps(row))
    (path / "metrics.jsonl").write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def sweep_dir(tmp_path):
    """3 seeds each: hacpo ends 0.5/0.6/0.7 after 1200 tokens (0.4 at step 12, 600 tokens), gspo
    ends 0.4/0.45/0.5 after 960, gspo2x ends 0.7/0.5/0.6 after 2400 (2G: twice hacpo's tokens)."""
    for seed, (h, g, g2) in enumerate(((0.5, 0.4, 0.7), (0.6, 0.45, 0.5), (0.7, 0.5, 0.6))):
        fake_run(tmp_path, "hacpo", seed, {0: 0.3, 12: 0.4, 24: h}, 50)
        fake_run(tmp_path, "gspo", seed, {0: 0.3, 12: 0.35, 24: g}, 40)
        fake_run(tmp_path, "gspo2x", seed, {0: 0.3, 12: 0.5, 24: g2}, 100)
    return tmp_path


def test_interpolates_accuracy_on_the_token_axis_without_extrapolating(tmp_path):
    fake_run(tmp_path, "hacpo", 0, {0: 0.2, 12: 0.4, 24: 0.3}, 50)  # eval points at 0, 600, 1200 tokens
    (run,), _ = cr.load_runs(tmp_path)
    assert run.eval_points("llama") == [(0, 0.0, 0.2), (12, 600.0, 0.4), (24, 1200.0, 0.3)]
    assert cr.acc_at_tokens(run, "llama", 300) == pytest.approx(0.3)
    assert cr.acc_at_tokens(run, "llama", 600) == pytest.approx(0.4)
    assert cr.acc_at_tokens(run, "llama", 900) == pytest.approx(0.35)
    assert math.isnan(cr.acc_at_tokens(run, "llama", 1201))
    grid, mean, lo, hi = cr.token_curve([run], "llama", np.linspace(0, 2400, 5))
    assert list(grid) == [0, 600, 1200] and list(mean) == pytest.approx([0.2, 0.4, 0.3])  # cut where the run ends


def test_stat_is_mean_sample_std_and_range():
    s = cr.stat([0.2, 0.4, 0.3, float("nan")])  # NaN (a seed that did not reach the budget) is dropped
    assert (s.mean, s.std, s.lo, s.hi, s.n) == pytest.approx((0.3, 0.1, 0.2, 0.4, 3))
    assert cr.stat([0.5]).std == 0 and cr.stat([]).n == 0
    assert s.fmt() == "0.300 ±0.100 [0.200, 0.400]"


def test_equal_step_stats_and_common_budget(sweep_dir):
    runs, skipped = cr.load_runs(sweep_dir)
    assert len(runs) == 9 and not skipped
    arms = cr.by_arm(runs)
    last = cr.at_steps(arms["gspo"], "qwen2")[24]
    assert (last.mean, last.lo, last.hi) == pytest.approx((0.45, 0.4, 0.5))
    assert cr.at_steps(arms["hacpo"], "llama", "avg_at_k")[12].mean == pytest.approx(0.2)
    assert cr.common_budget(runs, "llama") == 960  # gspo's 24 x 40 tokens: the least any run reached


def test_claim_verdicts_by_hand(sweep_dir):
    runs, _ = cr.load_runs(sweep_dir)
    steps, tokens, half = cr.verdicts(runs, "llama")
    # equal steps (24): 0.6 vs 0.45; not separated, since hacpo's worst seed (0.5) only ties gspo's best
    assert steps.holds and steps.diff == pytest.approx(0.15) and not steps.separate
    # equal tokens (960): hacpo read 60% of the way from step 12 (600 tokens, 0.4) to step 24 (1200):
    # 0.46, 0.52, 0.58 -> 0.52, against gspo's finals 0.45
    assert tokens.holds and tokens.hacpo.mean == pytest.approx(0.52) and tokens.diff == pytest.approx(0.07)
    assert tokens.hacpo.lo == pytest.approx(0.46) and "960 tokens" in tokens.note
    # hacpo after 1200 tokens (0.6) vs gspo2x after 2400 (mean 0.6): a tie counts for ">="
    assert half.holds and half.diff == pytest.approx(0.0) and "ratio 0.50" in half.note


def test_half_token_claim_fails_and_reads_short_runs_at_their_end(tmp_path):
    for seed in range(2):
        fake_run(tmp_path, "hacpo", seed, {0: 0.3, 24: 0.5}, 50)         # 1200 tokens
        fake_run(tmp_path, "gspo2x", seed, {0: 0.3, 24: 0.6 + seed / 10}, 90)  # stops at 2160 < 2400
    runs, _ = cr.load_runs(tmp_path)
    steps, tokens, half = cr.verdicts(runs, "qwen2")
    assert steps.holds is None and "gspo" in steps.note  # no gspo arm: not claimed either way
    assert half.holds is False and half.baseline.mean == pytest.approx(0.65) and half.diff == pytest.approx(-0.15)
    assert half.separate is False and "ratio 0.56" in half.note


def test_half_token_claim_reads_a_longer_gspo2x_run_at_twice_hacpos_tokens(tmp_path):
    fake_run(tmp_path, "hacpo", 0, {0: 0.3, 24: 0.5}, 50)                  # N = 1200 tokens
    fake_run(tmp_path, "gspo2x", 0, {0: 0.3, 12: 0.3, 24: 0.9}, 120)       # 1440 at step 12, 2880 at 24
    runs, _ = cr.load_runs(tmp_path)
    half = cr.verdicts(runs, "llama")[2]
    # read at 2N = 2400 tokens, 2/3 of the way from 1440 to 2880: 0.3 + 2/3 * 0.6 = 0.7 (not its final 0.9)
    assert half.baseline.mean == pytest.approx(0.7) and half.holds is False and "ratio 0.50" in half.note


def test_unfinished_runs_are_skipped_with_a_reason(tmp_path):
    fake_run(tmp_path, "hacpo", 0, {0: 0.3, 12: 0.4}, 50, last_logged=12)
    (tmp_path / "not-a-run").mkdir()
    runs, skipped = cr.load_runs(tmp_path)
    assert runs == [] and skipped == ["hacpo-s0: unfinished (metrics reach step 12 of 24)"]
    assert cr.run_status(tmp_path / "missing-s0")[0] == "missing"


def test_report_warns_when_runs_of_different_lengths_are_mixed(tmp_path):
    fake_run(tmp_path, "hacpo", 0, {0: 0.3, 24: 0.5}, 50)
    fake_run(tmp_path, "gspo", 0, {0: 0.3, 12: 0.4}, 50, steps=12)
    text = cr.report(*cr.load_runs(tmp_path))
    assert "WARNING: runs differ in schedule.steps ([12, 24])" in text
    assert "| llama | HACPO beats GSPO (equal steps) | yes |" in text  # 0.5 at step 24 vs 0.4 at step 12


def test_analyze_only_writes_table_and_plots(sweep_dir, tmp_path, capsys):
    out = tmp_path / "report" / "table.md"
    rc = collab.main(["--analyze-only", "--out-dir", str(sweep_dir), "--out", str(out),
                      "--plot-dir", str(tmp_path / "plots")])
    assert rc == 0
    text = out.read_text()
    assert capsys.readouterr().out == text + "\n"  # the file holds exactly what was printed
    assert "| hacpo | 3 | 0.300 ±0.000 [0.300, 0.300] | 0.400 ±0.000 [0.400, 0.400] | 0.600 ±0.100" in text
    assert "| llama | HACPO beats GSPO (equal steps) | yes |" in text
    assert "| qwen2 | HACPO >= GSPO x2 at half the tokens | yes |" in text
    for name in ("collab_steps.png", "collab_tokens.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 10_000


def test_cli_rejects_overrides_of_what_the_sweep_sets():
    with pytest.raises(SystemExit):
        collab.parse_args(["--set", "seed=3"])
    args = collab.parse_args(["--seeds", "2", "--arms", "hacpo,gspo2x", "--set", "agents.0.lr=3e-4", "--steps", "6"])
    assert args.seeds == [0, 1] and args.arms == ["hacpo", "gspo2x"]
    assert collab.parse_args(["--seeds", "0,"]).seeds == [0] and collab.parse_args(["--seeds", "2,5"]).seeds == [2, 5]
    for bad in ("0", "1,x"):  # a count of zero trains nothing: refused, with the spelling for seed 0
        with pytest.raises(SystemExit):
            collab.parse_args(["--seeds", bad])
    over = collab.run_overrides(args, "gspo2x", 1)
    assert over[0] == "agents.0.lr=3e-4" and "schedule.steps=6" in over
    assert "algo.name=gspo2x" in over and "seed=1" in over and "run_name=gspo2x-s1" in over


def test_quick_sweep_end_to_end_then_resume_skips_and_config_clash_is_refused(tmp_path):
    out = tmp_path / "sweep"
    proc = subprocess.run([sys.executable, "bench/collab.py", "--quick", "--in-process", "--out-dir", str(out),
                           "--out", str(tmp_path / "table.md")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[2/2] gspo seed 0: done" in proc.stdout
    assert "(2 arms x seeds 0, in-process)" in proc.stdout  # the seed ids, so `--seeds 1` (a count) is not mistaken for seed 1
    for line in ("| hacpo | 1 |", "| gspo | 1 |", "| llama | HACPO beats GSPO (equal steps) |",
                 "| qwen2 | HACPO >= GSPO x2 at half the tokens | n/a |"):
        assert line in proc.stdout, line
    assert (out / "collab_tokens.png").is_file() and (tmp_path / "table.md").read_text().startswith("Finished runs: 2")
    # the same sweep again: nothing left to train; a different config must not join these runs
    args = collab.parse_args(["--quick", "--in-process", "--out-dir", str(out), "--resume-existing"])
    assert collab.plan(args) == []
    # keeping fewer checkpoints changes the disk, not the result: the finished runs still join
    assert collab.plan(collab.parse_args(["--quick", "--in-process", "--out-dir", str(out), "--resume-existing",
                                          "--set", "schedule.keep_checkpoints=3", "--set", "schedule.save_every=5"])) == []
    with pytest.raises(SystemExit, match="another config"):
        collab.plan(collab.parse_args(["--quick", "--out-dir", str(out), "--resume-existing", "--steps", "2"]))
    with pytest.raises(SystemExit, match="already exists"):
        collab.plan(collab.parse_args(["--quick", "--out-dir", str(out)]))


def test_resume_existing_resumes_from_a_checkpoint_and_reruns_a_dir_without_one(tmp_path):
    from train.config import config_to_yaml, load_config

    args = collab.parse_args(["--quick", "--out-dir", str(tmp_path), "--resume-existing"])
    for arm in ("hacpo", "gspo"):  # both interrupted after step 0, with the sweep's exact config
        run = tmp_path / f"{arm}-s0"
        run.mkdir()
        (run / "config.yaml").write_text(config_to_yaml(load_config(args.config, collab.run_overrides(args, arm, 0))))
        (run / "metrics.jsonl").write_text('{"step": 0, "llama/eval/greedy_acc": 0.0}\n')
    (tmp_path / "gspo-s0" / "checkpoints" / "step_1").mkdir(parents=True)
    todo = {arm: argv for arm, _, argv in collab.plan(args)}
    assert todo["gspo"][-2:] == ["--resume", str(tmp_path / "gspo-s0")]
    assert "run_name=hacpo-s0" in todo["hacpo"] and not (tmp_path / "hacpo-s0").exists()
    assert len(list(tmp_path.glob("hacpo-s0.incomplete-*"))) == 1  # kept for inspection, not deleted


@pytest.mark.slow
def test_child_process_runs_and_a_failing_arm_does_not_stop_the_sweep(tmp_path):
    bad = subprocess.run([sys.executable, "bench/collab.py", "--quick", "--out-dir", str(tmp_path / "bad"),
                          "--set", "agents.1.model=/nonexistent/model"],  # valid config, fails at load
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1
    assert "[1/2] hacpo seed 0: FAILED" in bad.stdout and "[2/2] gspo seed 0: FAILED" in bad.stdout
    assert "FAILED gspo-s0: exit code" in bad.stderr and "No finished runs found." in bad.stdout
    out = tmp_path / "sweep"
    proc = subprocess.run([sys.executable, "bench/collab.py", "--quick", "--arms", "gspo", "--out-dir", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[1/1] gspo seed 0: done" in proc.stdout and (out / "logs" / "gspo-s0.log").is_file()
    assert cr.run_status(out / "gspo-s0")[0] == "finished"
