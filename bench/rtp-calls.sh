#!/usr/bin/env bash
# Concurrent anchored calls with RTP flowing: a Tandem site anchored at rtpengine (user
# space), N calls up at once, each carrying 50 PCMU packets/s both ways for S seconds
# (bench/rtp_calls.py plays gateway and phones). Prints per N: calls up, packets sent and
# received, loss, Tandem's and rtpengine's CPU (percent of one core) while RTP flows.
# Usage: bench/rtp-calls.sh [SECONDS] [CALLS ...]   (defaults: 10 s; 50 100 200 400)
# Needs rtpengine (apt-get install -y rtpengine-daemon). Every process it starts is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
dur="${1:-10}"; shift || true
counts="${*:-50 100 200 400}"
. bench/lib/common.sh
rtpengine --config-file=none --interface="$BENCH_HOST" --listen-ng="$(at 22298)" --foreground --table=-1 \
  --port-min=32000 --port-max=60999 --delete-delay=0 --log-level=4 2> "$work/rtpengine.log" &
rtp=$!; pids+=("$rtp")
wait_udp 22298
for n in $counts; do
  printf '[[site]]\nname = "bench"\nsip_udp = "%s"\nhttp = "%s"\ndns = ["1000-1999"]\n[site.media]\nng = ["%s"]\n' \
    "$(at 5072)" "$(at 9074)" "$(at 22298)" > "$work/site.toml"
  "$TANDEM" peer --config "$work/site.toml" --site bench > "$work/tandem.log" 2>&1 &
  tandem=$!; pids+=("$tandem")
  wait_ready 9074
  python3 bench/rtp_calls.py "$(at 5072)" "$n" "$dur" "$tandem" "$rtp" || echo "calls=$n: not every call up, or loss of 1 % or more"
  kill "$tandem"; wait "$tandem" 2>/dev/null || true
done
