#!/usr/bin/env bash
# Overload: full calls (INVITE, 100, 180, 200, ACK, BYE) offered to ss1 of a BC pair at
# rates around and past its knee, 1,000 registered DNs answered by one sipp phone, each
# rate for DURATION_S. ss2 polls ss1's trunk (OPTIONS every 2 s, out of service after 1 s
# unanswered): the pair must never split.
# Usage: bench/overload.sh [DURATION_S] [RATE ...]   (defaults: 30 s; 4000 8000 16000 40000)
# Optional: TANDEM=path/to/tandem to measure another build (e.g. an older commit).
# GEN=loadgen: offer the calls with bench/loadgen (one light process playing both the
# gateway and the phone, µs latencies) instead of two sipp processes, which at 5x the knee
# need more than one of the two cores themselves. "uac_cpu" is then loadgen's, "phone_cpu" -.
# Prints per rate: attempted, successful, failed, goodput (successful calls/s), INVITE->200
# p50/p99 of successful calls (ms; sipp's clock ticks in 4 ms), ss1 CPU %, ss1 peak and end
# RSS (MiB), the CPU of the sipp caller and of the sipp phone (they share the 2 cores), 503s sent, whether either peer logged its DR peer trunk out of service, and
# how many engine wake-ups took over 5 ms (the probe in /metrics; a build without it: 0),
# and how many datagrams the kernel dropped from ss1's full UDP queue.
# Every process it starts is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
dur="${1:-30}"; shift || true
rates="${*:-4000 8000 16000 40000}"
. bench/lib/common.sh
gen=${GEN:-sipp}
[ "$gen" = sipp ] || { cargo build --release -p loadgen -q; }
site() { # name port peer_port trunk http
  printf '[[site]]\nname = "%s"\nsip_udp = "%s"\nhttp = "%s"\ndns = ["1000-1999"]\n[site.options]\ndr-peer-trunk = "%s"\n[[site.dn]]\nnumber = "%s"\ntype = "trunk"\ncontact = "%s"\noos-check = 2\noos-force = 1\n' "$1" "$(at "$2")" "$(at "$5")" "$4" "$4" "$(at "$3")"
}
site ss1 5370 5372 TO_SS2 9370 > "$work/ss1.toml"
site ss2 5372 5370 TO_SS1 9372 > "$work/ss2.toml"
"$TANDEM" peer --config "$work/ss1.toml" --site ss1 > /dev/null 2> "$work/ss1.log" & ss1=$!; pids+=("$ss1")
"$TANDEM" peer --config "$work/ss2.toml" --site ss2 > /dev/null 2> "$work/ss2.log" & ss2=$!; pids+=("$ss2")
wait_ready 9370; wait_ready 9372
phone_port=25380
if [ "$gen" = sipp ]; then
sipp -sf tests/sipp/phone-answer.xml -i "$BENCH_HOST" -p $phone_port -nostdin -buff_size 8388608 "$(at 5370)" < /dev/null > /dev/null 2>&1 &
pids+=("$!")
wait_udp $phone_port
{ echo SEQUENTIAL; for i in $(seq 1000 1999); do echo "$i;$(at $phone_port)"; done; } > "$work/reg.csv"
{ echo SEQUENTIAL; for i in $(seq 1000 1999); do echo "$i;"; done; } > "$work/calls.csv"
sipp -sf tests/sipp/register-contact.xml -inf "$work/reg.csv" -m 1000 -r 1000 -i "$BENCH_HOST" -p 0 -nostdin "$(at 5370)" > /dev/null 2>&1
fi
sleep 3   # the first OPTIONS polls (every 2 s) put each side's peer trunk in service
metric() { curl -s "$(at 9370)/metrics" | awk -v m="$1" 'index($0, m) == 1 {s += $NF} END {print s + 0}'; }
phone=${pids[2]:-}
echo "ss1 RSS idle, 1,000 phones registered: $(($(awk '/VmRSS/{print $2}' "/proc/$ss1/status") / 1024)) MiB"
echo "rate attempted ok failed goodput p50_ms p99_ms ss1_cpu uac_cpu phone_cpu peak_rss_mib end_rss_mib 503s trunk_lost wakes_over_5ms kernel_drops"
for rate in $rates; do
  total=$((rate * dur))
  t0=$(ticks "$ss1"); r0=$(metric 'tandem_sip_responses_sent_total{site="ss1",status="503"}')
  w0=$(metric 'tandem_engine_wake_seconds_bucket{site="ss1",le="+Inf"}'); f0=$(metric 'tandem_engine_wake_seconds_bucket{site="ss1",le="0.005"}')
  k0=$(metric 'tandem_udp_kernel_dropped_total{site="ss1"}')
  peak=0
  p0=$([ -z "$phone" ] || ticks "$phone"); u=0
  if [ "$gen" = loadgen ]; then
    timeout $((dur + 60)) ./target/release/loadgen --target "$(at 5370)" --rate "$rate" --seconds "$dur" --drain 5 \
      > "$work/lg.txt" &
  else
  (cd "$work" && exec timeout $((dur + 60)) sipp -sf "$OLDPWD/tests/sipp/gateway-call.xml" -inf calls.csv -m "$total" -r "$rate" \
      -l $((rate * 2)) -i "$BENCH_HOST" -p 0 -nostdin -timeout $((dur + 30)) -buff_size 8388608 -trace_stat -stf stat.csv \
      -trace_rtt -rtt_freq 1000 -recv_timeout 5000 "$(at 5370)" > /dev/null 2>&1) &
  fi
  uac=$!
  while kill -0 "$uac" 2>/dev/null; do
    rss=$(awk '/VmRSS/{print $2}' "/proc/$ss1/status"); [ "$rss" -gt "$peak" ] && peak=$rss
    s=$(pgrep -P "$uac" | head -1 || true); [ -n "$s" ] && u=$(ticks "$s" 2>/dev/null || echo "$u")
    [ "$gen" = sipp ] || u=$(ticks "$uac" 2>/dev/null || echo "$u")
    sleep 0.5
  done
  wait "$uac" || true
  t1=$(ticks "$ss1"); r1=$(metric 'tandem_sip_responses_sent_total{site="ss1",status="503"}')
  w1=$(metric 'tandem_engine_wake_seconds_bucket{site="ss1",le="+Inf"}'); f1=$(metric 'tandem_engine_wake_seconds_bucket{site="ss1",le="0.005"}')
  k1=$(metric 'tandem_udp_kernel_dropped_total{site="ss1"}')
  if [ "$gen" = loadgen ]; then
    lg() { tr ' ' '\n' < "$work/lg.txt" | awk -F= -v k="$1" '$1 == k {print $2}'; }
    ok=$(lg completed); failed=$(( $(lg offered) - ok )); p50=$(lg setup_p50_ms); p99=$(lg setup_p99_ms)
    u=$(awk -v s="$(lg loadgen_cpu_s)" -v hz="$hz" 'BEGIN { printf "%.0f", s * hz }')
  else
  last=$(tail -1 "$work/stat.csv")
  col() { head -1 "$work/stat.csv" | tr ';' '\n' | grep -n "^$1\$" | head -1 | cut -d: -f1; }
  ok=$(echo "$last" | cut -d';' -f"$(col SuccessfulCall\(C\))"); failed=$(echo "$last" | cut -d';' -f"$(col FailedCall\(C\))")
  read -r p50 p99 < <(cat "$work"/*_rtt.csv 2>/dev/null | awk -F';' '$3==1{print $2}' | sort -n |
    awk '{v[NR]=$1} END{ if(NR==0){print "na na"; exit} i50=int(0.50*NR+0.5); if(i50<1)i50=1; i99=int(0.99*NR+0.5); if(i99<1)i99=1; printf "%g %g\n", v[i50], v[i99]}')
  rm -f "$work"/*_rtt.csv "$work"/stat.csv
  fi
  [ "${ok:-0}" -gt 0 ] || { echo "!! no call completed at $rate/s"; exit 1; }
  pct() { awk -v a="$1" -v b="$2" -v hz="$hz" -v d="$dur" 'BEGIN { printf "%.0f", (b - a) / hz / d * 100 }'; }
  cpu=$(pct "$t0" "$t1"); ucpu=$(pct 0 "$u"); pcpu=-
  [ -z "$phone" ] || pcpu=$(pct "$p0" "$(ticks "$phone")")
  end=$(awk '/VmRSS/{print $2}' "/proc/$ss1/status")
  lost=$(cat "$work/ss1.log" "$work/ss2.log" | grep -c "trunk out of service" || true)
  echo "$rate $total $ok $failed $((ok / dur)) $p50 $p99 ${cpu}% ${ucpu}% ${pcpu}% $((peak / 1024)) $((end / 1024)) $((r1 - r0)) $lost $(( (w1 - w0) - (f1 - f0) )) $((k1 - k0))"
  [ "$gen" = sipp ] || sed 's/^/  loadgen: /' "$work/lg.txt"
  sleep "${SETTLE:-40}"   # finished transactions (32 s) and the phone's timewait drain
done
echo "ss1 RSS after the last rate settled: $(($(awk '/VmRSS/{print $2}' "/proc/$ss1/status") / 1024)) MiB"
[ "$(cat "$work/ss1.log" "$work/ss2.log" | grep -c 'trunk out of service' || true)" = 0 ] || { echo "!! the DR peer trunk went out of service"; exit 1; }
