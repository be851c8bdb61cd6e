"""`dpaudit report RESULTS.json [-o report.html]`: the self-contained HTML audit report."""

from __future__ import annotations

from pathlib import Path

import click

from dpaudit.errors import InputError

__all__ = ["report"]


@click.command("report")
@click.argument("results", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the report [default: report.html beside RESULTS].")
def report(results: Path, output: Path | None) -> None:
    """Write the HTML audit report for RESULTS (a results.json from an audit).

    The page is self-contained: it embeds plotly.js, opens offline from file://
    and makes no network request.

    \b
    Example:
      dpaudit report runs/demo/results.json -o audit.html
    """
    # Imported here so that `dpaudit --help` stays fast.
    from dpaudit.reports import write_report
    from dpaudit.results import load_results

    output = output if output is not None else results.with_name("report.html")
    if output.resolve() == results.resolve():
        raise InputError(f"--output {output}: would overwrite the results file; "
                         "choose another file name")
    path = write_report(load_results(results), output)
    click.echo(f"wrote {path}")
