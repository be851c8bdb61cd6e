"""plotly.js on the page: the full bundle, or a basic bundle the user points to or
`make install` fetched."""

import logging
from pathlib import Path

from plotly.offline import get_plotlyjs, get_plotlyjs_version

from dpaudit.reports import _embed


def _fake_basic(tmp_path, version):
    path = tmp_path / "plotly-basic.min.js"
    path.write_text(f"/**\n* plotly.js (basic - minified) v{version}\n*/\nwindow.Plotly = {{}};\n")
    return path


def _embedded(monkeypatch, path, installed=None):
    monkeypatch.setattr(_embed, "INSTALLED_BUNDLE", installed or Path("/nonexistent/b.js"))
    if path is None:
        monkeypatch.delenv(_embed.BUNDLE_ENV, raising=False)
    else:
        monkeypatch.setenv(_embed.BUNDLE_ENV, str(path))
    _embed.plotly_js.cache_clear()
    try:
        return str(_embed.plotly_js())
    finally:
        _embed.plotly_js.cache_clear()


def test_default_is_the_full_bundle_of_the_plotly_package(monkeypatch):
    assert _embedded(monkeypatch, None) == get_plotlyjs()


def test_a_basic_bundle_of_plotlys_version_is_embedded(monkeypatch, tmp_path):
    path = _fake_basic(tmp_path, get_plotlyjs_version())
    assert _embedded(monkeypatch, path) == path.read_text()


def test_another_version_falls_back_to_the_full_bundle(monkeypatch, tmp_path, caplog):
    path = _fake_basic(tmp_path, "0.0.1")
    with caplog.at_level(logging.WARNING):
        assert _embedded(monkeypatch, path) == get_plotlyjs()
    assert "embedding the full bundle" in caplog.text


def test_an_unreadable_bundle_falls_back_to_the_full_bundle(monkeypatch, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert _embedded(monkeypatch, tmp_path / "missing.js") == get_plotlyjs()
    assert "cannot be read" in caplog.text


def test_the_bundle_make_install_fetched_is_embedded_when_it_matches(monkeypatch, tmp_path):
    installed = _fake_basic(tmp_path, get_plotlyjs_version())
    assert _embedded(monkeypatch, None, installed) == installed.read_text()
    # The environment variable still wins.
    (tmp_path / "named").mkdir()
    named = _fake_basic(tmp_path / "named", get_plotlyjs_version())
    named.write_text(named.read_text() + "// named\n")
    assert _embedded(monkeypatch, named, installed) == named.read_text()


def test_a_stale_fetched_bundle_falls_back_quietly(monkeypatch, tmp_path, caplog):
    installed = _fake_basic(tmp_path, "0.0.1")  # plotly upgraded since make install
    with caplog.at_level(logging.WARNING):
        assert _embedded(monkeypatch, None, installed) == get_plotlyjs()
    assert caplog.text == ""
