"""The vendored plotly.js partial bundle: what it is, and the fallback when it cannot be used."""

import hashlib
import logging
from importlib import resources

from plotly.offline import get_plotlyjs, get_plotlyjs_version

from dpaudit.reports import _embed


def _vendored() -> bytes:
    return resources.files("dpaudit.reports").joinpath("vendor", _embed.BUNDLE_FILE).read_bytes()


def test_vendored_bundle_is_the_recorded_npm_file_for_plotlys_version():
    data = _vendored()
    assert hashlib.sha256(data).hexdigest() == _embed.BUNDLE_SHA256
    header = b"/**\n* plotly.js (basic - minified) v" + _embed.BUNDLE_VERSION.encode()
    assert data.startswith(header)
    # Figures are validated against plotly.py's schema: the bundle must be its version.
    assert get_plotlyjs_version() == _embed.BUNDLE_VERSION
    assert b"window.Plotly = Plotly;" in data


def test_page_embeds_the_basic_bundle_at_a_quarter_of_the_size():
    js = str(_embed.plotly_js())
    assert js == _vendored().decode("utf-8")
    assert len(js) < len(get_plotlyjs()) / 3  # measured: 1.19 MB vs 4.82 MB


def test_version_mismatch_falls_back_to_the_full_bundle(monkeypatch, caplog):
    monkeypatch.setattr(_embed, "BUNDLE_VERSION", "0.0.0")
    _embed.plotly_js.cache_clear()
    try:
        with caplog.at_level(logging.WARNING):
            assert str(_embed.plotly_js()) == get_plotlyjs()
        assert "embedding the full bundle" in caplog.text
    finally:
        _embed.plotly_js.cache_clear()


def test_tampered_bundle_falls_back_to_the_full_bundle(monkeypatch, caplog):
    monkeypatch.setattr(_embed, "BUNDLE_SHA256", "0" * 64)
    _embed.plotly_js.cache_clear()
    try:
        with caplog.at_level(logging.WARNING):
            assert str(_embed.plotly_js()) == get_plotlyjs()
        assert "SHA-256" in caplog.text
    finally:
        _embed.plotly_js.cache_clear()
