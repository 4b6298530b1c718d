#!/usr/bin/env bash
# REGISTER throughput of the real binary over UDP loopback, driven by sipp.
# Usage: bench/register-load.sh [RATE ...]   (default 5000 10000 20000 30000)
# Prints per rate: attempted, succeeded, failed, tandem CPU %, sipp CPU %, achieved rate,
# and tandem CPU microseconds per successful registration.
# AUTH=1 turns on digest authentication ([site.auth], MD5: sipp 3.6 speaks no SHA-256):
# each registration is then a REGISTER, its 401 challenge and the authorized REGISTER
# (sipp takes one user name per run, so every registration is DN 1001's, a refresh).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
site=$(at 5070)
printf '[[site]]\nname = "bench"\nsip_udp = "%s"\nhttp = "%s"\ndns = ["1000-1999"]\n' "$site" "$(at 9070)" > "$work/site.toml"
{ echo SEQUENTIAL; for i in $(seq 1000 1999); do echo "$i;"; done; } > "$work/dns.csv"
scenario=(-sf tests/sipp/register.xml)
if [ "${AUTH:-0}" = 1 ]; then
  printf '[site.auth]\nrealm = "bench"\nnonce_secret = "bench-secret-0123456789"\nalgorithms = ["MD5"]\n' >> "$work/site.toml"
  python3 bench/register_auth.py --users bench 1000 1999 bench-pw >> "$work/site.toml"
  { echo SEQUENTIAL; echo "1001;$(at 25180)"; } > "$work/dns.csv"
  scenario=(-sf tests/sipp/register-auth.xml -au 1001 -ap bench-pw)
fi
"$TANDEM" peer --config "$work/site.toml" --site bench > "$work/out" 2>/dev/null &
tandem_pid=$!; pids+=("$tandem_pid")
wait_ready 9070
duration=5
echo "rate attempted succeeded failed tandem_cpu% sipp_cpu% achieved/s tandem_cpu_us_per_registration"
for rate in "${@:-5000 10000 20000 30000}"; do
  total=$((rate * duration))
  t0=$(ticks "$tandem_pid"); s0=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$work/time" sipp "${scenario[@]}" -inf "$work/dns.csv" -m "$total" -r "$rate" -l "$rate" \
    -i "$BENCH_HOST" -p 0 -nostdin -timeout 60 -buff_size 4194304 -trace_screen -screen_file "$work/screen" "$site" >/dev/null 2>&1 || true
  s1=$(date +%s.%N); t1=$(ticks "$tandem_pid")
  wall=$(echo "$s1 - $s0" | bc -l)
  ok=$(grep "Successful call" "$work/screen" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  bad=$(grep "Failed call" "$work/screen" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  sipp_cpu=$(awk -v w="$wall" '{printf "%.0f", ($1 + $2) / w * 100}' "$work/time")
  tandem_cpu=$(echo "($t1 - $t0) / $hz / $wall * 100" | bc -l | xargs printf "%.0f")
  achieved=$(echo "$ok / $wall" | bc -l | xargs printf "%.0f")
  us=$(echo "($t1 - $t0) / $hz / ($ok + 0.000001) * 1000000" | bc -l | xargs printf "%.1f")
  echo "$rate $total $ok $bad $tandem_cpu $sipp_cpu $achieved $us"
done
