#!/usr/bin/env bash
# The HTML report and the live page of `edgelab up` in a real browser: installs Debian's
# chromium when missing, then runs the browser tests with CI=true (so a missing browser fails
# instead of skipping). The report test drives headless Chromium (--dump-dom with an injected
# check script, then --screenshot) over a report made from crates/loadgen/tests/data/runs.json
# and leaves target/browser/report.png. The live-page test starts `edgelab up` with an admin
# token, drives Chromium over the DevTools protocol (edgelab_testkit::browser), presses "fail
# AZ" and waits for the node table to show the replica down; it leaves target/browser/live.png.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../../loadtest/lib.sh
source "$ROOT/loadtest/lib.sh"
lib_install "chromium" chromium
cd "$ROOT"
CI=true cargo nextest run --locked -p edgelab-loadgen -E 'test(the_report_draws_its_json_in_a_real_browser)'
CI=true cargo nextest run --locked -p edgelab-cli -E 'test(the_live_page_fails_an_az_when_its_button_is_pressed_in_a_real_browser)'
echo "screenshots: $ROOT/target/browser/report.png $ROOT/target/browser/live.png"
