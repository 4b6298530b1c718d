# Sourced after bench/bc-pair.sh: starts a Network SIP Server (`tandem nss`, SIP 5290) in
# front of ss1 and ss2, with CTI links to both (its figures). Sets $nss.
cat "$work/ss1.toml" "$work/ss2.toml" > "$work/all.toml"
printf '[[nss]]\nname = "nss"\nsip_udp = "127.0.0.1:5290"\nhttp = "127.0.0.1:9290"\noos_check = 2\noos_force = 1\n' >> "$work/all.toml"
./target/release/tandem nss --config "$work/all.toml" --name nss > /dev/null 2>&1 & nss=$!; pids+=("$nss")
sleep 1.5
