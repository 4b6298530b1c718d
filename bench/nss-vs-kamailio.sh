#!/usr/bin/env bash
# The NSS's 302 rate beside Kamailio's as a stateful redirect server
# (bench/kamailio/redirect.cfg), alternating runs at each rate in one sitting:
# Kamailio, Tandem, Kamailio, Tandem. Tandem is `tandem nss` in front of a BC pair
# (bench/bc-pair.sh, bench/nss.sh) choosing the site per call; Kamailio answers a fixed
# Contact. Same sipp carrier (tests/sipp/gateway-302-only.xml) for both.
# Usage: bench/nss-vs-kamailio.sh [DURATION_S] [RATE ...]   (defaults: 5 s; 10000 20000)
# Prints per run: server, rate, attempted, failed, achieved/s, server CPU s per 1,000.
# Needs kamailio and sipp (apt-get install -y kamailio sip-tester).
set -euo pipefail
cd "$(dirname "$0")/.."
dur="${1:-5}"; shift || true
rates="${*:-10000 20000}"
cargo build --release --bin tandem -q
work=$(mktemp -d)
pids=()
kam=""
cleanup() { for p in "${pids[@]}" $kam; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
. bench/bc-pair.sh
. bench/nss.sh
printf 'SEQUENTIAL\n1501;\n' > "$work/calls.csv"
hz=$(getconf CLK_TCK)
# CPU ticks of a process and its children (Kamailio runs several worker processes).
ticks() { local t=0; for p in $(pgrep -g "$(ps -o pgid= "$1" | tr -d ' ')" 2>/dev/null || echo "$1"); do
  t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
run() { # label pid port rate
  local total=$(($4 * dur)) t0 t1 s0 s1 wall ok bad
  t0=$(ticks "$2"); s0=$(date +%s.%N)
  (cd "$work" && sipp -sf "$OLDPWD/tests/sipp/gateway-302-only.xml" -inf calls.csv -m "$total" -r "$4" -l "$4" -i 127.0.0.1 \
     -p 0 -nostdin -buff_size 4194304 -timeout $((dur + 30)) -trace_screen -screen_file screen.txt "127.0.0.1:$3" \
     < /dev/null > /dev/null 2>&1) || true
  s1=$(date +%s.%N); t1=$(ticks "$2")
  wall=$(echo "$s1 - $s0" | bc -l)
  ok=$(grep "Successful call" "$work/screen.txt" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  bad=$(grep "Failed call" "$work/screen.txt" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  echo "$1 $4 $total ${bad:-na} $(echo "${ok:-0} / $wall" | bc -l | xargs printf "%.0f") \
$(echo "($t1 - $t0) / $hz / $total * 1000" | bc -l | xargs printf "%.3f")"
}
setsid kamailio -f bench/kamailio/redirect.cfg -DD -E -m 1024 -M 16 > "$work/kamailio.log" 2>&1 & kam=$!
sleep 1
echo "server rate attempted failed achieved_per_s cpu_s_per_1000"
for rate in $rates; do
  for _ in 1 2; do
    run kamailio "$kam" 5291 "$rate"
    run tandem "$nss" 5290 "$rate"
  done
done
