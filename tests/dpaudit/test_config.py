"""Tests of dpaudit.config: defaults, TOML + overrides, one error per broken rule."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dpaudit.config import FLAGS, AuditConfig, DPConfig, config_from_dict, load_config
from dpaudit.errors import InputError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "audit.toml"


def test_defaults_fill_noise_multiplier_when_no_target_epsilon():
    cfg = load_config()
    assert cfg.dp.noise_multiplier == 1.5
    assert cfg.dp.target_epsilon is None
    assert cfg.data.dataset == "digits"
    assert cfg.model.hidden == (256, 256)


def test_example_file_lists_every_setting_with_its_default():
    text = EXAMPLE.read_text()
    for key in FLAGS:
        name = key.rpartition(".")[2]
        assert f"{name} =" in text, f"examples/audit.toml does not mention {key}"
    assert load_config(EXAMPLE) == AuditConfig()


def test_overrides_win_over_the_file(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text("seed = 3\n[training]\nepochs = 7\nbatch_size = 10\n")
    cfg = load_config(path, {"training.epochs": 2, "training.batch_size": None})
    assert (cfg.seed, cfg.training.epochs, cfg.training.batch_size) == (3, 2, 10)


def test_list_settings_accept_comma_separated_strings():
    cfg = load_config(None, {"model.hidden": "32, 16", "attacks.names": "shadow,loss_threshold"})
    assert cfg.model.hidden == (32, 16)
    assert cfg.attacks.names == ("shadow", "loss_threshold")


def test_round_trip_through_to_dict():
    cfg = load_config(None, {"dp.target_epsilon": 4.0, "seed": 9})
    assert config_from_dict(cfg.to_dict()) == cfg


def test_fingerprint_ignores_output_and_attacks_but_not_training():
    base = AuditConfig()
    assert base.fingerprint() == load_config(None, {"output.dir": "x",
                                                    "attacks.n_shadow": 2}).fingerprint()
    assert base.fingerprint() != load_config(None, {"training.epochs": 3}).fingerprint()


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        AuditConfig().seed = 1  # type: ignore[misc]


@pytest.mark.parametrize("toml, message", [
    ("[dp]\ndelta = 2.0\n", "a.toml: field 'dp.delta' must be in (0, 1), got 2.0"),
    ("[dp]\nnoise_multiplier = 1.0\ntarget_epsilon = 3.0\n",
     "'dp.noise_multiplier' and 'dp.target_epsilon' cannot both be set"),
    ("[dp]\nfoo = 1\n", "a.toml: field 'dp.foo' is not a known setting"),
    ("[nope]\nx = 1\n", "a.toml: field 'nope' is not a known setting"),
    ("[training]\nepochs = 'ten'\n", "field 'training.epochs' must be an integer, got 'ten'"),
    ("[training]\nepochs = 2.5\n", "field 'training.epochs' must be an integer, got 2.5"),
    ("[training]\noptimizer = 'rmsprop'\n", "field 'training.optimizer' must be one of sgd"),
    ("[training]\nlearning_rate = -1.0\n", "field 'training.learning_rate' must be > 0"),
    ("[model]\nname = 'resnet'\n", "field 'model.name' must be one of logreg, mlp, cnn"),
    ("[model]\ntrainer = 'no_colon'\n", "field 'model.trainer' must look like 'module:function'"),
    ("[data]\ndataset = 'imagenet'\n", "field 'data.dataset' must be digits, mnist"),
    ("[attacks]\nnames = ['loss_threshold', 'lira_online']\n",
     "field 'attacks.names' must be one of"),
    ("[attacks]\nn_reference = 0\n", "field 'attacks.n_reference' must be >= 1"),
    ("[attacks]\nnames = []\n", "field 'attacks.names' must name at least one attack"),
    ("[attacks]\nconfidence = 1.0\n", "field 'attacks.confidence' must be in (0, 1)"),
    ("[dp]\nsampling = 'fixed'\n", "field 'dp.sampling' must be one of poisson, shuffle"),
    ("[output]\nreport = 'yes'\n", "field 'output.report' must be true or false"),
    ("seed = -1\n", "field 'seed' must be >= 0"),
    ("[data]\nn_shadow_pool = 0\n[attacks]\nnames = ['shadow']\n",
     "field 'data.n_shadow_pool' must be > 0 when the shadow"),
    ("[dp]\ntarget_epsilon = 2.0\n[model]\ntrainer = 'm:f'\n",
     "field 'dp.target_epsilon' cannot be used with model.trainer"),
    ("[dp]\nsampling = 'shuffle'\nnum_microbatches = 4\n[training]\nbatch_size = 10\n",
     "field 'dp.num_microbatches' must divide training.batch_size (10), got 4"),
    ("[dp]\nnum_microbatches = 5\n", "must be unset (one per example) with poisson sampling"),
    ("[training]\nbatch_size = 500\n", "field 'training.batch_size' must be <= data.n_members"),
    ("[data]\nn_shadow_pool = 30\n[attacks]\nnames = ['shadow']\n",
     "field 'data.n_shadow_pool' must be >= 2 * training"),
    ("dp = 3\n", "field 'dp' must be a table"),
    ("[dp\n", "a.toml: not valid TOML"),
])
def test_file_errors_name_the_file_and_field(tmp_path, toml, message):
    path = tmp_path / "a.toml"
    path.write_text(toml)
    with pytest.raises(InputError) as info:
        load_config(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_override_errors_name_the_option():
    with pytest.raises(InputError, match=r"^option --delta: field 'dp.delta' must be in"):
        load_config(None, {"dp.delta": 0.0})


def test_missing_file_is_named():
    with pytest.raises(InputError, match="missing.toml: config file not found"):
        load_config("missing.toml")


def test_unknown_override_key_is_rejected():
    with pytest.raises(InputError, match="unknown setting 'dp.sigma'"):
        load_config(None, {"dp.sigma": 1.0})


def test_dataclass_validates_when_built_directly():
    with pytest.raises(InputError, match="l2_norm_clip"):
        DPConfig(l2_norm_clip=0.0)


def test_every_setting_has_a_distinct_flag():
    flags = [flag for flag, _, _ in FLAGS.values()]
    assert len(flags) == len(set(flags))
    assert all(flag.startswith("--") for flag in flags)
