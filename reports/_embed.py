"""What the report page embeds: plotly.js (once), the stylesheet, figure JSON, and a CSP.

plotly.js is the full bundle the `plotly` package ships (4.8 MB), or a partial bundle with
only the trace types the page draws (scatter and bar): `plotly-basic.min.js` of the npm
package `plotly.js-basic-dist-min` at the plotly.js version of the installed `plotly`
package (1.2 MB; the default run's page then weighs 1.5 MB instead of 5.1 MB). dpaudit
does not ship that file: it uses the one the environment variable DPAUDIT_PLOTLY_JS
names, else the one `make install` fetches from npm into `<environment>/share/dpaudit/`
(`INSTALLED_BUNDLE`). A bundle of another version or without the basic bundle's header is
not used (a named one with a warning), so figures are never drawn by a mismatched
plotly.js.

Everything is inline so the page works offline from file://. The Content-Security-Policy
allows exactly the page's own scripts (by SHA-256 hash) and no network fetches at all, so
even a string that slipped past escaping could neither run nor phone home.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import math
import os
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from markupsafe import Markup

__all__ = ["plotly_js", "stylesheet", "figure_json", "INIT_JS", "content_security_policy",
           "BUNDLE_ENV"]

logger = logging.getLogger(__name__)

# Draws every figure from the JSON blocks `<script type="application/json"
# data-figure-for="ID">`; JSON is parsed, never evaluated. typesetMath is off because a
# name with two "$" would otherwise be read as LaTeX for a MathJax the page never loads.
INIT_JS = """(function () {
  "use strict";
  var config = {displaylogo: false, responsive: true, typesetMath: false};
  var blocks = document.querySelectorAll("script[data-figure-for]");
  for (var i = 0; i < blocks.length; i++) {
    var target = document.getElementById(blocks[i].getAttribute("data-figure-for"));
    var fig = JSON.parse(blocks[i].textContent);
    Plotly.newPlot(target, fig.data, fig.layout, config);
  }
})();"""

# Characters that could end a <script> element or start an HTML comment inside it. In JSON
# they only occur inside strings, where the \\uXXXX escapes decode to the same text.
_SCRIPT_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                  "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SCRIPT_UNSAFE_RE = re.compile("[<>&\u2028\u2029]")


# Environment variable naming a plotly.js basic bundle to embed instead of the full one.
BUNDLE_ENV = "DPAUDIT_PLOTLY_JS"
# Where `make install` puts the basic bundle of the installed plotly.js (if npm is there).
INSTALLED_BUNDLE = Path(sys.prefix) / "share" / "dpaudit" / "plotly-basic.min.js"
_BUNDLE_HEADER = re.compile(rb"^/\*\*\s*\* plotly\.js \(basic - minified\) v(\S+)")


@functools.lru_cache(maxsize=1)
def plotly_js() -> Markup:
    """plotly.js for the page's <script> element: the basic bundle DPAUDIT_PLOTLY_JS names
    (or else `INSTALLED_BUNDLE`), when it is the plotly package's plotly.js version, else
    the package's full bundle."""
    js = _basic_bundle()
    if js is None:
        from plotly.offline import get_plotlyjs

        js = get_plotlyjs()
    if re.search(r"</script", js, re.IGNORECASE):  # would end the element early
        raise RuntimeError("the plotly.js bundle contains '</script' and cannot be inlined")
    return Markup(js)


def _basic_bundle() -> str | None:
    path = os.environ.get(BUNDLE_ENV)
    if not path:
        return _installed_bundle()
    from plotly.offline import get_plotlyjs_version

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        logger.warning("%s=%s cannot be read (%s); embedding the full plotly.js bundle",
                       BUNDLE_ENV, path, e)
        return None
    found = _BUNDLE_HEADER.match(data)
    installed = get_plotlyjs_version()
    if found is None or found.group(1).decode("ascii", "replace") != installed:
        logger.warning("%s=%s is not plotly.js %s's basic bundle (plotly-basic.min.js of "
                       "plotly.js-basic-dist-min@%s); embedding the full bundle",
                       BUNDLE_ENV, path, installed, installed)
        return None
    return data.decode("utf-8")


def _installed_bundle() -> str | None:
    from plotly.offline import get_plotlyjs_version

    try:
        data = INSTALLED_BUNDLE.read_bytes()
    except OSError:
        return None  # not fetched (no npm at install time): the full bundle
    found = _BUNDLE_HEADER.match(data)
    if found is None or found.group(1).decode("ascii", "replace") != get_plotlyjs_version():
        # plotly upgraded since `make install`: quietly the full bundle
        logger.info("%s is not the installed plotly.js's basic bundle; embedding the full one",
                    INSTALLED_BUNDLE)
        return None
    return data.decode("utf-8")


@functools.lru_cache(maxsize=1)
def stylesheet() -> Markup:
    """The report's CSS (reports/templates/report.css)."""
    css = resources.files(__package__).joinpath("templates", "report.css").read_text("utf-8")
    if re.search(r"</style", css, re.IGNORECASE):
        raise RuntimeError("report.css must not contain '</style'")
    return Markup(css)


def figure_json(fig: Mapping[str, Any]) -> Markup:
    """A figure (plotly JSON data) as strict JSON that is safe inside a <script> element.

    Non-finite numbers become null, which plotly.js draws as a gap.
    """
    text = json.dumps(_strict(fig), allow_nan=False, separators=(",", ":"))
    return Markup(_SCRIPT_UNSAFE_RE.sub(lambda m: _SCRIPT_UNSAFE[m.group()], text))


def _strict(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


@functools.lru_cache(maxsize=8)
def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def content_security_policy() -> str:
    """The page's CSP: its two scripts by hash, inline styles, images from data:/blob: only."""
    hashes = " ".join(f"'sha256-{_sha256(s)}'" for s in (str(plotly_js()), INIT_JS))
    return ("default-src 'none'; "
            f"script-src {hashes}; "
            "style-src 'unsafe-inline'; "
            # plotly's "download as PNG" draws the SVG through data:/blob: images.
            "img-src data: blob:; "
            "base-uri 'none'; form-action 'none'")
