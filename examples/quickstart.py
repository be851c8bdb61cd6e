"""Quickstart: audit DP-SGD against a non-DP baseline on the embedded digits data.

    python examples/quickstart.py            # about a minute on a laptop CPU

Same as `dpaudit train-and-attack --out runs/quickstart`, from Python: trains a
baseline MLP and a DP-SGD MLP (same data, initial weights and batch sampling) on 100
digits, attacks both with membership inference, and prints what leaked beside what
the accountant promises. Open runs/quickstart/report.html afterwards.
"""

from __future__ import annotations

from dpaudit.config import load_config
from dpaudit.audit import run_audit


def main() -> None:
    # Any setting of examples/audit.toml can be overridden here by its dotted name.
    config = load_config(None, {"output.dir": "runs/quickstart"})
    result = run_audit(config)
    for arm in result.arms:
        best = arm.best_attack()
        epsilon = "no guarantee" if arm.epsilon is None else f"epsilon = {arm.epsilon:.2f}"
        proven = max(a.epsilon_lower_bound for a in arm.attacks)
        print(f"{arm.name:>8}: test accuracy {arm.utility.test_accuracy:.3f}, {epsilon}; "
              f"best attack {best.name} AUC {best.auc:.3f} "
              f"(95% CI {best.auc_ci[0]:.2f}-{best.auc_ci[1]:.2f}); "
              f"attacks prove epsilon >= {proven:.2f}")
    print("report: runs/quickstart/report.html")


if __name__ == "__main__":
    main()
