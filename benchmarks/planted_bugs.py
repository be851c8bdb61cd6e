"""Does `dpaudit canary-audit --trainer` catch hand-written DP-SGD bugs? (a measurement, not a test)

Runs the CLI as a user would, with its DEFAULT audit settings, on the plain-TensorFlow
trainers of examples/trainers (one correct, three with a planted bug: noise 20x smaller
than claimed, no clipping, clipping of the batch mean) for several seeds, and prints one
JSON line per audit (exit code, bounds at 95% and at the rule's 99.9%, ceiling, claimed
epsilon, wall time) and a table. Target: every bug caught (exit 1, "contradicted by
evidence") in at least 2 of 3 seeds, the correct trainer never (each audit < 10 min on 2
cores). The false-alarm rate on the correct trainer is at most 1 - 0.999 by the soundness
of the one-run bound; the "correct" rows measure it (0 fires of N audits).

Then the old settings: the same trainers with the old contract (`--mode blackbox`, the
documented claims: 100 members, batch 25, 20 epochs, noise 1.0; epsilon about 13): the
output must say INCONCLUSIVE and name the ceiling, and --require-conclusive exits 1.

Measured (2026-11-30, seeds 0,1,2, shared 2-core machine at load 5-14; wall seconds):
small_noise 3/3 caught (181, 245, 194 s), no_clip 3/3 (238, 276, 277 s),
clip_after_mean 3/3 (189, 102, 160 s; rule bounds 1.77, 1.70, 1.59 vs claimed 0.915),
correct 0/3 (140, 99, 41 s; rule bound 0). Old contract at the documented settings:
claimed 14.04, ceiling 1.50 at 99.9% -> INCONCLUSIVE, exit 1 with --require-conclusive.

    python benchmarks/planted_bugs.py [--seeds 0,1,2] [--trainers correct,small_noise,...]
        [--old-settings] [--cores 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAINERS = ("small_noise", "no_clip", "clip_after_mean", "correct")
_OLD = ["--mode", "blackbox", "--members", "100", "--batch-size", "25", "--epochs", "20",
        "--noise-multiplier", "1.0", "--l2-norm-clip", "1.0"]


def _dpaudit(args: list[str], cores: int) -> tuple[int, str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "examples"), "TF_CPP_MIN_LOG_LEVEL": "3",
           "TF_NUM_INTRAOP_THREADS": str(cores), "TF_NUM_INTEROP_THREADS": str(cores)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dpaudit.cli", *args], env=env,
                          capture_output=True, text=True, check=False)
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - started


def audit(trainer: str, seed: int, *, cores: int, extra: list[str] = ()) -> dict:
    with tempfile.TemporaryDirectory() as out:
        code, output, seconds = _dpaudit(
            ["canary-audit", "--trainer", f"trainers.{trainer}:train", "--seed", str(seed),
             "--no-report", "--out", out, *extra], cores)
        row = {"trainer": trainer, "seed": seed, "exit": code, "seconds": round(seconds, 1),
               "load_1min": round(os.getloadavg()[0], 2),
               "contradicted": "contradicted by evidence" in output,
               "inconclusive": "INCONCLUSIVE" in output}
        results = Path(out) / "results.json"
        if results.is_file():
            arm = json.loads(results.read_text())["arms"][0]
            attack = arm["attacks"][0]
            row.update(claimed=arm["privacy"]["epsilon_pld"] or arm["privacy"]["epsilon_rdp"],
                       bound_95=attack["epsilon_lower_bound"],
                       bound_rule=attack.get("rule_epsilon_lower_bound"),
                       ceiling=attack.get("ceiling"), conclusive=attack.get("conclusive"))
        else:
            row["output_tail"] = output[-500:]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--trainers", default=",".join(TRAINERS))
    parser.add_argument("--old-settings", action="store_true",
                        help="also audit at the old contract's settings")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for trainer in args.trainers.split(","):
        for seed in seeds:
            row = audit(trainer, seed, cores=args.cores)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.old_settings:
        for trainer in ("small_noise", "correct"):
            row = audit(trainer, seeds[0], cores=args.cores,
                        extra=[*_OLD, "--require-conclusive"])
            row["settings"] = "old contract, --require-conclusive"
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\ntrainer          caught (exit 1)   seconds")
    for trainer in args.trainers.split(","):
        mine = [r for r in rows if r["trainer"] == trainer and "settings" not in r]
        caught = sum(r["exit"] == 1 and r["contradicted"] for r in mine)
        print(f"{trainer:<16} {caught}/{len(mine):<15} "
              f"{', '.join(str(r['seconds']) for r in mine)}")


if __name__ == "__main__":
    main()
