# Sourced after bench/lib/bc-pair.sh: starts a Network SIP Server (`tandem nss`, SIP 5290,
# http 9290) in front of ss1 and ss2, with CTI links to both (its figures). Sets $nss.
cat "$work/ss1.toml" "$work/ss2.toml" > "$work/all.toml"
printf '[[nss]]\nname = "nss"\nsip_udp = "%s"\nhttp = "%s"\noos_check = 2\noos_force = 1\n' "$(at 5290)" "$(at 9290)" >> "$work/all.toml"
"$TANDEM" nss --config "$work/all.toml" --name nss > /dev/null 2>&1 & nss=$!; pids+=("$nss")
wait_ready 9290
# Its figures come over its CTI links to both sites.
sleep 1   # no readiness signal for the figures: one exchange of the CTI links
