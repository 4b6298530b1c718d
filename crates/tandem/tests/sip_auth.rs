//! SIP digest authentication against the real binary and real clients: a baresip phone
//! with a password registers and answers a gateway call; sipp with the wrong password is
//! refused and with the right one registers; `tandem passwd` writes the entry used.
//!
//! Needs `sipp` and `baresip`; runs when TANDEM_REAL_PEERS=1.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// `tandem passwd --md5` for `dn`, realm `tandem-test`, password `phone-<dn>` (sipp 3.6
/// and baresip 1.0 speak MD5 only): the entry exactly as printed.
fn passwd_md5_only(dn: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["passwd", "--md5", "--dn", dn, "--realm", "tandem-test"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("tandem passwd");
    child.stdin.take().expect("stdin").write_all(format!("phone-{dn}\n").as_bytes()).expect("password");
    let out = child.wait_with_output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("md5 = \"") && !text.contains("sha256"), "the MD5 hash alone: {text}");
    text
}

/// One site with authentication on; every 127.0.0.1 source is the gateway trunk's (so
/// sipp gateways on any port are let in), but REGISTERs are challenged whatever the source.
fn site(name: &str, dns: &[&str]) -> Tandem {
    let users: String = dns.iter().map(|dn| passwd_md5_only(dn)).collect();
    let config = format!(
        "{SITE}http = \"127.0.0.1:0\"\n[site.auth]\nrealm = \"tandem-test\"\nnonce_secret = \"a-test-secret-of-some-length\"\n\
         {users}[[site.dn]]\nnumber = \"gw\"\ntype = \"trunk\"\ncontact = \"127.0.0.1:5080\"\nallow = [\"127.0.0.1/32\"]\n"
    );
    Tandem::start_with(name, &config)
}

#[test]
fn a_baresip_phone_with_a_password_registers_and_answers_a_call() {
    if !enabled() {
        return;
    }
    let t = site("auth-baresip", &["1400"]);
    let _phone =
        baresip(&t, &format!("<sip:1400@{};transport=udp>;auth_pass=phone-1400;regint=600;answermode=auto", t.udp));
    assert!(registered_within(&t, Duration::from_secs(5)), "baresip registered with its password");
    let accepted = r#"tandem_sip_auth_accepted_total{site="s1"} 1"#;
    assert!(metric_within(&t, accepted, Duration::from_secs(3)), "counted");
    assert!(one_call(t.udp, &t.dir, "gateway-call.xml", "1400;"), "baresip answered and the call completed");
}

#[test]
fn sipp_registers_with_the_right_password_only() {
    if !enabled() {
        return;
    }
    let t = site("auth-sipp", &["1401"]);
    let reg = t.dir.join("reg.csv");
    std::fs::write(&reg, "SEQUENTIAL\n1401;127.0.0.1:25999\n").expect("csv");
    let wrong = sipp_with_file(t.udp, "register-auth.xml", &reg, &["-m", "1", "-au", "1401", "-ap", "guess"]);
    assert_eq!(wrong.1, 0, "a wrong password does not register");
    let right = sipp_with_file(t.udp, "register-auth.xml", &reg, &["-m", "1", "-au", "1401", "-ap", "phone-1401"]);
    assert_eq!(right.1, 1, "the right one does");
    let failed = r#"tandem_sip_auth_failures_total{site="s1"} 1"#;
    assert!(metric_within(&t, failed, Duration::from_secs(3)), "the wrong password counted");
    assert!(registered_within(&t, Duration::from_secs(3)));
    // Issue 26: the failure is in the log once, with its source and DN, and the shipped
    // fail2ban filter finds it there.
    let log = std::fs::read_to_string(t.dir.join("stderr.log")).expect("the site's log");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("SIP authentication failed")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("source=127.0.0.1:") && lines[0].contains("dn=1401"), "{}", lines[0]);
    let filter = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/fail2ban/filter.d/tandem.conf");
    let regex = Command::new("fail2ban-regex").arg(t.dir.join("stderr.log")).arg(filter).output();
    let out = String::from_utf8_lossy(&regex.expect("fail2ban-regex (Debian fail2ban) runs").stdout).into_owned();
    assert!(out.contains("Lines: ") && out.contains(" 1 matched"), "{out}");
}

/// Issue 26: the README's internal-call recipe. A phone's INVITE is challenged (407: only
/// the gateway trunk's own address is let in unchallenged) and tests/sipp/phone-call-auth.xml
/// answers with the DN's password; the call reaches the other phone and ends.
#[test]
fn a_phone_calls_another_answering_the_challenge_with_its_password() {
    if !enabled() {
        return;
    }
    let users: String = ["1401", "1402"].iter().map(|dn| passwd_md5_only(dn)).collect();
    let config = format!(
        "{SITE}http = \"127.0.0.1:0\"\n[site.auth]\nrealm = \"tandem-test\"\nnonce_secret = \"a-test-secret-of-some-length\"\n\
         {users}[[site.dn]]\nnumber = \"gw\"\ntype = \"trunk\"\ncontact = \"127.0.0.1:5080\"\n"
    );
    let t = Tandem::start_with("auth-internal", &config);
    let phone_port = free_udp_port();
    let _phone = sipp_phone(phone_port, t.udp);
    let reg = t.dir.join("reg.csv");
    std::fs::write(&reg, format!("SEQUENTIAL\n1401;127.0.0.1:{phone_port}\n")).expect("csv");
    let registered = sipp_with_file(t.udp, "register-auth.xml", &reg, &["-m", "1", "-au", "1401", "-ap", "phone-1401"]);
    assert_eq!(registered.1, 1, "1401 registered with its password");
    let call = t.dir.join("call.csv");
    std::fs::write(&call, "SEQUENTIAL\n1402;1401;\n").expect("csv");
    let uri = format!("1401@{}", t.udp);
    let wrong = sipp_with_file(
        t.udp,
        "phone-call-auth.xml",
        &call,
        &["-m", "1", "-au", "1402", "-ap", "guess", "-auth_uri", &uri],
    );
    assert_eq!(wrong.1, 0, "a wrong password does not call");
    let right = sipp_with_file(
        t.udp,
        "phone-call-auth.xml",
        &call,
        &["-m", "1", "-au", "1402", "-ap", "phone-1402", "-auth_uri", &uri],
    );
    assert_eq!(right.1, 1, "the internal call completed with 1402's password");
}
