#!/usr/bin/env python3
"""Markdown tables of a `mixln compare` folder (one depth of scripts/reproduce.sh) for docs/RESULTS.md.

    python3 scripts/study_tables.py runs/study/l12 [runs/study/l24 ...]

Reads each run's metrics.jsonl (validation perplexity at every evaluation), summary.json and the
analyses `mixln compare` writes into <run>/analysis/ (grad_norms, angular, layer_drop, depth), and
prints, per folder:
  - every run's validation perplexity at each evaluation and its wall time;
  - per scheme over seeds: mean ± sample standard deviation of the final perplexity, the range,
    and the Mix − Pre gap against the seed-to-seed spread;
  - per-layer profiles averaged over a scheme's seeds: gradient norm, angular distance to the next
    layer (n = 1), ΔP when the layer is removed, and the residual stream's RMS.
Runs that are not finished are listed as such and left out of the statistics. Standard library only.
"""
import json
import math
import os
import statistics
import sys


def load_json(path):
    with open(path) as f:
        return json.load(f)


def evaluations(run):
    """{step: perplexity} from metrics.jsonl, the last record of a step winning (a resumed run repeats some)."""
    curve = {}
    path = os.path.join(run, "metrics.jsonl")
    if not os.path.exists(path):
        return curve
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            if record.get("event") == "eval":
                curve[record["step"]] = record["perplexity"]
    return curve


def runs_of(folder):
    """(name, scheme, seed, path, summary or None) for each run of a compare folder, in its compare.json order."""
    compare = load_json(os.path.join(folder, "compare.json"))
    found = []
    for entry in compare["runs"]:
        path = entry["path"] if os.path.isabs(entry["path"]) else os.path.join(folder, entry["name"])
        summary_path = os.path.join(path, "summary.json")
        summary = load_json(summary_path) if os.path.exists(summary_path) else None
        found.append((entry["name"], entry["scheme"], entry["seed"], path, summary))
    return found


def fmt(x, digits=1):
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def curve_table(runs):
    steps = sorted({s for *_, path, _ in runs for s in evaluations(path)})
    header = "| run | " + " | ".join(f"@{s}" for s in steps) + " | wall time |"
    lines = [header, "|" + "---|" * (len(steps) + 2)]
    for name, _, _, path, summary in runs:
        curve = evaluations(path)
        wall = f"{summary['elapsed_seconds'] / 60:.1f} min" if summary else "not finished"
        lines.append(f"| `{name}` | " + " | ".join(fmt(curve.get(s)) for s in steps) + f" | {wall} |")
    return lines


def finals_by_scheme(runs):
    finals = {}
    for _, scheme, seed, _, summary in runs:
        if summary and summary.get("status") == "completed":
            finals.setdefault(scheme, []).append((seed, summary["final_eval"]["perplexity"]))
    return finals


def spread_table(finals):
    lines = ["| scheme | seeds | final val. ppl per seed | mean ± sd | range |", "|---|---|---|---|---|"]
    for scheme, values in finals.items():
        ppl = [v for _, v in sorted(values)]
        sd = statistics.stdev(ppl) if len(ppl) > 1 else float("nan")
        lines.append(f"| `{scheme}` | {len(ppl)} | " + ", ".join(f"{v:.2f}" for v in ppl)
                     + f" | {statistics.mean(ppl):.2f} ± {fmt(sd, 2)} | {min(ppl):.2f} – {max(ppl):.2f} |")
    pre, mix = finals.get("pre"), next((v for k, v in finals.items() if k.startswith("mix")), None)
    if pre and mix and len(pre) > 1 and len(mix) > 1:
        a, b = [v for _, v in pre], [v for _, v in mix]
        gap = statistics.mean(b) - statistics.mean(a)
        pooled = math.sqrt((statistics.variance(a) * (len(a) - 1) + statistics.variance(b) * (len(b) - 1))
                           / (len(a) + len(b) - 2))
        standard_error = pooled * math.sqrt(1 / len(a) + 1 / len(b))
        separated = max(a) < min(b) or max(b) < min(a)
        lines += ["", f"Mix − Pre = {gap:+.2f} ppl; pooled seed sd {pooled:.2f}; gap / standard error of the "
                      f"difference = {gap / standard_error:+.2f} (two-sample t with pooled variance, {len(a) + len(b) - 2} df); "
                      f"seed ranges {'do not overlap' if separated else 'overlap'}."]
    return lines


def gap_over_training(runs):
    """Mean over seeds of Mix's and Pre's perplexity at each evaluation, and Mix − Pre (absolute and relative)."""
    curves = {}
    for _, scheme, _, path, summary in runs:
        if summary and summary.get("status") == "completed":
            curves.setdefault("mix" if scheme.startswith("mix") else scheme, []).append(evaluations(path))
    if "pre" not in curves or "mix" not in curves:
        return []
    steps = sorted(set.intersection(*(set(c) for c in curves["pre"] + curves["mix"])))
    mean = lambda scheme, s: statistics.mean(c[s] for c in curves[scheme])
    lines = ["| | " + " | ".join(f"@{s}" for s in steps) + " |", "|" + "---|" * (len(steps) + 1)]
    lines.append(f"| Pre-LN, mean of {len(curves['pre'])} | " + " | ".join(f"{mean('pre', s):.1f}" for s in steps) + " |")
    lines.append(f"| Mix-LN, mean of {len(curves['mix'])} | " + " | ".join(f"{mean('mix', s):.1f}" for s in steps) + " |")
    lines.append("| Mix − Pre | " + " | ".join(f"{mean('mix', s) - mean('pre', s):+.1f}" for s in steps) + " |")
    lines.append("| relative | " + " | ".join(f"{100 * (mean('mix', s) / mean('pre', s) - 1):+.1f}%" for s in steps) + " |")
    return lines


def analysis(path, name):
    file = os.path.join(path, "analysis", f"{name}.json")
    return load_json(file) if os.path.exists(file) else None


def mean_profiles(runs, extract):
    """{scheme: [mean over the scheme's finished runs of extract(run) per layer]}."""
    by_scheme = {}
    for _, scheme, _, path, summary in runs:
        if not (summary and summary.get("status") == "completed"):
            continue
        values = extract(path)
        if values is not None:
            by_scheme.setdefault(scheme, []).append(values)
    return {s: [statistics.mean(column) for column in zip(*rows)] + [len(rows)] for s, rows in by_scheme.items()}


def profile_table(title, profiles, digits, summary_columns):
    if not profiles:
        return [f"({title}: no analyses yet)"]
    layers = len(next(iter(profiles.values()))) - 1
    extra = [name for name, _ in summary_columns]
    lines = [f"| {title} | seeds | " + " | ".join(str(l) for l in range(layers)) + "".join(f" | {e}" for e in extra) + " |",
             "|" + "---|" * (layers + 2 + len(extra))]
    for scheme, values in profiles.items():
        per_layer, n = values[:-1], values[-1]
        summaries = "".join(f" | {fmt(f(per_layer), digits)}" for _, f in summary_columns)
        lines.append(f"| `{scheme}` | {n} | " + " | ".join(fmt(v, digits) for v in per_layer) + summaries + " |")
    return lines


def per_seed_ratios(runs, grad, angular, drop):
    """One row per scheme: each seed's last-quarter / first-quarter gradient and angular ratios,
    its ΔP of the second half over the first half, and its most important layer."""
    rows = {}
    for _, scheme, seed, path, summary in runs:
        g, a, d = grad(path), angular(path), drop(path)
        if not (summary and summary.get("status") == "completed") or None in (g, a, d):
            continue
        first_half, second_half = half_sums(d)
        rows.setdefault(scheme, []).append((seed, quarter_ratio(g), quarter_ratio(a), second_half / first_half,
                                            max(range(len(d)), key=lambda i: d[i])))
    lines = ["| run | gradient ratio | angular ratio | ΔP ratio | most important layer (ΔP) |", "|---|---|---|---|---|"]
    for scheme, seeds in rows.items():
        column = lambda i, digits: ", ".join(fmt(row[i], digits) if digits else str(row[i]) for row in seeds)
        label = "seed" if len(seeds) == 1 else "seeds"
        lines.append(f"| `{scheme}` {label} {column(0, 0)} | {column(1, 2)} | {column(2, 2)} | {column(3, 2)} | {column(4, 0)} |")
    return lines


def quarter_means(values):
    q = max(1, len(values) // 4)
    return statistics.mean(values[:q]), statistics.mean(values[-q:])


def quarter_ratio(values):
    """Mean of the last quarter of the layers over the mean of the first quarter."""
    first, last = quarter_means(values)
    return last / first


def half_sums(values):
    """(sum over the first half of the layers, sum over the second half)."""
    half = len(values) // 2
    return sum(values[:half]), sum(values[half:])


def main(folders):
    for folder in folders:
        runs = runs_of(folder)
        print(f"## {folder}\n")
        print("\n".join(curve_table(runs)) + "\n")
        print("\n".join(spread_table(finals_by_scheme(runs))) + "\n")
        print("\n".join(gap_over_training(runs)) + "\n")

        def grad(path):
            d = analysis(path, "grad_norms")
            return [layer["grad_norm"] for layer in d["layers"]] if d else None

        def angular(path):
            d = analysis(path, "angular")
            return [x["distance"] for x in sorted((x for x in d["distances"] if x["n"] == 1), key=lambda x: x["layer"])] if d else None

        def drop(path):
            d = analysis(path, "layer_drop")
            return [x["delta_perplexity"] for x in d["layers"]] if d else None

        def rms(path):
            d = analysis(path, "depth")
            return [x["input_rms"] for x in d["layers"]] + [d["output_rms"]] if d else None

        ratio = ("last ¼ / first ¼", quarter_ratio)
        print("\n".join(profile_table("grad norm, layer", mean_profiles(runs, grad), 3,
                                      [("first ¼", lambda v: quarter_means(v)[0]), ("last ¼", lambda v: quarter_means(v)[1]), ratio])) + "\n")
        print("\n".join(profile_table("angular distance (n = 1), layer", mean_profiles(runs, angular), 3,
                                      [("first ¼", lambda v: quarter_means(v)[0]), ("last ¼", lambda v: quarter_means(v)[1]), ratio])) + "\n")
        print("\n".join(profile_table("ΔP (ppl) removing layer", mean_profiles(runs, drop), 2,
                                      [("Σ first half", lambda v: half_sums(v)[0]), ("Σ second half", lambda v: half_sums(v)[1])])) + "\n")
        print("\n".join(profile_table("stream RMS entering layer (last: output)", mean_profiles(runs, rms), 2, [])) + "\n")
        print("\n".join(per_seed_ratios(runs, grad, angular, drop)) + "\n")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
