#!/usr/bin/env python3
"""PyTorch speed bar for `mixln eval` on a checkpoint folder (issue 9: "≥ 2× PyTorch fp32 and ≥ 1×
PyTorch bf16 eval tokens/s" on a 135M model shaped like SmolLM-135M).

Loads a LLaMA checkpoint folder (config.json + model.safetensors, Pre-LN, grouped-query attention
and tied embeddings allowed) into a plain PyTorch LLaMA forward written here — the reference model
(scripts/reference/mixln_reference.py) has neither GQA nor a tied LM head, and `transformers` is not
needed — and computes the mean next-token loss over the documents of a JSONL of `input_ids`, cut
into the batches `mixln eval` uses by default (below). One untimed warm-up pass over all batches,
then --repeats timed passes under torch.inference_mode(); prints the median tokens/s (predicted
tokens per second, the count `mixln eval` reports), the loss and the peak RSS.

    python3 scripts/make_smollm_shaped_checkpoint.py /tmp/smollm
    python3 scripts/bench_eval_pytorch.py --checkpoint /tmp/smollm/model --data /tmp/smollm/data.jsonl --dtype fp32
    python3 scripts/bench_eval_pytorch.py --checkpoint /tmp/smollm/model --data /tmp/smollm/data.jsonl --dtype bf16 --json

--dtype fp32 holds the weights in fp32 (bf16 checkpoints are widened on load); bf16 casts the whole
model to bfloat16 (the official recipe, as Hugging Face's LLaMA runs it: norms' statistics and the
loss in fp32, everything else in bf16). RoPE's angles are computed in float64, as mixln does, and
cos/sin rounded to the model's dtype.

Batches, as `mixln eval` with default options (CheckpointInput.batches, SequenceBuilder, TokenBatches):
each document alone, truncated to --seq-len (default min(256, max_sequence_length)); documents of
fewer than 2 tokens skipped; --batch-size (8) documents per batch in file order, the last batch the
remainder; each batch right-padded to its longest document (not to --seq-len); position t predicts
token t+1, so a document of n tokens predicts n-1; the loss is the mean over all predicted tokens.

--compare runs `MIXLN eval --checkpoint DIR --data FILE --threads N --json` (default
.build/release/mixln) and then this script for fp32 and for bf16, each in a process of its own
(so each peak RSS is its own), one after the other, and prints a table and the ratios mixln / PyTorch:

    python3 scripts/bench_eval_pytorch.py --compare .build/release/mixln --checkpoint /tmp/smollm/model --data /tmp/smollm/data.jsonl
    python3 scripts/bench_eval_pytorch.py --compare --mixln-precision bf16 --checkpoint ... --data ... --json

`mixln eval` prints no timings, so its process is timed from outside (wall clock; peak RSS from
wait4), --repeats times: "end to end" is predicted tokens / the whole process's wall time (start,
load, every batch). To compare forward passes with forward passes, it also runs `--max-tokens 1`
(the first batch only) --repeats times; "steady" is (tokens of all batches - tokens of the first) /
(median full wall - median one-batch wall): batches 2..n without start, load or the first batch,
as PyTorch's timed passes follow its warm-up. PyTorch's "end to end" is predicted tokens / (script
start, import torch, load and the warm-up pass), its "steady" the median timed pass.

Both sides run their OpenMP threads with OMP_WAIT_POLICY=PASSIVE unless the environment sets a
policy (mixln sets it for itself; this script sets it before importing torch): on a loaded machine
spinning threads made a PyTorch pass several times slower. PyTorch's peak RSS includes what
`import torch` alone holds (import_rss_bytes in --json) and the safetensors file mapped while the
weights are converted.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

SCRIPT_START = time.perf_counter()

IGNORE_INDEX = -100
DEFAULT_MIXLN = ".build/release/mixln"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="model folder: config.json + model.safetensors")
    ap.add_argument("--data", required=True, help="JSONL, one {\"input_ids\": [...]} document a line")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads, and mixln --threads (default 2)")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32",
                    help="fp32 (default), or bf16: the whole model cast to bfloat16 (the official recipe)")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes over all batches, median reported (default 3)")
    ap.add_argument("--batch-size", type=int, default=8, help="documents per batch, as mixln eval (default 8)")
    ap.add_argument("--seq-len", type=int, default=None,
                    help="tokens per document at most, as mixln eval (default min(256, max_sequence_length))")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout only")
    ap.add_argument("--compare", nargs="?", const=DEFAULT_MIXLN, default=None, metavar="MIXLN",
                    help=f"run `MIXLN eval` (default {DEFAULT_MIXLN}), then PyTorch fp32 and bf16; print ratios")
    ap.add_argument("--mixln-precision", choices=["fp32", "bf16"], default=None,
                    help="with --compare: pass --precision to mixln eval (default: none, mixln's default fp32)")
    args = ap.parse_args()
    if args.repeats < 1:
        sys.exit("--repeats must be at least 1")
    if args.compare is not None:
        return compare(args)
    benchmark(args)


# ----------------------------------------------------------------------------------------------
# Data: the batches mixln eval makes by default
# ----------------------------------------------------------------------------------------------

def read_documents(path):
    """The `input_ids` of each JSONL record, in file order."""
    documents = []
    with open(path) as f:
        for line_number, line in enumerate(f, 1):
            if not line.strip():
                continue
            record = json.loads(line)
            if "input_ids" not in record:
                sys.exit(f"{path}:{line_number}: no 'input_ids' (this script reads token ids only, not text)")
            documents.append([int(i) for i in record["input_ids"]])
    return documents


def make_batches(documents, batch_size, seq_len, vocab_size):
    """(tokens, targets) pairs of (B, T) lists, T the longest document of the batch (see the docstring)."""
    sequences = [d[:seq_len] for d in documents if len(d[:seq_len]) >= 2]
    for d in sequences:
        bad = next((i for i in d if not 0 <= i < vocab_size), None)
        if bad is not None:
            sys.exit(f"token id {bad} is outside the model's vocabulary of {vocab_size}")
    batches = []
    for start in range(0, len(sequences), batch_size):
        group = sequences[start:start + batch_size]
        T = max(len(d) for d in group)
        tokens = [d + [0] * (T - len(d)) for d in group]      # padding: never attended to, never predicted
        targets = [d[1:] + [IGNORE_INDEX] * (T - len(d) + 1) for d in group]
        batches.append((tokens, targets))
    return batches


# ----------------------------------------------------------------------------------------------
# Model: a Pre-LN LLaMA forward (RMSNorm, RoPE, GQA attention, SwiGLU, tied LM head)
# ----------------------------------------------------------------------------------------------

def read_config(directory):
    """The keys mixln's ModelConfig reads, with its defaults; refuses what this forward lacks."""
    with open(os.path.join(directory, "config.json")) as f:
        c = json.load(f)
    if c.get("norm_type", "pre") != "pre" or "norm_plan" in c:
        sys.exit(f"{directory}: norm_type {c.get('norm_type')!r}; this forward is Pre-LN only")
    if c.get("rope_scaling"):
        sys.exit(f"{directory}: rope_scaling is not supported here")
    heads = c["num_attention_heads"]
    if c.get("head_dim", c["hidden_size"] // heads) != c["hidden_size"] // heads:
        sys.exit(f"{directory}: head_dim {c['head_dim']} is not hidden_size / num_attention_heads, as mixln assumes")
    return {
        "hidden": c["hidden_size"], "intermediate": c["intermediate_size"], "layers": c["num_hidden_layers"],
        "heads": heads, "kv_heads": c.get("num_key_value_heads", heads), "vocab": c["vocab_size"],
        "eps": c["rms_norm_eps"], "theta": c.get("rope_theta", 10000.0),
        "tied": c.get("tie_word_embeddings", False),
        "max_seq_len": c.get("max_sequence_length", c.get("max_position_embeddings", 1024)),
    }


def build_model(cfg):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class RMSNorm(nn.Module):
        def __init__(self, dim, eps):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(dim))
            self.eps = eps

        def forward(self, x):                            # statistics in fp32 at least, as Hugging Face's LlamaRMSNorm
            h = x.to(torch.promote_types(x.dtype, torch.float32))
            h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
            return self.weight * h.to(x.dtype)

    def rotate_half(x):
        x1, x2 = x.chunk(2, dim=-1)                      # half-split pairs (i, i + D/2), as mixln
        return torch.cat((-x2, x1), dim=-1)

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            C, H, K = cfg["hidden"], cfg["heads"], cfg["kv_heads"]
            self.H, self.K, self.D = H, K, C // H
            self.q_proj = nn.Linear(C, H * self.D, bias=False)
            self.k_proj = nn.Linear(C, K * self.D, bias=False)
            self.v_proj = nn.Linear(C, K * self.D, bias=False)
            self.o_proj = nn.Linear(H * self.D, C, bias=False)

        def forward(self, x, cos, sin):
            B, T, C = x.shape
            q = self.q_proj(x).view(B, T, self.H, self.D).transpose(1, 2)   # (B, H, T, D)
            k = self.k_proj(x).view(B, T, self.K, self.D).transpose(1, 2)   # (B, K, T, D)
            v = self.v_proj(x).view(B, T, self.K, self.D).transpose(1, 2)   # (B, K, T, D)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            group = self.H // self.K                     # query heads per key/value head
            k = k.repeat_interleave(group, dim=1)        # (B, H, T, D), as Hugging Face's repeat_kv
            v = v.repeat_interleave(group, dim=1)
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)     # (B, H, T, D)
            return self.o_proj(o.transpose(1, 2).reshape(B, T, C))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.gate_proj = nn.Linear(cfg["hidden"], cfg["intermediate"], bias=False)
            self.up_proj = nn.Linear(cfg["hidden"], cfg["intermediate"], bias=False)
            self.down_proj = nn.Linear(cfg["intermediate"], cfg["hidden"], bias=False)

        def forward(self, x):
            return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.input_layernorm = RMSNorm(cfg["hidden"], cfg["eps"])
            self.self_attn = Attention()
            self.post_attention_layernorm = RMSNorm(cfg["hidden"], cfg["eps"])
            self.mlp = MLP()

        def forward(self, x, cos, sin):
            x = x + self.self_attn(self.input_layernorm(x), cos, sin)
            return x + self.mlp(self.post_attention_layernorm(x))

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed_tokens = nn.Embedding(cfg["vocab"], cfg["hidden"])
            self.layers = nn.ModuleList(Block() for _ in range(cfg["layers"]))
            self.norm = RMSNorm(cfg["hidden"], cfg["eps"])

    class Llama(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = Decoder()
            self.lm_head = nn.Linear(cfg["hidden"], cfg["vocab"], bias=False)
            if cfg["tied"]:
                self.lm_head.weight = self.model.embed_tokens.weight

        def loss_sum(self, tokens, targets):
            """Summed cross-entropy of the predicted (non-ignored) targets."""
            B, T = tokens.shape
            D = cfg["hidden"] // cfg["heads"]
            # Angles in float64, cos and sin then rounded to the model's dtype, as mixln (and the reference).
            inv_freq = 1.0 / (cfg["theta"] ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
            angles = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)   # (T, D/2)
            angles = torch.cat((angles, angles), dim=-1)                           # (T, D)
            dtype = self.lm_head.weight.dtype
            cos, sin = angles.cos().to(dtype), angles.sin().to(dtype)
            x = self.model.embed_tokens(tokens)                                    # (B, T, C)
            for layer in self.model.layers:
                x = layer(x, cos, sin)
            logits = self.lm_head(self.model.norm(x))                              # (B, T, V)
            logits = logits.to(torch.promote_types(logits.dtype, torch.float32))   # loss in fp32 at least
            return F.cross_entropy(logits.view(B * T, -1), targets.view(B * T),
                                   ignore_index=IGNORE_INDEX, reduction="sum")

    return Llama()


def load_model(directory, cfg, dtype):
    """The model with the checkpoint's weights in `dtype`, converted one tensor at a time."""
    import torch
    from safetensors import safe_open

    with torch.device("meta"):
        model = build_model(cfg)
    expected = dict(model.named_parameters())            # tied: lm_head.weight is embed_tokens.weight, listed once
    path = os.path.join(directory, "model.safetensors")
    with safe_open(path, framework="pt") as f:
        names = set(f.keys())
        missing = sorted(set(expected) - names)
        extra = sorted(names - set(expected) - ({"lm_head.weight"} if cfg["tied"] else set()))
        if missing or extra:
            sys.exit(f"{path}: missing {missing[:5]}, unexpected {extra[:5]}")
        state = {}
        for name, parameter in expected.items():
            tensor = f.get_tensor(name)
            if tuple(tensor.shape) != tuple(parameter.shape):
                sys.exit(f"{path}: {name} has shape {tuple(tensor.shape)}, expected {tuple(parameter.shape)}")
            state[name] = tensor.to(dtype)
            del tensor
    model.load_state_dict(state, strict=False, assign=True)
    if cfg["tied"]:
        model.lm_head.weight = model.model.embed_tokens.weight
    return model.eval()


# ----------------------------------------------------------------------------------------------
# One PyTorch measurement
# ----------------------------------------------------------------------------------------------

def benchmark(args):
    # As mixln does for itself (Sources/mixln/OpenMPWaitPolicy.swift): unless the caller chose a policy,
    # idle OpenMP threads sleep instead of spinning for milliseconds after each parallel region. libgomp
    # reads this when it loads, so it must be set before torch is imported.
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    import torch

    import_rss = current_rss_bytes()
    torch.set_num_threads(args.threads)
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    cfg = read_config(args.checkpoint)
    seq_len = args.seq_len or min(256, cfg["max_seq_len"])
    if not 2 <= seq_len <= cfg["max_seq_len"]:
        sys.exit(f"--seq-len must be in 2...{cfg['max_seq_len']}, got {seq_len}")
    batches = [(torch.tensor(t), torch.tensor(y))
               for t, y in make_batches(read_documents(args.data), args.batch_size, seq_len, cfg["vocab"])]
    predicted = sum(int((y != IGNORE_INDEX).sum()) for _, y in batches)
    if predicted == 0:
        sys.exit(f"{args.data}: no tokens to predict")

    t0 = time.perf_counter()
    model = load_model(args.checkpoint, cfg, torch.bfloat16 if args.dtype == "bf16" else torch.float32)
    load_seconds = time.perf_counter() - t0
    n_params = sum(p.numel() for p in model.parameters())
    log(f"torch {torch.__version__}, {args.threads} threads, {args.dtype}, {n_params / 1e6:.1f}M parameters, "
        f"{len(batches)} batches (the first {tuple(batches[0][0].shape)}), {predicted} predicted tokens; "
        f"load {load_seconds:.2f} s")

    def one_pass():
        total = 0.0
        for tokens, targets in batches:
            total += model.loss_sum(tokens, targets).item()
        return total / predicted

    times, losses = [], []
    with torch.inference_mode():
        for i in range(1 + args.repeats):
            t0 = time.perf_counter()
            loss = one_pass()
            seconds = time.perf_counter() - t0
            if i == 0:
                warmup_seconds, end_to_end = seconds, time.perf_counter() - SCRIPT_START
            else:
                times.append(seconds)
            losses.append(loss)
            log(f"  pass {i}{' (warm-up)' if i == 0 else ''}: {seconds:7.2f} s  "
                f"{predicted / seconds:8.1f} tok/s  loss {loss:.6f}")
    median = statistics.median(times)
    result = {
        "tokens_per_second": round(predicted / median, 1),
        "end_to_end_tokens_per_second": round(predicted / end_to_end, 1),
        "loss": losses[0],
        "tokens": predicted,
        "pass_seconds": [round(t, 3) for t in times],
        "pass_seconds_median": round(median, 3),
        "warmup_pass_seconds": round(warmup_seconds, 3),
        "load_seconds": round(load_seconds, 3),
        "end_to_end_seconds": round(end_to_end, 3),
        "peak_rss_bytes": peak_rss_bytes(),
        "import_rss_bytes": import_rss,
        "dtype": args.dtype,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "threads": args.threads,
        "batch_size": args.batch_size,
        "seq_len": seq_len,
        "torch": torch.__version__,
    }
    if len(set(losses)) > 1:
        result["loss_spread"] = max(losses) - min(losses)
    if args.json:
        print(json.dumps(result))
    else:
        log(f"median {result['tokens_per_second']:.1f} tok/s ({median:.2f} s a pass), loss {losses[0]:.6f}, "
            f"peak RSS {result['peak_rss_bytes'] / 1e6:.0f} MB")
    return result


def current_rss_bytes():
    """Resident memory now (Linux /proc; None elsewhere): what importing torch alone holds."""
    try:
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None


def peak_rss_bytes(usage=None):
    """Peak resident memory (ru_maxrss: kB on Linux, bytes on macOS) of this process, or of `usage`."""
    peak = (usage or resource.getrusage(resource.RUSAGE_SELF)).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


# ----------------------------------------------------------------------------------------------
# --compare: mixln eval, then PyTorch fp32 and bf16
# ----------------------------------------------------------------------------------------------

def timed_run(command):
    """(stdout, wall seconds, peak RSS bytes) of one process; exits if it fails."""
    t0 = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - t0
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed with status {process.returncode}")
    return out, seconds, peak_rss_bytes(usage)


def run_mixln(args):
    base = [args.compare, "eval", "--checkpoint", args.checkpoint, "--data", args.data,
            "--threads", str(args.threads), "--batch-size", str(args.batch_size), "--json"]
    if args.seq_len:
        base += ["--seq-len", str(args.seq_len)]
    if args.mixln_precision:
        base += ["--precision", args.mixln_precision]
    full, first = [], []
    for i in range(args.repeats):
        out, seconds, peak = timed_run(base)
        full.append((json.loads(out), seconds, peak))
        print(f"  mixln eval, all batches, run {i}: {seconds:6.2f} s, peak RSS {peak / 1e6:.0f} MB, "
              f"{full[-1][0]}", file=sys.stderr)
    for i in range(args.repeats):
        out, seconds, peak = timed_run(base + ["--max-tokens", "1"])
        first.append((json.loads(out), seconds, peak))
        print(f"  mixln eval, first batch, run {i}: {seconds:6.2f} s, {first[-1][0]}", file=sys.stderr)
    result = full[0][0]
    wall = statistics.median(s for _, s, _ in full)
    one_batch_wall = statistics.median(s for _, s, _ in first)
    steady_tokens = result["tokens"] - first[0][0]["tokens"]
    return {
        "tokens_per_second": round(steady_tokens / (wall - one_batch_wall), 1) if steady_tokens else None,
        "end_to_end_tokens_per_second": round(result["tokens"] / wall, 1),
        "loss": result["loss"],
        "tokens": result["tokens"],
        "wall_seconds": [round(s, 3) for _, s, _ in full],
        "first_batch_wall_seconds": [round(s, 3) for _, s, _ in first],
        "peak_rss_bytes": max(p for _, _, p in full),
        "threads": args.threads,
        "precision": args.mixln_precision or "default",
    }


def compare(args):
    """mixln eval, then PyTorch fp32 and bf16, each in its own process; the ratios mixln / PyTorch."""
    if not os.path.exists(args.compare):
        sys.exit(f"{args.compare}: no mixln binary (build it with `swift build -c release`, or pass its path to --compare)")
    ours = run_mixln(args)
    common = [sys.executable, os.path.abspath(__file__), "--checkpoint", args.checkpoint, "--data", args.data,
              "--threads", str(args.threads), "--repeats", str(args.repeats),
              "--batch-size", str(args.batch_size), "--json"] + (["--seq-len", str(args.seq_len)] if args.seq_len else [])
    theirs = {}
    for dtype in ("fp32", "bf16"):
        out, _, _ = timed_run(common + ["--dtype", dtype])
        theirs[dtype] = json.loads(out)
    for dtype, r in theirs.items():
        if r["tokens"] != ours["tokens"]:
            sys.exit(f"torch {dtype} predicted {r['tokens']} tokens, mixln {ours['tokens']}: not the same batches")
    ratios = {dtype: {
        "steady": ours["tokens_per_second"] / r["tokens_per_second"] if ours["tokens_per_second"] else None,
        "end_to_end": ours["end_to_end_tokens_per_second"] / r["end_to_end_tokens_per_second"],
        "peak_rss": ours["peak_rss_bytes"] / r["peak_rss_bytes"],
    } for dtype, r in theirs.items()}
    loss_error = abs(ours["loss"] - theirs["fp32"]["loss"]) / abs(theirs["fp32"]["loss"])
    if args.json:
        print(json.dumps({"mixln": ours, "torch": theirs, "ratios": ratios,
                          "loss_relative_difference_fp32": loss_error}))
        return
    print(f"{args.checkpoint} on {args.data}: {ours['tokens']} predicted tokens, batch {args.batch_size}, "
          f"{args.threads} threads, median of {args.repeats}, "
          f"OMP_WAIT_POLICY {theirs['fp32']['omp_wait_policy'] or 'unset'} on both sides")
    print(f"{'':30}{'steady tok/s':>13}{'end-to-end tok/s':>18}{'loss':>12}{'peak RSS':>11}")
    label = f"mixln eval --precision {args.mixln_precision}" if args.mixln_precision else "mixln eval (default options)"
    rows = [(label, ours)] + [
        (f"torch {d}{' (official recipe)' if d == 'bf16' else ''}", r) for d, r in theirs.items()]
    for name, r in rows:
        steady = f"{r['tokens_per_second']:13.1f}" if r["tokens_per_second"] else f"{'-':>13}"
        print(f"{name:30}{steady}{r['end_to_end_tokens_per_second']:18.1f}{r['loss']:12.6f}"
              f"{r['peak_rss_bytes'] / 1e6:8.0f} MB")
    for dtype, r in ratios.items():
        steady = f"{r['steady']:.2f}x" if r["steady"] else "-"
        print(f"mixln / torch {dtype}: steady {steady}, end to end {r['end_to_end']:.2f}x, "
              f"peak RSS {r['peak_rss']:.2f}x")
    print(f"loss: mixln vs torch fp32 relative difference {loss_error:.2e}")


if __name__ == "__main__":
    main()
