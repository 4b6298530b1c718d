#!/usr/bin/env bash
# The 302 path (BC-22): two `tandem peer` processes as a BC pair, agent A1500 logged in at
# ss1, and a sipp gateway sending INVITEs for DN 1500 to ss2, which answers each with 302.
# Usage: bench/redirect-load.sh [DURATION_S] [RATE ...]   (defaults: 5 s; 5000 10000 15000 20000)
# Prints per rate: attempted, failed, achieved/s, ss2 CPU %, ss2 CPU s per 1,000 INVITEs.
set -euo pipefail
cd "$(dirname "$0")/.."
dur="${1:-5}"; shift || true
rates="${*:-5000 10000 15000 20000}"
. bench/lib/common.sh
. bench/lib/bc-pair.sh
printf 'SEQUENTIAL\n1500;\n' > "$work/calls.csv"
echo "rate attempted failed achieved_per_s ss2_cpu% ss2_cpu_s_per_1000"
for rate in $rates; do
  total=$((rate * dur))
  t0=$(ticks "$ss2"); s0=$(date +%s.%N)
  (cd "$work" && sipp -sf "$OLDPWD/tests/sipp/gateway-302-only.xml" -inf calls.csv -m "$total" -r "$rate" -l "$rate" -i "$BENCH_HOST" -p 0 \
     -nostdin -buff_size 4194304 -timeout $((dur + 30)) -trace_screen -screen_file screen.txt "$(at 5272)" < /dev/null > /dev/null 2>&1) || true
  s1=$(date +%s.%N); t1=$(ticks "$ss2")
  wall=$(echo "$s1 - $s0" | bc -l)
  ok=$(grep "Successful call" "$work/screen.txt" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  bad=$(grep "Failed call" "$work/screen.txt" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  cpu=$(echo "($t1 - $t0) / $hz / $wall * 100" | bc -l | xargs printf "%.0f")
  per=$(echo "($t1 - $t0) / $hz / $total * 1000" | bc -l | xargs printf "%.3f")
  echo "$rate $total ${bad:-na} $(echo "${ok:-0} / $wall" | bc -l | xargs printf "%.0f") $cpu $per"
done
