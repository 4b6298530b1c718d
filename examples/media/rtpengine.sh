#!/usr/bin/env bash
# Two rtpengine media partners in user space (no kernel module) on loopback, one per
# site of `tandem up --media`: site1's at 127.0.0.1:22222, site2's at 127.0.0.1:22223
# (ng protocol), media ports 30000-30999 and 31000-31999. Runs in the foreground; Ctrl-C
# stops both (by their PIDs). Needs Debian's rtpengine-daemon.
set -euo pipefail
command -v rtpengine >/dev/null || { echo "rtpengine is not installed: apt-get install rtpengine-daemon" >&2; exit 1; }
mkdir -p tandem-data
pids=()
start() {  # ng port, first media port, log file
  rtpengine --config-file=none --interface=127.0.0.1 --listen-ng="127.0.0.1:$1" --foreground \
    --table=-1 --log-stderr --port-min="$2" --port-max=$(($2 + 999)) 2>"$3" &
  pids+=($!)
  echo "rtpengine for ng 127.0.0.1:$1 (pid $!, log $3)"
}
start 22222 30000 tandem-data/rtpengine-site1.log
start 22223 31000 tandem-data/rtpengine-site2.log
trap 'kill "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT
wait
