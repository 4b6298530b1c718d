#!/usr/bin/env bash
# Added setup latency of a call forwarded by 302 to the agent's peer, versus the same call
# delivered locally: two `tandem peer` processes (bench/lib/bc-pair.sh), a sipp phone for DN 1500
# registered at both, agent A1500 logged in at ss1. Local: the gateway INVITEs ss1.
# Forwarded: the gateway INVITEs ss2, follows its 302 to ss1. Pre-routed: the gateway INVITEs
# a Network SIP Server (bench/lib/nss.sh), follows its 302 to ss1 (A1500's site). Time = first INVITE -> 200 (rtd 1),
# in sipp's clock (it ticks in steps of a few ms, so read the mean over many calls).
# Usage: bench/forward-latency.sh [CALLS] [RATE]   (defaults: 2000 calls at 200/s)
set -euo pipefail
cd "$(dirname "$0")/.."
calls="${1:-2000}"; rate="${2:-200}"
. bench/lib/common.sh
. bench/lib/bc-pair.sh
. bench/lib/nss.sh
sipp -sf tests/sipp/phone-answer.xml -i "$BENCH_HOST" -p 25190 -nostdin "$(at 5270)" < /dev/null > /dev/null 2>&1 & pids+=("$!")
wait_udp 25190
printf 'SEQUENTIAL\n1500;%s\n' "$(at 25190)" > "$work/reg.csv"
for port in 5270 5272; do
  sipp -sf tests/sipp/register-contact.xml -inf "$work/reg.csv" -m 1 -i "$BENCH_HOST" -p 0 -nostdin "$(at $port)" < /dev/null > /dev/null 2>&1
done
sleep 1   # the NSS's figures follow the registrations over its CTI links
printf 'SEQUENTIAL\n1500;\n' > "$work/calls.csv"
run() { # label scenario target
  rm -f "$work"/*_rtt.csv
  (cd "$work" && sipp -sf "$OLDPWD/tests/sipp/$2" -inf calls.csv -m "$calls" -r "$rate" -i "$BENCH_HOST" -p 0 -nostdin \
     -timeout 120 -trace_rtt -rtt_freq 1 "$3" < /dev/null > /dev/null 2>&1) || echo "$1: sipp reported failures"
  # rtt file: date_ms;response_time_ms;rtd_no
  sort -t';' -k2 -g "$work"/*_rtt.csv | awk -F';' -v label="$1" '$2 ~ /^[0-9.]+$/ { v[n++] = $2; s += $2 }
    END { printf "%-9s calls %5d  mean %.3f ms  p50 %.3f ms  p99 %.3f ms\n", label, n, s / n, v[int(n * 0.5)], v[int(n * 0.99)] }'
}
run local gateway-call.xml "$(at 5270)"
run forwarded gateway-follow-302.xml "$(at 5272)"
run pre-routed gateway-follow-302.xml "$(at 5290)"
