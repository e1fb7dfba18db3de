"""Cooperative time and size budgets for verifiers.

A check must never hang on hostile model text, and it must work off the main thread and in
worker processes, so `signal.alarm` is out. Instead every long-running step polls a
`Budget` (a deadline) between steps, and size guards refuse the operations that could run away
inside one library call (giant integer powers, factorials, expansions).
"""

from __future__ import annotations

import time
from dataclasses import dataclass


class BudgetExceeded(Exception):
    """Raised inside a check when its time or size budget is spent; the verifier turns it into
    `Verdict(reward=0, reason="budget")`."""


@dataclass(frozen=True)
class Limits:
    """Size limits for one check. The defaults keep every sympy call well under 0.1 s on a
    slow CPU (pure-Python big integers: a 10^6-digit power alone takes ~0.25 s and dividing
    two of them ~1.5 s, so exact numbers are capped far below that)."""

    #: Longest answer span (extracted `\\boxed{}` content or bare gold) that is parsed.
    max_answer_chars: int = 1000
    #: Deepest bracket / operator nesting the parser follows.
    max_depth: int = 100
    #: Most tokens in one answer (each token becomes at most one expression node).
    max_tokens: int = 600
    #: Largest exact integer (in bits) a number, power or factorial may produce (~21,000 digits).
    max_int_bits: int = 70_000
    #: Largest n for n! (5000! has 16,326 digits).
    max_factorial: int = 5000
    #: Largest integer exponent on a symbolic base that sympy may expand.
    max_symbolic_exponent: int = 64
    #: Most terms an expansion may produce before the symbolic route is skipped.
    max_expand_terms: int = 2000
    #: Most intervals in one union (`(a,b) \\cup [c,d] \\cup ...`), counted while parsing and
    #: again after nested unions are flattened. MATH answers use at most 5; sympy's `Union` of 50
    #: intervals with `\\pi` ends took 5-9 s in one call, so unions are canonicalised by our own
    #: code (sorted and merged under the budget), and this bound keeps that cheap (10-50 ms).
    max_intervals: int = 16
    #: Most items in one comma list, set or tuple (groups separated by `;` count together).
    #: MATH answers use at most 8; an unordered comparison may try every pair (n * m
    #: comparisons) when items are written differently on the two sides.
    max_items: int = 64
    #: Most entries in one matrix (MATH answers: at most 3x3; 10x10 = 100 is the same cap as
    #: matrix arithmetic has on each side).
    max_matrix_entries: int = 100
    #: Largest result (expression tree nodes over all entries, a shared subtree counted each
    #: time it is used) a matrix sum or product of non-numbers may have, estimated before sympy
    #: builds it. Each product of symbolic matrices doubles the tree of every entry (20 2x2
    #: products: 10^6 nodes per entry), and comparing or printing the result walks every node
    #: (printing: ~50 us a node). A 3x3 product of letters is ~90 nodes; a chain of 6 2x2
    #: matrices of letters (4 entries of 187) is the longest accepted.
    max_matrix_nodes: int = 1000
    #: Deepest nesting of sets, lists, tuples, intervals and matrices inside one another
    #: (MATH answers: at most 2, a list of points). Comparing nested sets recurses at every level.
    max_nesting: int = 10


DEFAULT_LIMITS = Limits()


class Budget:
    """A CPU-time deadline plus size limits for one check. Not shared between checks, so it
    needs no lock.

    The clock is this thread's CPU time (`time.thread_time`), not wall time: on a loaded
    training host a trivial check can be descheduled for longer than its whole budget, and a
    wall clock would then turn a correct answer into reward 0 with reason "budget". CPU time
    only counts work the check itself did, so verdicts do not depend on machine load."""

    __slots__ = ("deadline", "limits", "seconds")

    def __init__(self, seconds: float = 0.2, limits: Limits = DEFAULT_LIMITS):
        if not seconds > 0:
            raise ValueError(f"budget seconds must be > 0, got {seconds!r}; pass e.g. 0.2")
        self.seconds = seconds
        self.deadline = time.thread_time() + seconds
        self.limits = limits

    def remaining(self) -> float:
        return self.deadline - time.thread_time()

    def check(self) -> None:
        """Raise `BudgetExceeded` once the deadline has passed."""
        if time.thread_time() > self.deadline:
            raise BudgetExceeded(f"over the {self.seconds:g} s budget")

    def require(self, ok: bool, what: str) -> None:
        """Raise `BudgetExceeded` naming `what` when a size guard fails."""
        if not ok:
            raise BudgetExceeded(what)
