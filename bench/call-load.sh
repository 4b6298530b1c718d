#!/usr/bin/env bash
# Call load through the real binary: sipp gateway (UAC) -> tandem peer -> sipp phones (UAS),
# 1,000 registered DNs, UDP loopback, at increasing rates.
# Usage: bench/call-load.sh [DURATION_S] [RATE ...]   (defaults: 10 s; 500 1000 2000 3000 4000)
# Prints per rate: calls attempted, failed, INVITE->200 median and p99 (ms; sipp's clock
# ticks in 4 ms here, "0" means under 4 ms), mean, tandem CPU seconds per 1,000 calls and
# tandem RSS (KiB) at the end of the run. Every process it starts is stopped by PID.
# STORE=1 gives the site a [site.store] (CDRs, agent log, saved registrations) and adds
# the number of call records written per rate (cdr_rows; it must equal "attempted").
# MEDIA=1 anchors every call at an rtpengine started here in user space ([site.media]) and
# adds rtpengine's CPU seconds per 1,000 calls and the calls left unanchored (must be 0).
# TANDEM=path runs another build of the binary.
# AUTH=1 turns on digest authentication: the phones register through a 401 challenge
# (bench/register_auth.py, MD5) and the gateway is a trunk known by its address.
set -euo pipefail
cd "$(dirname "$0")/.."
dur="${1:-10}"; shift || true
rates="${*:-500 1000 2000 3000 4000}"
. bench/lib/common.sh
site=$(at 5070)
printf '[[site]]\nname = "bench"\nsip_udp = "%s"\nhttp = "%s"\ndns = ["1000-1999"]\n' "$site" "$(at 9070)" > "$work/site.toml"
if [ "${STORE:-0}" = 1 ]; then printf '[site.store]\npath = "%s/cdr.db"\n' "$work" >> "$work/site.toml"; fi
rtp=""
if [ "${MEDIA:-0}" = 1 ]; then
  rtpengine --config-file=none --interface="$BENCH_HOST" --listen-ng="$(at 22299)" --foreground --table=-1 \
    --port-min=32000 --port-max=60999 --delete-delay=0 --log-level=4 2> "$work/rtpengine.log" &
  rtp=$!; pids+=("$rtp")
  wait_udp 22299
  printf '[site.media]\nng = ["%s"]\n' "$(at 22299)" >> "$work/site.toml"
fi
# rtpengine's CPU ticks (0 without it), and the calls Tandem could not anchor.
rtp_ticks() { if [ -n "$rtp" ]; then ticks "$rtp"; else echo 0; fi; }
unanchored() { curl -s "http://$(at 9070)/metrics" | awk '/^tandem_media_unanchored_calls_total/{print $2; f=1} END{if(!f) print "-"}'; }
if [ "${AUTH:-0}" = 1 ]; then
  printf '[site.auth]\nrealm = "bench"\nnonce_secret = "bench-secret-0123456789"\nalgorithms = ["MD5"]\n' >> "$work/site.toml"
  python3 bench/register_auth.py --users bench 1000 1999 bench-pw >> "$work/site.toml"
  printf '[[site.dn]]\nnumber = "gw"\ntype = "trunk"\ncontact = "%s"\nallow = ["%s/32"]\n' "$(at 5080)" "$BENCH_HOST" >> "$work/site.toml"
fi
"$TANDEM" peer --config "$work/site.toml" --site bench > /dev/null 2>&1 &
tandem=$!; pids+=("$tandem")
wait_ready 9070
phone_port=25180
sipp -sf tests/sipp/phone-answer.xml -i "$BENCH_HOST" -p $phone_port -nostdin -buff_size 4194304 "$site" < /dev/null > /dev/null 2>&1 &
pids+=("$!")
wait_udp $phone_port
{ echo SEQUENTIAL; for i in $(seq 1000 1999); do echo "$i;$(at $phone_port)"; done; } > "$work/reg.csv"
{ echo SEQUENTIAL; for i in $(seq 1000 1999); do echo "$i;"; done; } > "$work/calls.csv"
if [ "${AUTH:-0}" = 1 ]; then
  python3 bench/register_auth.py "$site" 1000 1999 bench-pw "$(at $phone_port)" > /dev/null
else
  sipp -sf tests/sipp/register-contact.xml -inf "$work/reg.csv" -m 1000 -r 1000 -i "$BENCH_HOST" -p 0 -nostdin "$site" > /dev/null 2>&1
fi
# CPU ticks of the store's writer thread (0 without a store).
store_ticks() { local t=0; for task in /proc/"$1"/task/*; do
  if grep -q '^store-' "$task/comm" 2>/dev/null; then t=$((t + $(awk '{print $14 + $15}' "$task/stat"))); fi; done; echo $t; }
rows() { if [ "${STORE:-0}" = 1 ]; then python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from calls').fetchone()[0])" "$work/cdr.db"; else echo -; fi; }
echo "rate attempted failed p50_ms p99_ms mean_ms cpu_s_per_1000 rss_kib cdr_rows writer_cpu_s_per_1000 rtpengine_cpu_s_per_1000 unanchored"
for rate in $rates; do
  total=$((rate * dur))
  t0=$(ticks "$tandem"); w0=$(store_ticks "$tandem"); m0=$(rtp_ticks)
  (cd "$work" && sipp -sf "$OLDPWD/tests/sipp/gateway-call.xml" -inf calls.csv -m "$total" -r "$rate" -l $((rate * 2 > 1000 ? rate * 2 : 1000)) \
      -i "$BENCH_HOST" -p 0 -nostdin -timeout $((dur + 40)) -buff_size 4194304 -trace_screen -screen_file screen.txt \
      -trace_rtt -rtt_freq 1000 -recv_timeout 10000 "$site" > /dev/null 2>&1) || true
  sleep 5   # let the phones' timewait drain and the store's writer commit (its CPU counts)
  t1=$(ticks "$tandem"); w1=$(store_ticks "$tandem"); m1=$(rtp_ticks)
  failed=$(grep "Failed call" "$work/screen.txt" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  read -r p50 p99 mean < <(cat "$work"/*_rtt.csv 2>/dev/null | awk -F';' '$3==1{print $2}' | sort -n |
    awk '{v[NR]=$1; s+=$1} END{ if(NR==0){print "na na na"; exit}
         i50=int(0.50*NR+0.5); if(i50<1)i50=1; i99=int(0.99*NR+0.5); if(i99<1)i99=1; printf "%g %g %.2f\n", v[i50], v[i99], s/NR}')
  rm -f "$work"/*_rtt.csv
  cpu=$(echo "($t1 - $t0) / $hz / $total * 1000" | bc -l | xargs printf "%.3f")
  rss=$(awk '/VmRSS/{print $2}' "/proc/$tandem/status")
  r1=$(rows)
  wcpu=$(echo "($w1 - $w0) / $hz / $total * 1000" | bc -l | xargs printf "%.3f")
  mcpu=$(echo "($m1 - $m0) / $hz / $total * 1000" | bc -l | xargs printf "%.3f")
  echo "$rate $total ${failed:-na} $p50 $p99 $mean $cpu $rss $([ "$r1" = - ] && echo - || echo $((r1 - ${r0:-0}))) $wcpu $mcpu $(unanchored)"
  r0=$r1
done
