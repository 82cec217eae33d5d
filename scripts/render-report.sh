#!/usr/bin/env bash
# Renders an HTML report (from `mixln report`) to a PNG with headless Chromium, to look at it the
# way a reader would. Needs `chromium` (Debian: apt-get install -y chromium).
#
# Usage: scripts/render-report.sh report.html [out.png] [width] [height]
#        (defaults: report.png beside the HTML, 1400 × 4000 pixels)
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 report.html [out.png] [width] [height]" >&2
    exit 2
fi
readonly HTML="$(realpath "$1")"
readonly PNG="$(realpath -m "${2:-${HTML%.html}.png}")"
readonly WIDTH="${3:-1400}" HEIGHT="${4:-4000}"

BROWSER=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [[ -z "$BROWSER" ]]; then
    echo "error: chromium is needed (apt-get install -y chromium)" >&2
    exit 1
fi
# A throw-away profile so a running browser or a locked profile never interferes.
PROFILE=$(mktemp -d)
trap 'rm -rf "$PROFILE"' EXIT
"$BROWSER" --headless --disable-gpu --no-sandbox --hide-scrollbars --user-data-dir="$PROFILE" \
    --screenshot="$PNG" --window-size="$WIDTH,$HEIGHT" "file://$HTML" 2>/dev/null
echo "wrote $PNG"
