#!/usr/bin/env bash
# Tail latency side by side with Kamailio, below saturation: the anchor's own harness and
# scenarios (gateway UAC -> server -> phone UAS, one agent DN), runs alternating Kamailio,
# Tandem, Kamailio, Tandem at each rate; INVITE->200 as the caller sees it on the wire,
# from a tcpdump capture of the caller's port with microsecond timestamps
# (bench/wire_latency.py), because sipp's own clock moves in 4 ms steps here.
# Usage: bench/tail-latency.sh ANCHOR_DIR [DURATION_S] [RATE ...]
#   ANCHOR_DIR: the folder with run-anchor.sh (in this workplace: ../shared/anchors/kamailio)
# Needs kamailio, sipp and tcpdump (apt-get install -y kamailio sip-tester tcpdump), and
# the right to capture on lo. Prints per run: server rate n p50 p99 p99.9 max (ms), then
# the anchor's own summary fields for CPU and failures.
set -euo pipefail
cd "$(dirname "$0")/.."
anchor="$(cd "${1:?anchor folder with run-anchor.sh}" && pwd)"; shift
dur="${1:-10}"; shift || true
rates="${*:-1000 2500 4500}"
. bench/lib/common.sh
. bench/lib/anchor-site.sh
uac_port=25070   # the anchor's caller port (BASE_PORT + 70)
captured() { # server rate command...
  local server=$1 rate=$2; shift 2
  tcpdump -i lo -n -s 600 -B 65536 -w "$work/cap.pcap" "udp port $uac_port" > /dev/null 2> "$work/tcpdump.log" &
  local dump=$!; pids+=("$dump")
  wait_until "tcpdump capturing" grep -q "listening on" "$work/tcpdump.log"
  summary=$("$@" | tail -1)
  # SIGINT makes tcpdump write out what it buffered before it exits.
  kill -INT "$dump"; wait "$dump" 2>/dev/null || true
  fields=$(echo "$summary" | tr ' ' '\n' | grep -E '^(ok|failed|retrans|p99|max|proxy|uac|uas|other)=' | tr '\n' ' ')
  echo "$server $rate $(python3 bench/wire_latency.py "$work/cap.pcap" $uac_port) | sipp: $fields"
  rm -f "$work/cap.pcap"
}
run_tandem() {
  start_anchor_site
  captured tandem "$1" env TARGET=$(at 5060) TARGET_PID=$tandem AGENT=1001 bash "$anchor/run-anchor.sh" "$1" "$dur"
  stop_anchor_site
}
run_kamailio() {
  captured kamailio "$1" bash "$anchor/run-anchor.sh" "$1" "$dur"
}
echo "server rate n p50_ms p99_ms p99.9_ms max_ms"
for rate in $rates; do
  for round in 1 2; do
    run_kamailio "$rate"
    run_tandem "$rate"
  done
done
