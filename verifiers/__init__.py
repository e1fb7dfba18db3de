"""Answer verification for verifiable-reward RL: safe on hostile text, fast, pluggable."""

from verifiers.base import Verdict, Verifier, failed
from verifiers.registry import (
    FunctionVerifier,
    available_verifiers,
    get_verifier,
    register_verifier,
)

__all__ = ["Verdict", "Verifier", "failed", "FunctionVerifier", "available_verifiers",
           "get_verifier", "register_verifier"]
