#!/bin/sh
# Re-fetches the vendored plotly.js partial bundle from the npm registry (see README.md).
# Usage: sh reports/vendor/fetch_plotly_basic.sh [VERSION]   (default: the plotly Python
# package's plotly.js version, so figures validated by plotly.py draw the same in the page).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
version=${1:-$(python -c "from plotly.offline import get_plotlyjs_version as v; print(v())")}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack "plotly.js-basic-dist-min@$version" >/dev/null && tar xzf ./*.tgz)
cp "$work/package/plotly-basic.min.js" "$here/plotly-basic.min.js"
cp "$work/package/LICENSE" "$here/plotly-LICENSE"
echo "plotly.js-basic-dist-min@$version"
sha256sum "$here/plotly-basic.min.js"
echo "Update BUNDLE_VERSION and BUNDLE_SHA256 in reports/_embed.py to these values."
