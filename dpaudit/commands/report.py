"""`dpaudit report RESULTS.json... [-o FILE]`: the HTML audit report, or several compared."""

from __future__ import annotations

from pathlib import Path

import click

from dpaudit.errors import InputError

__all__ = ["report"]


@click.command("report")
@click.argument("results", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the page [default: report.html beside RESULTS; for several "
                   "RESULTS, comparison.html in the current directory].")
@click.option("--force", is_flag=True,
              help="Replace --output even if it is a file that is not a dpaudit report.")
def report(results: tuple[Path, ...], output: Path | None, force: bool) -> None:
    """Write the HTML audit report for RESULTS (a results.json from an audit).

    Given several results files (model versions, noise settings), write one page that
    compares them instead: test accuracy against epsilon with the empirical lower bound
    as an interval, and each attack's TPR at 1% FPR per run.

    The page is self-contained: it embeds plotly.js, opens offline from file://
    and makes no network request.

    \b
    Examples:
      dpaudit report runs/demo/results.json -o audit.html
      dpaudit report runs/sigma1/results.json runs/sigma2/results.json -o compare.html
    """
    # Imported here so that `dpaudit --help` stays fast.
    from dpaudit.results import load_results

    default = (results[0].with_name("report.html") if len(results) == 1
               else Path("comparison.html"))
    output = output if output is not None else default
    if any(output.resolve() == r.resolve() for r in results):
        raise InputError(f"--output {output}: would overwrite a results file; "
                         "choose another file name")
    loaded = [load_results(r) for r in results]  # bad results are named before --output
    if output.is_file() and not force and not _is_dpaudit_report(output):
        raise InputError(f"--output {output}: exists and is not a dpaudit report; choose "
                         "another file name, or pass --force to replace it")
    if len(results) == 1:
        from dpaudit.reports import write_report

        path = write_report(loaded[0], output)
    else:
        from dpaudit.reports.compare import run_label, write_comparison

        runs: list = []
        for r, result in zip(results, loaded):
            runs.append((run_label(r, [label for label, _ in runs]), result))
        path = write_comparison(runs, output)
    click.echo(f"wrote {path}")


def _is_dpaudit_report(path: Path) -> bool:
    """A page dpaudit wrote carries `<meta name="generator" content="dpaudit ...">` near
    its top (reports/templates/report.html)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8192)
    except OSError:
        return False
    return b'<meta name="generator" content="dpaudit' in head
