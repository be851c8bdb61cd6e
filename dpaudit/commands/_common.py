"""What the audit commands (train-and-attack, attack, canary-audit) share.

Config flags generated from the config's field table, the policy option, and the
end of a run: summary table, output paths, DP-violation lines and the gate's exit code.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Callable

import click

from dpaudit.backend import require_tensorflow
from dpaudit.config import FLAGS
from dpaudit.errors import GateFailed

__all__ = ["setting_options", "config_from_options", "load_policy_option", "mlflow_option",
           "check_mlflow_option", "log_mlflow_option",
           "quiet_third_party_logs", "finish_run", "summary_table", "fmt", "force_option",
           "check_data_spec", "load_tensorflow", "estimate_output_bytes", "strongest",
           "pooled_lines"]

_CLICK_TYPES = {"int": click.INT, "float": click.FLOAT, "str": click.STRING,
                "ints": click.STRING, "strs": click.STRING}
_PREFIX = "setting__"


def setting_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """Adds one option per config field; a value of None means "not given"."""
    for key, (flag, kind, help_text) in reversed(list(FLAGS.items())):
        dest = _PREFIX + key.replace(".", "__")
        base = kind.rstrip("?")
        if base == "bool":
            name = flag[2:]
            option = click.option(f"--{name}/--no-{name}", dest, default=None,
                                  help=f"{help_text} [{key}]")
        else:
            option = click.option(flag, dest, type=_CLICK_TYPES[base], default=None,
                                  help=f"{help_text} [{key}]")
        function = option(function)
    return function


def config_from_options(config_path: Path | None, settings: dict[str, Any]):
    """The validated AuditConfig: `--config` file, then the flags of `setting_options`."""
    from dpaudit.config import load_config

    overrides = {key.removeprefix(_PREFIX).replace("__", "."): value
                 for key, value in settings.items()}
    return load_config(config_path, overrides)


def force_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """`--force`: write into a non-empty --out folder that is not a dpaudit run."""
    return click.option("--force", is_flag=True,
                        help="Write into --out even if it is a non-empty folder that is not "
                             "a dpaudit run (its results.json, scores.csv, report.html and "
                             "models/ are replaced).")(function)


def check_data_spec(spec: str | None, flag: str) -> None:
    """A `csv:PATH` / `npz:PATH` whose file is missing fails here, before TensorFlow loads."""
    if not spec:
        return
    from dpaudit.errors import InputError

    kind, sep, arg = str(spec).partition(":")
    if sep and kind in ("csv", "npz") and arg:
        path = Path(arg).expanduser()
        if not path.exists():
            raise InputError(f"{arg}: file not found (given as {flag} {spec})")
        if not path.is_file():
            raise InputError(f"{arg}: not a file (given as {flag} {spec})")


def estimate_output_bytes(n_examples: int, n_attacks: int, n_arms: int) -> int:
    """A floor for what a run writes: scores.csv rows (~48 bytes each), results.json and a
    report with plotly embedded (~8 MiB), and headroom for saved models (~32 MiB; small
    tabular and MNIST models are well under that). Checked against free space up front so
    a full disk is found in seconds, not after training."""
    return 48 * max(n_examples, 0) * max(n_attacks, 1) * max(n_arms, 1) + 40 * 2 ** 20


def load_tensorflow() -> None:
    """Imports TensorFlow once the arguments are checked (a typo fails in a second, not
    after TensorFlow's ~10 s start); quietly unless --debug. Without TensorFlow, an
    InputError names the extra to install."""
    import sys

    ctx = click.get_current_context(silent=True)
    require_tensorflow(f"dpaudit {ctx.info_name}" if ctx else "this command")
    if "tensorflow" in sys.modules:
        return
    debug = bool(ctx and (ctx.find_root().obj or {}).get("debug"))
    if debug:
        import tensorflow  # noqa: F401
        return
    from dpaudit.cli import import_tensorflow_quietly

    import_tensorflow_quietly()


def load_policy_option(policy_path: Path | None):
    """Loads `--policy` before any training, so a bad policy fails in seconds."""
    if policy_path is None:
        return None
    from dpaudit.errors import InputError
    from dpaudit.gate import load_policy

    policy = load_policy(policy_path)
    if policy.is_empty:
        raise InputError(f"--policy {policy_path}: the policy sets no rule, so a gate would "
                         "check nothing; add rules under [all] or [arms.NAME] (e.g. "
                         "max_auc = 0.6; see examples/policy.toml), or drop --policy")
    return policy


def mlflow_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """`--mlflow [URI]`: log the run to MLflow (no URI: the file store ./mlruns)."""
    return click.option(
        "--mlflow", "mlflow_uri", is_flag=False, flag_value="mlruns", default=None,
        metavar="[URI]",
        help="Log settings, metrics, verdict, results.json and report.html to MLflow: a "
             "tracking URI, or a folder for a local file store (default ./mlruns). Needs "
             "pip install 'dpaudit[mlflow]'.")(function)


def check_mlflow_option(mlflow_uri: str | None) -> None:
    """Fails before any training when --mlflow is given but MLflow is not installed."""
    import importlib.util

    from dpaudit.errors import InputError

    if mlflow_uri is None:
        return
    try:
        missing = importlib.util.find_spec("mlflow") is None
    except ValueError:  # a module entry without a spec: treat as absent
        missing = True
    if missing:
        raise InputError("--mlflow needs MLflow: pip install 'dpaudit[mlflow]'")


def log_mlflow_option(result: Any, out_dir: Path, mlflow_uri: str | None, *,
                      quiet: bool) -> None:
    """Logs the finished run to MLflow when --mlflow was given."""
    if mlflow_uri is None:
        return
    from dpaudit.tracking import log_audit, tracking_uri

    run_id = log_audit(result, out_dir, uri=mlflow_uri)
    if not quiet:
        click.echo(f"MLflow: run {run_id} in {tracking_uri(mlflow_uri)}", err=True)


def quiet_third_party_logs() -> None:
    """Keeps absl's and TensorFlow's Python-side chatter out of the terminal.

    dp-accounting logs "failed to converge" for RDP orders it drops (which can only
    raise epsilon); --debug shows it all.
    """
    if logging.getLogger().level > logging.DEBUG:
        for name in ("absl", "tensorflow"):
            logging.getLogger(name).setLevel(logging.ERROR)


def finish_run(result: Any, out_dir: Path, *, quiet: bool, summary: str | None = None) -> None:
    """Prints the run's summary and outputs, any DP violation, and the gate's verdict.

    Raises GateFailed (exit 1) when a gate ran and failed.
    """
    from dpaudit.evidence import contradictions

    if not quiet:
        click.echo(summary if summary is not None else summary_table(result))
        click.echo(f"results: {out_dir / 'results.json'}")
        if (out_dir / "report.html").is_file():
            click.echo(f"report:  {out_dir / 'report.html'}")
    for found in contradictions(result):
        click.secho(f"DP VIOLATION: {found}", fg="red", err=True)
    if result.verdict is None:
        return
    from dpaudit.gate import CONSISTENCY_RULE, Verdict

    verdict = Verdict.from_dict(result.verdict)
    if not quiet or not verdict.passed:
        click.echo(verdict.format_text())
        if verdict.rules and all(o.rule == CONSISTENCY_RULE for o in verdict.rules):
            click.echo("note: no policy was given, so no release gate ran; only the DP "
                       "consistency check did (add --policy to gate the release)")
    if not verdict.passed:
        raise GateFailed()


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for a terminal table; None and NaN read "n/a"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def strongest(attacks: Any, value_of: Callable[[Any], float]) -> tuple[Any, float]:
    """The attack with the largest measured value of one metric, and that value.

    This is what the gate compares each attack rule with (`dpaudit.gate.rules`: the worst
    attack for that rule), so every column of the summary table is the number a
    `max_auc`, `max_tpr_at_fpr` or `max_empirical_epsilon` rule would check. NaN values
    are skipped here; the gate fails closed on them ("could not be measured").
    """
    measured = [(a, value_of(a)) for a in attacks if not math.isnan(value_of(a))]
    return max(measured, key=lambda av: av[1]) if measured else (None, math.nan)


def summary_table(result: Any) -> str:
    """The end-of-run table: per arm, utility, theoretical epsilon and, per metric, the
    strongest attack on it (the value the gate's rule for that metric checks)."""
    header = ("arm", "test acc", "epsilon (theory)", "strongest attack", "AUC",
              "TPR@1%FPR", "TPR@10%FPR", "epsilon lower bound")
    rows = [header]
    for arm in result.arms:
        top, auc = strongest(arm.attacks, lambda a: a.auc)

        def cell(value_of: Callable[[Any], float], digits: int = 3) -> str:
            attack, value = strongest(arm.attacks, value_of)
            if attack is None:
                return "n/a"
            # Name the attack when another one than the AUC's is strongest on this metric.
            return fmt(value, digits) + ("" if attack is top else f" ({attack.name})")

        rows.append((
            arm.name,
            fmt(arm.utility.test_accuracy if arm.utility else None),
            "none (no DP)" if arm.epsilon is None else fmt(arm.epsilon, 2),
            top.name if top else "n/a",
            f"{auc:.3f} [{top.auc_ci[0]:.2f}, {top.auc_ci[1]:.2f}]" if top else "n/a",
            cell(lambda a: a.tpr_at_fpr.get("0.01", math.nan)),
            cell(lambda a: a.tpr_at_fpr.get("0.1", math.nan)),
            # Estimates (pooled reference attacks) are not bounds: left out, as by the gate.
            cell(lambda a: math.nan if a.is_estimate else a.epsilon_lower_bound, 2),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("each column: the strongest attack on that metric (what the gate checks)")
    if any(math.isnan(a.tpr_at_fpr.get("0.01", math.nan)) for arm in result.arms
           for a in arm.attacks):
        lines.append("n/a TPR: too few non-members to resolve that FPR (10 / FPR needed)")
    return "\n".join(lines)


def pooled_lines(result: Any) -> str:
    """Per arm, the pooled reference attack with the highest TPR at 1% FPR, if any ran,
    with its AUC and TPR at 0.1% FPR: the target's own TPR at 1% FPR needs 1000
    non-members, which the pooled evaluation (models x examples) usually has.
    """
    lines = []
    for arm in result.arms:
        pooled = [a for a in arm.attacks if a.name.endswith("_pooled")]
        if not pooled:
            continue
        best = strongest(pooled, lambda a: a.tpr_at_fpr.get("0.01", math.nan))[0] or pooled[0]
        lines.append(f"{arm.name}: {best.name} over {best.details.get('n_reference', '?')} "
                     f"reference models: AUC {best.auc:.3f}, TPR@1%FPR "
                     f"{fmt(best.tpr_at_fpr.get('0.01'))}, TPR@0.1%FPR "
                     f"{fmt(best.tpr_at_fpr.get('0.001'))}")
    return "".join("\n" + line for line in lines)
