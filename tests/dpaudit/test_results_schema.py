"""results.json is validated on load (issue 14.2): `gate` and `report` refuse corrupted
evidence with exit 2 naming the field, and still read the old minimal layout."""

import copy
import json
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dpaudit.cli import cli
from dpaudit.errors import InputError
from dpaudit.results import (ArmResult, AttackSummary, AuditResult, PrivacyInfo, Utility,
                             load_results)

MINIMAL_V1 = Path(__file__).resolve().parents[1] / "reports" / "data" / "results_v1_minimal.json"


def _valid() -> dict:
    privacy = PrivacyInfo(noise_multiplier=1.1, l2_norm_clip=1.0, num_microbatches=None,
                          batch_size=64, sampling="poisson", steps=500, epochs=10.0,
                          dataset_size=3000, delta=1e-5, epsilon_rdp=3.1, epsilon_pld=2.9)
    attack = AttackSummary(name="loss_threshold", auc=0.55, auc_ci=(0.5, 0.6), advantage=0.1,
                           tpr_at_fpr={"0.001": 0.0, "0.01": 0.02, "0.1": 0.12},
                           epsilon_lower_bound=0.2, confidence=0.95, n_members=100,
                           n_nonmembers=100, delta=1e-5)
    result = AuditResult(config={}, environment={}, data={}, arms=(
        ArmResult("baseline", Utility(1.0, 0.9, 0.01, 0.3), None, (attack,)),
        ArmResult("dp", Utility(0.9, 0.86, 0.3, 0.35), privacy, (attack,))))
    return result.to_dict()


def _write(tmp_path, raw, text=None) -> Path:
    path = tmp_path / "results.json"
    path.write_text(text if text is not None else json.dumps(raw))
    return path


CORRUPT = [  # (where, value, field named in the message) - the cases and kin
    (("arms", 0, "attacks", 0, "auc"), -5, "arms[0].attacks[0].auc"),
    (("arms", 0, "attacks", 0, "auc"), "0.5", "arms[0].attacks[0].auc"),
    (("arms", 1, "attacks", 0, "epsilon_lower_bound"), "-Infinity",
     "arms[1].attacks[0].epsilon_lower_bound"),
    (("arms", 1, "utility", "test_accuracy"), 3.0, "arms[1].utility.test_accuracy"),
    (("schema_version",), True, "schema_version"),
    (("arms", 0, "attacks", 0, "auc"), 10 ** 400, "arms[0].attacks[0].auc"),
    (("arms", 0, "attacks", 0, "n_members"), 10 ** 30, "arms[0].attacks[0].n_members"),
    (("arms", 1, "privacy", "epsilon_rdp"), -1.0, "arms[1].privacy.epsilon_rdp"),
    (("arms", 1, "privacy", "batch_size"), "64", "arms[1].privacy.batch_size"),
    (("arms", 0, "attacks", 0, "tpr_at_fpr", "0.01"), 1.5,
     "arms[0].attacks[0].tpr_at_fpr.0.01"),
    (("arms", 0, "name"), 7, "arms[0].name"),
]


@pytest.mark.parametrize("where, value, field", CORRUPT)
def test_corrupted_fields_are_refused_naming_the_field(tmp_path, where, value, field):
    raw = _valid()
    target = raw
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    path = _write(tmp_path, raw)
    with pytest.raises(InputError, match=re.escape(f"field '{field}'")):
        load_results(path)


@pytest.mark.parametrize("command", ["gate", "report"])
def test_gate_and_report_exit_2_on_a_negative_auc(tmp_path, command):
    raw = _valid()
    raw["arms"][0]["attacks"][0]["auc"] = -5
    path = _write(tmp_path, raw)
    args = [command, str(path)] + (["--max-auc", "0.9"] if command == "gate" else
                                   ["-o", str(tmp_path / "r.html")])
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2, r.output
    assert "arms[0].attacks[0].auc" in r.output and "Traceback" not in r.output


def test_gate_exit_2_on_a_huge_integer_not_3(tmp_path):
    path = _write(tmp_path, None, text=json.dumps(_valid()).replace('"auc": 0.55', '"auc": '
                                                                    + "9" * 400, 1))
    r = CliRunner().invoke(cli, ["gate", str(path), "--max-auc", "0.9"])
    assert r.exit_code == 2, r.output


@pytest.mark.parametrize("spelling", ['"Infinity"', "Infinity", "null"])
def test_an_infinite_or_absent_epsilon_still_loads(tmp_path, spelling):
    text = json.dumps(_valid()).replace('"epsilon_rdp": 3.1', f'"epsilon_rdp": {spelling}')
    result = load_results(_write(tmp_path, None, text=text))
    value = result.arm("dp").privacy.epsilon_rdp
    assert (value is None) if spelling == "null" else math.isinf(value) and value > 0


def test_the_old_minimal_schema_still_loads():
    result = load_results(MINIMAL_V1)
    assert [a.name for a in result.arms] == ["baseline", "dp"]
    assert math.isnan(result.arm("dp").attacks[0].epsilon_lower_bound)


def test_a_saved_result_round_trips_through_validation(tmp_path):
    raw = _valid()
    assert load_results(_write(tmp_path, raw)).to_dict() == copy.deepcopy(raw)
