"""dpaudit installs no generic top-level names: a user's own `attacks.py` and `reports/`
package in the working directory (Jupyter puts it on sys.path) do not break an audit."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest


@pytest.mark.slow
def test_an_audit_ignores_a_users_attacks_module_and_reports_package(tmp_path):
    (tmp_path / "attacks.py").write_text("raise ImportError('the user attacks.py was imported')\n")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "__init__.py").write_text(
        "raise ImportError('the user reports package was imported')\n")
    config = tmp_path / "audit.toml"
    config.write_text(textwrap.dedent("""
        seed = 0
        [data]
        n_members = 40
        [model]
        hidden = [8]
        [training]
        epochs = 1
        batch_size = 20
        [attacks]
        names = ["loss_threshold"]
    """))
    # `python -c` puts the working directory first on sys.path, as a notebook does.
    done = subprocess.run(
        [sys.executable, "-c", "from dpaudit.cli import main; main()", "train-and-attack",
         "--config", str(config), "--out", "run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "run" / "report.html").is_file()
    assert json.loads((tmp_path / "run" / "results.json").read_text())["arms"]


def test_no_top_level_attacks_or_reports_is_importable_from_elsewhere(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c",
         "import importlib.util as u; print(u.find_spec('attacks'), u.find_spec('reports'))"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "None"]
