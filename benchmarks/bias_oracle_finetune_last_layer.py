"""How far could moving the decision threshold take the reference solution?

The reference predicts "fresh" more often than the test split holds it (about 61-63%
against 58%). This trains the reference for the given seeds, computes each test
snippet's logit margin with the grader's own prefix and weights, and reports the
accuracy at the best threshold chosen *on the test split itself*: an oracle no
honest recipe can beat by shifting the head's bias alone.

Usage: .venv/bin/python benchmarks/bias_oracle_finetune_last_layer.py 0,3,4,7
Appends one JSON object per seed to benchmarks/results/bias_oracle_finetune_last_layer.jsonl.
"""
from __future__ import annotations

import copy
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]
import calibrate_finetune_last_layer as calibrate  # noqa: E402

OUT = calibrate.ROOT / "benchmarks" / "results" / "bias_oracle_finetune_last_layer.jsonl"


def test_margins(checker, weights: bytes):
    """Logit(fresh) - logit(rotten) for every test snippet, and the labels, in the checker's order."""
    import torch

    from autograder import trusted

    tensors = trusted.read_safetensors(weights, checker.expected)
    prefix = checker.trainable_prefixes[0]
    layer = copy.deepcopy(checker.encoder.encoder.layer[-1])
    layer.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    layer.eval()
    margins, labels = [], []
    with torch.no_grad():
        for states, mask, y in checker._prefix():
            additive = (1.0 - mask[:, None, None, :].to(states.dtype)) * torch.finfo(states.dtype).min
            out = layer(states, attention_mask=additive)
            out = out[0] if isinstance(out, tuple) else out
            logits = trusted.mean_pool(out, mask) @ tensors["head.weight"].T + tensors["head.bias"]
            margins.append(logits[:, 1] - logits[:, 0])
            labels.append(y)
    return torch.cat(margins), torch.cat(labels)


def main() -> None:
    import torch

    from autograder import assignments, worker

    seeds = [int(s) for s in sys.argv[1].split(",")]
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda seed: calibrate.train_seed(seed, threads=1), seeds))
    checker = worker.checker_for(assignments.FINETUNE_LAST_LAYER)
    for seed, (_, weights, _) in zip(seeds, runs):
        margins, labels = test_margins(checker, weights)

        def accuracy(threshold: float) -> float:
            return ((margins > threshold).long() == labels).float().mean().item()

        best, shift = max((accuracy(t), t) for t in torch.linspace(-2, 2, 81).tolist())
        row = {"seed": seed, "test_accuracy": round(accuracy(0.0), 4), "oracle_accuracy": round(best, 4),
               "oracle_threshold": round(shift, 2), "predicted_fresh": round((margins > 0).float().mean().item(), 3),
               "actually_fresh": round(labels.float().mean().item(), 3)}
        print(json.dumps(row), flush=True)
        with OUT.open("a") as handle:
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
