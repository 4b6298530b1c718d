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
cargo build --release --bin tandem -q
work=$(mktemp -d)
tandem=""
cleanup() { [ -n "$tandem" ] && kill "$tandem" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
printf '[[site]]\nname = "bench"\nsip_udp = "127.0.0.1:5060"\ndns = ["1000-1999"]\n' > "$work/site.toml"
run_tandem() {
  ./target/release/tandem peer --config "$work/site.toml" --site bench > /dev/null 2>&1 &
  tandem=$!
  sleep 0.5
  TARGET=127.0.0.1:5060 TARGET_PID=$tandem AGENT=1001 bash "$anchor/run-anchor.sh" "$1" "$dur" | sed 's/^/tandem   /'
  kill "$tandem"; wait "$tandem" 2>/dev/null || true; tandem=""
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
