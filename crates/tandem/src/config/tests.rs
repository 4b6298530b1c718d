//! Configuration loading: the example, and errors that name the field and line.

use super::*;

#[test]
fn the_shipped_example_loads() {
    let sites = load(include_str!("../../../../examples/two-sites.toml"), "two-sites.toml").expect("valid");
    assert_eq!(sites.len(), 2);
    assert!(sites.iter().all(|s| s.node.dns.contains("1000") && s.node.dns.contains("1999")));
    assert_eq!(sites[0].node.dns.kind("5000"), Some(DnKind::RoutingPoint));
    assert_eq!(sites[0].node.dns.trunk_for("912025550147", |_| true).map(|t| t.0), Some("gw1"));
    assert_eq!(sites[0].node.agents.get("A1001").and_then(|a| a.default_dn.as_deref()), Some("1001"));
    assert_eq!(sites[0].node.options.default_dn.as_deref(), Some("1999"));
    assert_eq!(sites[0].node.dns.get("5000").and_then(|d| d.options.router_timeout), Some(Duration::from_secs(5)));
}

const BASE: &str = "[[site]]\nname = \"a\"\nsip_udp = \"127.0.0.1:5060\"\ndns = [\"1000-1999\"]\n";

#[test]
fn dn_model_errors_name_field_and_line() {
    let e = error_of(&format!("{BASE}[[site.dn]]\nnumber = \"5000\"\ntype = \"queue\"\n"));
    assert!(e.starts_with("t.toml:7:") && e.contains("not one of"), "{e}");
    let e = error_of(&format!("{BASE}[[site.dn]]\nnumber = \"gw\"\ntype = \"trunk\"\n"));
    assert!(e.starts_with("t.toml:6:") && e.contains("needs a `contact`"), "{e}");
    let e = error_of(&format!("{BASE}[[site.dn]]\nnumber = \"1500\"\ntype = \"routing-point\"\n"));
    assert!(e.starts_with("t.toml:6:") && e.contains("provisioned twice"), "{e}");
    let e = error_of(&format!("{BASE}[[site.agent]]\nid = \"A1\"\ndn = \"7000\"\n"));
    assert!(e.starts_with("t.toml:7:") && e.contains("not a provisioned Extension"), "{e}");
    let e = error_of(&format!("{BASE}[site.options]\ndefault-dn = \"8888\"\n"));
    assert!(e.starts_with("t.toml:6:") && e.contains("default-dn"), "{e}");
    let e = error_of(&format!("{BASE}[site.options]\nrouter-timeot = 3\n"));
    assert!(e.starts_with("t.toml:6:") && e.contains("router-timeot"), "{e}");
    let e = error_of(&format!(
        "{BASE}[[site.dn]]\nnumber = \"5000\"\ntype = \"routing-point\"\noptions = {{ default-dn = \"4444\" }}\n"
    ));
    assert!(e.starts_with("t.toml:8:") && e.contains("4444"), "{e}");
}

#[test]
fn routing_errors_name_what_is_wrong() {
    let site = "[[site]]\nname = \"a\"\nsip_udp = \"127.0.0.1:5060\"\ncti = \"127.0.0.1:7060\"\ncti_tokens = [\"t\"]\ndns = [\"1000-1999\"]\n[[site.dn]]\nnumber = \"5000\"\ntype = \"routing-point\"\n[[site.agent]]\nid = \"A1\"\ndn = \"1001\"\n";
    let e = error_of(&format!("{site}[routing]\n[[routing.point]]\ndn = \"5009\"\n"));
    assert!(e.contains("point `5009` is no Routing Point"), "{e}");
    let e = error_of(&format!("{site}[routing]\n[[routing.agent]]\nid = \"A9\"\n"));
    assert!(e.contains("agent `A9` is no agent login"), "{e}");
    let e = error_of(&format!("{site}[routing]\n[[routing.point]]\ndn = \"5000\"\ntarget = \"sales >= lots\"\n"));
    assert!(e.contains("`lots` is not a skill level"), "{e}");
    let e = error_of(&format!("{site}[routing]\n[[routing.point]]\ndn = \"5000\"\nstrategy = \"fastest\"\n"));
    assert!(e.starts_with("t.toml:16:") && e.contains("fastest"), "{e}");
    let d =
        load_deployment(&format!("{site}[routing]\n[[routing.point]]\ndn = \"5000\"\ntarget = \"sales\"\n"), "t.toml")
            .expect("valid");
    assert_eq!(d.routing.map(|r| r.points.len()), Some(1));
}

fn error_of(text: &str) -> String {
    load(text, "t.toml").expect_err("invalid").to_string()
}

#[test]
fn unknown_field_is_named_with_its_line() {
    let e = error_of("[[site]]\nname = \"a\"\nsip_udp = \"127.0.0.1:5060\"\ndns = [\"1000\"]\nbogus = 1\n");
    assert!(e.starts_with("t.toml:5:"), "{e}");
    assert!(e.contains("bogus"), "{e}");
}

#[test]
fn bad_values_are_named_with_their_line() {
    let e = error_of("[[site]]\nname = \"a\"\nsip_udp = \"127.0.0.1:99999\"\ndns = [\"1000\"]\n");
    assert!(e.starts_with("t.toml:3:"), "{e}");
    let e = error_of("[[site]]\nname = \"a\"\nsip_udp = \"127.0.0.1:5060\"\ndns = [\"1999-1000\"]\n");
    assert!(e.starts_with("t.toml:4:") && e.contains("ends before it starts"), "{e}");
    let e = error_of("[[site]]\nname = \"a\"\nsip_udp = \"127.0.0.1:5060\"\ndns = [\"1\"]\n[[site]]\nname = \"a\"\nsip_udp = \"127.0.0.1:5062\"\ndns = [\"1\"]\n");
    assert!(e.starts_with("t.toml:6:") && e.contains("defined twice"), "{e}");
    let e = error_of("[[site]]\nname = \"a\"\nsip_udp = \"127.0.0.1:5060\"\ndns = [\"1\"]\n[[site]]\nname = \"b\"\nsip_udp = \"127.0.0.1:5060\"\ndns = [\"1\"]\n");
    assert!(e.starts_with("t.toml:7:") && e.contains("already used"), "{e}");
}

#[test]
fn store_settings_are_checked_and_errors_name_the_line() {
    let sites = load(&format!("{BASE}[site.store]\npath = \"data/a.db\"\nkeep_days = 0\n"), "t.toml").expect("valid");
    let store = sites[0].store.clone().expect("a store");
    assert_eq!(store.target, crate::store::Target::Sqlite("data/a.db".into()));
    assert!(store.cdr && store.state && store.keep.is_none() && store.queue == 65_536);
    let sites =
        load(&format!("{BASE}[site.store]\npostgres = \"host=db dbname=t\"\ncdr = false\n"), "t.toml").expect("valid");
    let store = sites[0].store.clone().expect("a store");
    assert_eq!(store.target, crate::store::Target::Postgres("host=db dbname=t".into()));
    assert!(!store.cdr);
    let e = error_of(&format!("{BASE}[site.store]\npath = \"a.db\"\npostgres = \"host=db\"\n"));
    assert!(e.starts_with("t.toml:7:") && e.contains("not both"), "{e}");
    let e = error_of(&format!("{BASE}[site.store]\nqueue = 10\n"));
    assert!(e.contains("`store`: set `path`"), "{e}");
    let e = error_of(&format!("{BASE}[site.store]\npath = \"a.db\"\nqueue = 0\n"));
    assert!(e.starts_with("t.toml:6:") && e.contains("store.queue"), "{e}");
    let e = error_of(&format!("{BASE}[site.store]\npath = \"a.db\"\nkeep = 3\n"));
    assert!(e.starts_with("t.toml:7:") && e.contains("unknown field"), "{e}");
}

#[test]
fn auth_and_trunk_access_settings_are_checked_and_errors_name_the_line() {
    let auth = "[site.auth]\nrealm = \"r\"\nnonce_secret = \"0123456789abcdef\"\n";
    let e = error_of(&format!("{BASE}{auth}[[site.auth.user]]\ndn = \"1001\"\nmd5 = \"abc\"\n"));
    assert!(e.starts_with("t.toml:10:") && e.contains("auth.user.md5") && e.contains("tandem passwd"), "{e}");
    let e = error_of(&format!("{BASE}{auth}[[site.auth.user]]\ndn = \"7777\"\nmd5 = \"{}\"\n", "a".repeat(32)));
    assert!(e.starts_with("t.toml:9:") && e.contains("not a provisioned"), "{e}");
    let e = error_of(&format!("{BASE}[site.auth]\nrealm = \"r\"\nnonce_secret = \"short\"\n"));
    assert!(e.starts_with("t.toml:7:") && e.contains("at least 16"), "{e}");
    let e = error_of(&format!("{BASE}{auth}algorithms = [\"SHA-512\"]\n"));
    assert!(e.starts_with("t.toml:8:") && e.contains("SHA-512"), "{e}");
    let e = error_of(&format!(
        "{BASE}{auth}algorithms = [\"SHA-256\"]\n[[site.auth.user]]\ndn = \"1001\"\nmd5 = \"{}\"\n",
        "a".repeat(32)
    ));
    assert!(e.starts_with("t.toml:10:") && e.contains("no hash for any algorithm"), "{e}");
    let trunk = "[[site.dn]]\nnumber = \"gw\"\ntype = \"trunk\"\ncontact = \"127.0.0.1:5080\"\n";
    let e = error_of(&format!("{BASE}{trunk}allow = [\"10.0.0.0/33\"]\n"));
    assert!(e.starts_with("t.toml:9:") && e.contains("`allow`"), "{e}");
    let e =
        error_of(&format!("{BASE}[[site.dn]]\nnumber = \"5000\"\ntype = \"routing-point\"\ncallers = [\"1000\"]\n"));
    assert!(e.starts_with("t.toml:6:") && e.contains("only trunks"), "{e}");
    let sites = load(
        &format!(
            "{BASE}{auth}[[site.auth.user]]\ndn = \"1001\"\nmd5 = \"{}\"\n{trunk}allow = [\"10.0.0.0/24\", \"192.0.2.7\"]\ncallers = [\"1000-1099\", \"1500\"]\n",
            "A".repeat(32)
        ),
        "t.toml",
    )
    .expect("valid");
    let node = &sites[0].node;
    let auth = node.auth.as_ref().expect("auth on");
    assert_eq!(auth.users["1001"].md5.as_deref(), Some("a".repeat(32).as_str()), "hex is lower-cased");
    assert_eq!(auth.md5_per_mille, 1000, "the one DN uses MD5 alone");
    assert_eq!(node.dns.trunk_at("10.0.0.9:5060".parse().expect("addr")), Some("gw"));
    assert_eq!(node.dns.trunk_at("192.0.2.7:1".parse().expect("addr")), Some("gw"));
    assert_eq!(node.dns.trunk_at("192.0.2.8:5080".parse().expect("addr")), None);
    // Issue 21, finding 9: `allow` with a port and a transport.
    let sites = load(
        &format!("{BASE}{trunk}allow = [\"192.0.2.7:5060\", \"10.0.0.0/24 tls\", \"[2001:db8::7]:5070 udp\"]\n"),
        "t.toml",
    )
    .expect("valid");
    let plan = &sites[0].node.dns;
    let peer =
        |addr: &str, transport| engine::Peer { transport, addr: addr.parse().expect("addr"), conn: None, certified: 0 };
    assert_eq!(plan.trunk_from(&peer("192.0.2.7:5060", engine::Transport::Udp)), Some("gw"));
    assert_eq!(plan.trunk_from(&peer("192.0.2.7:5061", engine::Transport::Udp)), None, "another port");
    assert_eq!(plan.trunk_from(&peer("10.0.0.9:40000", engine::Transport::Tls)), Some("gw"));
    assert_eq!(plan.trunk_from(&peer("10.0.0.9:5060", engine::Transport::Udp)), None, "a spoofable datagram");
    assert_eq!(plan.trunk_from(&peer("[2001:db8::7]:5070", engine::Transport::Udp)), Some("gw"));
    let e = error_of(&format!("{BASE}{trunk}allow = [\"10.0.0.0/24 sctp\"]\n"));
    assert!(e.contains("`allow`") && e.contains("udp, tcp or tls"), "{e}");
    let gw = node.dns.get("gw").and_then(|d| d.trunk.as_ref()).expect("trunk");
    assert!(gw.admits_caller("1050") && gw.admits_caller("1500") && !gw.admits_caller("1200"));
}

/// Issue 21, finding 9: trunks known by their TLS client certificate (`cert=` in `allow`).
#[test]
fn allow_rules_may_name_a_client_certificate_which_needs_client_ca() {
    let trunk = "[[site.dn]]\nnumber = \"gw\"\ntype = \"trunk\"\ncontact = \"127.0.0.1:5080\"\n";
    let rules = "allow = [\"10.0.0.0/24 tls cert=GW1.example\", \"10.0.1.0/24 tls cert=gw2.example\", \"10.0.2.0/24 tls cert=gw1.example\"]\n";
    let e = error_of(&format!("{BASE}{trunk}{rules}"));
    assert!(e.starts_with("t.toml:9:") && e.contains("client_ca"), "{e}");
    let tls = "sip_tls = \"127.0.0.1:5061\"\n[site.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nclient_ca = \"ca.pem\"\n";
    let e = error_of(&format!("{BASE}{tls}{trunk}allow = [\"10.0.0.0/24 udp cert=gw1.example\"]\n"));
    assert!(e.contains("after tls"), "a certificate needs TLS: {e}");
    let e = error_of(&format!("{BASE}{}", tls.replace("sip_tls = \"127.0.0.1:5061\"\n", "")));
    assert!(e.contains("`tls.client_ca` is for `sip_tls`"), "{e}");
    let sites = load(&format!("{BASE}{tls}{trunk}{rules}"), "t.toml").expect("valid");
    let plan = &sites[0].node.dns;
    assert_eq!(plan.cert_names, ["gw1.example", "gw2.example"], "each name once, lower-cased");
    let tls_peer = |addr: &str, certified| engine::Peer {
        certified,
        ..engine::Peer::tls(addr.parse().expect("addr"), engine::ConnId(1))
    };
    assert_eq!(plan.trunk_from(&tls_peer("10.0.0.9:4000", 0b01)), Some("gw"));
    assert_eq!(plan.trunk_from(&tls_peer("10.0.0.9:4000", 0b10)), None, "gw2's certificate on gw1's network");
    assert_eq!(plan.trunk_from(&tls_peer("10.0.0.9:4000", 0)), None, "no certificate");
    assert_eq!(plan.trunk_from(&tls_peer("10.0.2.9:4000", 0b01)), Some("gw"));
}

#[test]
fn cti_tokens_have_roles_and_the_demo_token_stays_on_loopback() {
    let open = "[[site]]\nname = \"a\"\nsip_udp = \"127.0.0.1:5060\"\ncti = \"0.0.0.0:7060\"\ncti_tokens = [\"demo-token\"]\ndns = [\"1000-1999\"]\n";
    let e = error_of(open);
    assert!(e.starts_with("t.toml:4:") && e.contains("demo-token") && e.contains("loopback"), "{e}");
    let cti = "[[site]]\nname = \"a\"\nsip_udp = \"127.0.0.1:5060\"\ncti = \"127.0.0.1:7060\"\ndns = [\"1000-1999\"]\n";
    let e = error_of(&format!("{cti}[[site.cti_token]]\ntoken = \"desk-secret\"\nrole = \"desktop\"\n"));
    assert!(e.starts_with("t.toml:8:") && e.contains("needs its `dns`"), "{e}");
    let e = error_of(&format!("{cti}[[site.cti_token]]\ntoken = \"desk-secret\"\nrole = \"root\"\n"));
    assert!(e.starts_with("t.toml:8:") && e.contains("`root`"), "{e}");
    let e = error_of(cti);
    assert!(e.starts_with("t.toml:4:") && e.contains("at least one"), "{e}");
    let sites = load(
        &format!(
            "{cti}[[site.cti_token]]\ntoken = \"desk-secret\"\nrole = \"desktop\"\ndns = [\"1001\", \"1500-1599\"]\n"
        ),
        "t.toml",
    )
    .expect("valid");
    let grant = &sites[0].cti_grants[0];
    let crate::cti_access::Role::Desktop(dns) = &grant.role else { panic!("a desktop: {grant:?}") };
    assert!(dns.iter().any(|r| r.contains("1001")) && dns.iter().any(|r| r.contains("1550")));
}

#[test]
fn tls_listeners_need_their_certificate_files() {
    let e = error_of(&format!("{BASE}sip_tls = \"127.0.0.1:5061\"\n"));
    assert!(e.starts_with("t.toml:5:") && e.contains("[site.tls]"), "{e}");
    let e = error_of("[[site]]\nname = \"a\"\nsip_udp = \"127.0.0.1:5060\"\ncti = \"127.0.0.1:7060\"\ncti_tokens = [\"t\"]\ncti_tls = true\ndns = [\"1000-1999\"]\n");
    assert!(e.starts_with("t.toml:6:") && e.contains("`cti_tls`"), "{e}");
    let sites =
        load(&format!("{BASE}sip_tls = \"127.0.0.1:5061\"\n[site.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n"), "t.toml")
            .expect("valid");
    assert_eq!(
        sites[0].sip_tls.as_ref().map(|(a, f)| (a.port(), f.cert.display().to_string())),
        Some((5061, "c.pem".into()))
    );
}

#[test]
fn the_peer_link_over_tls_needs_a_dr_peer_and_defaults_its_peer_name() {
    let link = "[site.peer_link]\nlisten = \"127.0.0.1:5090\"\npeer = \"127.0.0.2:5090\"\ncert = \"c.pem\"\nkey = \"k.pem\"\nca = \"ca.pem\"\n";
    let e = error_of(&format!("{BASE}{link}"));
    assert!(e.starts_with("t.toml:6:") && e.contains("`peer_link` needs `options.dr-peer-trunk`"), "{e}");
    let pair = "[site.options]\ndr-peer-trunk = \"PEER\"\n[[site.dn]]\nnumber = \"PEER\"\ntype = \"trunk\"\ncontact = \"127.0.0.2:5060\"\n";
    let sites = load(&format!("{BASE}{pair}{link}"), "t.toml").expect("valid");
    let config = sites[0].peer_link.as_ref().expect("peer link");
    assert_eq!((config.peer_name.as_str(), config.peer.port()), ("127.0.0.2", 5090));
    let e = error_of(&format!("{BASE}{pair}{link}peer_name = \"\"\n"));
    assert!(e.contains("`peer_link.peer_name` must not be empty"), "{e}");
    let e = error_of(&format!("{BASE}{pair}{}", link.replace("ca = \"ca.pem\"\n", "")));
    assert!(e.contains("missing field `ca`"), "{e}");
}

#[test]
fn agent_password_hashes_are_checked_and_can_be_required() {
    let e = error_of(&format!("{BASE}[[site.agent]]\nid = \"A1\"\npassword_hash = \"plain\"\n"));
    assert!(e.starts_with("t.toml:7:") && e.contains("PHC"), "{e}");
    let e = error_of(&format!("{BASE}agent_passwords = \"required\"\n[[site.agent]]\nid = \"A1\"\npassword = \"x\"\n"));
    assert!(e.starts_with("t.toml:7:") && e.contains("required"), "{e}");
    let e = error_of(&format!("{BASE}agent_passwords = \"sometimes\"\n"));
    assert!(e.starts_with("t.toml:5:") && e.contains("sometimes"), "{e}");
    let hash = crate::cti_access::hash_password("pw").expect("hash");
    let sites = load(
        &format!("{BASE}agent_passwords = \"required\"\n[[site.agent]]\nid = \"A1\"\npassword_hash = \"{hash}\"\n"),
        "t.toml",
    )
    .expect("valid");
    assert_eq!(sites[0].agent_hashes.get("A1"), Some(&hash));
    assert_eq!(sites[0].node.agents["A1"].password, None, "the engine never sees it");
}

#[test]
fn the_four_site_example_has_two_groups_two_nss_and_trunks_that_know_their_sites() {
    let d = load_deployment(include_str!("../../../../examples/four-sites.toml"), "four-sites.toml").expect("valid");
    assert_eq!(d.sites.len(), 4);
    assert_eq!(d.nss.len(), 2);
    let (east, home) = d.peer_group(1);
    assert_eq!((east.site_names(), home), (vec!["site1".to_owned(), "site2".to_owned()], 1));
    let (west, home) = d.peer_group(2);
    assert_eq!((west.site_names(), home), (vec!["site3".to_owned(), "site4".to_owned()], 0));
    let peer_trunk = d.sites[0].node.dns.get("TO_SS2").and_then(|t| t.trunk.as_ref()).expect("trunk");
    assert_eq!(peer_trunk.site.as_deref(), Some("site2"), "its contact is site2's sip_udp");
    let nss = d.nss[0].node.nss.as_ref().expect("an NSS");
    assert_eq!(nss.sites.iter().map(|s| s.group.as_str()).collect::<Vec<_>>(), ["east", "east", "west", "west"]);
    assert_eq!(nss.default_sites, ["site1", "site3"]);
    assert_eq!(d.nss[0].node.dns.kind("site4"), Some(DnKind::Trunk), "each site is a polled trunk of the NSS");
    assert_eq!(d.nss[0].node.dns.kind("5000"), Some(DnKind::RoutingPoint));
}

#[test]
fn nss_errors_name_field_and_line() {
    let nss = "[[nss]]\nname = \"n\"\nsip_udp = \"127.0.0.1:5090\"\n";
    let e = error_of(&format!("{BASE}{nss}policy = \"busiest\"\n"));
    assert!(e.starts_with("t.toml:8:") && e.contains("most-ready"), "{e}");
    let e = error_of(&format!("{BASE}{nss}sites = [\"a\", \"zz\"]\n"));
    assert!(e.starts_with("t.toml:8:") && e.contains("no [[site]] is called `zz`"), "{e}");
    let e = error_of(&format!("{BASE}{nss}default_sites = [\"b\"]\n"));
    assert!(e.starts_with("t.toml:8:") && e.contains("`default_sites`"), "{e}");
    let e = error_of(&format!("{BASE}[[nss]]\nname = \"a\"\nsip_udp = \"127.0.0.1:5090\"\n"));
    assert!(e.starts_with("t.toml:6:") && e.contains("already the name"), "{e}");
    let e = error_of(&format!("{BASE}[[nss]]\nname = \"n\"\n"));
    assert!(e.starts_with("t.toml:6:") && e.contains("sip_udp"), "{e}");
}

/// Issue 21: settings that leave a site open are refused off loopback (findings 6 and 10).
#[test]
fn unsafe_settings_are_refused_off_loopback() {
    let exposed = "[[site]]\nname = \"a\"\nsip_udp = \"192.0.2.10:5060\"\ndns = [\"1000-1999\"]\n";
    let peer = "[[site.dn]]\nnumber = \"TO_B\"\ntype = \"trunk\"\ncontact = \"192.0.2.11:5060\"\nprefix = \"9902\"\n\
                [site.options]\ndr-peer-trunk = \"TO_B\"\n";
    let auth = "[site.auth]\nrealm = \"r\"\nnonce_secret = \"a-long-enough-nonce-secret-0001\"\n";
    let e = error_of(&format!("{exposed}{peer}{auth}"));
    assert!(e.contains("needs `peer_secret` or `[site.peer_link]`"), "{e}");
    let secret = "peer_secret = \"demo-pair-secret-change-me-0123\"\n";
    let e = error_of(&format!("{exposed}{secret}{peer}{auth}"));
    assert!(e.contains("`peer_secret`: the example's secret"), "{e}");
    let on_loopback = format!("{BASE}{peer}{auth}").replace("192.0.2.11:5060", "127.0.0.1:5062");
    assert!(load(&on_loopback, "t.toml").is_ok(), "the lab set-up on loopback still starts");
    let short_token = format!("{exposed}cti = \"192.0.2.10:7060\"\ncti_tokens = [\"short-token\"]\n");
    let e = error_of(&short_token);
    assert!(e.contains("at least 16 characters"), "{e}");
    // Finding 10: with auth, a trunk that reaches the outside names who may dial out.
    let gw = "[[site.dn]]\nnumber = \"gw\"\ntype = \"trunk\"\ncontact = \"127.0.0.1:5080\"\nprefix = \"9\"\n";
    let e = error_of(&format!("{BASE}{gw}{auth}"));
    assert!(e.contains("trunk `gw`") && e.contains("callers"), "{e}");
    assert!(load(&format!("{BASE}{gw}callers = [\"1000-1999\"]\n{auth}"), "t.toml").is_ok());
    assert!(load(&format!("{BASE}{gw}"), "t.toml").is_ok(), "without auth every From is believed anyway");
    let e = error_of(&format!("{BASE}[site.registrar]\ndefault_expires = 0\n"));
    assert!(e.contains("default_expires"), "{e}");
    let e = error_of(&format!("{BASE}[site.registrar]\nmax_contacts = 0\n"));
    assert!(e.contains("max_contacts"), "{e}");
}

#[test]
fn a_media_partner_names_its_ng_addresses_and_bad_values_name_their_line() {
    let media = "[site.media]\nng = [\"127.0.0.1:22222\"]\ntimeout_ms = 400\non_failure = \"refuse\"\n";
    let sites = load(&format!("{BASE}{media}"), "t.toml").expect("valid");
    let engine = sites[0].node.media.as_ref().expect("anchored");
    assert_eq!(engine.timeout, Duration::from_millis(400));
    assert_eq!(engine.on_failure, engine::media::MediaFailure::Refuse);
    assert_eq!(sites[0].media.as_ref().map(|m| m.ng.len()), Some(1));
    let e = error_of(&format!("{BASE}[site.media]\nng = []\n"));
    assert!(e.starts_with("t.toml:") && e.contains("media.ng"), "{e}");
    let e = error_of(&format!("{BASE}[site.media]\nng = [\"127.0.0.1:22222\"]\ntimeout_ms = 5\n"));
    assert!(e.contains("media.timeout_ms"), "{e}");
    let e = error_of(&format!("{BASE}[site.media]\nng = [\"127.0.0.1:22222\"]\non_failure = \"panic\"\n"));
    assert!(e.contains("unknown variant"), "{e}");
    assert!(load(BASE, "t.toml").expect("valid")[0].node.media.is_none(), "absent: not anchored");
    assert!(!engine.answer_waiting, "waiting callers get early media unless told");
    let answered = load(&format!("{BASE}[site.media]\nng = [\"127.0.0.1:22222\"]\nanswer_waiting = true\n"), "t.toml");
    assert!(answered.expect("valid")[0].node.media.as_ref().is_some_and(|m| m.answer_waiting));
    let e = error_of(&format!("{BASE}[site.media]\nng = [\"127.0.0.1:22222\"]\nrecord = true\n"));
    assert!(e.contains("media.recordings"), "recording needs rtpengine's directory: {e}");
    let dir = std::env::temp_dir();
    let recorded =
        format!("{BASE}[site.media]\nng = [\"127.0.0.1:22222\"]\nrecord = true\nrecordings = \"{}\"\n", dir.display());
    let sites = load(&recorded, "t.toml").expect("valid");
    assert!(sites[0].node.media.as_ref().is_some_and(|m| m.record));
    assert_eq!(sites[0].media.as_ref().and_then(|m| m.recordings.clone()), dir.canonicalize().ok());
}

#[test]
fn recording_by_dn_and_agent_and_its_retention_need_the_recordings_directory() {
    let media = "[site.media]\nng = [\"127.0.0.1:22222\"]\n";
    let e = error_of(&format!("{BASE}{media}record_dns = [\"5000\"]\n"));
    assert!(e.contains("media.recordings"), "{e}");
    let e = error_of(&format!("{BASE}{media}keep_recordings_days = 30\n"));
    assert!(e.starts_with("t.toml:") && e.contains("keep_recordings_days") && e.contains("recordings"), "{e}");
    let dir = std::env::temp_dir();
    let kept = format!("{BASE}{media}recordings = \"{}\"\n", dir.display());
    let e = error_of(&format!("{kept}keep_recordings_days = 0\n"));
    assert!(e.contains("at least 1"), "{e}");
    let sites = load(
        &format!("{kept}record_dns = [\"5000\"]\nrecord_agents = [\"A1\"]\nkeep_recordings_days = 30\n"),
        "t.toml",
    )
    .expect("valid");
    let engine = sites[0].node.media.as_ref().expect("anchored");
    assert!(engine.record_dns.contains("5000") && engine.record_agents.contains("A1") && engine.can_record);
    assert!(!engine.record, "not every call");
    assert_eq!(sites[0].media.as_ref().and_then(|m| m.keep_recordings), Some(Duration::from_secs(30 * 86_400)));
    let daemon = load(&format!("{kept}recording_daemon = true\n"), "t.toml").expect("valid");
    assert!(daemon[0].media.as_ref().is_some_and(|m| !m.convert_recordings), "the daemon writes the files");
    assert!(error_of(&format!("{BASE}{media}recording_daemon = true\n")).contains("media.recordings"));
    let plain = load(&format!("{BASE}{media}"), "t.toml").expect("valid");
    assert!(plain[0].node.media.as_ref().is_some_and(|m| !m.can_record), "no directory: desktops cannot record");
}

#[test]
fn sound_files_are_plain_names_of_files_in_the_sounds_directory() {
    let dir = std::env::temp_dir().join(format!("tandem-sounds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("hold.wav"), b"RIFF").expect("file");
    let media = |extra: &str| {
        format!("{BASE}[site.media]\nng = [\"127.0.0.1:22222\"]\nsounds = \"{}\"\n{extra}", dir.display())
    };
    let sites =
        load(&media("hold_music = \"hold.wav\"\nrp_music = { \"5000\" = \"hold.wav\" }\n"), "t.toml").expect("valid");
    let sounds = &sites[0].node.media.as_ref().expect("media").sounds;
    assert_eq!(
        sounds.hold.as_deref(),
        Some(dir.canonicalize().expect("dir").join("hold.wav").to_str().expect("utf-8"))
    );
    assert_eq!(sounds.for_rp("5000"), sounds.hold.as_deref());
    assert_eq!(sounds.for_rp("5001"), None, "no queue music by default");
    for (bad, says) in [
        ("hold_music = \"../hold.wav\"\n", "plain file name"),
        ("hold_music = \".hidden\"\n", "plain file name"),
        ("queue_music = \"missing.wav\"\n", "does not exist"),
        ("treatments = { Music = \"/etc/passwd\" }\n", "plain file name"),
    ] {
        let e = error_of(&media(bad));
        assert!(e.starts_with("t.toml:") && e.contains(says), "{bad}: {e}");
    }
    let e = error_of(&format!("{BASE}[site.media]\nng = [\"127.0.0.1:22222\"]\nhold_music = \"hold.wav\"\n"));
    assert!(e.contains("media.sounds"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
