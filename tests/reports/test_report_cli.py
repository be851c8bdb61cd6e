"""`dpaudit report`: exit codes, where the page goes, and nothing half-written on failure."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from dpaudit.cli import cli
from dpaudit.results import save_results

DATA = Path(__file__).parent / "data"


@pytest.fixture
def results_file(result, tmp_path) -> Path:
    return save_results(result, tmp_path / "run" / "results.json")


def _run(*args: str):
    return CliRunner().invoke(cli, ["report", *map(str, args)])


def test_writes_report_html_beside_the_results_by_default(results_file):
    out = _run(results_file)
    assert out.exit_code == 0, out.output
    report = results_file.with_name("report.html")
    assert out.output.strip() == f"wrote {report}"
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_output_option_names_the_file_and_creates_its_folder(results_file, tmp_path):
    target = tmp_path / "elsewhere" / "audit.html"
    out = _run(results_file, "-o", target)
    assert out.exit_code == 0, out.output
    assert target.is_file()
    assert not results_file.with_name("report.html").exists()


def test_old_schema_file_renders_from_the_command_line(tmp_path):
    out = _run(DATA / "results_v1_minimal.json", "--output", tmp_path / "r.html")
    assert out.exit_code == 0, out.output
    assert "not available in these results" in (tmp_path / "r.html").read_text()


def test_missing_results_file_exits_2_naming_it(tmp_path):
    out = _run(tmp_path / "nope.json", "-o", tmp_path / "r.html")
    assert out.exit_code == 2
    assert "nope.json" in out.output and "not found" in out.output
    assert "Traceback" not in out.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content, fragment", [
    ("{", "not valid JSON"),
    ('{"schema_version": 1}', "not a dpaudit results file"),
    ('{"schema_version": 7, "arms": []}', "schema_version"),
])
def test_malformed_results_exit_2_and_write_nothing(tmp_path, content, fragment):
    bad = tmp_path / "results.json"
    bad.write_text(content)
    previous = tmp_path / "report.html"
    previous.write_text("previous report")
    out = _run(bad)
    assert out.exit_code == 2, out.output
    assert fragment in out.output and str(bad) in out.output
    assert previous.read_text() == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "results.json"]


def test_refuses_to_overwrite_the_results_file(results_file):
    before = results_file.read_text()
    out = _run(results_file, "-o", results_file)
    assert out.exit_code == 2
    assert "would overwrite a results file" in out.output
    assert results_file.read_text() == before


def test_output_that_is_a_directory_is_a_usage_error(results_file, tmp_path):
    out = _run(results_file, "-o", tmp_path)
    assert out.exit_code == 2
    assert "directory" in out.output


def test_a_users_own_file_is_not_replaced_without_force(results_file, tmp_path):
    # Issue 14.4: -o index.html must not silently replace the user's page.
    mine = tmp_path / "index.html"
    mine.write_text("<html>my page</html>")
    out = _run(results_file, "-o", mine)
    assert out.exit_code == 2 and "not a dpaudit report" in out.output, out.output
    assert mine.read_text() == "<html>my page</html>"
    assert _run(results_file, "-o", mine, "--force").exit_code == 0
    assert _run(results_file, "-o", mine).exit_code == 0  # now a dpaudit report: replaced
