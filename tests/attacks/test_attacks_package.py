"""Package-level checks: no TensorFlow, the contract's names, runnable docstring examples."""

from __future__ import annotations

import doctest
import importlib
import pathlib
import re
import subprocess
import sys
import warnings

import pytest

from dpaudit import attacks

_ROOT = pathlib.Path(attacks.__file__).parent
_MINE = sorted(p.stem for p in _ROOT.glob("*.py"))


def test_import_attacks_does_not_import_tensorflow_keras_or_the_rest_of_dpaudit():
    modules = ", ".join(f"dpaudit.attacks.{name}" for name in _MINE if name != "__init__")
    # dpaudit.attacks lives in the dpaudit namespace; only dpaudit's light __init__ (and
    # its errors module) may load beside it.
    code = ("import sys, dpaudit.attacks\n"
            f"import importlib; [importlib.import_module(m) for m in '{modules}'.split(', ')]\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules]\n"
            "heavy += [m for m in sys.modules if m.startswith('dpaudit.') and not "
            "m.startswith('dpaudit.attacks') and m != 'dpaudit.errors']\n"
            "assert not heavy, heavy\n"
            "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_plain_import_stays_light():
    done = subprocess.run([sys.executable, "-c",
                           "import sys, dpaudit.attacks; print('sklearn' in sys.modules)"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"  # scikit-learn loads only for the shadow attack


@pytest.mark.parametrize("name", _MINE)
def test_no_framework_imports_in_source(name):
    source = (_ROOT / f"{name}.py").read_text()
    assert not re.search(r"^\s*(import|from)\s+(tensorflow|keras|dpaudit|torch)\b", source,
                         re.MULTILINE)


def test_contract_names_exist():
    for name in ("evaluate", "AttackMetrics", "AttackResult", "loss_threshold_attack",
                 "confidence_attack", "modified_entropy_attack", "shadow_attack"):
        assert name in attacks.__all__ and hasattr(attacks, name)
    from dpaudit.attacks import metrics
    for name in ("clopper_pearson_interval", "epsilon_from_error_counts",
                 "gdp_mu_to_epsilon", "epsilon_to_gdp_mu", "per_class_auc",
                 "score_histogram"):
        assert name in metrics.__all__ and callable(getattr(metrics, name))
    fields = set(attacks.AttackMetrics.__dataclass_fields__)
    assert {"auc", "auc_ci", "advantage", "tpr_at_fpr", "fpr", "tpr",
            "epsilon_lower_bound", "epsilon_lower_bound_method", "epsilon_gdp",
            "confidence", "delta", "n_members", "n_nonmembers"} <= fields
    assert set(attacks.AttackResult.__dataclass_fields__) >= {"name", "scores",
                                                              "is_member", "metrics"}


@pytest.mark.parametrize("name", [n for n in _MINE if not n.startswith("_")] + ["__init__"])
def test_module_lists_its_public_names_and_examples_run(name):
    module = attacks if name == "__init__" else importlib.import_module(f"dpaudit.attacks.{name}")
    assert all(hasattr(module, public) for public in module.__all__)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", attacks.MetricWarning)
        failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failed == 0
