#!/usr/bin/env bash
# CI's check of the Debian package: builds it, installs it with dpkg -i, checks the
# shipped example with the installed binary, runs `tandem up` (both sites of the
# embedded example) from it until both sites answer /readyz, stops it by PID, and removes
# the package again.
set -euo pipefail
cd "$(dirname "$0")/../.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
deb=$(packaging/deb/build.sh)
$SUDO dpkg -i "$deb" >/dev/null
trap '$SUDO dpkg -r tandem >/dev/null' EXIT
test -f /lib/systemd/system/tandem@.service
/usr/bin/tandem check --config /usr/share/doc/tandem/examples/two-sites.toml
work=$(mktemp -d)
(cd "$work" && exec /usr/bin/tandem up >"$work/up.log" 2>&1) &
pid=$!
ready=""
for _ in $(seq 1 100); do
  if curl -sf 127.0.0.1:9060/readyz >/dev/null && curl -sf 127.0.0.1:9062/readyz >/dev/null; then ready=1; break; fi
  sleep 0.1
done
kill "$pid"; wait "$pid" 2>/dev/null || true
if [ -z "$ready" ]; then echo "the installed tandem up did not answer /readyz:"; tail -20 "$work/up.log"; exit 1; fi
rm -rf "$work"
echo "debian package: $(basename "$deb") installed, checked, ran (both sites ready)"
