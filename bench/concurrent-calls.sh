#!/usr/bin/env bash
# Memory per active call: 10,000 concurrent calls (1,000 new calls/s, each held 12 s)
# through one tandem peer to sipp phones on 1,000 DNs. Prints tandem's RSS with no call
# and at the peak, the active calls from /metrics, and the difference per call.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
printf '[[site]]\nname = "bench"\nsip_udp = "%s"\nhttp = "%s"\ndns = ["1000-1999"]\n' "$(at 5070)" "$(at 9070)" > "$work/site.toml"
"$TANDEM" peer --config "$work/site.toml" --site bench > /dev/null 2>&1 &
tandem=$!; pids+=("$tandem")
wait_ready 9070
sipp -sf tests/sipp/phone-answer.xml -i "$BENCH_HOST" -p 25180 -nostdin -buff_size 4194304 -l 20000 "$(at 5070)" < /dev/null > /dev/null 2>&1 &
pids+=("$!")
wait_udp 25180
{ echo SEQUENTIAL; for i in $(seq 1000 1999); do echo "$i;$(at 25180)"; done; } > "$work/reg.csv"
{ echo SEQUENTIAL; for i in $(seq 1000 1999); do echo "$i;"; done; } > "$work/calls.csv"
sipp -sf tests/sipp/register-contact.xml -inf "$work/reg.csv" -m 1000 -r 1000 -i "$BENCH_HOST" -p 0 -nostdin "$(at 5070)" > /dev/null 2>&1
sleep 1   # the idle RSS after the registrations settle
rss0=$(awk '/VmRSS/{print $2}' "/proc/$tandem/status")
(cd "$work" && sipp -sf "$OLDPWD/tests/sipp/gateway-call-hold.xml" -inf calls.csv -m 10000 -r 1000 -l 12000 -d 12000 -i "$BENCH_HOST" -p 0 -nostdin \
   -buff_size 4194304 -trace_screen -screen_file screen.txt "$(at 5070)" < /dev/null > /dev/null 2>&1) &
uac=$!; pids+=("$uac")
sleep 11   # 10,000 calls at 1,000/s, each held 12 s: all of them up at once
active=$(curl -s http://$(at 9070)/metrics | awk '/^tandem_active_calls/{print $2}')
rss1=$(awk '/VmRSS/{print $2}' "/proc/$tandem/status")
wait "$uac" || true
failed=$(grep "Failed call" "$work/screen.txt" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
echo "rss_idle_kib=$rss0 rss_peak_kib=$rss1 active_calls=$active failed=${failed:-na} bytes_per_call=$(( (rss1 - rss0) * 1024 / (active > 0 ? active : 1) ))"
