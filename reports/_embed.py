"""What the report page embeds: plotly.js (once), the stylesheet, figure JSON, and a CSP.

plotly.js is the basic partial bundle vendored in `reports/vendor` (only the trace types
the page draws: scatter and bar), 1.2 MB instead of 4.8 MB.

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
import re
from importlib import resources
from typing import Any, Mapping

from markupsafe import Markup

__all__ = ["plotly_js", "stylesheet", "figure_json", "INIT_JS", "content_security_policy",
           "BUNDLE_FILE", "BUNDLE_VERSION", "BUNDLE_SHA256"]

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


# The vendored partial bundle (scatter, bar and pie traces only; see vendor/README.md):
# 1.2 MB instead of the full 4.8 MB bundle of the plotly package.
BUNDLE_FILE = "plotly-basic.min.js"
BUNDLE_VERSION = "4.1.1"
BUNDLE_SHA256 = "99784e3abfb07b142a15e521a439e6d9addceadb3f79553fd24c72774f0649ba"


@functools.lru_cache(maxsize=1)
def plotly_js() -> Markup:
    """plotly.js for the page's <script> element: the vendored basic bundle when it is the
    plotly package's plotly.js version and intact, else the package's full bundle."""
    js = _basic_bundle()
    if js is None:
        from plotly.offline import get_plotlyjs

        js = get_plotlyjs()
    if re.search(r"</script", js, re.IGNORECASE):  # would end the element early
        raise RuntimeError("the plotly.js bundle contains '</script' and cannot be inlined")
    return Markup(js)


def _basic_bundle() -> str | None:
    from plotly.offline import get_plotlyjs_version

    installed = get_plotlyjs_version()
    if installed != BUNDLE_VERSION:
        logger.warning("plotly ships plotly.js %s but the vendored basic bundle is %s; "
                       "embedding the full bundle (see reports/vendor/README.md)",
                       installed, BUNDLE_VERSION)
        return None
    try:
        data = resources.files(__package__).joinpath("vendor", BUNDLE_FILE).read_bytes()
    except (FileNotFoundError, OSError):
        logger.warning("vendored %s is missing; embedding the full plotly.js bundle",
                       BUNDLE_FILE)
        return None
    if hashlib.sha256(data).hexdigest() != BUNDLE_SHA256:
        logger.warning("vendored %s does not match its recorded SHA-256; embedding the full "
                       "plotly.js bundle", BUNDLE_FILE)
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
