#!/usr/bin/env bash
# The Network SIP Server's 302 rate: a BC pair (bench/bc-pair.sh, agent A1500 logged in at
# ss1) behind `tandem nss` (bench/nss.sh), and a sipp carrier sending INVITEs for DN
# ${DN:-1501} to the NSS, which answers each with a 302 to the site its policy picks (most
# Ready agents, from its CTI links to both sites), then the ACK. Use DN=1500 for the
# agent's-site rule, DN=5000 with a Routing Point... (1501: the policy).
# Usage: bench/nss-load.sh [DURATION_S] [RATE ...]   (defaults: 5 s; 10000 20000 25000)
# Prints per rate: attempted, failed, achieved/s, NSS CPU %, NSS CPU s per 1,000 302s,
# sipp CPU % (the carrier shares the machine's two cores).
set -euo pipefail
cd "$(dirname "$0")/.."
dur="${1:-5}"; shift || true
rates="${*:-10000 20000 25000}"
cargo build --release --bin tandem -q
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
. bench/bc-pair.sh
. bench/nss.sh
printf 'SEQUENTIAL\n%s;\n' "${DN:-1501}" > "$work/calls.csv"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
echo "rate attempted failed achieved_per_s nss_cpu% nss_cpu_s_per_1000 sipp_cpu%"
for rate in $rates; do
  total=$((rate * dur))
  t0=$(ticks "$nss"); s0=$(date +%s.%N)
  (cd "$work" && /usr/bin/time -f "%U %S" -o time.txt sipp -sf "$OLDPWD/tests/sipp/gateway-302-only.xml" -inf calls.csv \
     -m "$total" -r "$rate" -l "$rate" -i 127.0.0.1 -p 0 -nostdin -buff_size 4194304 -timeout $((dur + 30)) \
     -trace_screen -screen_file screen.txt 127.0.0.1:5290 < /dev/null > /dev/null 2>&1) || true
  s1=$(date +%s.%N); t1=$(ticks "$nss")
  wall=$(echo "$s1 - $s0" | bc -l)
  ok=$(grep "Successful call" "$work/screen.txt" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  bad=$(grep "Failed call" "$work/screen.txt" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  cpu=$(echo "($t1 - $t0) / $hz / $wall * 100" | bc -l | xargs printf "%.0f")
  per=$(echo "($t1 - $t0) / $hz / $total * 1000" | bc -l | xargs printf "%.3f")
  sipp_cpu=$(tail -1 "$work/time.txt" | awk -v w="$wall" '{printf "%.0f", ($1 + $2) / w * 100}')
  echo "$rate $total ${bad:-na} $(echo "${ok:-0} / $wall" | bc -l | xargs printf "%.0f") $cpu $per $sipp_cpu"
done
