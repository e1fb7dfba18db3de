"""train/evaluate.py: Wilson CI by hand, grading through the env, a tiny real agent, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from train.evaluate import default_batch_size, eval_indices, evaluate_agent, main, paired_change, wilson_interval

ROOT = Path(__file__).resolve().parents[1]
TASK = dict(min_terms=2, max_terms=3, min_digits=1, max_digits=1, size=40)


@pytest.fixture(scope="module")
def tiny_agent():
    from agents.zoo import build_untrained

    # untrained weights and a tokenizer from a small corpus: seconds, no warm start
    return build_untrained("tiny-qwen2-char", corpus=["What is 3 + 4 - 2? Give the final answer after '####'. #### 5"])


def test_wilson_interval_by_hand() -> None:
    # p = 0.8, n = 10, z^2 = 3.8415: centre = (0.8 + 0.19207) / 1.38415 = 0.71674,
    # half = 1.96 * sqrt(0.016 + 0.0096) / 1.38415 = 0.22656 -> [0.4902, 0.9433]
    lo, hi = wilson_interval(8, 10)
    assert (lo, hi) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    # 0 of 10: lower bound exactly 0, upper z^2/(n + z^2) = 3.8415 / 13.8415 = 0.2775
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    assert wilson_interval(10, 10)[1] == 1.0 and wilson_interval(0, 0) == (0.0, 1.0)


def test_paired_change_by_hand() -> None:
    # d = [1, 1, 0, -1]: mean 0.25; sd (n-1) = sqrt(2.75 / 3) = 0.957427; se = 0.478714;
    # half = 1.959964 * 0.478714 = 0.938262 -> [-0.688262, 1.188262]
    change, lo, hi = paired_change([0, 0, 1, 1], [1, 1, 1, 0])
    assert change == pytest.approx(0.25)
    assert (lo, hi) == (pytest.approx(-0.688262, abs=1e-6), pytest.approx(1.188262, abs=1e-6))
    # pairing: the same +0.05 on 20 problems is clear when the same problems improve, and an
    # unchanged problem adds no variance (two independent Wilson intervals would overlap)
    before = [0.0] * 10 + [1.0] * 10
    change, lo, hi = paired_change(before, [0.1] * 10 + [1.0] * 10)
    assert change == pytest.approx(0.05) and lo > 0
    with pytest.raises(ValueError, match="same problems"):
        paired_change([0, 1, 1], [1, 1])


def test_accuracy_changes_pairs_per_problem_scores_and_tolerates_old_results() -> None:
    from train.summary import accuracy_changes

    start = {"a": {"accuracy": 0.5, "avg_at_k": 0.25, "greedy_correct": [0, 0, 1, 1], "sampled_acc": [0, 0, 0.5, 0.5]}}
    end = {"a": {"accuracy": 0.75, "avg_at_k": 0.5, "greedy_correct": [1, 1, 1, 0], "sampled_acc": [0.5, 0.5, 0.5, 0.5]}}
    out = accuracy_changes(start, end)["a"]
    assert out["greedy"]["change"] == pytest.approx(0.25)
    assert out["greedy"]["ci95"] == [pytest.approx(-0.688262, abs=1e-6), pytest.approx(1.188262, abs=1e-6)]
    # avg@k: d = [0.5, 0.5, 0, 0], mean 0.25, sd 0.288675, half 1.959964 * 0.144338 = 0.282897
    assert out["avg_at_k"]["ci95"] == [pytest.approx(-0.032897, abs=1e-6), pytest.approx(0.532897, abs=1e-6)]
    # a start evaluated before per-problem scores were kept (old checkpoint): change, no interval
    old = accuracy_changes({"a": {"accuracy": 0.5, "avg_at_k": 0.25}}, end)["a"]
    assert old["greedy"]["change"] == pytest.approx(0.25) and old["greedy"]["ci95"] is None


def test_eval_subset_is_fixed_and_spans_the_split() -> None:
    idx = eval_indices(1000, 50)
    assert idx == eval_indices(1000, 50) and len(set(idx)) == 50
    assert max(idx) > 500  # not just the head of the file (MATH's test file is ordered by subject)
    assert eval_indices(30, 50) == list(range(30))


def test_default_batch_size_follows_device_and_prompt_length() -> None:
    class OnDevice:
        def __init__(self, device: str):
            import torch

            self.device = torch.device(device)

    assert default_batch_size(OnDevice("cuda"), ["x" * 300]) == 256
    assert default_batch_size(OnDevice("cpu"), ["x" * 107] * 5) == 74  # 8000 // 107 (rg chain_sum)
    assert default_batch_size(OnDevice("cpu"), ["x" * 283] * 5) == 28  # GSM8K median prompt
    assert default_batch_size(OnDevice("cpu"), ["x" * 5000]) == 8
    assert default_batch_size(OnDevice("cpu"), ["x"]) == 128


@dataclass(frozen=True)
class FakeSample:
    text: str
    finished: bool = True

    @property
    def num_tokens(self) -> int:
        return len(self.text)


class OracleAgent:
    """Answers from the env's own gold, right on every problem whose prompt is in `right`."""

    def __init__(self, answers: dict[str, str], right: set[str]):
        self.answers, self.right, self.calls, self.lengths = answers, right, [], []

    def generate(self, prompts, n=1, temperature=1.0, top_p=1.0, max_new_tokens=128, seed=None, greedy=False):
        self.calls.append((len(prompts), n, greedy))
        self.lengths.append([len(p) for p in prompts])
        return [[FakeSample(f"so #### {self.answers[p]}" if p in self.right else "#### 100000")] * n
                for p in prompts]


def test_accuracy_counts_exactly_the_verified_answers() -> None:
    import hacrl_env

    env = hacrl_env.make_single("rg-chain_sum-v0", split="test", **TASK)
    idx = eval_indices(env.num_problems, 10)
    probs = [env.problem(i) for i in idx]
    agent = OracleAgent({p.prompt: p.answer for p in probs}, {p.prompt for p in probs[:7]})
    res = evaluate_agent(agent, "rg-chain_sum-v0", "test", env_kwargs=TASK, n_problems=10, k=3,
                         max_new_tokens=8, batch_size=4)
    assert res["accuracy"] == pytest.approx(0.7) and res["avg_at_k"] == pytest.approx(0.7)
    assert (res["ci_low"], res["ci_high"]) == pytest.approx(wilson_interval(7, 10))
    assert res["n"] == 10 and [r["index"] for r in res["per_problem"]] == idx
    assert [r["greedy_correct"] for r in res["per_problem"]] == [True] * 7 + [False] * 3
    assert res["per_problem"][0]["greedy_extracted"] == probs[0].answer
    # batched: 10 prompts in chunks of 4 -> 3 greedy calls and 3 sampled calls of n=3
    assert agent.calls == [(4, 1, True), (4, 3, False), (4, 1, True), (4, 3, False), (2, 1, True), (2, 3, False)]
    # chunks hold prompts of similar length (less left-padding): each chunk's longest prompt is
    # no longer than the next chunk's shortest
    greedy_chunks = agent.lengths[::2]
    assert all(max(a) <= min(b) for a, b in zip(greedy_chunks, greedy_chunks[1:]))


def test_sampled_only_and_bad_arguments() -> None:
    agent = OracleAgent({}, set())
    res = evaluate_agent(agent, "rg-chain_sum-v0", "test", env_kwargs=TASK, n_problems=3, k=2, greedy=False)
    assert res["accuracy"] == 0.0 and res["avg_at_k"] == 0.0 and "greedy_correct" not in res["per_problem"][0]
    with pytest.raises(ValueError, match="n_problems"):
        evaluate_agent(agent, "rg-chain_sum-v0", "test", env_kwargs=TASK, n_problems=0)
    with pytest.raises(ValueError, match="greedy or k >= 1"):
        evaluate_agent(agent, "rg-chain_sum-v0", "test", env_kwargs=TASK, n_problems=2, k=0, greedy=False)


def test_tiny_real_agent_gives_accuracy_with_ci_and_rows(tiny_agent) -> None:
    res = evaluate_agent(tiny_agent, "rg-chain_sum-v0", "test", env_kwargs=TASK, n_problems=3, k=2,
                         max_new_tokens=4, seed=1)
    assert 0.0 <= res["ci_low"] <= res["accuracy"] <= res["ci_high"] <= 1.0
    assert 0.0 <= res["avg_at_k"] <= 1.0
    assert len(res["per_problem"]) == 3
    row = res["per_problem"][0]
    assert {"problem_id", "answer", "greedy_correct", "greedy_response", "sampled_correct"} <= set(row)
    assert len(row["sampled_correct"]) == 2 and 1 <= row["greedy_tokens"] <= 4
    # same seed, same samples
    again = evaluate_agent(tiny_agent, "rg-chain_sum-v0", "test", env_kwargs=TASK, n_problems=3, k=2,
                           max_new_tokens=4, seed=1)
    assert [r["sampled_responses"] for r in again["per_problem"]] == [r["sampled_responses"] for r in res["per_problem"]]


@pytest.mark.slow  # a fresh interpreter imports torch + transformers: seconds, not milliseconds
def test_cli_on_a_checkpoint_dir_as_a_subprocess(tiny_agent, tmp_path: Path, fixture_data_dir) -> None:
    from train.run_dir import RunDir

    ckpt = RunDir(tmp_path / "run", tensorboard=False).save_checkpoint(1, [tiny_agent], {"step": 1})
    out = tmp_path / "res.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HACRL_DATA_DIR": str(fixture_data_dir)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "train" / "evaluate.py"), "--model", str(ckpt / tiny_agent.name),
         "--env", "gsm8k-v0", "--split", "test", "--n", "3", "--k", "1", "--max-new-tokens", "3",
         "--device", "cpu", "--out", str(out)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "gsm8k-v0/test (n=3): greedy pass@1" in proc.stdout and "95% CI" in proc.stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3 and all("greedy_correct" in r for r in rows)
    # graded against the fixture's golds: the subprocess read the data dir it was given
    golds = [json.loads(line)["answer"].rsplit("####", 1)[1].strip().replace(",", "")
             for line in (fixture_data_dir / "gsm8k" / "test.jsonl").open(encoding="utf-8")]
    assert [r["answer"] for r in rows] == [golds[int(r["problem_id"].rsplit("/", 1)[1])] for r in rows]
    summary = json.loads(out.with_name("res.jsonl.summary.json").read_text())
    assert summary["n"] == 3 and 0 <= summary["accuracy"] <= 1


@pytest.mark.parametrize("flag, int8", [([], False), (["--generation-precision", "int8"], True)])
def test_cli_samples_through_the_sampler_asked_for(monkeypatch, tmp_path: Path, flag, int8) -> None:
    """--generation-precision int8 evaluates the int8 rollout sampler (to see what it costs in
    accuracy); by default the model is sampled at its own precision."""
    import agents

    loaded = []
    load = agents.load
    monkeypatch.setattr(agents, "load", lambda *a, **kw: loaded.append(load(*a, **kw)) or loaded[-1])
    out = tmp_path / "res.jsonl"
    assert main(["--model", "tiny-llama-bpe", "--env", "rg-chain_sum-v0", "--env-kwarg", "size=40", "--n", "2",
                 "--k", "1", "--max-new-tokens", "3", "--device", "cpu", "--out", str(out), *flag]) == 0
    assert loaded[0].engine.int8 is int8 and len(out.read_text().splitlines()) == 2


def test_cli_hub_id_offline_fails_clearly(monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache: the model cannot be there
    assert main(["--model", "no-such-org/no-such-model", "--env", "gsm8k-v0", "--n", "2"]) == 2
    err = capsys.readouterr().err
    assert "no-such-org/no-such-model" in err and "offline" in err


def test_summary_marks_only_changes_whose_interval_excludes_zero(capsys) -> None:
    from train.summary import print_summary

    def row(change, ci):
        return {"start": 0.5, "end": 0.5 + change, "change": change, "ci95": ci}

    print_summary({"run_dir": "runs/x", "change": {
        "a": {"greedy": row(0.05, [0.01, 0.09]), "avg_at_k": row(-0.05, [-0.09, -0.01])},
        "b": {"greedy": row(0.02, [-0.01, 0.05]), "avg_at_k": row(0.02, None)}}})
    lines = {tuple(line.split()[:2]): line for line in capsys.readouterr().out.splitlines() if line[:2] in ("a ", "b ")}
    assert lines[("a", "greedy")].endswith(" up") and lines[("a", "avg_at_k")].endswith(" down")
    assert lines[("b", "greedy")].endswith("within noise") and "n/a" in lines[("b", "avg_at_k")]
    assert "+0.050" in lines[("a", "greedy")] and "[+0.010, +0.090]" in lines[("a", "greedy")]
