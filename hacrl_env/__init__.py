"""Reasoning benchmarks as PettingZoo parallel environments: several agents answer the same
verifiable problem (GSM8K, MATH, MATH-500, reasoning-gym tasks); a verifier scores every response.

    env = hacrl_env.make("gsm8k-v0", agents=["qwen", "llama"])      # ParallelEnv
    vec = hacrl_env.make_vec("rg-chain_sum-v0", num_envs=8)         # batched training path
    one = hacrl_env.make_single("math500-v0")                       # gymnasium.Env (split "test", its only one)

Importing registers every built-in id with PettingZoo (and Gymnasium for the single view).
"""

from hacrl_env.jsonl import DataError
from hacrl_env.parallel import ReasoningParallelEnv
from hacrl_env.problems import Problem, ProblemSet
from hacrl_env.registry import (
    EnvNameNotFound,
    EnvVersionNotFound,
    TaskDef,
    _register_builtins,
    make,
    make_single,
    make_vec,
    pprint_registry,
    register,
    registered_ids,
    spec,
)
from hacrl_env.single import ReasoningEnv
from hacrl_env.spaces import UnicodeText
from hacrl_env.vector import VectorParallelEnv

_register_builtins()

__all__ = [
    "DataError", "EnvNameNotFound", "EnvVersionNotFound", "Problem", "ProblemSet", "ReasoningEnv",
    "ReasoningParallelEnv", "TaskDef", "UnicodeText", "VectorParallelEnv", "make", "make_single",
    "make_vec", "pprint_registry", "register", "registered_ids", "spec",
]
