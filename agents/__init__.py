"""Heterogeneous LLM agents: batched sampling, exact log-probs, cross-tokenizer scoring, model zoo.

    from agents import load
    agent = load("tiny-llama-bpe")          # or "tiny-qwen2-char", "smollm2-135m-instruct", a dir, a hub id
    samples = agent.generate(["What is 2 + 3?"], n=4, max_new_tokens=16, seed=0)
    scores = agent.sequence_logprobs(["What is 2 + 3?"], responses=["#### 5"], append_eos=True)
"""

from agents.batching import EncodedBatch, micro_batches
from agents.engine import Completion, RolloutEngine, SamplingParams, TransformersEngine
from agents.llm import LLMAgent, Sample, SequenceLogprobs
from agents.loading import available, check, load
from agents.zoo_task import WARMSTART_ENV_ID, WARMSTART_TASK_KWARGS

__all__ = ["LLMAgent", "Sample", "SequenceLogprobs", "EncodedBatch", "micro_batches", "RolloutEngine",
           "TransformersEngine", "SamplingParams", "Completion", "load", "check", "available",
           "WARMSTART_ENV_ID", "WARMSTART_TASK_KWARGS"]
