#!/usr/bin/env bash
# Side by side with the reference registrar + stateful proxy (Kamailio), using the anchor's
# own harness and sipp scenarios: alternating runs Kamailio, Tandem, Kamailio, Tandem at
# each rate, on the same machine. Tandem is driven through the harness's TARGET/TARGET_PID/
# AGENT variables (one agent DN, as the anchor does).
# Usage: bench/vs-kamailio.sh ANCHOR_DIR [DURATION_S] [RATE ...]
#   ANCHOR_DIR: the folder with run-anchor.sh (in this workplace: ../shared/anchors/kamailio)
# Needs kamailio and sipp (apt-get install -y kamailio sip-tester).
set -euo pipefail
cd "$(dirname "$0")/.."
anchor="$(cd "${1:?anchor folder with run-anchor.sh}" && pwd)"; shift
dur="${1:-10}"; shift || true
rates="${*:-1000 2000 3000 4000}"
. bench/lib/common.sh
. bench/lib/anchor-site.sh
run_tandem() {
  start_anchor_site
  TARGET=$(at 5060) TARGET_PID=$tandem AGENT=1001 bash "$anchor/run-anchor.sh" "$1" "$dur" | sed 's/^/tandem   /'
  stop_anchor_site
}
run_kamailio() {
  bash "$anchor/run-anchor.sh" "$1" "$dur" | sed 's/^/kamailio /'
}
for rate in $rates; do
  for round in 1 2; do
    run_kamailio "$rate"
    run_tandem "$rate"
  done
done
