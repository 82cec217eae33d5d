"""Writes RoPE inverse frequencies as Hugging Face transformers computes them (deterministic).

    pip install torch transformers
    python3 scripts/reference/make_rope_fixtures.py

Tests/MixLNModelTests/Fixtures/rope/rope_scaling.json: a list of cases, each with
- `name`;
- `config`: a LLaMA config.json in the older form (`rope_theta` + `rope_scaling`, with `rope_type`
  or the older `type` key), as LLaMA 3.x checkpoints on the Hub ship it;
- `transformers_config`: the config.json transformers itself writes for it (transformers >= 5 puts
  `rope_theta` and the scaling into `rope_parameters`);
- `inv_freq`: `LlamaRotaryEmbedding(config).inv_freq` (fp32 in transformers, so ~1e-7 relative from
  the exact values), and `inv_freq_float64`: the same formula (`_compute_llama3_parameters` /
  `_compute_linear_scaling_rope_parameters`) evaluated here in float64 (checked to agree).
"""
from __future__ import annotations

import copy
import json
import math
import os

import torch
import transformers
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "Tests", "MixLNModelTests", "Fixtures", "rope", "rope_scaling.json")

LLAMA3 = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
CASES = [
    # name, hidden, heads, rope_theta, rope_scaling (None: plain RoPE)
    ("llama3.1-8b", 4096, 32, 500000.0, {"rope_type": "llama3", **LLAMA3}),
    ("llama3.2-1b", 2048, 32, 500000.0, {"rope_type": "llama3", **LLAMA3, "factor": 32.0}),
    ("linear-old-type-key", 1024, 16, 10000.0, {"type": "linear", "factor": 4.0}),
    ("plain-theta-1e6", 512, 8, 1000000.0, None),
]


def float64_reference(head_dim: int, theta: float, scaling) -> list:
    """The transformers formulas, written out in float64."""
    inv = [1.0 / theta ** (2 * i / head_dim) for i in range(head_dim // 2)]
    kind = (scaling or {}).get("rope_type", (scaling or {}).get("type"))
    if kind == "linear":
        return [f / scaling["factor"] for f in inv]
    if kind == "llama3":
        factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
        old = scaling["original_max_position_embeddings"]
        out = []
        for f in inv:
            wavelen = 2 * math.pi / f
            if wavelen < old / high:
                out.append(f)
            elif wavelen > old / low:
                out.append(f / factor)
            else:
                s = (old / wavelen - low) / (high - low)
                out.append((1 - s) * f / factor + s * f)
        return out
    return inv


def main() -> None:
    cases = []
    for name, hidden, heads, theta, scaling in CASES:
        config = {"hidden_size": hidden, "intermediate_size": 4 * hidden, "num_attention_heads": heads,
                  "num_hidden_layers": 2, "vocab_size": 128, "rms_norm_eps": 1e-5, "max_position_embeddings": 131072,
                  "rope_theta": theta, "rope_scaling": scaling, "model_type": "llama"}
        # LlamaConfig rewrites the rope_scaling dict it is given in place: hand it a copy.
        hf = LlamaConfig(**copy.deepcopy({k: v for k, v in config.items() if k != "model_type"}))
        inv = LlamaRotaryEmbedding(hf).inv_freq
        exact = float64_reference(hidden // heads, theta, scaling)
        worst = max(abs(a - b) / b for a, b in zip(inv.double().tolist(), exact))
        assert worst < 1e-6, (name, worst)
        cases.append({"name": name, "config": config, "transformers_config": json.loads(hf.to_json_string()),
                      "inv_freq": [float(v) for v in inv.tolist()], "inv_freq_float64": exact})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"transformers_version": transformers.__version__, "torch_version": torch.__version__.split("+")[0],
                   "cases": cases}, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
