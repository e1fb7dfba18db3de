"""Registry, plug-ins, FunctionVerifier, adapters, check_many with processes, thread safety."""

from __future__ import annotations

import json
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import EntryPoint

import pytest

import verifiers
from verifiers import registry
from verifiers.base import Verdict


@pytest.fixture
def clean_registry(monkeypatch):
    """Registries are the only module-level mutables: copy them and restore after the test."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    yield registry._REGISTRY


def test_builtins_registered_on_import():
    assert {"gsm8k", "gsm8k-strict", "gsm8k-flexible", "exact"} <= set(verifiers.available_verifiers())
    assert verifiers.get_verifier("gsm8k-flexible").mode == "flexible"


def test_unknown_name_suggests_closest():
    with pytest.raises(ValueError, match=r"unknown verifier 'gsm8K'; did you mean 'gsm8k'") as e:
        verifiers.get_verifier("gsm8K")
    assert "register_verifier" in str(e.value)  # names the fix
    with pytest.raises(ValueError, match="Registered: "):
        verifiers.get_verifier("zzzzzz")


def test_non_name_types_rejected():
    with pytest.raises(TypeError, match="name, a Verifier or a callable"):
        verifiers.get_verifier(42)


def test_register_function_and_override(clean_registry):
    @verifiers.register_verifier("always-one")
    def always_one(response: str, answer: str) -> float:
        return 1.0

    assert verifiers.get_verifier("always-one")("x", "y") == 1.0
    with pytest.raises(ValueError, match="already registered; pick another name or pass override=True"):
        verifiers.register_verifier("always-one")(lambda r, a: 0.0)

    @verifiers.register_verifier("always-one", override=True)
    def always_zero(response: str, answer: str) -> bool:
        return False

    assert verifiers.get_verifier("always-one").check("x", "y").reason == "mismatch"
    with pytest.raises(TypeError, match="Verifier subclass or a function"):
        verifiers.register_verifier("bad")(3)


def test_register_class_gets_kwargs(clean_registry):
    @verifiers.register_verifier("prefix")
    class Prefix(verifiers.Verifier):
        def __init__(self, n: int = 1):
            self.n = n

        def _check(self, response, answer):
            ok = response[: self.n] == answer[: self.n]
            return Verdict(reward=float(ok), correct=ok)

    assert verifiers.get_verifier("prefix", n=3)("abcd", "abX") == 0.0
    assert verifiers.get_verifier("prefix", n=2)("abcd", "abX") == 1.0


def test_passthrough_of_verifier_and_callable():
    v = verifiers.get_verifier("exact")
    assert verifiers.get_verifier(v) is v
    fv = verifiers.get_verifier(lambda r, a: r == a)
    assert isinstance(fv, verifiers.FunctionVerifier) and fv("a", "a") == 1.0


@pytest.mark.parametrize("out, reward, reason", [
    (True, 1.0, ""), (False, 0.0, "mismatch"), (0.5, 0.5, "mismatch"), (1, 1.0, ""),
    (1.5, 0.0, "error"), (float("nan"), 0.0, "error"), ("yes", 0.0, "error"),
])
def test_function_verifier_outputs(out, reward, reason):
    v = verifiers.FunctionVerifier(lambda r, a: out, name="f")
    verdict = v.check("r", "a")
    assert (verdict.reward, verdict.reason) == (reward, reason)


def test_function_verifier_exception_becomes_error_verdict():
    def boom(r, a):
        raise RuntimeError("kaput")

    v = verifiers.FunctionVerifier(boom).check("r", "a")
    assert v.reason == "error" and "RuntimeError: kaput" in v.flags[0]


def test_non_string_input_is_an_error_verdict():
    v = verifiers.get_verifier("gsm8k").check(None, "5")  # type: ignore[arg-type]
    assert (v.reward, v.reason) == (0.0, "error")


def test_check_many_length_mismatch_names_fix():
    with pytest.raises(ValueError, match="pass one answer per response"):
        verifiers.get_verifier("gsm8k").check_many(["1", "2"], ["1"])


def _equal_len(response: str, answer: str) -> bool:  # module level: picklable for processes
    return len(response) == len(answer)


def test_check_many_with_two_processes_matches_serial():
    responses = [f"#### {i}" for i in range(40)]
    answers = [str(i if i % 3 else i + 1) for i in range(40)]
    g = verifiers.get_verifier("gsm8k")
    serial = [v.reward for v in g.check_many(responses, answers)]
    assert serial == [float(i % 3 != 0) for i in range(40)]
    assert [v.reward for v in g.check_many(responses, answers, processes=2)] == serial
    fv = verifiers.FunctionVerifier(_equal_len)
    assert [v.reward for v in fv.check_many(responses, answers, processes=2)] == \
        [float(len(r) == len(a)) for r, a in zip(responses, answers)]


def test_thread_safety_same_results_as_serial():
    pairs = [(f"Some work. The answer is {i}.", str(i % 7)) for i in range(400)]
    for name in ("gsm8k", "gsm8k-strict", "exact"):
        v = verifiers.get_verifier(name)
        serial = [v.check(r, a).reward for r, a in pairs]
        with ThreadPoolExecutor(max_workers=8) as ex:
            threaded = list(ex.map(lambda p: v.check(*p).reward, pairs))
        assert threaded == serial
    with ThreadPoolExecutor(max_workers=8) as ex:  # concurrent lookups do not corrupt the registry
        names = list(ex.map(lambda _: verifiers.get_verifier("gsm8k").name, range(64)))
    assert set(names) == {"gsm8k"}


# ---- entry-point plug-ins (group "hacrl.verifiers") ----------------------------------------

@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    (tmp_path / "hacrl_fake_plugin.py").write_text(textwrap.dedent("""
        def shout(response, answer):
            return response.upper() == answer
        def broken_import_target():
            pass
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "hacrl_fake_plugin"
    sys.modules.pop("hacrl_fake_plugin", None)


def test_entry_point_plugin_registers(clean_registry, plugin_module, monkeypatch):
    eps = [
        EntryPoint(name="shout", value=f"{plugin_module}:shout", group="hacrl.verifiers"),
        EntryPoint(name="missing", value="no_such_module_xyz:fn", group="hacrl.verifiers"),
        EntryPoint(name="gsm8k", value=f"{plugin_module}:shout", group="hacrl.verifiers"),
    ]

    def fake_entry_points(group=None, **kw):
        return [ep for ep in eps if ep.group == group]

    monkeypatch.setattr("importlib.metadata.entry_points", fake_entry_points)
    with pytest.warns(UserWarning, match="could not load verifier plug-in 'missing'"):
        names = verifiers.available_verifiers()
    assert "shout" in names and "missing" not in names
    assert verifiers.get_verifier("shout")("abc", "ABC") == 1.0
    # A plug-in cannot silently replace a built-in of the same name.
    assert isinstance(verifiers.get_verifier("gsm8k"), verifiers.gsm8k.GSM8KVerifier)


# ---- adapters --------------------------------------------------------------------------------

def trl_style_reward(completions, answer, **kwargs):
    """What a TRL user writes: batch in, one float (or None) per completion out."""
    out = []
    for c, a in zip(completions, answer):
        text = c[0]["content"] if isinstance(c, list) else c
        out.append(None if a == "skip" else float(text.strip() == a))
    return out


def test_from_trl_single_and_batch():
    v = verifiers.from_trl(trl_style_reward)
    assert v.name == "trl_style_reward"
    assert v("42", "42") == 1.0 and v("41", "42") == 0.0
    assert v.check("x", "skip").reason == "no_answer"
    verdicts = v.check_many(["1", "2", "x"], ["1", "3", "skip"])
    assert [x.reward for x in verdicts] == [1.0, 0.0, 0.0]
    conv = verifiers.from_trl(trl_style_reward, conversational=True)
    assert conv("42", "42") == 1.0


def test_from_trl_bad_return_is_error_verdict():
    v = verifiers.from_trl(lambda completions, **kw: 1.0)
    assert v.check("a", "b").reason == "error"
    v = verifiers.from_trl(lambda completions, **kw: [2.0])
    assert v.check("a", "b").reason == "error"
    with pytest.raises(TypeError, match="callable"):
        verifiers.from_trl("not a function")


def test_as_trl_reward_round_trip():
    reward = verifiers.as_trl_reward("gsm8k")
    assert reward.__name__ == "gsm8k"
    completions = ["#### 18", [{"role": "assistant", "content": "The answer is 17"}], "\\boxed{18}"]
    assert reward(completions, answer=["18", "18", "#### 18"], prompts=["p"] * 3) == [1.0, 0.0, 1.0]
    back = verifiers.from_trl(reward)
    assert back("#### 18", "18") == 1.0
    assert verifiers.as_trl_reward("gsm8k-strict").__name__ == "gsm8k_strict"


def test_from_bool():
    v = verifiers.from_bool(lambda r, a: r.strip() == a, name="strip-eq")
    assert (v(" a ", "a"), v("b", "a")) == (1.0, 0.0)
    assert verifiers.from_bool(lambda r, a: 1).check("a", "a").reason == "error"  # not a bool


@pytest.fixture(scope="module")
def legs():
    # Inside the fixture: a missing optional extra skips only the reasoning-gym tests.
    reasoning_gym = pytest.importorskip("reasoning_gym", reason="reasoning-gym is the optional 'rg' extra")
    return reasoning_gym.create_dataset("leg_counting", size=5, seed=3)


def test_reasoning_gym_by_index_and_by_entry(legs):
    v = verifiers.from_reasoning_gym(legs)
    gold = legs[2]["answer"]
    assert v(f"Counting legs...\n#### {gold}", "2") == 1.0  # index
    assert v(f"Counting...\n\\boxed{{{gold}}}", json.dumps(legs[2])) == 1.0  # serialized entry
    assert v(f"Counting...\nSo:\n{gold}\n", json.dumps(legs[2])) == 1.0  # last line
    assert v(f"#### {int(gold) + 1}", "2") == 0.0
    verdict = v.check(f"#### {gold}", "2")
    assert (verdict.extracted, verdict.flags) == (gold, ("span:hashes",))


def test_reasoning_gym_by_name_and_auto(legs):
    entry = json.dumps(legs[0])
    assert verifiers.from_reasoning_gym("leg_counting")(f"#### {legs[0]['answer']}", entry) == 1.0
    # None: the entry's metadata.source_dataset picks the scorer.
    assert verifiers.from_reasoning_gym()(f"#### {legs[0]['answer']}", entry) == 1.0
    fn = verifiers.from_reasoning_gym(legs.score_answer)
    assert fn(f"#### {legs[0]['answer']}", entry) == 1.0


def test_reasoning_gym_errors_name_the_fix(legs):
    with pytest.raises(ValueError, match="needs the dataset object"):
        verifiers.from_reasoning_gym(legs.score_answer, answer_format="index")
    v = verifiers.from_reasoning_gym(legs, answer_format="index")
    assert "not a dataset index" in v.check("#### 1", "{}").flags[0]
    assert verifiers.from_reasoning_gym(legs).check("", "1").reason == "no_answer"
    with pytest.raises(TypeError, match="reasoning-gym dataset"):
        verifiers.from_reasoning_gym(3.5)
