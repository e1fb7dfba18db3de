"""The verifier contract: a `Verdict` per check and the `Verifier` base every grader extends.

A verifier turns (response, gold answer) into a reward in [0, 1]. It never raises on model
text: every failure is a `Verdict` with `reward=0.0` and a `reason`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

# Why a check failed. "budget": it ran past its time or size limits. "too_long": the response
# (or the answer it commits to) is longer than the grader reads; it is not graded on a part.
Reason = Literal["no_answer", "parse_error", "budget", "mismatch", "error", "too_long", ""]


@dataclass(frozen=True)
class Verdict:
    """Outcome of one check.

    reward: in [0, 1] (binary for math). correct: reward == 1.
    extracted: the answer span taken from the response ("" if none was found).
    normalized_pred / normalized_gold: the forms actually compared.
    rule: which rule decided ("exact", "numeric", "symbolic", "set", "interval", ...).
    reason: why it failed ("" when correct).
    seconds: wall time the check took.
    flags: extra notes, e.g. ("fallback_last_number",) when extraction used a weak rule.
    """

    reward: float
    correct: bool
    extracted: str = ""
    normalized_pred: str = ""
    normalized_gold: str = ""
    rule: str = ""
    reason: Reason | str = ""
    seconds: float = field(default=0.0, compare=False)  # timing: not part of the outcome
    flags: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "reward": self.reward,
            "correct": self.correct,
            "extracted": self.extracted,
            "normalized_pred": self.normalized_pred,
            "normalized_gold": self.normalized_gold,
            "rule": self.rule,
            "reason": self.reason,
            "seconds": self.seconds,
            "flags": list(self.flags),
        }


def failed(reason: str, *, extracted: str = "", seconds: float = 0.0, **kw: Any) -> Verdict:
    """A zero-reward verdict with its reason."""
    return Verdict(reward=0.0, correct=False, extracted=extracted, reason=reason, seconds=seconds, **kw)


def too_long(length: int, limit: int, **kw: Any) -> Verdict:
    """Reward 0, reason "too_long", for a response of `length` chars over a `limit`: a response
    the grader cannot read whole is wrong. Grading a part of it (say its last `limit` chars)
    would grade an answer it may not commit to: `\\boxed{7}` + filler + `1` would read 1."""
    flags = tuple(kw.pop("flags", ())) + (f"response of {length} chars is over the {limit}-char limit",)
    return failed("too_long", flags=flags, **kw)


class Verifier:
    """Base class. Subclasses implement `_check(response, answer) -> Verdict`.

    `check` wraps `_check` so that no input ever raises out of a verifier and the time taken is
    always recorded, and refuses a response over `max_response_chars` before `_check` sees it.
    `__call__` returns the reward only.
    """

    name: str = "verifier"
    #: Responses longer than this are not graded: reward 0, reason "too_long" (see `too_long`).
    max_response_chars: int = 20_000

    def _check(self, response: str, answer: str) -> Verdict:  # pragma: no cover - abstract
        raise NotImplementedError

    def check(self, response: str, answer: str) -> Verdict:
        start = time.perf_counter()
        if not isinstance(response, str) or not isinstance(answer, str):
            return failed("error", seconds=time.perf_counter() - start,
                          flags=(f"non-string input: {type(response).__name__}, {type(answer).__name__}",))
        if len(response) > self.max_response_chars:
            return too_long(len(response), self.max_response_chars, seconds=time.perf_counter() - start)
        try:
            v = self._check(response, answer)
        except Exception as exc:  # noqa: BLE001 - a verifier must never raise into the training loop
            return failed("error", seconds=time.perf_counter() - start,
                          flags=(f"{type(exc).__name__}: {exc}"[:200],))
        return Verdict(**{**v.__dict__, "seconds": time.perf_counter() - start})

    def __call__(self, response: str, answer: str) -> float:
        return self.check(response, answer).reward

    def check_many(self, responses: Sequence[str], answers: Sequence[str], *,
                   processes: int | None = None) -> list[Verdict]:
        """Check many pairs. `processes` > 1 uses a process pool (worth it for hundreds of
        symbolic checks); the default checks in this process."""
        if len(responses) != len(answers):
            raise ValueError(f"check_many got {len(responses)} responses but {len(answers)} answers; "
                             "pass one answer per response")
        if not processes or processes <= 1 or len(responses) < 2 * processes:
            return [self.check(r, a) for r, a in zip(responses, answers)]
        from concurrent.futures import ProcessPoolExecutor

        chunk = max(1, len(responses) // (4 * processes))
        with ProcessPoolExecutor(max_workers=processes) as ex:
            return list(ex.map(self.check, responses, answers, chunksize=chunk))
