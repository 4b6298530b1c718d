#!/usr/bin/env bash
# The Network SIP Server's 302 rate: a BC pair (bench/lib/bc-pair.sh, agent A1500 logged in at
# ss1) behind `tandem nss` (bench/lib/nss.sh), and a sipp carrier sending INVITEs for DN
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
. bench/lib/common.sh
. bench/lib/bc-pair.sh
. bench/lib/nss.sh
printf 'SEQUENTIAL\n%s;\n' "${DN:-1501}" > "$work/calls.csv"
. bench/lib/redirect-run.sh
echo "rate attempted failed achieved_per_s nss_cpu% nss_cpu_s_per_1000 sipp_cpu%"
for rate in $rates; do
  redirect_run "$nss" 5290 "$rate"
done
