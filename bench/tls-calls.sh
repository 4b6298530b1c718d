#!/usr/bin/env bash
# Full calls over TLS beside UDP through the real binary (issue 10): one site with
# `sip_udp` and `sip_tls` (a CA and a certificate made with openssl), 1,000 DNs
# registered by bench/loadgen, which then places full calls (INVITE, 200, ACK, BYE, 200)
# at RATE calls/s for DURATION_S, first over UDP then over one TLS connection (the gateway's
# calls and the phone's answers on it), alternating ROUNDS times.
# Prints per round and transport: offered, completed, goodput (calls/s), INVITE->200 p50/p99
# (ms), tandem CPU microseconds per completed call (from /proc), loadgen CPU %.
# Usage: bench/tls-calls.sh [DURATION_S] [RATE] [ROUNDS]   (defaults 10 2000 2)
# Every process it starts is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
dur="${1:-10}"; rate="${2:-2000}"; rounds="${3:-2}"
. bench/lib/common.sh
cargo build --release -p loadgen -q
# A CA (what loadgen trusts) and the site's certificate for $BENCH_HOST.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=bench-ca \
  -keyout "$work/ca.key" -out "$work/ca.pem" 2> /dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=site -keyout "$work/key.pem" \
  -out "$work/site.csr" 2> /dev/null
printf 'subjectAltName=IP:%s\n' "$BENCH_HOST" > "$work/san.ext"
openssl x509 -req -in "$work/site.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -days 1 -extfile "$work/san.ext" \
  -out "$work/cert.pem" 2> /dev/null
printf '[[site]]\nname = "b"\nsip_udp = "%s"\nsip_tls = "%s"\nhttp = "%s"\ndns = ["1000-1999"]\n[site.limits]\ntcp_per_address = 100\n[site.tls]\ncert = "%s"\nkey = "%s"\n' \
  "$(at 5470)" "$(at 5471)" "$(at 9470)" "$work/cert.pem" "$work/key.pem" > "$work/site.toml"
"$TANDEM" peer --config "$work/site.toml" --site b > /dev/null 2> "$work/site.log" & site=$!; pids+=("$site")
wait_ready 9470
echo "round transport offered completed goodput p50_ms p99_ms tandem_cpu_us_per_call loadgen_cpu_pct"
for r in $(seq 1 "$rounds"); do
  for transport in udp tls; do
    if [ "$transport" = udp ]; then args=(--target "$(at 5470)"); else args=(--target "$(at 5471)" --tls-ca "$work/ca.pem"); fi
    t0=$(ticks "$site")
    timeout $((dur + 60)) ./target/release/loadgen "${args[@]}" --rate "$rate" --seconds "$dur" --drain 3 > "$work/lg.txt"
    t1=$(ticks "$site")
    lg() { tr ' ' '\n' < "$work/lg.txt" | awk -F= -v k="$1" '$1 == k {print $2}'; }
    ok=$(lg completed)
    [ "${ok:-0}" -gt 0 ] || { echo "no call completed over $transport:"; cat "$work/lg.txt" "$work/site.log"; exit 1; }
    awk -v r="$r" -v t="$transport" -v o="$(lg offered)" -v ok="$ok" -v g="$(lg goodput)" -v p50="$(lg setup_p50_ms)" \
        -v p99="$(lg setup_p99_ms)" -v ticks=$((t1 - t0)) -v hz="$hz" -v lc="$(lg loadgen_cpu_s)" -v d="$dur" \
      'BEGIN { printf "%s %s %s %s %s %s %s %.1f %.0f\n", r, t, o, ok, g, p50, p99, ticks / hz * 1e6 / ok, lc / d * 100 }'
  done
done
