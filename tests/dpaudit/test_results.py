import json
import math

import pytest

from dpaudit.errors import InputError
from dpaudit.results import (ArmResult, AttackSummary, AuditResult, PrivacyInfo, Utility,
                             load_results, save_results)


def _result() -> AuditResult:
    attack = AttackSummary(
        name="loss_threshold", auc=0.61, auc_ci=(0.55, 0.67), advantage=0.2,
        tpr_at_fpr={"0.001": math.nan, "0.01": 0.03, "0.1": 0.2},
        epsilon_lower_bound=0.4, confidence=0.95, n_members=100, n_nonmembers=100,
        roc={"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]}, per_class_auc={"3": 0.7},
        top_exposed=({"id": 12, "score": -0.01},))
    privacy = PrivacyInfo(noise_multiplier=1.1, l2_norm_clip=1.0, num_microbatches=None,
                          batch_size=32, sampling="poisson", steps=100, epochs=10.0,
                          dataset_size=320, delta=1e-5, epsilon_rdp=3.1, epsilon_pld=2.9,
                          epsilon_per_epoch=(1.0, 2.0))
    return AuditResult(
        config={"seed": 0}, environment={"tensorflow": "2.21.0"}, data={"n_members": 100},
        arms=(ArmResult("baseline", Utility(1.0, 0.9, 0.01, 0.3), None, (attack,)),
              ArmResult("dp", Utility(0.9, 0.88, 0.3, 0.35), privacy, (attack,))))


def test_round_trip_writes_strict_json_and_reads_nan_back(tmp_path):
    path = save_results(_result(), tmp_path / "results.json")
    raw = json.loads(path.read_text())  # strict: NaN became null
    assert raw["schema_version"] == 1
    assert raw["arms"][0]["attacks"][0]["tpr_at_fpr"]["0.001"] is None
    back = load_results(path)
    assert math.isnan(back.arm("dp").attacks[0].tpr_at_fpr["0.001"])
    assert back.arm("dp").epsilon == pytest.approx(2.9)  # the tighter accountant
    assert back.arm("baseline").epsilon is None
    assert back.to_dict() == _result().to_dict()


def test_dataframe_has_one_row_per_arm_and_attack():
    frame = _result().to_dataframe()
    assert list(frame["arm"]) == ["baseline", "dp"]
    assert list(frame["auc"]) == [0.61, 0.61]


@pytest.mark.parametrize("content, fragment", [
    ("{", "not valid JSON"),
    ("[]", "JSON object"),
    ('{"schema_version": 99, "arms": []}', "schema_version"),
    ('{"schema_version": 1}', "not a dpaudit results file"),
])
def test_bad_files_raise_input_errors_naming_the_file(tmp_path, content, fragment):
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(InputError, match=fragment) as info:
        load_results(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_results(tmp_path / "nope.json")
