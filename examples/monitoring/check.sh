#!/usr/bin/env bash
# CI's check of the monitoring examples: runs the built `tandem up` (both sites of the
# embedded example) in a scratch directory, and checks a live site's /metrics with
# `promtool check metrics` (Prometheus conventions), the alert rules with `promtool check
# rules`, and that every series the rules and the Grafana dashboard name is served
# (tools/check_monitoring.py). Stops the sites by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target="$(pwd)/$target" ;; esac
bin="$target/release/tandem"
[ -x "$bin" ] || cargo build --release --locked -p tandem --bin tandem
work=$(mktemp -d)
(cd "$work" && exec "$bin" up >"$work/up.log" 2>&1) &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -sf 127.0.0.1:9060/readyz >/dev/null && break; sleep 0.1; done
curl -sf 127.0.0.1:9060/metrics >"$work/metrics.txt"
promtool check metrics <"$work/metrics.txt"
promtool check rules examples/monitoring/prometheus-alerts.yml
python3 -m json.tool examples/monitoring/grafana-dashboard.json >/dev/null
python3 tools/check_monitoring.py <"$work/metrics.txt"
