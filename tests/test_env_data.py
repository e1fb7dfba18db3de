"""Loaders: GSM8K / MATH / MATH-500 from their upstream files, golds, splits, bad rows, sources."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium
import pytest

import hacrl_env
from hacrl_env.data import DataError, load_problems, resolve_data_dir
from hacrl_env.prompts import GSM8K_TEMPLATE, MATH_TEMPLATE

# Rows per fixture file in tests/data/benchmarks (see its README.md; make_fixtures.py picks them).
FIXTURE_ROWS = {"gsm8k/train": 32, "gsm8k/test": 32, "math/train": 32, "math/test": 40, "math500/test": 32}
MATH_TEST_IN_MATH500 = 10  # MATH test fixture rows whose problem is in the MATH-500 fixture


def _raw(root: Path, rel: str) -> list[dict]:
    """The rows of a data file, read here without the loader."""
    return [json.loads(line) for line in (root / rel).open(encoding="utf-8") if line.strip()]


def test_gsm8k_splits_golds_and_prompt(fixture_data_dir):
    train = load_problems("gsm8k", "train", template=GSM8K_TEMPLATE)
    test = load_problems("gsm8k", "test", template=GSM8K_TEMPLATE)
    assert (len(train), len(test)) == (FIXTURE_ROWS["gsm8k/train"], FIXTURE_ROWS["gsm8k/test"])
    p = train[0]
    # First train row (upstream line 1 too): Natalia sold 48/2 = 24 clips in May, 48 + 24 = 72 in all.
    assert p.id == "gsm8k/train/0" and p.index == 0 and p.answer == "72"
    assert p.question.startswith("Natalia sold clips")
    assert p.prompt == p.question + "\nSolve step by step, then give the final answer after '####'."
    assert "<<48/2=24>>" in p.meta["solution"]
    # Thousands separators are dropped from golds ("#### 1,080" -> "1080"); each fixture file
    # holds such a row on purpose.
    for split in (train, test):
        raw = [r["answer"].rsplit("####", 1)[1].strip() for r in _raw(fixture_data_dir, f"gsm8k/{split.split}.jsonl")]
        assert any("," in final for final in raw)
        assert [q.answer for q in split] == [final.replace(",", "") for final in raw]
        assert all("," not in q.answer for q in split)


def test_math_splits_and_golds(fixture_data_dir):
    train = load_problems("math", "train", template=MATH_TEMPLATE)
    test = load_problems("math", "test", template=MATH_TEMPLATE)
    t4500 = load_problems("math", "train4500", template=MATH_TEMPLATE)
    m500 = load_problems("math500", "test", template=MATH_TEMPLATE)
    # The fixture keeps one upstream row with an empty answer: skipped and listed, not an error.
    empty = [i + 1 for i, r in enumerate(_raw(fixture_data_dir, "math/train.jsonl")) if not r["answer"].strip()]
    assert len(empty) == 1
    assert len(train) == FIXTURE_ROWS["math/train"] - 1 and len(train.skipped) == 1
    assert train.skipped[0].endswith(f"train.jsonl:{empty[0]}: empty gold answer")
    assert (len(test), len(m500)) == (FIXTURE_ROWS["math/test"], FIXTURE_ROWS["math500/test"])
    # train4500 = MATH test minus the MATH-500 problems (matched on question text), in file order.
    held_out = {r["problem"].strip() for r in _raw(fixture_data_dir, "math500/test.jsonl")}
    kept = [p for p in test if p.question.strip() not in held_out]
    assert len(kept) == len(test) - MATH_TEST_IN_MATH500  # the fixture's overlap really is dropped
    assert [p.id for p in t4500] == [p.id.replace("math/test/", "math/train4500/") for p in kept]
    assert [(p.question, p.answer) for p in t4500] == [(p.question, p.answer) for p in kept]
    assert not any(p.question.strip() in held_out for p in t4500)
    # Test gold = last \boxed of the worked solution: "... the graph has $\boxed{2}$ vertical asymptotes."
    assert test[0].answer == "2" and test[0].meta["level"] == "Level 3"
    assert t4500[0].id.startswith("math/train4500/")
    assert train[0].id == "math/train/prealgebra/947.json"  # the copy's misleading "test/" dropped
    assert m500[0].answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert m500[0].prompt.endswith("Put your final answer within \\boxed{}.")
    # several subjects and levels, so subject- or level-specific parsing is exercised
    assert len({p.meta["type"] for p in test}) >= 5 and len({p.meta["level"] for p in test}) == 5
    assert len({p.meta["subject"] for p in train}) >= 5


@pytest.mark.full_data
def test_full_gsm8k_split_sizes(full_data_dir):
    train = load_problems("gsm8k", "train", data_dir=full_data_dir, template=GSM8K_TEMPLATE)
    test = load_problems("gsm8k", "test", data_dir=full_data_dir, template=GSM8K_TEMPLATE)
    assert (len(train), len(test)) == (7473, 1319)  # SOURCE.md line counts
    assert train[0].answer == "72" and train[0].question.startswith("Natalia sold clips")
    assert all("," not in q.answer for q in train)


@pytest.mark.full_data
def test_full_math_split_sizes(full_data_dir):
    train = load_problems("math", "train", data_dir=full_data_dir, template=MATH_TEMPLATE)
    test = load_problems("math", "test", data_dir=full_data_dir, template=MATH_TEMPLATE)
    t4500 = load_problems("math", "train4500", data_dir=full_data_dir, template=MATH_TEMPLATE)
    m500 = load_problems("math500", "test", data_dir=full_data_dir, template=MATH_TEMPLATE)
    # 7500 rows minus the 2 with an empty answer (lines 7037 and 7437, listed in SOURCE.md).
    assert len(train) == 7498 and len(train.skipped) == 2
    assert train.skipped[0].endswith("train.jsonl:7037: empty gold answer")
    assert train.skipped[1].endswith("train.jsonl:7437: empty gold answer")
    assert (len(test), len(t4500), len(m500)) == (5000, 4500, 500)
    held_out = {p.question.strip() for p in m500}
    assert not any(p.question.strip() in held_out for p in t4500)


@pytest.mark.full_data
def test_fixtures_are_upstream_rows_picked_by_their_script(full_data_dir, fixture_data_dir, tmp_path):
    """make_fixtures.py on the full data rewrites the shipped fixtures byte for byte (rows and
    licences), and every fixture line is an upstream line."""
    import runpy

    make = runpy.run_path(str(fixture_data_dir / "make_fixtures.py"), run_name="fixtures")["make"]
    counts = make(full_data_dir, tmp_path)
    assert {rel.removesuffix(".jsonl"): n for rel, n in counts.items()} == FIXTURE_ROWS
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert made and all((fixture_data_dir / rel).read_bytes() == (tmp_path / rel).read_bytes() for rel in made)
    assert {p.name for p in made} >= {"LICENSE", "LICENSE.hendrycks-math", "LICENSE.prm800k", "test.jsonl"}
    for rel in counts:
        upstream = set((full_data_dir / rel).read_bytes().splitlines())
        assert set((fixture_data_dir / rel).read_bytes().splitlines()) <= upstream, rel


def test_math500_has_no_train_split():
    with pytest.raises(ValueError, match="evaluation set only"):
        hacrl_env.make("math500-v0", split="train")
    with pytest.raises(ValueError, match="no split 'valid'.*'train', 'test'"):
        hacrl_env.make("gsm8k-v0", split="valid")


def test_a_benchmark_with_one_split_uses_it_when_none_is_given():
    """math500-v0 has only "test": make, make_vec, make_single and gymnasium.make without split=
    serve it. Several splits: "train" stays the default."""
    assert hacrl_env.make("math500-v0").split == "test"
    assert hacrl_env.make_vec("math500-v0", 2).split == "test"
    single = hacrl_env.make_single("math500-v0")
    assert single.par.split == "test" and single.num_problems == FIXTURE_ROWS["math500/test"]
    assert gymnasium.make("hacrl/math500-v0").unwrapped.par.split == "test"
    assert hacrl_env.make("gsm8k-v0").split == "train"
    assert hacrl_env.make_vec("math-v0", 2).split == "train"


def test_loading_is_cached_and_env_making_is_cheap():
    a = hacrl_env.make("gsm8k-v0", split="test")
    b = hacrl_env.make("gsm8k-v0", split="test", agents=4)
    assert a.problem_set._records is b.problem_set._records  # parsed once, shared


def test_problem_lookup_by_index_and_id():
    env = hacrl_env.make("gsm8k-v0", split="test")
    n = FIXTURE_ROWS["gsm8k/test"]
    p = env.problem(17)
    obs, infos = env.reset(options={"problem_id": p.id})
    assert infos["agent_0"]["index"] == 17 and obs["agent_0"] == p.prompt
    with pytest.raises(IndexError, match=f"out of range.*which has {n} problems"):
        env.problem(n)
    with pytest.raises(KeyError, match="no problem with id 'nope'"):
        env.reset(options={"problem_id": "nope"})
    with pytest.raises(TypeError, match="must be an int"):
        env.reset(options={"index": "3"})
    test_split = hacrl_env.make("gsm8k-v0").problems_for_split("test")
    assert len(test_split) == n and test_split[0].id == "gsm8k/test/0"


def test_prompt_template_override_and_checks():
    env = hacrl_env.make("math500-v0", split="test", prompt_template="Q: {question}\nA (\\boxed{}):")
    p = env.problem(0)
    assert p.prompt == f"Q: {p.question}\nA (\\boxed{{}}):"  # braces in a template are kept as is
    with pytest.raises(ValueError, match="exactly once"):
        hacrl_env.make("gsm8k-v0", prompt_template="no placeholder")
    with pytest.raises(TypeError, match="must be a str"):
        hacrl_env.make("gsm8k-v0", prompt_template=3)


def _write(tmp_path: Path, task: str, name: str, lines: list[str]) -> Path:
    (tmp_path / task).mkdir(parents=True, exist_ok=True)
    path = tmp_path / task / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("bad_line, message", [
    ('{"question": "q"}', r"train.jsonl:2: field 'answer' is missing"),
    ('{"question": 5, "answer": "#### 1"}', r"train.jsonl:2: field 'question' is a int"),
    ('{"question": "q", "answer": "no final line"}', r"train.jsonl:2: GSM8K answer has no '####"),
    ('{"question": "q", "answer": "#### "}', r"train.jsonl:2: GSM8K answer has an empty value"),
    ('{"question": "q", ', r"train.jsonl:2: not valid JSON"),
    ('[1, 2]', r"train.jsonl:2: expected a JSON object"),
])
def test_malformed_gsm8k_rows_name_file_and_line(tmp_path, bad_line, message):
    _write(tmp_path, "gsm8k", "train.jsonl", ['{"question": "ok", "answer": "#### 1"}', bad_line])
    with pytest.raises(DataError, match=message):
        load_problems("gsm8k", "train", data_dir=tmp_path, template=GSM8K_TEMPLATE)


def test_malformed_math_rows(tmp_path):
    _write(tmp_path, "math", "test.jsonl", ['{"problem": "p", "solution": "it is 2"}'])
    with pytest.raises(DataError, match=r"test.jsonl:1: MATH solution has no .*boxed"):
        load_problems("math", "test", data_dir=tmp_path, template=MATH_TEMPLATE)
    _write(tmp_path, "math500", "test.jsonl", ['{"problem": "p", "answer": " "}'])
    with pytest.raises(DataError, match=r"test.jsonl:1: MATH-500 row has an empty answer"):
        load_problems("math500", "test", data_dir=tmp_path, template=MATH_TEMPLATE)


def test_empty_and_missing_files(tmp_path):
    _write(tmp_path, "gsm8k", "train.jsonl", ["", "  "])
    with pytest.raises(DataError, match="no problems"):
        load_problems("gsm8k", "train", data_dir=tmp_path, template=GSM8K_TEMPLATE)
    with pytest.raises(DataError, match="test.jsonl' not found"):
        load_problems("gsm8k", "test", data_dir=tmp_path, template=GSM8K_TEMPLATE)


def test_edited_file_is_reread(tmp_path):
    path = _write(tmp_path, "gsm8k", "test.jsonl", ['{"question": "a", "answer": "#### 1"}'])
    assert len(load_problems("gsm8k", "test", data_dir=tmp_path, template=GSM8K_TEMPLATE)) == 1
    path.write_text('{"question": "a", "answer": "#### 1"}\n{"question": "b", "answer": "#### 22"}\n')
    again = load_problems("gsm8k", "test", data_dir=tmp_path, template=GSM8K_TEMPLATE)
    assert len(again) == 2 and again[1].answer == "22"


def test_data_dir_kwarg_beats_env_var(tmp_path, monkeypatch, fixture_data_dir):
    _write(tmp_path, "gsm8k", "test.jsonl", [json.dumps({"question": "only", "answer": "#### 7"})])
    env = hacrl_env.make("gsm8k-v0", split="test", data_dir=tmp_path)
    assert env.num_problems == 1 and env.problem(0).answer == "7"
    monkeypatch.setenv("HACRL_DATA_DIR", str(tmp_path))
    assert resolve_data_dir(None) == tmp_path
    assert resolve_data_dir(fixture_data_dir) == fixture_data_dir


def test_no_source_is_one_clear_error(monkeypatch):
    monkeypatch.delenv("HACRL_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub is not an option offline
    with pytest.raises(DataError) as err:
        hacrl_env.make("gsm8k-v0")
    msg = str(err.value)
    assert "data_dir=" in msg and "HACRL_DATA_DIR" in msg and "hacrl[data]" in msg


def test_bad_data_dir(tmp_path):
    with pytest.raises(DataError, match="data_dir = .* is not a directory"):
        hacrl_env.make("gsm8k-v0", data_dir=tmp_path / "nope")
    with pytest.raises(TypeError, match="data_dir must be a path"):
        hacrl_env.make("gsm8k-v0", data_dir=3)
    with pytest.raises(TypeError, match="split must be a str"):
        hacrl_env.make("gsm8k-v0", split=0)


def test_hub_fallback_reads_the_same_upstream_fields(monkeypatch):
    """With no data_dir / HACRL_DATA_DIR, an installed and online `datasets` is used (faked
    here: tests never download)."""
    import sys
    import types

    from hacrl_env import data

    calls = []

    def load_dataset(name, config, split):
        calls.append((name, config, split))
        if name == "openai/gsm8k":
            return [{"question": "1 + 1?", "answer": "1 + 1 = 2\n#### 2"}]
        if name == "HuggingFaceH4/MATH-500":
            return [{"problem": "shared", "answer": "4", "unique_id": "test/a/1.json"}]
        return [{"problem": "shared", "solution": "so $\\boxed{4}$", "level": "Level 1", "type": "A"},
                {"problem": "own", "solution": "so $\\boxed{\\frac{1}{2}}$", "level": "Level 2", "type": "A"}]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    monkeypatch.delenv("HACRL_DATA_DIR", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    data._hub_records.cache_clear()
    try:
        g = hacrl_env.make("gsm8k-v0", split="test")
        assert g.problem(0).answer == "2" and calls[0] == ("openai/gsm8k", "main", "test")
        m = hacrl_env.make("math-v0", split="train4500")  # MATH test minus MATH-500
        assert [p.answer for p in m.problem_set] == ["\\frac{1}{2}"]
        assert m.problem(0).id == "math/train4500/1"
    finally:
        data._hub_records.cache_clear()
