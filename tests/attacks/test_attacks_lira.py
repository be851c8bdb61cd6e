"""LiRA (Carlini et al., S&P 2022): reference tests, a cross-check and a calibration test."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from dpaudit import attacks
from dpaudit.attacks import lira_attack, logit_scaled_confidence
from dpaudit.attacks.lira import lira_scores


@pytest.fixture(autouse=True)
def _quiet_metric_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", attacks.MetricWarning)
        yield


# --- logit_scaled_confidence ------------------------------------------------------------

def test_logit_scaled_confidence_matches_probabilities_and_ignores_shifts():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (3, 50, 5))
    labels = rng.integers(0, 5, 50)
    p = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    p_y = p[:, np.arange(50), labels]
    got = logit_scaled_confidence(logits, labels)
    assert got.shape == (3, 50)
    np.testing.assert_allclose(got, np.log(p_y / (1 - p_y)), rtol=1e-10)
    log_probs = np.log(p)
    np.testing.assert_allclose(logit_scaled_confidence(log_probs, labels), got, rtol=1e-10)
    np.testing.assert_allclose(logit_scaled_confidence(logits + 7.5, labels), got, rtol=1e-10)


def test_logit_scaled_confidence_does_not_saturate_on_confident_models():
    # p_y = 1 - 2e-40 is 1.0 in float64; the naive log(p / (1 - p)) would be inf.
    logits = np.array([[100.0, 10.0, 10.0], [0.0, -np.inf, 3.0]])
    got = logit_scaled_confidence(logits, [0, 0])
    assert got[0] == pytest.approx(90 - math.log(2), rel=1e-12)
    assert got[1] == pytest.approx(-3.0, rel=1e-12)


@pytest.mark.parametrize("logits, labels, message", [
    (np.zeros((4, 1)), [0, 0, 0, 0], "at least 2 classes"),
    (np.zeros((4, 3)), [0, 0, 0], "one class per example"),
    (np.array([[0.0, np.nan]]), [0], "NaN"),
    (np.array([[-np.inf, -np.inf]]), [0], "every class is -inf"),
    (np.zeros((2, 3)), [0, 3], r"\[0, 3\)"),
])
def test_logit_scaled_confidence_rejects_bad_input(logits, labels, message):
    with pytest.raises(ValueError, match=message):
        logit_scaled_confidence(logits, labels)


# --- a naive LiRA from the paper's equations ----------------------------------------------

def _normal_logpdf(x, mu, var):
    return -0.5 * math.log(2 * math.pi * var) - (x - mu) ** 2 / (2 * var)


def _normal_neg_log_sf(x, mu, var):
    return -math.log(0.5 * math.erfc((x - mu) / math.sqrt(2 * var)))


def _naive_lira(target, reference, ref_in, online, global_variance):
    """Algorithm 1 of Carlini et al., one example at a time, with the documented fallbacks."""
    k, n = reference.shape
    ins = [[reference[j, i] for j in range(k) if ref_in[j, i]] for i in range(n)]
    outs = [[reference[j, i] for j in range(k) if not ref_in[j, i]] for i in range(n)]

    def mean(xs):
        return sum(xs) / len(xs) if xs else None

    def var(xs):
        m = mean(xs)
        return sum((x - m) ** 2 for x in xs) / len(xs)

    def pooled(groups):
        big = [g for g in groups if len(g) >= 2]
        total = sum(var(g) * len(g) for g in big)
        return total / sum(len(g) for g in big) if big else None

    g_in, g_out = pooled(ins), pooled(outs)
    g_in = g_in if g_in is not None else g_out
    g_out = g_out if g_out is not None else g_in
    diffs = [mean(a) - mean(b) for a, b in zip(ins, outs) if a and b]
    shift = sum(diffs) / len(diffs) if diffs else None
    scores = []
    for i in range(n):
        m_in, m_out = mean(ins[i]), mean(outs[i])
        if m_in is None:
            m_in = m_out + shift
        if m_out is None:
            m_out = m_in - shift
        if global_variance:
            v_in, v_out = g_in, g_out
        else:
            v_in = var(ins[i]) if len(ins[i]) >= 2 and var(ins[i]) > 1e-12 else g_in
            v_out = var(outs[i]) if len(outs[i]) >= 2 and var(outs[i]) > 1e-12 else g_out
        if online:
            scores.append(_normal_logpdf(target[i], m_in, v_in)
                          - _normal_logpdf(target[i], m_out, v_out))
        else:
            scores.append(_normal_neg_log_sf(target[i], m_out, v_out))
    return np.array(scores)


def _population(seed, n=60, k=8, shift=1.0, p_in=0.5):
    rng = np.random.default_rng(seed)
    mu = rng.normal(0, 2, n)
    spread = rng.uniform(0.5, 1.5, n)
    ref_in = rng.random((k, n)) < p_in
    reference = mu + shift * ref_in + spread * rng.normal(size=(k, n))
    is_member = rng.random(n) < 0.5
    target = mu + shift * is_member + spread * rng.normal(size=n)
    return target, reference, ref_in, is_member


@pytest.mark.parametrize("online", [True, False])
@pytest.mark.parametrize("global_variance", [True, False])
@pytest.mark.parametrize("seed, k", [(0, 8), (1, 3), (2, 2)])
def test_lira_equals_a_naive_loop_over_examples(online, global_variance, seed, k):
    # k = 2 and 3 leave examples with 0 or 1 model on a side: the fallbacks are covered.
    target, reference, ref_in, is_member = _population(seed, k=k)
    result = lira_attack(target, reference, ref_in, is_member, online=online,
                         global_variance=global_variance)
    expected = _naive_lira(target, reference, ref_in, online, global_variance)
    np.testing.assert_allclose(result.scores, expected, rtol=1e-9, atol=1e-9)
    assert result.name == ("lira" if online else "lira_offline")
    assert result.metrics.auc == attacks.evaluate(expected, is_member).auc


def test_lira_matches_tf_privacy_style_formulas_on_a_balanced_design():
    # TF Privacy's compute_score_lira, re-derived: stat_in / stat_out are (n, K/2) arrays,
    # mean and std (ddof 0) along the model axis, scipy.stats.norm for the densities.
    rng = np.random.default_rng(5)
    n, k = 300, 16
    ref_in = np.zeros((k, n), bool)
    for i in range(n):
        ref_in[rng.permutation(k)[: k // 2], i] = True
    logits = rng.normal(0, 3, (k + 1, n, 10))
    labels = rng.integers(0, 10, n)
    phi = logit_scaled_confidence(logits, labels)
    target, reference = phi[0], phi[1:]
    stat_in = np.stack([reference[ref_in[:, i], i] for i in range(n)])
    stat_out = np.stack([reference[~ref_in[:, i], i] for i in range(n)])
    mean_in, mean_out = stat_in.mean(axis=1), stat_out.mean(axis=1)
    std_in, std_out = stat_in.std(axis=1), stat_out.std(axis=1)
    online = (stats.norm.logpdf(target, mean_in, std_in)
              - stats.norm.logpdf(target, mean_out, std_out))
    offline = -stats.norm.logsf(target, mean_out, std_out)
    np.testing.assert_allclose(lira_scores(target, reference, ref_in)[0], online, rtol=1e-9)
    np.testing.assert_allclose(lira_scores(target, reference, ref_in, online=False)[0],
                               offline, rtol=1e-9)


def _hanley_mcneil_se(auc, n_pos, n_neg):
    q1, q2 = auc / (2 - auc), 2 * auc ** 2 / (1 + auc)
    return math.sqrt((auc * (1 - auc) + (n_pos - 1) * (q1 - auc ** 2)
                      + (n_neg - 1) * (q2 - auc ** 2)) / (n_pos * n_neg))


def test_offline_lira_recovers_per_example_calibration_a_global_threshold_cannot():
    # out-scores N(mu_i, 1), in-scores N(mu_i + d, 1), mu_i ~ N(0, 10^2). With K OUT
    # models and a global variance the score ranks by t - mean_out, which is
    # N(d, 1 + 1/K) for members and N(0, 1 + 1/K) for non-members: AUC
    # Phi(d / sqrt(2 (1 + 1/K))), which tends to Phi(d / sqrt(2)). The raw score
    # (a global threshold) sees N(mu + d, 1) against N(mu, 1): AUC Phi(d / sqrt(2 * 101)).
    rng = np.random.default_rng(2024)
    n, k, d, spread = 4000, 64, 1.0, 10.0
    mu = rng.normal(0, spread, n)
    is_member = np.arange(n) < n // 2
    target = mu + d * is_member + rng.normal(size=n)
    reference = mu + rng.normal(size=(k, n))
    ref_in = np.zeros((k, n), bool)
    se = _hanley_mcneil_se(stats.norm.cdf(d / math.sqrt(2)), n // 2, n // 2)
    expected = stats.norm.cdf(d / math.sqrt(2 * (1 + 1 / k)))
    assert abs(expected - stats.norm.cdf(d / math.sqrt(2))) < se / 4  # K is large enough
    lira = lira_attack(target, reference, ref_in, is_member, online=False,
                       global_variance=True)
    # 3 standard errors: false-failure rate about 0.3% over seeds (normal approximation).
    assert abs(lira.metrics.auc - expected) < 3 * se, (lira.metrics.auc, expected, se)
    per_example = lira_attack(target, reference, ref_in, is_member, online=False)
    assert per_example.metrics.auc > expected - 3 * se  # noisier sigmas cost a little
    raw = attacks.evaluate(target, is_member).auc
    raw_expected = stats.norm.cdf(d / math.sqrt(2 * (1 + spread ** 2)))
    assert abs(raw - raw_expected) < 3 * _hanley_mcneil_se(raw_expected, n // 2, n // 2)
    assert raw < 0.6 < lira.metrics.auc - 0.1


def test_lira_reports_its_fallbacks_and_refuses_when_nothing_can_stand_in():
    target, reference, ref_in, is_member = _population(3, k=2)
    result = lira_attack(target, reference, ref_in, is_member, online=False)
    out_models = (~ref_in).sum(axis=0)
    assert (out_models == 0).any() and (out_models == 2).any()
    assert result.details["n_imputed_mean"] == (out_models == 0).sum()
    assert result.details["n_global_variance_fallback"] == (out_models < 2).sum()
    assert np.isfinite(result.scores).all()
    # One model: every example is IN or OUT, none both, so no shift can be estimated.
    with pytest.raises(ValueError, match="no example has both"):
        lira_attack(target, reference[:1], ref_in[:1], is_member)
    # Offline with every model OUT needs no shift, even with one model.
    one = lira_attack(target, reference[:1], np.zeros((1, 60), bool), is_member,
                      online=False)
    assert one.details["sigma_estimable"] is False
    np.testing.assert_allclose(one.scores, -stats.norm.logsf(target - reference[0]))


@pytest.mark.parametrize("kwargs, message", [
    ({"reference_scores": np.zeros((3, 59))}, r"shape \(reference models, 60\)"),
    ({"reference_in": np.zeros((2, 60), bool)}, "must have the shape of"),
    ({"is_member": np.zeros(59, bool)}, "one flag per example"),
    ({"target_scores": np.r_[np.inf, np.zeros(59)]}, "finite scores"),
])
def test_lira_rejects_bad_input(kwargs, message):
    target, reference, ref_in, is_member = _population(4, k=3)
    arguments = {"target_scores": target, "reference_scores": reference,
                 "reference_in": ref_in, "is_member": is_member, **kwargs}
    with pytest.raises(ValueError, match=message):
        lira_attack(**arguments)
