#!/usr/bin/env bash
# The HTML report in a real browser: installs Debian's chromium when missing, then runs the
# loadgen browser test with CI=true (so a missing browser fails instead of skipping). The test
# drives headless Chromium (--dump-dom with an injected check script, then --screenshot) over a
# report made from crates/loadgen/tests/data/runs.json and leaves target/browser/report.png.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../../loadtest/lib.sh
source "$ROOT/loadtest/lib.sh"
lib_install "chromium" chromium
cd "$ROOT"
CI=true cargo nextest run --locked -p edgelab-loadgen -E 'test(the_report_draws_its_json_in_a_real_browser)'
echo "screenshot: $ROOT/target/browser/report.png"
