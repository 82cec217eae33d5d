#!/usr/bin/env python3
"""Converts a LLaMA-architecture GGUF file (llama.cpp's format) into a model folder mixln loads:
config.json (Hugging Face LLaMA keys + norm_type "pre"), model.safetensors (fp32, Hugging Face
tensor names) and tokenizer.json (byte-level BPE rebuilt from the file's vocabulary and merges).

    pip install gguf numpy safetensors
    python3 scripts/gguf_to_checkpoint.py model.gguf out-folder

Quantized tensors (Q4_0, Q4_1, Q8_0, …) are dequantized with the gguf package; the weights keep
the quantization's rounding, so scores differ a little from the unquantized model's. llama.cpp's
converter permutes the rows of q_proj and k_proj for its interleaved RoPE; they are permuted back
to the half-split (rotate_half) layout of Hugging Face and mixln. Only `tokenizer.ggml.model = gpt2`
(byte-level BPE) is rebuilt; `tokenizer.ggml.pre` picks the pre-tokenizer (digits split one by one
for smollm, as its tokenizer.json does).
"""
import json
import os
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize
from safetensors.numpy import save_file


def field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    if f.types[0].name == "ARRAY":
        if f.types[1].name == "STRING":
            return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
        return [f.parts[i].tolist()[0] for i in f.data]
    value = f.parts[f.data[0]]
    return bytes(value).decode("utf-8") if f.types[0].name == "STRING" else value.tolist()[0]


def unpermute(w, heads):
    """Inverse of llama.cpp's `permute` (interleaved RoPE rows back to the rotate_half layout)."""
    rows = w.shape[0]
    return w.reshape(heads, rows // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def tokenizer_json(reader):
    if field(reader, "tokenizer.ggml.model") != "gpt2":
        sys.exit("error: only byte-level BPE vocabularies (tokenizer.ggml.model = gpt2) are rebuilt")
    tokens = field(reader, "tokenizer.ggml.tokens")
    types = field(reader, "tokenizer.ggml.token_type")
    merges = field(reader, "tokenizer.ggml.merges")
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    pre = field(reader, "tokenizer.ggml.pre", "default")
    pre_tokenizer = ({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, byte_level]}
                     if pre == "smollm" else byte_level)
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, (t, kind) in enumerate(zip(tokens, types)) if kind == 3]
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
            "pre_tokenizer": pre_tokenizer,
            "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True},
            "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                      "vocab": {t: i for i, t in enumerate(tokens)}, "merges": merges}}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, out = sys.argv[1], sys.argv[2]
    reader = GGUFReader(source)
    if field(reader, "general.architecture") != "llama":
        sys.exit(f"error: {source} is not a llama-architecture GGUF file")
    heads, kv_heads = field(reader, "llama.attention.head_count"), field(reader, "llama.attention.head_count_kv")
    layers = field(reader, "llama.block_count")
    names = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
             "output.weight": "lm_head.weight"}
    per_layer = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "self_attn.q_proj",
                 "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
                 "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
    tensors = {}
    for t in reader.tensors:
        shape = tuple(reversed([int(n) for n in t.shape]))  # GGUF lists the fastest dimension first
        values = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)
        if t.name.startswith("blk."):
            _, index, kind, _ = t.name.split(".")
            name = f"model.layers.{index}.{per_layer[kind]}.weight"
            if kind == "attn_q":
                values = unpermute(values, heads)
            elif kind == "attn_k":
                values = unpermute(values, kv_heads)
        else:
            name = names[t.name]
        tensors[name] = np.ascontiguousarray(values)
    vocab, hidden = tensors["model.embed_tokens.weight"].shape
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "norm_type": "pre",
              "hidden_size": hidden, "intermediate_size": field(reader, "llama.feed_forward_length"),
              "num_attention_heads": heads, "num_key_value_heads": kv_heads, "num_hidden_layers": layers,
              "vocab_size": vocab, "max_position_embeddings": field(reader, "llama.context_length"),
              "rms_norm_eps": field(reader, "llama.attention.layer_norm_rms_epsilon"),
              "rope_theta": field(reader, "llama.rope.freq_base", 10000.0),
              "tie_word_embeddings": "lm_head.weight" not in tensors,
              "bos_token_id": field(reader, "tokenizer.ggml.bos_token_id"),
              "eos_token_id": field(reader, "tokenizer.ggml.eos_token_id"), "torch_dtype": "float32"}
    os.makedirs(out, exist_ok=True)
    save_file(tensors, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(reader), f, ensure_ascii=False)
    print(f"{out}: {layers} layers, hidden {hidden}, {heads}/{kv_heads} heads, vocab {vocab}, "
          f"{sum(v.size for v in tensors.values()) / 1e6:.1f}M parameters")


if __name__ == "__main__":
    main()
