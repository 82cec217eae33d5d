#!/usr/bin/env python3
"""PyTorch speed bar for `mixln bench` (design.md §7).

Times one training step (forward + backward + Adam step) and one eval forward (no_grad) of the
reference model (scripts/reference/mixln_reference.py) on random token ids, and prints the
median tokens/s over --steps timed steps after --warmup untimed ones.

    python3 scripts/bench_pytorch.py --model 20m --batch-size 8 --seq-len 256 --threads 2 --json
    python3 scripts/bench_pytorch.py --model 71m --dtype bf16      # official recipe: whole model bf16
    python3 scripts/bench_pytorch.py --model 20m --dtype bf16-autocast   # mixed precision, as mixln --precision bf16

--compare runs `mixln bench` (the binary given, default .build/release/mixln) and then PyTorch
(fp32 and the official bf16 recipe, plus bf16-autocast when --mixln-precision is not fp32, unless
--dtype picks one), one after the other with the same model, batch, sequence length, threads and
step counts, each in a process of its own so each peak memory is its own, and prints the ratios
mixln / PyTorch:

    swift build -c release && python3 scripts/bench_pytorch.py --compare --model 20m
    python3 scripts/bench_pytorch.py --compare path/to/mixln --model 71m --mixln-precision fp32 --json
    python3 scripts/bench_pytorch.py --compare --model 20m --mixln-precision bf16 --dtype bf16-autocast
"""
import contextlib
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
from mixln_reference import ModelConfig, MixLNForCausalLM, make_plan  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="20m", help="preset: 9m, 20m, 71m, ... (default 20m)")
    ap.add_argument("--norm", default="pre", help="norm scheme, e.g. pre, post, mix:3 (default pre)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10, help="timed steps (median reported)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", choices=["fp32", "bf16", "bf16-autocast"], default=None,
                    help="fp32 (default); bf16 casts the whole model (weights + Adam state) to bf16 (the official "
                         "recipe, like mixln --precision bf16-pure); bf16-autocast keeps fp32 weights and Adam state "
                         "and runs the forward under torch.autocast (matmuls in bf16, like mixln --precision bf16). "
                         "With --compare: the one PyTorch mode to compare with (default fp32 and bf16, and "
                         "bf16-autocast when --mixln-precision is not fp32)")
    ap.add_argument("--attention", choices=["eager", "sdpa"], default="eager",
                    help="eager: explicit softmax(QK^T/sqrt(d)) as in the official LLaMA code; "
                         "sdpa: torch scaled_dot_product_attention")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout only")
    ap.add_argument("--compare", nargs="?", const=DEFAULT_MIXLN, default=None, metavar="MIXLN",
                    help=f"run `MIXLN bench` (default {DEFAULT_MIXLN}) and PyTorch one after the other; print ratios")
    ap.add_argument("--mixln-precision", default="fp32", help="with --compare: mixln bench --precision (default fp32)")
    args = ap.parse_args()
    if args.compare is not None:
        return compare(args)
    benchmark(args, args.dtype or "fp32")


DEFAULT_MIXLN = ".build/release/mixln"


def benchmark(args, dtype):
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = ModelConfig.preset(args.model)
    model = MixLNForCausalLM(cfg, make_plan(args.norm, cfg.num_hidden_layers),
                             use_sdpa=args.attention == "sdpa")
    if dtype == "bf16":
        model = model.to(torch.bfloat16)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8,
                           weight_decay=0.0)

    g = torch.Generator().manual_seed(args.seed)
    n_batches = 4
    batches = [torch.randint(0, cfg.vocab_size, (args.batch_size, args.seq_len), generator=g)
               for _ in range(n_batches)]
    tokens = args.batch_size * args.seq_len
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    n_params = sum(p.numel() for p in model.parameters())
    log(f"torch {torch.__version__}, {args.threads} threads, model {args.model} "
        f"({n_params / 1e6:.2f}M params), norm {args.norm}, {dtype}, "
        f"batch {args.batch_size} x seq {args.seq_len}, attention {args.attention}")

    def autocast():
        if dtype == "bf16-autocast":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_step(ids):
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = model(ids).loss
        loss.backward()
        opt.step()
        return loss.item()

    train_times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        loss = train_step(batches[i % n_batches])
        dt = time.perf_counter() - t0
        if i >= args.warmup:
            train_times.append(dt)
        log(f"  train step {i:3d}{' (warm-up)' if i < args.warmup else ''}: "
            f"{dt * 1e3:8.1f} ms  {tokens / dt:9.1f} tok/s  loss {loss:.4f}")

    model.eval()
    eval_times = []
    with torch.no_grad():
        for i in range(args.warmup + args.steps):
            t0 = time.perf_counter()
            with autocast():
                loss = model(batches[i % n_batches]).loss.item()
            dt = time.perf_counter() - t0
            if i >= args.warmup:
                eval_times.append(dt)
    train_tps = tokens / statistics.median(train_times)
    eval_tps = tokens / statistics.median(eval_times)
    result = {
        "train_tokens_per_second": round(train_tps, 1),
        "eval_tokens_per_second": round(eval_tps, 1),
        "model": args.model,
        "norm": args.norm,
        "batch_size": args.batch_size,
        "seq_len": args.seq_len,
        "threads": args.threads,
        "precision": dtype,
        "attention": args.attention,
        "steps": args.steps,
        "train_step_ms_median": round(statistics.median(train_times) * 1e3, 2),
        "eval_step_ms_median": round(statistics.median(eval_times) * 1e3, 2),
        "torch": torch.__version__,
        "peak_memory_bytes": peak_memory_bytes(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        log(f"median train: {train_tps:.1f} tok/s ({result['train_step_ms_median']} ms/step); "
            f"median eval: {eval_tps:.1f} tok/s ({result['eval_step_ms_median']} ms/step)")


def peak_memory_bytes():
    """Peak resident memory of this process (ru_maxrss: kB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def common_options(args):
    return ["--model", args.model, "--norm", args.norm, "--batch-size", str(args.batch_size),
            "--seq-len", str(args.seq_len), "--steps", str(args.steps), "--warmup", str(args.warmup),
            "--threads", str(args.threads)]


def run_json(command):
    """Runs a benchmark command, its progress on our stderr, and returns the JSON it prints."""
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed with status {done.returncode}")
    return json.loads(done.stdout)


def compare(args):
    """mixln bench, then PyTorch per dtype, each in its own process; the ratios mixln / PyTorch."""
    if not os.path.exists(args.compare):
        sys.exit(f"{args.compare}: no mixln binary (build it with `swift build -c release`, or pass its path to --compare)")
    ours = run_json([args.compare, "bench", *common_options(args), "--precision", args.mixln_precision, "--json"])
    dtypes = [args.dtype] if args.dtype else ["fp32", "bf16"] + (["bf16-autocast"] if args.mixln_precision != "fp32" else [])
    theirs = {dtype: run_json([sys.executable, os.path.abspath(__file__), *common_options(args), "--dtype", dtype,
                               "--attention", args.attention, "--json"]) for dtype in dtypes}
    ratios = {}
    for dtype, torch_result in theirs.items():
        ratios[dtype] = {
            "train": ours["train_tokens_per_second"] / torch_result["train_tokens_per_second"],
            "eval": ours["eval_tokens_per_second"] / torch_result["eval_tokens_per_second"],
            "peak_memory": ours["peak_memory_bytes"] / torch_result["peak_memory_bytes"],
        }
    if args.json:
        print(json.dumps({"mixln": ours, "torch": theirs, "ratios": ratios}))
        return
    print(f"model {args.model}, norm {args.norm}, batch {args.batch_size} x seq {args.seq_len}, {args.threads} threads, "
          f"median of {args.steps} steps after {args.warmup}")
    print(f"{'':28}{'train tok/s':>12}{'eval tok/s':>12}{'peak memory':>14}")
    rows = [(f"mixln {ours['precision']}", ours)] + [
        (f"torch {d}{' (official recipe)' if d == 'bf16' else ''}", r) for d, r in theirs.items()]
    for name, r in rows:
        print(f"{name:28}{r['train_tokens_per_second']:12.1f}{r['eval_tokens_per_second']:12.1f}"
              f"{r['peak_memory_bytes'] / 1e6:11.0f} MB")
    for dtype, r in ratios.items():
        print(f"mixln {ours['precision']} / torch {dtype}: train {r['train']:.2f}x, eval {r['eval']:.2f}x, "
              f"peak memory {r['peak_memory']:.2f}x")


if __name__ == "__main__":
    main()
