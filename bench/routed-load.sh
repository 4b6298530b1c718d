#!/usr/bin/env bash
# Routed calls end to end: two `tandem peer`s (s1 SIP 5370 / CTI 7370, s2 5372 / 7372), a
# `tandem router` per site, AGENTS agents (half logged in at each site, Ready, on sipp
# phones that answer at once and are hung up by the gateway right after the ACK), and a
# sipp gateway per site offering calls to Routing Point 5000 at RATE calls/s each for
# SECONDS. Prints offered/answered/failed per site, calls/s routed, CPU seconds per process.
#
#   bench/routed-load.sh [RATE_PER_SITE] [SECONDS] [AGENTS]     (defaults 500 10 400)
#
# Needs sipp (sip-tester) and a release build. Processes are stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-500}; seconds=${2:-10}; agents=${3:-400}
first=2000
. bench/lib/common.sh

site() { # name index
  local name=$1 i=$2 sip=$((5370 + 2 * $2)) peer=$((5372 - 2 * $2)) cti=$((7370 + 2 * $2)) http=$((9570 + 2 * $2))
  local trunk; trunk=$([ "$i" = 0 ] && echo TO_S2 || echo TO_S1)
  printf '[[site]]\nname = "%s"\nsip_udp = "%s"\nsip_tcp = "%s"\ncti = "%s"\nhttp = "%s"\ncti_tokens = ["t"]\ndns = ["2000-4999"]\n' "$name" "$(at "$sip")" "$(at "$sip")" "$(at "$cti")" "$(at "$http")"
  printf '[site.options]\ndr-peer-trunk = "%s"\ndr-forward = "no-agent"\n' "$trunk"
  printf '[site.limits]\nmax_parked_per_rp = 10000\n'
  printf '[[site.dn]]\nnumber = "%s"\ntype = "trunk"\ncontact = "%s"\nprefix = "99%s"\n' "$trunk" "$(at "$peer")" "$i"
  printf '[[site.dn]]\nnumber = "5000"\ntype = "routing-point"\n'
  for ((dn = first; dn < first + agents; dn++)); do printf '[[site.agent]]\nid = "A%s"\ndn = "%s"\n' "$dn" "$dn"; done
}
{
  site s1 0; site s2 1
  printf '[routing]\n'
  for ((dn = first; dn < first + agents; dn++)); do printf '[[routing.agent]]\nid = "A%s"\nskills = { sales = 1 }\n' "$dn"; done
  printf '[[routing.point]]\ndn = "5000"\ntarget = "sales"\n'
} > "$work/deployment.toml"

for s in s1 s2; do
  "$TANDEM" peer --config "$work/deployment.toml" --site "$s" > /dev/null 2> "$work/$s.log" & pids+=("$!")
done
wait_ready 9570; wait_ready 9572
for s in s1 s2; do
  "$TANDEM" router --config "$work/deployment.toml" --site "$s" 2> "$work/router-$s.log" & pids+=("$!")
done
# One sipp phone for all agent DNs (answers at once), registered at both sites.
sipp -sf tests/sipp/phone-answer.xml -i "$BENCH_HOST" -p 5390 "$(at 5370)" -nostdin < /dev/null > /dev/null 2>&1 & pids+=("$!")
wait_udp 5390
{ echo SEQUENTIAL; for ((dn = first; dn < first + agents; dn++)); do echo "$dn;$(at 5390)"; done; } > "$work/reg.csv"
for port in 5370 5372; do
  sipp -sf tests/sipp/register-contact.xml -inf "$work/reg.csv" -m "$agents" -r 500 -i "$BENCH_HOST" -p 0 -nostdin -timeout 30 "$(at $port)" > /dev/null 2>&1 || { echo "registration at $port failed (see $work/*.log)"; cat "$work"/s1.log | tail -3; exit 1; }
done
# Desktops: the first half of the agents at s1, the rest at s2, Ready.
half=$((first + agents / 2))
desk() { # cti_port from to
  for ((dn = $2; dn < $3; dn++)); do echo "RequestRegisterAddress ThisDN=$dn"; echo "RequestAgentLogin ThisDN=$dn AgentID=A$dn AgentWorkMode=ManualIn"; done > "$work/desk-$1.txt"
  "$TANDEM" cti --url "ws://$(at "$1")/cti" --token t --wait 0 - < "$work/desk-$1.txt" > /dev/null & pids+=("$!")
}
desk 7370 "$first" "$half"
desk 7372 "$half" "$((first + agents))"
sleep 3   # the desktops log their agents in and both routers connect to both sites

printf 'SEQUENTIAL\n5000;\n' > "$work/rp.csv"
total=$((rate * seconds))
cpu() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
before=(); for p in "${pids[@]}"; do before+=("$(cpu "$p")"); done
start=$(date +%s.%N)
for port in 5370 5372; do
  sipp -sf tests/sipp/gateway-call.xml -inf "$work/rp.csv" -m "$total" -r "$rate" -l $((rate * 5)) \
    -i "$BENCH_HOST" -p 0 -nostdin -timeout $((seconds + 60)) -trace_screen \
    -max_invite_retrans 3 "$(at $port)" > "$work/gw-$port.out" 2>&1 &
  gw[$port]=$!
done
for port in 5370 5372; do wait "${gw[$port]}" || true; done
end=$(date +%s.%N)
ok=0; failed=0
for port in 5370 5372; do
  count() { grep "$1" "$work/gw-$port.out" | tail -1 | awk -F'|' '{gsub(/ /, "", $3); print $3 + 0}'; }
  s=$(count "Successful call"); f=$(count "Failed call")
  echo "gateway -> $port: offered $total, answered $s, failed $f"
  ok=$((ok + s)); failed=$((failed + f))
done
awk -v ok="$ok" -v a="$start" -v b="$end" 'BEGIN { printf "routed and answered: %d calls in %.1f s = %.0f calls/s\n", ok, b - a, ok / (b - a) }'
names=(peer-s1 peer-s2 router-s1 router-s2 phone desk-s1 desk-s2)
for i in "${!pids[@]}"; do
  after=$(cpu "${pids[$i]}")
  awk -v n="${names[$i]:-proc}" -v d=$((after - before[i])) -v t="$hz" -v ok="$ok" \
    'BEGIN { printf "  cpu %-9s %6.2f s  (%.0f us per routed call)\n", n, d / t, ok ? d / t / ok * 1e6 : 0 }'
done
grep -h "router stopped\|WARN\|ERROR" "$work"/router-*.log | tail -5 || true
[ "$failed" = 0 ]
