#!/usr/bin/env bash
# Builds the Debian package of the `tandem` binary: its systemd unit (tandem@.service,
# state under StateDirectory=/var/lib/tandem), the example deployments, the fail2ban filter
# and the docs. Prints the .deb's path (under the cargo target directory, debian/).
#   packaging/deb/build.sh            # release build, then the package
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
cargo build --release --locked -p tandem --bin tandem >&2
root=$(mktemp -d)
chmod 0755 "$root"
trap 'rm -rf "$root"' EXIT
install -D -m 0755 "$target/release/tandem" "$root/usr/bin/tandem"
install -D -m 0644 packaging/deb/tandem@.service "$root/lib/systemd/system/tandem@.service"
doc="$root/usr/share/doc/tandem"
install -D -m 0644 README.md "$doc/README.md"
install -D -m 0644 LICENSE "$doc/copyright"
for f in examples/two-sites.toml examples/four-sites.toml; do install -D -m 0644 "$f" "$doc/examples/$(basename "$f")"; done
cp -r examples/fail2ban "$doc/examples/fail2ban"
cp -r docs "$doc/docs"
size=$(du -sk "$root" | cut -f1)
mkdir -p "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<CONTROL
Package: tandem
Version: $version
Architecture: $arch
Maintainer: Tandem developers <tandem@localhost>
Installed-Size: $size
Depends: libc6 (>= 2.34), libgcc-s1
Recommends: rtpengine-daemon
Suggests: janus, fail2ban
Section: net
Priority: optional
Description: geo-redundant SIP call-control server for contact centers
 Two sites that act as one contact center: a SIP registrar, a signalling B2BUA and a
 CTI server per site, Business Continuity forwarding between the sites, routing and
 statistics across both, a Network SIP Server, call control, and media through
 rtpengine (queue and hold music, recording) and Janus (conferences).
CONTROL
mkdir -p "$target/debian"
out="$target/debian/tandem_${version}_${arch}.deb"
dpkg-deb --build --root-owner-group "$root" "$out" >&2
echo "$out"
