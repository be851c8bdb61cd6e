"""Every docstring example in dpaudit runs (examples marked `+SKIP` need a trained run)."""

from __future__ import annotations

import doctest
import importlib
import os
import pkgutil
import warnings

import pytest

import dpaudit

# Modules whose doctests the attacks package's own tests already run.
_COVERED_ELSEWHERE = ("dpaudit.attacks",)


def _modules() -> list[str]:
    names = ["dpaudit"]
    for info in pkgutil.walk_packages(dpaudit.__path__, "dpaudit."):
        if not info.name.startswith(_COVERED_ELSEWHERE):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    # Examples read files relative to the repository root (examples/policy.toml).
    monkeypatch.chdir(os.path.dirname(os.path.dirname(dpaudit.__file__)))
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failed == 0
