#!/usr/bin/env bash
# Media anchoring side by side with the reference: Kamailio + rtpengine (the anchor's
# kamailio-rtpengine.cfg) against Tandem with [site.media], both at one rtpengine in user
# space, with the anchor's own harness and sipp scenarios (calls carry SDP, no RTP: the
# cost of anchoring, not of relaying media). Alternating runs Kamailio, Tandem, Kamailio,
# Tandem at each rate; each line adds rtpengine's CPU per call over the run.
# Usage: bench/media-vs-kamailio.sh ANCHOR_DIR [DURATION_S] [RATE ...]
#   ANCHOR_DIR: the folder with run-anchor.sh (in this workplace: ../shared/anchors/kamailio)
# Needs kamailio, rtpengine and sipp (apt-get install -y kamailio rtpengine-daemon sip-tester).
set -euo pipefail
cd "$(dirname "$0")/.."
anchor="$(cd "${1:?anchor folder with run-anchor.sh}" && pwd)"; shift
dur="${1:-10}"; shift || true
rates="${*:-500 1000}"
. bench/lib/common.sh
. bench/lib/anchor-site.sh
# The anchor's kamailio-rtpengine.cfg expects rtpengine's ng on 127.0.0.1:22222.
rtpengine --config-file=none --interface=127.0.0.1 --listen-ng=127.0.0.1:22222 --foreground --table=-1 \
  --port-min=32000 --port-max=60999 --delete-delay=0 --log-level=4 2> "$work/rtpengine.log" &
rtp=$!; pids+=("$rtp")
wait_udp 22222
printf '[site.media]\nng = ["127.0.0.1:22222"]\n' >> "$work/anchor-site.toml"
# One run: its summary line, then rtpengine's CPU per offered call over it.
measured() { local who=$1 rate=$2; shift 2
  local before; before=$(ticks "$rtp")
  "$@" | sed "s/^/$who /"
  local used=$(( $(ticks "$rtp") - before ))
  awk -v t="$used" -v hz="$hz" -v n=$(( rate * dur )) -v who="$who" \
    'BEGIN { printf "%s rtpengine cpu=%.2f ms/call\n", who, t * 1000 / hz / n }'
}
run_tandem() {
  start_anchor_site
  measured "tandem  " "$1" env TARGET="$(at 5060)" TARGET_PID="$tandem" AGENT=1001 BASE_PORT=28000 \
    bash "$anchor/run-anchor.sh" "$1" "$dur"
  # Proof that the calls were anchored, not relayed unanchored after failures.
  curl -s "http://$(at "$anchor_http")/metrics" | grep -E '^tandem_media_(commands|unanchored_calls|timeouts)_total' \
    | sed 's/^/tandem   /'
  stop_anchor_site
}
run_kamailio() {
  measured "kamailio" "$1" env KAM_CFG="$anchor/kamailio-rtpengine.cfg" BASE_PORT=28000 \
    bash "$anchor/run-anchor.sh" "$1" "$dur"
}
for rate in $rates; do
  for round in 1 2; do
    run_kamailio "$rate"
    run_tandem "$rate"
  done
done
