# Sourced by the 302 benchmarks (nss-load.sh, nss-vs-kamailio.sh): one sipp carrier run of
# tests/sipp/gateway-302-only.xml (INVITE, 302, ACK) against a redirect server, measured.
# Needs $work (with calls.csv) and $dur (seconds per run).
# redirect_run PID PORT RATE prints: rate attempted failed achieved/s server_cpu%
#   server_cpu_s_per_1000 sipp_cpu%.
hz=$(getconf CLK_TCK)
# CPU ticks of PID, and of its process group's members when it leads one (Kamailio started
# with setsid); a process in the script's own group counts alone.
group_ticks() { local t=0 p procs="$1"
  [ "$(ps -o pgid= "$1" | tr -d ' ')" = "$1" ] && procs=$(pgrep -g "$1")
  for p in $procs; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
redirect_run() {
  local total=$(($3 * dur)) t0 t1 s0 s1 wall ok bad
  t0=$(group_ticks "$1"); s0=$(date +%s.%N)
  (cd "$work" && /usr/bin/time -f "%U %S" -o time.txt sipp -sf "$OLDPWD/tests/sipp/gateway-302-only.xml" -inf calls.csv \
     -m "$total" -r "$3" -l "$3" -i "$BENCH_HOST" -p 0 -nostdin -buff_size 4194304 -timeout $((dur + 30)) \
     -trace_screen -screen_file screen.txt "$(at "$2")" < /dev/null > /dev/null 2>&1) || true
  s1=$(date +%s.%N); t1=$(group_ticks "$1")
  wall=$(echo "$s1 - $s0" | bc -l)
  ok=$(grep "Successful call" "$work/screen.txt" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  bad=$(grep "Failed call" "$work/screen.txt" | tail -1 | awk -F'|' '{gsub(/ /,"",$3); print $3}')
  echo "$3 $total ${bad:-na} $(echo "${ok:-0} / $wall" | bc -l | xargs printf "%.0f")" \
    "$(echo "($t1 - $t0) / $hz / $wall * 100" | bc -l | xargs printf "%.0f")" \
    "$(echo "($t1 - $t0) / $hz / $total * 1000" | bc -l | xargs printf "%.3f")" \
    "$(tail -1 "$work/time.txt" | awk -v w="$wall" '{printf "%.0f", ($1 + $2) / w * 100}')"
}
