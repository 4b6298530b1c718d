# Sourced by the BC benchmarks: starts two `tandem peer` processes as a BC pair on loopback
# (ss1 SIP 5270 / CTI 7270, ss2 SIP 5272 / CTI 7272) with agent A1500 logged in at ss1.
# Needs $work (a temp dir) and the array pids (stopped by PID on exit); sets $ss1 and $ss2.
site() { # name port peer_port trunk cti
  printf '[[site]]\nname = "%s"\nsip_udp = "127.0.0.1:%s"\ncti = "127.0.0.1:%s"\ncti_tokens = ["t"]\ndns = ["1000-1999"]\n[site.options]\ndr-peer-trunk = "%s"\ndr-forward = "no-agent"\n[[site.dn]]\nnumber = "%s"\ntype = "trunk"\ncontact = "127.0.0.1:%s"\noos-check = 5\noos-force = 2\n[[site.agent]]\nid = "A1500"\ndn = "1500"\n' "$1" "$2" "$5" "$4" "$4" "$3"
}
site ss1 5270 5272 TO_SS2 7270 > "$work/ss1.toml"
site ss2 5272 5270 TO_SS1 7272 > "$work/ss2.toml"
./target/release/tandem peer --config "$work/ss1.toml" --site ss1 > /dev/null 2>&1 & ss1=$!; pids+=("$ss1")
./target/release/tandem peer --config "$work/ss2.toml" --site ss2 > /dev/null 2>&1 & ss2=$!; pids+=("$ss2")
sleep 1
./target/release/tandem cti --url ws://127.0.0.1:7270/cti --token t --wait 0.5 "RequestRegisterAddress ThisDN=1500" "RequestAgentLogin ThisDN=1500 AgentID=A1500" > /dev/null
sleep 1
