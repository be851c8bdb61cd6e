"""The results fields the report reads that older files lack: they round-trip, and old
files load without them."""

import pytest

from dpaudit.results import AuditResult, load_results, save_results


def test_new_optional_fields_round_trip_and_old_files_load_without_them(result, tmp_path):
    back = load_results(save_results(result, tmp_path / "r.json"))
    assert back.provenance == result.provenance
    dp = back.arm("dp")
    assert dp.privacy.epsilon_per_epoch_accountant == "pld"
    assert dp.privacy.epsilon_delta_curve["epsilon"] == pytest.approx(
        result.arm("dp").privacy.epsilon_delta_curve["epsilon"])
    assert dp.leakage_per_epoch["epoch"] == [1, 8, 16, 23, 30]
    assert dp.attacks[0].per_class_counts == result.arm("dp").attacks[0].per_class_counts
    old = AuditResult.from_dict({"schema_version": 1, "arms": [{"name": "m", "attacks": []}]})
    assert old.provenance == {} and old.arms[0].leakage_per_epoch == {}
