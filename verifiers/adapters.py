"""Adapters between hacrl verifiers and other reward conventions.

* `from_trl(f)`: a TRL reward function ``f(completions, **columns) -> list[float | None]`` as a
  `Verifier` (the gold goes in as the ``answer`` column; batches stay batches in `check_many`).
* `as_trl_reward(verifier)`: the other way, ``f(completions, answer, **kw) -> list[float]`` for
  ``GRPOTrainer(reward_funcs=[...])``; plain-text and conversational completions both work.
* `from_bool(fn)`: a plain ``(response, answer) -> bool`` predicate.
* `from_reasoning_gym(...)`: a reasoning-gym task's ``score_answer`` as a `Verifier`.

Reasoning-gym scores an answer against its *entry* (question, answer, metadata), not a bare
string, so the ``answer`` argument of `check` carries the entry. Two encodings are accepted:

* the serialized entry, ``json.dumps(entry)`` - self-contained, works with any source, and
  survives process pools and logs (what an env should store as a Problem's gold); or
* the entry's index in the dataset, as a decimal string (``"17"``) - compact, needs the
  dataset object passed to `from_reasoning_gym`.

``answer_format="auto"`` (default) reads a string starting with ``{`` as an entry and, when a
dataset was given, an all-digit string as an index; anything else is treated as a bare gold
answer ``{"answer": answer, "metadata": {}}``, which suits tasks whose scorer only compares
against ``entry["answer"]``.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Literal, Sequence

from verifiers.base import Verdict, Verifier, failed, too_long
from verifiers.exact import answer_span
from verifiers.math.boxes import UnreadableBox

TRLRewardFunc = Callable[..., "list[float | None]"]


def _reward_verdict(r: Any, rule: str, **kw: Any) -> Verdict:
    """A scorer's number -> Verdict; NaN, out-of-range or non-numbers become an error verdict."""
    if r is None:
        return failed("no_answer", rule=rule, flags=("reward function returned None",), **kw)
    if isinstance(r, bool) or not isinstance(r, (int, float)):
        try:
            r = float(r)  # numpy / torch scalars
        except (TypeError, ValueError):
            return failed("error", rule=rule, flags=(f"reward {r!r} is not a number",), **kw)
    r = float(r)
    if math.isnan(r) or not 0.0 <= r <= 1.0:
        return failed("error", rule=rule, flags=(f"reward {r!r} outside [0, 1]",), **kw)
    return Verdict(reward=r, correct=r == 1.0, rule=rule, reason="" if r == 1.0 else "mismatch", **kw)


class TRLRewardVerifier(Verifier):
    """A TRL-style batch reward function as a `Verifier` (made by `from_trl`)."""

    def __init__(self, fn: TRLRewardFunc, *, answer_column: str = "answer",
                 conversational: bool = False, name: str | None = None):
        if not callable(fn):
            raise TypeError(f"from_trl needs a callable reward function, got {type(fn).__name__}")
        self.fn = fn
        self.answer_column = answer_column
        self.conversational = conversational
        self.name = name or getattr(fn, "__name__", "trl_reward")

    def _call(self, responses: Sequence[str], answers: Sequence[str]) -> list[Any]:
        completions: list[Any] = list(responses)
        if self.conversational:
            completions = [[{"role": "assistant", "content": r}] for r in responses]
        out = self.fn(completions, **{self.answer_column: list(answers)})
        if not isinstance(out, (list, tuple)) or len(out) != len(responses):
            raise ValueError(f"reward function {self.name!r} must return a list with one reward per "
                             f"completion ({len(responses)}), got {type(out).__name__}"
                             f"{'' if not hasattr(out, '__len__') else f' of length {len(out)}'}")
        return list(out)

    def _check(self, response: str, answer: str) -> Verdict:
        return _reward_verdict(self._call([response], [answer])[0], self.name)

    def check_many(self, responses: Sequence[str], answers: Sequence[str], *,
                   processes: int | None = None) -> list[Verdict]:
        """One call of the wrapped function for the whole batch (TRL functions are written for
        batches, often vectorised); falls back to per-item checks if the batch call fails. A
        response over `max_response_chars` is refused as in `check` (reward 0, "too_long") and
        not passed to the function."""
        if len(responses) != len(answers):
            raise ValueError(f"check_many got {len(responses)} responses but {len(answers)} answers; "
                             "pass one answer per response")
        limit = self.max_response_chars
        over = [isinstance(r, str) and len(r) > limit for r in responses]
        kept = [i for i, o in enumerate(over) if not o]
        try:
            rewards = self._call([responses[i] for i in kept], [answers[i] for i in kept])
        except Exception:  # noqa: BLE001 - isolate the failing item(s) with per-item checks
            return super().check_many(responses, answers, processes=processes)
        graded = iter(rewards)
        return [too_long(len(r), limit) if o else _reward_verdict(next(graded), self.name)
                for r, o in zip(responses, over)]


def from_trl(fn: TRLRewardFunc, *, answer_column: str = "answer", conversational: bool = False,
             name: str | None = None) -> Verifier:
    """Wrap ``fn(completions, **columns) -> list[float | None]`` (TRL's reward-function shape).

    The gold is passed as the keyword ``answer_column`` (a dataset column in TRL). With
    ``conversational=True`` each completion is ``[{"role": "assistant", "content": text}]``.
    A None reward (TRL: "not applicable") becomes reward 0 with reason "no_answer".
    """
    return TRLRewardVerifier(fn, answer_column=answer_column, conversational=conversational, name=name)


def _completion_text(c: Any) -> str:
    """TRL completions are strings, or message lists in conversational datasets."""
    if isinstance(c, str):
        return c
    if isinstance(c, list) and c and isinstance(c[-1], dict):
        return str(c[-1].get("content", ""))
    raise TypeError(f"completion must be a string or a list of chat messages, got {type(c).__name__}")


def as_trl_reward(verifier: Verifier | str, *, processes: int | None = None) -> TRLRewardFunc:
    """A TRL reward function ``f(completions, answer, **kw) -> list[float]`` backed by `verifier`
    (a `Verifier` or a registered name). Extra dataset columns in ``kw`` are ignored. Its
    ``__name__`` is the verifier's name, which TRL uses for the ``rewards/<name>`` metrics."""
    from verifiers.registry import get_verifier

    v = get_verifier(verifier)

    def reward(completions: Sequence[Any], answer: Sequence[str], **kw: Any) -> list[float]:
        if isinstance(answer, str):  # a single gold for the whole batch
            answer = [answer] * len(completions)
        texts = [_completion_text(c) for c in completions]
        return [verdict.reward for verdict in v.check_many(texts, list(answer), processes=processes)]

    reward.__name__ = v.name.replace("-", "_")
    reward.__qualname__ = reward.__name__
    return reward


class BoolVerifier(Verifier):
    """A ``(response, answer) -> bool`` predicate as a `Verifier` (made by `from_bool`)."""

    def __init__(self, fn: Callable[[str, str], bool], name: str | None = None):
        if not callable(fn):
            raise TypeError(f"from_bool needs a callable, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "predicate")

    def _check(self, response: str, answer: str) -> Verdict:
        out = self.fn(response, answer)
        # numpy.bool_ is not a bool subclass; accept it by name rather than importing numpy.
        if not isinstance(out, bool) and type(out).__name__ != "bool_":
            raise TypeError(f"predicate {self.name!r} returned {type(out).__name__}; return True or False")
        ok = bool(out)
        return Verdict(reward=float(ok), correct=ok, rule=self.name, reason="" if ok else "mismatch")


def from_bool(fn: Callable[[str, str], bool], name: str | None = None) -> Verifier:
    """Wrap a plain ``(response, answer) -> bool`` check; True is reward 1, False reward 0."""
    return BoolVerifier(fn, name)


AnswerFormat = Literal["auto", "entry", "index"]


class ReasoningGymVerifier(Verifier):
    """Reasoning-gym ``score_answer`` as a `Verifier` (made by `from_reasoning_gym`)."""

    def __init__(self, source: Any = None, *, answer_format: AnswerFormat = "auto",
                 name: str | None = None):
        if answer_format not in ("auto", "entry", "index"):
            raise ValueError(f"answer_format must be 'auto', 'entry' or 'index', got {answer_format!r}")
        self.dataset = None
        self.score_fn: Callable[[str, dict], float] | None = None
        if isinstance(source, str):
            import reasoning_gym

            self.score_fn = reasoning_gym.get_score_answer_fn(source)
        elif hasattr(source, "score_answer") and hasattr(source, "__getitem__"):
            self.dataset = source
            self.score_fn = source.score_answer
        elif callable(source):
            self.score_fn = source
        elif source is not None:
            raise TypeError("from_reasoning_gym needs a reasoning-gym dataset, a task name, a "
                            f"score_answer(answer, entry) function or None; got {type(source).__name__}")
        if answer_format == "index" and self.dataset is None:
            raise ValueError("answer_format='index' needs the dataset object: pass "
                             "from_reasoning_gym(reasoning_gym.create_dataset(...))")
        self.answer_format = answer_format
        if name is None:
            label = source if isinstance(source, str) else "auto" if source is None \
                else getattr(source, "__name__", None) or type(source).__name__
            name = f"rg:{label}"
        self.name = name

    def _entry(self, answer: str) -> dict:
        s = answer.strip()
        fmt = self.answer_format
        if fmt == "auto":
            fmt = "entry" if s.startswith("{") else "index" if (self.dataset is not None and s.isdigit()) \
                else "bare"
        if fmt == "index":
            if not s.isdigit():
                raise ValueError(f"answer {s[:40]!r} is not a dataset index; pass the entry's index "
                                 "as a decimal string or use answer_format='entry'")
            return self.dataset[int(s)]
        if fmt == "entry":
            entry = json.loads(s)
            if not isinstance(entry, dict) or "answer" not in entry:
                raise ValueError("a serialized reasoning-gym entry must be a JSON object with an "
                                 "'answer' key (json.dumps(dataset[i]))")
            return entry
        return {"answer": answer, "metadata": {}}

    def _scorer(self, entry: dict) -> Callable[[str, dict], float]:
        if self.score_fn is not None:
            return self.score_fn
        source = (entry.get("metadata") or {}).get("source_dataset")
        if not source:
            raise ValueError("entry has no metadata.source_dataset; pass the dataset or task name "
                             "to from_reasoning_gym")
        import reasoning_gym

        return reasoning_gym.get_score_answer_fn(source)

    def _check(self, response: str, answer: str) -> Verdict:
        entry = self._entry(answer)
        try:
            span, where = answer_span(response)
        except UnreadableBox as exc:  # a last box cut off or too long: not graded on a part
            return failed(exc.reason, rule=self.name, flags=(exc.flag,),
                          normalized_gold=str(entry.get("answer", "")))
        if not span:
            return failed("no_answer", rule=self.name, normalized_gold=str(entry.get("answer", "")))
        r = self._scorer(entry)(span, entry)
        return _reward_verdict(r, self.name, extracted=span, normalized_pred=span,
                               normalized_gold=str(entry.get("answer", "")),
                               flags=(f"span:{where}",))


def from_reasoning_gym(source: Any = None, *, answer_format: AnswerFormat = "auto",
                       name: str | None = None) -> Verifier:
    """Score responses with reasoning-gym.

    ``source``: a dataset from ``reasoning_gym.create_dataset(...)`` (its ``score_answer``;
    enables index answers), a task name (``"leg_counting"``), a ``score_answer(answer, entry)``
    function, or None (each serialized entry's ``metadata.source_dataset`` picks the scorer).
    The answer span is taken from the response by `verifiers.exact.answer_span` (after the last
    ``####``, else the last ``\\boxed{}``, else the last non-empty line); a last box that never
    closes or is over ``MAX_BOX_CHARS`` scores 0 (reason "no_answer" / "too_long"). See the
    module doc for how the ``answer`` argument encodes the entry.
    """
    return ReasoningGymVerifier(source, answer_format=answer_format, name=name)
