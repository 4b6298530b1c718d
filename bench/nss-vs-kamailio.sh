#!/usr/bin/env bash
# The NSS's 302 rate beside Kamailio's as a stateful redirect server
# (bench/kamailio/redirect.cfg), alternating runs at each rate in one sitting:
# Kamailio, Tandem, Kamailio, Tandem. Tandem is `tandem nss` in front of a BC pair
# (bench/lib/bc-pair.sh, bench/lib/nss.sh) choosing the site per call; Kamailio answers a fixed
# Contact. Same sipp carrier (tests/sipp/gateway-302-only.xml) for both.
# Usage: bench/nss-vs-kamailio.sh [DURATION_S] [RATE ...]   (defaults: 5 s; 10000 20000)
# Prints per run: server, rate, attempted, failed, achieved/s, server CPU %, server CPU s
# per 1,000, sipp CPU % (bench/lib/redirect-run.sh).
# Needs kamailio and sipp (apt-get install -y kamailio sip-tester).
set -euo pipefail
cd "$(dirname "$0")/.."
dur="${1:-5}"; shift || true
rates="${*:-10000 20000}"
. bench/lib/common.sh
. bench/lib/bc-pair.sh
. bench/lib/nss.sh
printf 'SEQUENTIAL\n1501;\n' > "$work/calls.csv"
. bench/lib/redirect-run.sh
setsid kamailio -f bench/kamailio/redirect.cfg -DD -E -m 1024 -M 16 > "$work/kamailio.log" 2>&1 & kam=$!; pids+=("$kam")
wait_udp 5291
echo "server rate attempted failed achieved_per_s cpu% cpu_s_per_1000 sipp_cpu%"
for rate in $rates; do
  for _ in 1 2; do
    echo "kamailio $(redirect_run "$kam" 5291 "$rate")"
    echo "tandem $(redirect_run "$nss" 5290 "$rate")"
  done
done
