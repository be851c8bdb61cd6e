"""The reference-attack API shared with the pipeline (issue 11): names and call shapes."""

from __future__ import annotations

import inspect

import pytest

from dpaudit import attacks

POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD
KEYWORD = inspect.Parameter.KEYWORD_ONLY

CONTRACT = {
    "logit_scaled_confidence": ([("logits", POSITIONAL, None), ("labels", POSITIONAL, None)]),
    "lira_attack": [
        ("target_scores", POSITIONAL, None), ("reference_scores", POSITIONAL, None),
        ("reference_in", POSITIONAL, None), ("is_member", POSITIONAL, None),
        ("online", KEYWORD, True), ("global_variance", KEYWORD, False),
        ("delta", KEYWORD, 1e-5), ("confidence", KEYWORD, 0.95), ("seed", KEYWORD, 0)],
    "rmia_attack": [
        ("target_scores", POSITIONAL, None), ("reference_scores", POSITIONAL, None),
        ("reference_in", POSITIONAL, None), ("is_member", POSITIONAL, None),
        ("population_target", KEYWORD, None), ("population_reference", KEYWORD, None),
        ("online", KEYWORD, False), ("gamma", KEYWORD, 2.0), ("offline_a", KEYWORD, None),
        ("delta", KEYWORD, 1e-5), ("confidence", KEYWORD, 0.95), ("seed", KEYWORD, 0)],
    "pooled_attack": [
        ("attack", POSITIONAL, None), ("model_scores", POSITIONAL, None),
        ("model_in", POSITIONAL, None), ("population_scores", KEYWORD, None)],
}


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_reference_attack_call_shapes_match_the_contract(name):
    assert name in attacks.__all__
    parameters = list(inspect.signature(getattr(attacks, name)).parameters.values())
    named = [p for p in parameters if p.kind != inspect.Parameter.VAR_KEYWORD]
    for parameter, (expected, kind, default) in zip(named, CONTRACT[name], strict=True):
        assert (parameter.name, parameter.kind) == (expected, kind)
        if parameter.default is not inspect.Parameter.empty or default is not None:
            assert parameter.default == default, parameter.name


def test_theory_ceiling_is_exported():
    for name in ("dp_tpr_ceiling", "dp_roc_ceiling", "roc_point_exceeds_ceiling",
                 "CeilingCheck", "default_fpr_grid"):
        assert name in attacks.__all__ and hasattr(attacks, name)
