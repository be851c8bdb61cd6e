"""How long `dpaudit report` takes for a default-size audit; prints JSON.

    python benchmarks/report_speed.py                  # synthetic default-size result
    python benchmarks/report_speed.py runs/demo/results.json --repeat 10

The synthetic result has the shape of the default `dpaudit train-and-attack` run
(digits, 2 arms, 3 attacks, 200 ROC points, 30-bin histograms, 10 classes, 10 exposed
examples, 20 epochs) but a larger split (1000 members) so that nothing is flattered.
Timings:
  cold_s     import + load + render + write in this fresh process (what one CLI call does
             after Python starts);
  render_s   median of `render_html` once warm (plotly.js read and template compiled);
  cli_s      wall time of `python -m dpaudit.cli report` in a subprocess (Python start-up,
             imports and all).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_SEPARATION = {"baseline": 0.8, "dp": 0.1}


def _attack(name: str, separation: float, rng: np.random.Generator, n: int) -> dict:
    is_member = np.arange(2 * n) < n
    labels = rng.integers(0, 10, 2 * n)
    scores = rng.normal(size=2 * n) + separation * is_member
    order = np.argsort(-scores)
    tpr = np.concatenate([[0.0], np.cumsum(is_member[order]) / n])
    fpr = np.concatenate([[0.0], np.cumsum(~is_member[order]) / n])
    keep = np.unique(np.linspace(0, 2 * n, 200).astype(int))
    auc = float(np.trapezoid(tpr, fpr))
    edges = np.linspace(scores.min(), scores.max(), 31)
    top = order[is_member[order]][:10]
    return {
        "name": name, "auc": auc, "auc_ci": [auc - 0.03, auc + 0.03], "advantage": 0.2,
        "tpr_at_fpr": {"0.001": 0.002, "0.01": 0.02, "0.1": 0.15},
        "epsilon_lower_bound": 0.2, "confidence": 0.95, "n_members": n, "n_nonmembers": n,
        "roc": {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()}, "delta": 1e-5,
        "epsilon_lower_bound_method": "Clopper-Pearson",
        "per_class_auc": {str(c): 0.5 + separation * rng.uniform(0, 0.3) for c in range(10)},
        "top_exposed": [{"id": int(i), "score": float(scores[i]), "label": int(labels[i])}
                        for i in top],
        "score_histogram": {"edges": edges.tolist(),
                            "members": np.histogram(scores[is_member], edges)[0].tolist(),
                            "nonmembers": np.histogram(scores[~is_member], edges)[0].tolist()},
        "details": {"n_shadow": 4} if name == "shadow" else {},
    }


def synthetic_results(n_members: int = 1000, epochs: int = 20, seed: int = 0) -> dict:
    """A results.json dict (schema_version 1) with every optional field filled."""
    rng = np.random.default_rng(seed)
    arms = []
    for arm in ("baseline", "dp"):
        dp = arm == "dp"
        eps = [0.5 * math.sqrt(e) for e in range(1, epochs + 1)]
        arms.append({
            "name": arm,
            "utility": {"train_accuracy": 1.0 if not dp else 0.92, "test_accuracy": 0.9,
                        "train_loss": 0.01, "test_loss": 0.3},
            "privacy": {"noise_multiplier": 1.1 if dp else 0.0, "l2_norm_clip": 1.0,
                        "num_microbatches": None, "batch_size": 64, "sampling": "poisson",
                        "steps": epochs * math.ceil(n_members / 64), "epochs": epochs,
                        "dataset_size": n_members, "delta": 1e-5 if dp else None,
                        "epsilon_rdp": eps[-1] if dp else None,
                        "epsilon_pld": eps[-1] * 0.9 if dp else None,
                        "accounting_note": "", "epsilon_per_epoch": eps if dp else []},
            "attacks": [_attack(a, _SEPARATION[arm], rng, n_members)
                        for a in ("loss_threshold", "confidence", "shadow")],
            "history": {"loss": list(np.linspace(2, 0.1, epochs))},
        })
    ids = list(range(4 * n_members))
    return {
        "schema_version": 1,
        "config": {"seed": seed, "data": {"dataset": "digits", "n_members": n_members},
                   "model": {"name": "mlp", "hidden": [256, 256]}},
        "environment": {"python": sys.version.split()[0], "packages": {"dpaudit": "0.1.0"}},
        "data": {"dataset": "digits", "n_members": n_members, "n_nonmembers": n_members,
                 "n_shadow_pool": 2 * n_members, "n_test": 500,
                 "ids": {"members": ids[:n_members], "nonmembers": ids[n_members:]}},
        "arms": arms, "verdict": None, "timings": {"train": 60.0},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path,
                        help="a results.json to time (default: a synthetic one)")
    parser.add_argument("--repeat", type=int, default=5, help="warm renders to time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        results = args.results
        if results is None:
            results = Path(tmp) / "results.json"
            results.write_text(json.dumps(synthetic_results()), encoding="utf-8")
        out = Path(tmp) / "report.html"

        start = time.perf_counter()
        from dpaudit.results import load_results
        from dpaudit.reports import render_html, write_report

        result = load_results(results)
        write_report(result, out)
        cold = time.perf_counter() - start

        warm = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            html = render_html(result)
            warm.append(time.perf_counter() - start)

        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dpaudit.cli", "report", str(results), "-o",
                        str(out)], check=True, capture_output=True)
        cli = time.perf_counter() - start

    print(json.dumps({
        "results": str(args.results) if args.results else "synthetic (1000 members)",
        "arms": len(result.arms),
        "attacks": sum(len(a.attacks) for a in result.arms),
        "plots": html.count("data-figure-for="),
        "html_mb": round(len(html.encode("utf-8")) / 1e6, 2),
        "cold_s": round(cold, 3),
        "render_s": round(statistics.median(warm), 3),
        "render_min_s": round(min(warm), 3),
        "cli_s": round(cli, 3),
    }, indent=2))


if __name__ == "__main__":
    main()
