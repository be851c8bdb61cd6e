"""`dpaudit gate`: judge a results.json against a privacy policy (exit 0 pass, 1 fail)."""

from __future__ import annotations

from pathlib import Path

import click

from dpaudit.errors import GateFailed, InputError

__all__ = ["gate"]


def _parse_tpr_limits(ctx: click.Context, param: click.Parameter,
                      values: tuple[str, ...]) -> dict[str, float]:
    """Parses repeated `--max-tpr-at-fpr FPR=X` into {FPR: X}; bad syntax exits 2."""
    limits: dict[str, float] = {}
    for text in values:
        fpr, sep, limit = text.partition("=")
        try:
            if not sep:
                raise ValueError
            limits[fpr.strip()] = float(limit)
        except ValueError:
            raise click.BadParameter(f"expected FPR=X, e.g. 0.01=0.05, got {text!r}",
                                     ctx=ctx, param=param) from None
    return limits


@click.command("gate")
@click.argument("results", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Policy TOML with [all] and [arms.NAME] rules (see examples/policy.toml).")
@click.option("--max-auc", type=float, help="Largest attack ROC AUC allowed.")
@click.option("--max-tpr-at-fpr", multiple=True, metavar="FPR=X", callback=_parse_tpr_limits,
              help="Largest TPR allowed at FPR 0.001, 0.01 or 0.1, e.g. 0.01=0.05. Repeatable.")
@click.option("--max-empirical-epsilon", type=float,
              help="Largest empirical epsilon lower bound any attack may prove.")
@click.option("--max-epsilon", type=float,
              help="Largest theoretical (accountant) epsilon; applies to arms that claim DP.")
@click.option("--min-test-accuracy", type=float, help="Smallest test accuracy allowed.")
@click.option("--arm", "arms", multiple=True, metavar="NAME",
              help="Apply the options above to this arm only (repeatable; default: every arm).")
@click.option("--allow-contradiction", is_flag=True,
              help="Turn OFF the always-on check that no empirical epsilon exceeds the "
                   "theoretical one. The output says it was off.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the verdict as JUnit XML, one test case per rule.")
@click.option("--summary", type=click.Path(dir_okay=False, path_type=Path),
              help="Also append the verdict, each rule and the headline figures as Markdown "
                   "to this file, e.g. \"$GITHUB_STEP_SUMMARY\".")
def gate(results: Path, policy_path: Path | None, max_auc: float | None,
         max_tpr_at_fpr: dict[str, float], max_empirical_epsilon: float | None,
         max_epsilon: float | None, min_test_accuracy: float | None, arms: tuple[str, ...],
         allow_contradiction: bool, junit: Path | None, summary: Path | None) -> None:
    """Check RESULTS (a results.json) against a privacy policy.

    Prints each rule with what was measured, the limit and PASS/FAIL. Options override
    the policy file's limits. Whatever the rules, the gate fails if an attack's
    empirical epsilon lower bound exceeds its arm's theoretical epsilon (a DP bug).

    A gate needs at least one rule (from --policy or an option): without one it exits 2
    and says what to configure, unless the consistency check fails (exit 1).

    Exit codes: 0 all rules pass, 1 a rule fails, 2 bad input (missing or malformed
    results or policy, unknown rule or arm, no rule at all).
    """
    from dpaudit.gate import Policy, evaluate_gate, load_policy, write_junit
    from dpaudit.results import load_results

    result = load_results(results)
    policy = load_policy(policy_path) if policy_path is not None else Policy()
    options = Policy.from_options(
        max_epsilon=max_epsilon, max_empirical_epsilon=max_empirical_epsilon, max_auc=max_auc,
        max_tpr_at_fpr=max_tpr_at_fpr, min_test_accuracy=min_test_accuracy, arms=arms)
    if arms and options.is_empty:
        raise InputError("option --arm chooses the arm that rule options apply to; give at "
                         "least one rule option (e.g. --max-auc) with it")
    combined = policy.with_overrides(options)
    verdict = evaluate_gate(result, combined, check_contradiction=not allow_contradiction)
    if combined.is_empty and verdict.passed:
        # A contradiction still fails (exit 1) without rules; a pass without rules would
        # be a release gate that checked nothing about leakage.
        what = (f"the policy file {policy_path} sets no rule" if policy_path is not None
                else "no policy was given")
        raise InputError(f"{what}, so the gate has nothing to pass: add rules under [all] or "
                         "[arms.NAME] in a policy file (see examples/policy.toml), e.g. "
                         "max_auc = 0.6, or give a limit option such as --max-auc 0.6, "
                         "--max-tpr-at-fpr 0.01=0.05, --max-epsilon 8 or "
                         "--min-test-accuracy 0.8")
    click.echo(verdict.format_text())
    if junit is not None:
        write_junit(verdict, junit)
        click.echo(f"JUnit XML written to {junit}")
    if summary is not None:
        from dpaudit.gate.summary import append_summary, markdown_summary

        append_summary(summary, markdown_summary(verdict, result))
        click.echo(f"Markdown summary appended to {summary}")
    if not verdict.passed:
        raise GateFailed()
