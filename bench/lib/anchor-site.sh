# Sourced after common.sh by the scripts that drive Tandem with the Kamailio anchor's
# harness (vs-kamailio.sh, tail-latency.sh): the one-site configuration the anchor's
# scenarios expect (SIP on port 5060, agent DNs 1000-1999, no auth, no store), with an
# `http` listener so that readiness is asked of `/readyz`.
#   start_anchor_site: starts it ($tandem is its PID) and waits until it is ready.
#   stop_anchor_site: stops it by PID.
anchor_http=5098
printf '[[site]]\nname = "bench"\nsip_udp = "%s"\nhttp = "%s"\ndns = ["1000-1999"]\n' \
  "$(at 5060)" "$(at $anchor_http)" > "$work/anchor-site.toml"
tandem=""
start_anchor_site() {
  "$TANDEM" peer --config "$work/anchor-site.toml" --site bench > "$work/anchor-site.log" 2>&1 &
  tandem=$!; pids+=("$tandem")
  wait_ready $anchor_http
}
stop_anchor_site() {
  kill "$tandem"; wait "$tandem" 2>/dev/null || true; tandem=""
}
