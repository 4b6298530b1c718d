# Sourced after bench/lib/common.sh by the BC benchmarks: starts two `tandem peer`
# processes as a BC pair (ss1 SIP 5270 / CTI 7270 / http 9270, ss2 SIP 5272 / CTI 7272 /
# http 9272) with agent A1500 logged in at ss1. Sets $ss1 and $ss2 (their PIDs).
site() { # name port peer_port trunk cti http
  printf '[[site]]\nname = "%s"\nsip_udp = "%s"\ncti = "%s"\nhttp = "%s"\ncti_tokens = ["t"]\ndns = ["1000-1999"]\n[site.options]\ndr-peer-trunk = "%s"\ndr-forward = "no-agent"\n[[site.dn]]\nnumber = "%s"\ntype = "trunk"\ncontact = "%s"\noos-check = 5\noos-force = 2\n[[site.agent]]\nid = "A1500"\ndn = "1500"\n' \
    "$1" "$(at "$2")" "$(at "$5")" "$(at "$6")" "$4" "$4" "$(at "$3")"
}
site ss1 5270 5272 TO_SS2 7270 9270 > "$work/ss1.toml"
site ss2 5272 5270 TO_SS1 7272 9272 > "$work/ss2.toml"
"$TANDEM" peer --config "$work/ss1.toml" --site ss1 > /dev/null 2>&1 & ss1=$!; pids+=("$ss1")
"$TANDEM" peer --config "$work/ss2.toml" --site ss2 > /dev/null 2>&1 & ss2=$!; pids+=("$ss2")
wait_ready 9270; wait_ready 9272
"$TANDEM" cti --url "ws://$(at 7270)/cti" --token t --wait 0.5 "RequestRegisterAddress ThisDN=1500" "RequestAgentLogin ThisDN=1500 AgentID=A1500" > /dev/null
