#!/usr/bin/env python3
"""Expected `analyze angular` and `analyze layer-drop` results for the official-layout CLI fixtures.

For each Tests/MixLNCLITests/Fixtures/official/<scheme>/ (written by make_parity_fixtures.py), loads
the checkpoint into the reference model and writes analysis.json:
  angular:    [{layer, n, distance}] with distance = mean over every real token of
              arccos(cos(x_l, x_{l+n}))/pi, x_l the input of decoder layer l (x_L: last layer's
              output before the final norm), tokens = every position of every tokens.jsonl record;
  layer_drop: baseline {loss, perplexity} and [{layer, loss, perplexity, delta_perplexity}] with
              decoder layer l bypassed (its block is the identity), loss = mean CE over all
              next-token predictions of the records.
Run after make_parity_fixtures.py:  python3 scripts/reference/make_analysis_fixtures.py
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mixln_reference import load_checkpoint  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OFFICIAL = os.path.join(REPO, "Tests", "MixLNCLITests", "Fixtures", "official")
SCHEMES = {"pre": "pre", "post": "post", "post_pre": "mix:1"}


def layer_inputs(model, ids, skip=None):
    """Residual stream entering each layer (and the last layer's output), float64 afterwards."""
    h = model.model.embed_tokens(ids)
    if model.model.embedding_norm:
        h = model.model.embed_norm(h)
    inputs = []
    for i, layer in enumerate(model.model.layers):
        inputs.append(h)
        if i != skip:
            h = layer(h)
    inputs.append(h)
    return inputs, model.lm_head(model.model.norm(h))


def official_fixtures():
    """(folder name, its path, the reference model loaded from it, its token records) per fixture."""
    for folder, scheme in SCHEMES.items():
        d = os.path.join(OFFICIAL, folder)
        records = [json.loads(line)["input_ids"] for line in open(os.path.join(d, "tokens.jsonl"))]
        yield folder, d, load_checkpoint(d, scheme).eval(), records


@torch.no_grad()
def main():
    torch.set_num_threads(1)
    for folder, d, model, records in official_fixtures():
        L = model.config.num_hidden_layers
        sums = {(l, n): 0.0 for l in range(L) for n in range(1, L - l + 1)}
        tokens = 0

        def mean_loss(skip=None):
            total, count = 0.0, 0
            for r in records:
                x = torch.tensor([r])
                _, logits = layer_inputs(model, x, skip)
                lp = F.log_softmax(logits[0, :-1].double(), dim=-1)
                y = x[0, 1:]
                total += -lp[torch.arange(len(y)), y].sum().item()
                count += len(y)
            return total / count

        for r in records:
            inputs, _ = layer_inputs(model, torch.tensor([r]))
            xs = [h[0].double() for h in inputs]
            for (l, n) in sums:
                cos = F.cosine_similarity(xs[l], xs[l + n], dim=-1).clamp(-1, 1)
                sums[(l, n)] += (torch.arccos(cos) / math.pi).sum().item()
            tokens += len(r)
        angular = [{"layer": l, "n": n, "distance": s / tokens} for (l, n), s in sorted(sums.items())]
        base = mean_loss()
        drops = []
        for l in range(L):
            loss = mean_loss(skip=l)
            drops.append({"layer": l, "loss": loss, "perplexity": math.exp(loss),
                          "delta_perplexity": math.exp(loss) - math.exp(base)})
        out = {"tokens": tokens, "angular": angular,
               "layer_drop": {"baseline": {"loss": base, "perplexity": math.exp(base)}, "layers": drops}}
        with open(os.path.join(d, "analysis.json"), "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
        print(folder, "tokens", tokens, "baseline ppl", round(math.exp(base), 4),
              "ΔP", [round(x["delta_perplexity"], 4) for x in drops])


if __name__ == "__main__":
    main()
