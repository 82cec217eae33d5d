#!/usr/bin/env python3
"""Expected `analyze logit-lens` results for the official-layout CLI fixtures.

For each Tests/MixLNCLITests/Fixtures/official/<scheme>/ (written by make_parity_fixtures.py), loads
the checkpoint into the reference model and writes logit_lens.json (a new file; nothing else is
touched):
  tokens: predicted tokens (each tokens.jsonl record predicts its own input_ids[1:]);
  layers: for l = 0..L, with x_l the residual stream entering decoder layer l (x_L the last layer's
          output, from the reference model's return_layer_inputs=True), logits_l = lm_head(norm(x_l))
          in the checkpoint's fp32 and p_l = softmax(logits_l) in float64:
            loss           mean over predicted tokens of -log p_l(next token),
            top1_agreement fraction of tokens with argmax p_l == argmax p_L,
            kl_to_final    mean of KL(p_L || p_l) = sum_v p_L(v) (log p_L(v) - log p_l(v)), in nats.
Run after make_parity_fixtures.py:  python3 scripts/reference/make_logit_lens_fixtures.py
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_analysis_fixtures import official_fixtures  # noqa: E402


@torch.no_grad()
def main():
    torch.set_num_threads(1)
    for folder, d, model, records in official_fixtures():
        L = model.config.num_hidden_layers
        sums = [[0.0, 0, 0.0] for _ in range(L + 1)]
        tokens = 0
        for r in records:
            ids = torch.tensor([r])
            _, layer_inputs = model.model(ids, return_layer_inputs=True)
            log_probs = [F.log_softmax(model.lm_head(model.model.norm(x[0, :-1])).double(), dim=-1) for x in layer_inputs]
            targets = ids[0, 1:]
            final = log_probs[L]
            for l, lp in enumerate(log_probs):
                sums[l][0] += -lp[torch.arange(len(targets)), targets].sum().item()
                sums[l][1] += (lp.argmax(dim=-1) == final.argmax(dim=-1)).sum().item()
                sums[l][2] += (final.exp() * (final - lp)).sum().item()
            tokens += len(targets)
        layers = [{"layer": l, "loss": s[0] / tokens, "top1_agreement": s[1] / tokens, "kl_to_final": s[2] / tokens}
                  for l, s in enumerate(sums)]
        with open(os.path.join(d, "logit_lens.json"), "w") as f:
            json.dump({"tokens": tokens, "layers": layers}, f, indent=1)
            f.write("\n")
        print(folder, "tokens", tokens, "loss", [round(x["loss"], 5) for x in layers],
              "KL", ["%.3e" % x["kl_to_final"] for x in layers])


if __name__ == "__main__":
    main()
