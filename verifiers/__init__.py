"""Answer verification for verifiable-reward RL: safe on hostile text, fast, pluggable."""

from verifiers.base import Verdict, Verifier, failed
from verifiers.registry import (
    FunctionVerifier,
    available_verifiers,
    get_verifier,
    register_verifier,
)
# Importing the built-in graders registers them ("gsm8k", "gsm8k-strict", "gsm8k-flexible", "exact").
from verifiers import exact, gsm8k  # noqa: E402,F401
from verifiers.adapters import as_trl_reward, from_bool, from_reasoning_gym, from_trl  # noqa: E402

__all__ = ["Verdict", "Verifier", "failed", "FunctionVerifier", "available_verifiers",
           "get_verifier", "register_verifier", "from_trl", "as_trl_reward", "from_bool",
           "from_reasoning_gym"]

# Built-in verifiers register themselves on import.
import verifiers.math  # noqa: E402,F401
