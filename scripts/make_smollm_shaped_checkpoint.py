#!/usr/bin/env python3
"""A random-weight checkpoint shaped like SmolLM-135M, and data to evaluate it on.

Writes into OUT (default /tmp/smollm135m-random):
  model/config.json        hidden 576, intermediate 1536, 30 layers, 9 heads, 3 key/value heads,
                           vocab 49152, tied embeddings, rope_theta 10000, Pre-LN (norm_type "pre")
  model/model.safetensors  every tensor BF16, linear weights and embedding ~ N(0, 0.02), norms 1
  data.jsonl               40 documents of 128 random input_ids each

For speed and memory measurements of forward-only commands (README "Speed"); the weights are
random, so the loss is about ln(49152) ≈ 10.8. Nothing here is committed; only this script is.

    python3 scripts/make_smollm_shaped_checkpoint.py /tmp/smollm
    /usr/bin/time -v .build/release/mixln eval --checkpoint /tmp/smollm/model --data /tmp/smollm/data.jsonl
"""
import json
import os
import struct
import sys

import numpy as np

HIDDEN, INTERMEDIATE, LAYERS, HEADS, KV_HEADS, VOCAB = 576, 1536, 30, 9, 3, 49152
DOCUMENTS, TOKENS = 40, 128


def bf16_bytes(values: np.ndarray) -> bytes:
    """float32 → bfloat16 by round-to-nearest-even on the upper 16 bits."""
    bits = values.astype(np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16).tobytes()


def write_safetensors(path: str, tensors: dict) -> None:
    header, offset, blobs = {}, 0, []
    for name, (shape, blob) in tensors.items():
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    header["__metadata__"] = {"format": "pt"}
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/smollm135m-random"
    model_dir = os.path.join(out, "model")
    os.makedirs(model_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    head_dim = HIDDEN // HEADS
    kv = KV_HEADS * head_dim

    def normal(*shape):
        return shape, bf16_bytes(rng.standard_normal(shape, dtype=np.float32) * 0.02)

    def ones(n):
        return (n,), bf16_bytes(np.ones(n, dtype=np.float32))

    tensors = {"model.embed_tokens.weight": normal(VOCAB, HIDDEN)}
    for l in range(LAYERS):
        p = f"model.layers.{l}."
        tensors[p + "input_layernorm.weight"] = ones(HIDDEN)
        tensors[p + "post_attention_layernorm.weight"] = ones(HIDDEN)
        tensors[p + "self_attn.q_proj.weight"] = normal(HIDDEN, HIDDEN)
        tensors[p + "self_attn.k_proj.weight"] = normal(kv, HIDDEN)
        tensors[p + "self_attn.v_proj.weight"] = normal(kv, HIDDEN)
        tensors[p + "self_attn.o_proj.weight"] = normal(HIDDEN, HIDDEN)
        tensors[p + "mlp.gate_proj.weight"] = normal(INTERMEDIATE, HIDDEN)
        tensors[p + "mlp.up_proj.weight"] = normal(INTERMEDIATE, HIDDEN)
        tensors[p + "mlp.down_proj.weight"] = normal(HIDDEN, INTERMEDIATE)
    tensors["model.norm.weight"] = ones(HIDDEN)
    write_safetensors(os.path.join(model_dir, "model.safetensors"), tensors)

    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
        "hidden_size": HIDDEN, "intermediate_size": INTERMEDIATE, "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS, "vocab_size": VOCAB,
        "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "tie_word_embeddings": True, "torch_dtype": "bfloat16", "norm_type": "pre",
    }
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(out, "data.jsonl"), "w") as f:
        for _ in range(DOCUMENTS):
            f.write(json.dumps({"input_ids": rng.integers(0, VOCAB, TOKENS).tolist()}) + "\n")
    count = sum(int(np.prod(shape)) for shape, _ in tensors.values())
    print(f"{out}: {count / 1e6:.1f}M parameters, {DOCUMENTS} documents of {TOKENS} tokens")


if __name__ == "__main__":
    main()
