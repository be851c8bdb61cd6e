import subprocess
import sys

from click.testing import CliRunner

from dpaudit.cli import cli


def test_help_lists_commands_and_exits_0():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    assert "Audit what a Keras model leaks" in result.output


def test_unknown_command_is_a_usage_error():
    assert CliRunner().invoke(cli, ["no-such-command"]).exit_code == 2


def test_import_and_help_do_not_import_tensorflow():
    code = ("import sys, dpaudit, dpaudit.attacks, dpaudit.reports, dpaudit.results\n"
            "from click.testing import CliRunner\n"
            "from dpaudit.cli import cli\n"
            "r = CliRunner().invoke(cli, ['--help'])\n"
            "assert r.exit_code == 0, r.output\n"
            "for name in cli.list_commands(None):\n"
            "    assert CliRunner().invoke(cli, [name, '--help']).exit_code == 0, name\n"
            "heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_tensorflow_command_without_tensorflow_names_the_extra(monkeypatch):
    import importlib.util

    from click.testing import CliRunner

    from dpaudit.cli import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorflow" else real(name, *a))
    done = CliRunner().invoke(cli, ["suggest-clip", "--dataset", "digits"])
    assert done.exit_code == 2, done.output
    assert "needs TensorFlow" in done.output and "dpaudit[tensorflow]" in done.output
