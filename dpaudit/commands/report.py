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
@click.option("--force", is_flag=True,
              help="Replace --output even if it is a file that is not a dpaudit report.")
def report(results: Path, output: Path | None, force: bool) -> None:
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
    result = load_results(results)
    if output.is_file() and not force and not _is_dpaudit_report(output):
        raise InputError(f"--output {output}: exists and is not a dpaudit report; choose "
                         "another file name, or pass --force to replace it")
    path = write_report(result, output)
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
