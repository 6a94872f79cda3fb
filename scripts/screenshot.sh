#!/usr/bin/env bash
# Regenerates docs/dashboard.png: the dashboard of `palantir serve` with a
# fellowship in flight, as the real-browser test sees it (needs Chromium:
# apt-get install chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
PALANTIR_SCREENSHOT=$PWD/docs/dashboard.png go test ./e2e -run TestDashboardLaunches -count=1
