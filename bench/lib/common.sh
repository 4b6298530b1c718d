# Sourced first by every benchmark script (never run): the shared harness.
#
# - One place for addresses: every benchmark listens on $BENCH_HOST (loopback by
#   default) at ports of its own, and builds addresses with `at PORT`.
# - A work folder ($work) and the PIDs of every process started (pids+=("$!")), stopped
#   by PID and the folder removed on exit, whatever happens.
# - Readiness by asking, not by sleeping: `wait_ready PORT` polls a site's `/readyz`
#   (its `http` listener), `wait_udp PORT` waits until a UDP port is bound (a sipp phone),
#   `wait_tcp PORT` a TCP listener; each gives up after 10 s with a message.
# - `ticks PID`: the CPU ticks a process used so far ($hz a second).
# - $TANDEM: the binary measured (built here unless given).
#
# Usage, at the top of a script:
#   set -euo pipefail
#   cd "$(dirname "$0")/.."
#   . bench/lib/common.sh
set -euo pipefail
BENCH_HOST=${BENCH_HOST:-127.0.0.1}
hz=$(getconf CLK_TCK)
work=$(mktemp -d)
pids=()
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap bench_cleanup EXIT
if [ -z "${TANDEM:-}" ]; then cargo build --release --bin tandem -q; TANDEM=./target/release/tandem; fi

at() { echo "$BENCH_HOST:$1"; }

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# wait_until WHAT COMMAND...: runs COMMAND every 50 ms until it succeeds (10 s at most).
wait_until() { local what=$1 i; shift
  for i in $(seq 1 200); do "$@" > /dev/null 2>&1 && return 0; sleep 0.05; done
  echo "bench: $what not ready after 10 s" >&2; return 1; }

# A site (or NSS) answers /readyz on its http port once its engine runs.
wait_ready() { wait_until "the site with http $(at "$1")" curl -sf "http://$(at "$1")/readyz"; }

# A UDP port is bound (sipp and loadgen give no other sign of life).
wait_udp() { wait_until "UDP port $1" sh -c "ss -Hlun 'sport = :$1' | grep -q ."; }

# A TCP port listens.
wait_tcp() { wait_until "TCP port $1" sh -c "ss -Hltn 'sport = :$1' | grep -q ."; }
