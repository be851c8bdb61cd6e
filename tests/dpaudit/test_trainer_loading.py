"""`--trainer module:function` finds a module beside the user, as examples/ documents."""

from __future__ import annotations

import os
import sys

import pytest

from dpaudit.errors import InputError
from dpaudit.training.trainers import load_trainer


def test_a_trainer_in_the_working_directory_loads_without_pythonpath(tmp_path, monkeypatch):
    (tmp_path / "beside_me_trainer.py").write_text("def train(x, y, *, seed, private):\n"
                                                   "    return 'trained'\n")
    monkeypatch.chdir(tmp_path)
    # A console script's sys.path has neither '' nor the working directory.
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", os.getcwd())])
    monkeypatch.delitem(sys.modules, "beside_me_trainer", raising=False)
    train = load_trainer("beside_me_trainer:train")
    assert train([], [], seed=0, private=False) == "trained"
    # Appended, never first: a user's file cannot shadow an installed package.
    assert sys.path[-1] == str(tmp_path)


def test_a_missing_trainer_module_is_bad_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="cannot import module 'no_such_trainer_here'"):
        load_trainer("no_such_trainer_here:train")
