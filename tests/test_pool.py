"""The shared trajectory pool: records, behaviour log-probs, each learner's encoding of them across
tokenizers (EOS policy), JSONL."""

from __future__ import annotations

import json

import pytest
import torch

from train.algorithms import get_algo
from train.pool import Pool, Trajectory, group_external, load_trajectories
from train.update_step import LearnerRow, encode_rows

PROMPT = "3 + 4 = ?\nGive the final answer after '####'."


@pytest.fixture(scope="module")
def two_agents():
    """Two untrained zoo agents with different architectures, tokenizers and chat templates."""
    from agents.zoo import build_untrained

    corpus = [f"{a} + {b} = ?\nGive the final answer after '####'. #### {a + b}" for a in range(10) for b in range(10)]
    return build_untrained("tiny-llama-bpe", corpus=corpus), build_untrained("tiny-qwen2-char", corpus=corpus)


def _record(**kw) -> Trajectory:
    base = dict(prompt_id="p0", prompt=PROMPT, response="#### 7", source="llama", reward=1.0)
    return Trajectory(**{**base, **kw})


def test_jsonl_round_trip_keeps_every_field(tmp_path):
    recs = [_record(source_token_ids=(5, 6, 2), source_mean_logp=-1.25, source_token_logps=(-1.0, -2.0, -0.75),
                    extracted="7", reason="match"),
            _record(prompt=[{"role": "user", "content": PROMPT}], response="#### 8", reward=0.0, finished=False,
                    sample_index=1)]
    path = Pool(recs, step=3).to_jsonl(tmp_path / "pool.jsonl")
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [d["step"] for d in lines] == [3, 3]
    assert lines[1]["truncated"] is True  # the derived flag is written for readers of the file
    back = Pool.from_jsonl(path)
    assert back.step == 3 and list(back.records) == recs
    assert [p.name for p in tmp_path.iterdir()] == ["pool.jsonl"]  # written atomically, no temp left


def test_from_jsonl_names_the_bad_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(_record().to_json()) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:2"):
        Pool.from_jsonl(path)


def test_a_pool_is_made_once():
    pool = Pool([_record(), _record(sample_index=1)])
    assert isinstance(pool.records, tuple) and not hasattr(pool, "add")
    with pytest.raises(AttributeError):  # frozen records
        pool.records[0].source_mean_logp = -1.0  # type: ignore[misc]


def _view(agent, records, *, own=False, max_prompt_tokens=256, max_response_tokens=32):
    rows = [LearnerRow(r, "gspo" if own else "cross", 0.0, is_self=own) for r in records]
    return encode_rows(agent, rows, max_prompt_tokens=max_prompt_tokens, max_response_tokens=max_response_tokens)[0]


def test_peer_rows_are_retokenised_with_the_learners_template_and_eos(two_agents):
    llama, qwen = two_agents
    text = "#### 17"
    finished = _record(source="llama", response=text, finished=True)
    cut = _record(source="llama", response=text, finished=False)
    view = _view(qwen, [finished, cut])
    eos = qwen.eos_token_ids[0]
    for row, ends_with_eos in ((0, True), (1, False)):
        ids = view.input_ids[row][view.response_mask[row].bool()].tolist()
        # the learner's own tokens for the text (char-level: one per character), plus its EOS iff finished
        assert (ids[-1] == eos) == ends_with_eos
        body = ids[:-1] if ends_with_eos else ids
        assert qwen.tokenizer.decode(body) == text
        assert len(body) == len(text)  # char tokenizer: re-tokenised in the LEARNER's vocabulary
        prompt_ids = view.input_ids[row][view.attention_mask[row].bool() & ~view.response_mask[row].bool()].tolist()
        assert qwen.tokenizer.decode(prompt_ids) == qwen.format_prompt(PROMPT)  # learner's chat template
    # the llama learner sees the same text in its own BPE tokens
    lview = _view(llama, [finished])
    lids = lview.input_ids[0][lview.response_mask[0].bool()].tolist()
    assert lids[-1] == llama.eos_token_ids[0]
    assert llama.tokenizer.decode(lids[:-1]).strip() == text
    assert len(lids) - 1 < len(text)  # BPE merges: fewer tokens than characters


def test_own_rows_reuse_sampled_ids_and_truncate_to_limits(two_agents):
    _, qwen = two_agents
    own = tuple(qwen.tokenizer("#### 123", add_special_tokens=False)["input_ids"]) + (qwen.eos_token_ids[0],)
    rec = _record(source="qwen", response="ignored text", source_token_ids=own)
    view = _view(qwen, [rec], own=True)
    assert view.input_ids[0][view.response_mask[0].bool()].tolist() == list(own)
    short = _view(qwen, [rec], own=True, max_prompt_tokens=5, max_response_tokens=3)
    assert int(short.num_response_tokens[0]) == 3
    assert int(short.attention_mask[0].sum()) == 5 + 3
    # own ids and a peer's text in one batch: each row is found at its own position
    peer = _record(source="llama", response="#### 123")
    enc, at = encode_rows(qwen, [LearnerRow(peer, "cross", 0.0), LearnerRow(rec, "gspo", 0.0, is_self=True)],
                          max_prompt_tokens=256, max_response_tokens=32)
    mine = enc.select([at[1]])
    assert mine.input_ids[0][mine.response_mask[0].bool()].tolist() == list(own)


def _write(tmp_path, rows):
    path = tmp_path / "ext.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_external_trajectories_with_and_without_logp(tmp_path):
    path = _write(tmp_path, [
        {"prompt": PROMPT, "response": "#### 7", "reward": 1, "source_mean_logp": -0.5},
        {"prompt": PROMPT, "response": "#### 9", "reward": 0, "source": "qwen", "finished": False},
        {"prompt_id": "q2", "prompt": "1 + 1 = ?", "response": "#### 2", "reward": 1, "source": "llama",
         "source_mean_logp": -3.0},
    ])
    recs = load_trajectories(path, ["llama", "qwen"])
    assert all(r.external for r in recs)
    assert recs[0].source_mean_logp == -0.5 and recs[0].source == ""
    assert recs[1].source_mean_logp is None and recs[1].finished is False  # rescored by qwen each step
    assert recs[2].source_mean_logp is None  # a run agent is named: its model rescores, the file value is ignored
    groups = group_external(recs)
    assert [len(g) for g in groups] == [2, 1] and groups[1][0].prompt_id == "q2"


@pytest.mark.parametrize("row, message", [
    ({"prompt": PROMPT, "response": "#### 7", "reward": 1, "source": "gpt"}, "source_mean_logp"),
    ({"prompt": PROMPT, "response": "#### 7", "reward": 1}, "no 'source_mean_logp'"),
    ({"prompt": PROMPT, "reward": 1, "source_mean_logp": -1}, "lacks"),
    ({"prompt": PROMPT, "response": "x", "reward": "high", "source_mean_logp": -1}, "'reward' must be a number"),
    ({"prompt": 3, "response": "x", "reward": 1, "source_mean_logp": -1}, "'prompt' must be"),
])
def test_external_trajectories_bad_input_is_a_clear_error(tmp_path, row, message):
    with pytest.raises(ValueError, match=message) as err:
        load_trajectories(_write(tmp_path, [row]), ["llama", "qwen"])
    assert "ext.jsonl:1" in str(err.value)


def test_external_trajectories_missing_file_and_empty_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_trajectories(tmp_path / "nope.jsonl", ["a"])
    with pytest.raises(ValueError, match="no external trajectories"):
        load_trajectories(_write(tmp_path, []), ["a"])


def _workers(two_agents):
    from train.config import AgentConfig
    from train.workers import LocalWorker

    llama, qwen = two_agents
    return [LocalWorker(llama, AgentConfig(name="llama", model="x")), LocalWorker(qwen, AgentConfig(name="qwen", model="x"))]


def test_behaviour_logprobs_are_each_sources_own_over_its_own_tokens(two_agents):
    """Re-scored ("recompute") by the SOURCE model over the source's own ids (EOS included): with
    exact fp32 samplers they equal what the sampler reported."""
    from train.loop import behaviour_logprobs

    workers = _workers(two_agents)
    samples = {w.name: w.generate([PROMPT], 2, seed=0, max_new_tokens=6) for w in workers}
    out = behaviour_logprobs(workers, [PROMPT], samples, get_algo("hacpo", behaviour_logprobs="recompute"))
    for name, groups in samples.items():
        for s, lp in zip(groups[0], out[name][0]):
            assert len(lp) == len(s.token_ids) and lp == pytest.approx(s.logprobs, abs=1e-4)


def test_behaviour_logprobs_reuse_an_exact_sampler_and_rescore_the_rest(two_agents, monkeypatch):
    """algo.behaviour_logprobs="auto": an exact fp32 sampler's own log-probs ARE the behaviour
    log-probs (no forward); an approximate sampler's samples are re-scored, and only when a peer
    reads them (no shared pool: the learner's update takes its own)."""
    from train.loop import behaviour_logprobs

    workers = _workers(two_agents)
    samples = {w.name: w.generate([PROMPT], 2, seed=0, max_new_tokens=6) for w in workers}
    monkeypatch.setattr(two_agents[1].engine, "int8", True)  # as if qwen had sampled from its int8 copy: not exact
    assert workers[0].sampler_logprobs_exact([PROMPT]) == [True]
    assert workers[1].sampler_logprobs_exact([PROMPT]) == [False]
    calls = []
    for w in workers:
        w.score = lambda prompts, _orig=w.score, _name=w.name, **kw: calls.append(_name) or _orig(prompts, **kw)
    out = behaviour_logprobs(workers, [PROMPT], samples, get_algo("hacpo"))
    assert calls == ["qwen"]  # llama's behaviour log-probs came without a forward
    assert out["llama"][0] == [s.logprobs for s in samples["llama"][0]]
    # qwen's are its training model's re-score, not the sampler's values
    assert out["qwen"][0] == workers[1].score([PROMPT] * 2, response_ids=[s.token_ids for s in samples["qwen"][0]])
    calls.clear()
    out = behaviour_logprobs(workers, [PROMPT], samples, get_algo("gspo"))
    assert calls == [] and out["qwen"][0] == [None, None] and out["llama"][0][0] is not None
    calls.clear()
    behaviour_logprobs(workers, [PROMPT], samples, get_algo("hacpo", behaviour_logprobs="recompute"))
    assert calls == ["llama", "qwen"]


def test_pool_records_are_complete_when_made(two_agents):
    from types import SimpleNamespace

    from train.loop import behaviour_logprobs, build_pool

    workers = _workers(two_agents)
    samples = {w.name: w.generate([PROMPT], 2, seed=0, max_new_tokens=6) for w in workers}
    behaviour = behaviour_logprobs(workers, [PROMPT], samples, get_algo("hacpo"))
    infos = {n: {"rewards": [[1.0, 0.0]], "extracted": [["7", "8"]], "reasons": [["match", "mismatch"]]}
             for n in samples}
    pool = build_pool([SimpleNamespace(id="q0")], [PROMPT], samples, infos, behaviour, step=4)
    for r in pool:
        lp = behaviour[r.source][0][r.sample_index]
        assert r.source_token_logps == tuple(lp) and r.source_mean_logp == pytest.approx(sum(lp) / len(lp))
        assert r.source_token_ids == tuple(samples[r.source][0][r.sample_index].token_ids)
        assert (r.prompt_id, r.policy_version, r.reward) == ("q0", 4, [1.0, 0.0][r.sample_index])


def test_a_prompt_longer_than_max_prompt_tokens_is_cut_before_sampling_as_before_the_update(two_agents):
    """The sampler sees the context the learner trains on, so its log-probs are the training
    model's (on GSM8K the char agent's prompts pass 256 tokens: with the whole prompt sampled and a
    cut one trained, the two differed by 0.5-6 nats per token)."""
    from train.config import AgentConfig
    from train.workers import LocalWorker

    _, qwen = two_agents
    worker = LocalWorker(qwen, AgentConfig(name="qwen", model="x", max_prompt_tokens=8))
    assert len(qwen.prompt_token_ids([PROMPT])[0]) > 8
    assert worker.sampler_logprobs_exact([PROMPT]) == [True]
    samples = worker.generate([PROMPT], 3, seed=0, max_new_tokens=6)[0]
    rescored = worker.score([PROMPT] * 3, response_ids=[s.token_ids for s in samples])  # cut to 8 tokens
    for s, lp in zip(samples, rescored):
        assert lp == pytest.approx(s.logprobs, abs=1e-5)
    whole = qwen.generate([PROMPT], n=3, seed=0, max_new_tokens=6)[0]  # no cut: another context
    assert [s.logprobs for s in whole] != [s.logprobs for s in samples]


def test_only_an_fp32_sampler_on_fp32_weights_is_exact(two_agents):
    from train.config import AgentConfig
    from train.workers import LocalWorker

    llama, _ = two_agents
    worker = LocalWorker(llama, AgentConfig(name="llama", model="x"))
    assert llama.engine.exact and worker.sampler_logprobs_exact([PROMPT, PROMPT]) == [True, True]
    try:
        llama.engine.int8 = True  # what generation_precision="int8" builds
        assert not llama.engine.exact and worker.sampler_logprobs_exact([PROMPT]) == [False]
        llama.engine.int8, llama.engine.autocast_dtype = False, torch.bfloat16  # bf16 sampling
        assert not llama.engine.exact
        llama.engine.autocast_dtype = None
        torch.set_float32_matmul_precision("high")  # TF32 matmuls on a GPU
        assert not llama.engine.exact
        torch.set_float32_matmul_precision("highest")
        llama.precision = "bf16"  # bf16 training forward: the sampler's fp32 values are not its own
        assert worker.sampler_logprobs_exact([PROMPT]) == [False]
    finally:
        llama.engine.int8, llama.engine.autocast_dtype, llama.precision = False, None, "fp32"
        torch.set_float32_matmul_precision("highest")


def test_external_rescored_by_named_source(two_agents, tmp_path):
    from train.loop import score_external

    _, qwen = two_agents
    workers = _workers(two_agents)
    ext = load_trajectories(_write(tmp_path, [
        {"prompt": PROMPT, "response": "#### 7", "reward": 1, "source": "qwen"},
        {"prompt": PROMPT, "response": "#### 7", "reward": 0, "source_mean_logp": -0.25}]), ["llama", "qwen"])
    scored = score_external(workers, ext)
    expected = qwen.sequence_logprobs([PROMPT], responses=["#### 7"], append_eos=True).mean[0]
    assert scored[0].source_mean_logp == pytest.approx(float(expected), abs=1e-5)
    assert scored[0].source_num_tokens == len("#### 7") + 1
    assert scored[1].source_mean_logp == -0.25
    assert torch.isfinite(torch.tensor(scored[0].source_mean_logp))


# --------------------------------------------------------------------- strict external files
# Each class of bad input is refused at load with file:line and the field, never coerced.

OK_ROW = {"prompt": PROMPT, "response": "#### 7", "reward": 1, "source_mean_logp": -0.5}


def _write_lines(tmp_path, lines):
    path = tmp_path / "ext.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _refused(tmp_path, bad_line, *needles):
    """Load [a good line, `bad_line`]: the error names ext.jsonl:2 and every needle."""
    path = _write_lines(tmp_path, [json.dumps(OK_ROW), bad_line])
    with pytest.raises(ValueError) as err:
        load_trajectories(path, ["llama", "qwen"])
    msg = str(err.value)
    assert "ext.jsonl:2:" in msg, msg
    for needle in needles:
        assert needle in msg, msg
    return msg


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_external_non_finite_source_mean_logp_is_refused(tmp_path, constant):
    line = json.dumps({**OK_ROW, "source_mean_logp": "X"}).replace('"X"', constant)  # json.dumps writes no NaN
    msg = _refused(tmp_path, line, "'source_mean_logp'", "finite")
    assert f"'source_mean_logp' is {constant}," in msg


@pytest.mark.parametrize("logp, needle", [("-0.5", "must be a number"), (True, "must be a number"),
                                          (0.25, "must be <= 0")])
def test_external_source_mean_logp_must_be_a_number_at_most_zero(tmp_path, logp, needle):
    _refused(tmp_path, json.dumps({**OK_ROW, "source_mean_logp": logp}), "'source_mean_logp'", needle)


def test_external_source_mean_logp_is_checked_even_when_a_run_agent_rescores(tmp_path):
    _refused(tmp_path, json.dumps({**OK_ROW, "source": "qwen", "source_mean_logp": "-1"}), "'source_mean_logp'")


@pytest.mark.parametrize("finished", ["false", "true", 0, None])
def test_external_finished_must_be_a_json_boolean(tmp_path, finished):
    msg = _refused(tmp_path, json.dumps({**OK_ROW, "finished": finished}), "'finished'", "JSON boolean")
    if finished == "false":
        assert "write false without quotes" in msg


@pytest.mark.parametrize("reward, needle", [("1", "write the number without quotes"), (True, "a boolean"),
                                            (None, "null"), ([1], "a list")])
def test_external_reward_must_be_a_json_number(tmp_path, reward, needle):
    _refused(tmp_path, json.dumps({**OK_ROW, "reward": reward}), "'reward' must be a number", needle)


def test_external_non_finite_reward_constant_is_refused(tmp_path):
    _refused(tmp_path, json.dumps(OK_ROW).replace('"reward": 1', '"reward": NaN'), "'reward'", "NaN")


@pytest.mark.parametrize("field, value, needle", [
    ("source_num_tokens", -1, "integer >= 0"), ("source_num_tokens", 2.0, "integer >= 0"),
    ("source_num_tokens", True, "integer >= 0"), ("source_num_tokens", "5", "integer >= 0"),
    ("prompt_id", 1.5, "string or an integer"), ("prompt_id", False, "string or an integer"),
    ("prompt_id", "", "non-empty"), ("source", 3, "must be a string"), ("source", None, "must be a string"),
    ("response", ["#### 7"], "must be a string"),
])
def test_external_optional_fields_have_their_types(tmp_path, field, value, needle):
    _refused(tmp_path, json.dumps({**OK_ROW, field: value}), repr(field), needle)


def test_external_prompt_id_may_be_an_int_including_zero(tmp_path):
    recs = load_trajectories(_write(tmp_path, [{**OK_ROW, "prompt_id": 0}, {**OK_ROW, "prompt_id": "a"}]), ["llama"])
    assert [r.prompt_id for r in recs] == ["0", "a"]


def test_external_non_numeric_log_prob_names_file_and_line(tmp_path):
    _refused(tmp_path, json.dumps({**OK_ROW, "source_mean_logp": "about -1"}), "'source_mean_logp' must be a number",
             "'about -1'")


@pytest.mark.parametrize("prompt, needle", [
    ([], "empty list"),
    (["hi"], "'prompt' message 0 must be an object"),
    ([{"role": "user"}], "'prompt' message 0 lacks ['content']"),
    ([{"role": "system", "content": "be brief"}, {"role": "bot", "content": "x"}],
     "'prompt' message 1 has role 'bot'; roles are system, user, assistant"),
    ([{"role": "user", "content": [{"type": "text", "text": "x"}]}], "'prompt' message 0 has 'content' of a list"),
    ([{"role": 1, "content": "x"}], "'prompt' message 0 has role 1"),
])
def test_external_chat_messages_are_checked_at_load(tmp_path, prompt, needle):
    _refused(tmp_path, json.dumps({**OK_ROW, "prompt": prompt}), needle)


def test_external_good_chat_prompt_loads(tmp_path):
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": PROMPT}]
    (rec,) = load_trajectories(_write(tmp_path, [{**OK_ROW, "prompt": msgs, "finished": False,
                                                  "source_num_tokens": 3}]), ["llama"])
    assert rec.prompt == msgs and rec.finished is False and rec.source_num_tokens == 3 and rec.reward == 1.0


def test_external_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "ext.jsonl"
    path.write_bytes(json.dumps(OK_ROW).encode() + b"\n" + b'{"prompt": "caf\xe9"}\n')
    with pytest.raises(ValueError, match=r"ext\.jsonl:2: not valid UTF-8.*re-save the file as UTF-8"):
        load_trajectories(path, ["llama"])


@pytest.mark.parametrize("field, bad, needle", [
    ("sampling_mean_logp", "NaN", "field 'sampling_mean_logp' is NaN"),
    ("reward", "Infinity", "field 'reward' is Infinity"),
    ("finished", '"false"', "'finished' must be a JSON boolean"),
    ("source_token_ids", '[5, "6"]', "'source_token_ids' must be null or a list of token ids"),
    ("prompt", '[{"role": "bot", "content": "x"}]', "'prompt' message 0 has role 'bot'"),
    ("step", '"3"', "'step' must be an integer >= 0"),
])
def test_pool_dump_bad_fields_name_file_line_and_field(tmp_path, field, bad, needle):
    path = Pool([_record(sampling_mean_logp=-1.0, source_token_ids=(5, 6))], step=2).to_jsonl(tmp_path / "pool.jsonl")
    good = path.read_text().splitlines()[0]
    d = json.loads(good)
    line = json.dumps({**d, field: "BAD"}).replace('"BAD"', bad)
    path.write_text(good + "\n" + line + "\n")
    with pytest.raises(ValueError) as err:
        Pool.from_jsonl(path)
    assert "pool.jsonl:2:" in str(err.value) and needle in str(err.value), str(err.value)


def test_pool_dump_missing_field_is_named(tmp_path):
    d = _record().to_json()
    del d["reward"]
    path = tmp_path / "pool.jsonl"
    path.write_text(json.dumps(d) + "\n")
    with pytest.raises(ValueError, match=r"pool\.jsonl:1: trajectory record lacks \['reward'\]"):
        Pool.from_jsonl(path)
