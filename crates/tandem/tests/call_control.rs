//! Issue 23 against the real binary: a sipp gateway calls a sipp phone, the desktop on
//! that DN transfers the call (RequestSingleStepTransfer) to another sipp phone, and the
//! gateway's own dialog gets the new phone's media by re-INVITE (the scenario fails if a
//! BYE or anything else comes instead). With a real phone (baresip, driven over its
//! `ctrl_tcp` module): its own hold reaches its desktop as EventHeld and the gateway as a
//! re-INVITE, and its blind transfer (REFER) is carried out by Tandem.
//!
//! Runs when TANDEM_REAL_PEERS=1.

mod common;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use futures_util::SinkExt as _;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

async fn desk(cti: SocketAddr) -> Ws {
    let mut request = format!("ws://{cti}/cti").into_client_request().expect("request");
    request.headers_mut().insert("authorization", "Bearer t0ken".parse().expect("header"));
    let (ws, _) = tokio_tungstenite::connect_async(request).await.expect("the desktop connects");
    ws
}

/// A site with a CTI server and `/metrics`.
fn cti_site(name: &str) -> Tandem {
    Tandem::start_with(
        name,
        &format!("{SITE}cti = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\ncti_tokens = [\"t0ken\"]\n"),
    )
}

/// A desktop registered on `dn`.
async fn desk_on(cti: SocketAddr, dn: &str) -> Ws {
    let mut ws = desk(cti).await;
    let register = format!(r#"{{"message":"RequestRegisterAddress","ThisDN":"{dn}"}}"#);
    ws.send(Message::Text(register)).await.expect("send");
    next_named(&mut ws, "EventRegistered", Duration::from_secs(3)).await.expect("registered");
    ws
}

/// A sipp gateway calling `dn` once, whose dialog must be moved by re-INVITE (the
/// scenario fails on a BYE or anything else), started.
fn reinvited_gateway(t: &Tandem, dn: &str) -> std::process::Child {
    let calls = t.dir.join("call.csv");
    std::fs::write(&calls, format!("SEQUENTIAL\n{dn};\n")).expect("csv");
    let scenario = scenario("gateway-call-reinvited.xml");
    let args = ["-sf", scenario.to_str().expect("path"), "-inf", calls.to_str().expect("path"), "-m", "1", "-d", "500"];
    sipp_command(t.udp, &args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("sipp")
}

#[test]
fn a_desktop_transfers_a_sipp_gateway_call_to_another_sipp_phone_by_re_invite() {
    if !enabled() {
        return;
    }
    let t = cti_site("transfer");
    let (port1, port2) = (free_udp_port(), free_udp_port());
    let (_phone1, _phone2) = (sipp_phone(port1, t.udp), sipp_phone(port2, t.udp));
    let reg = t.dir.join("reg.csv");
    std::fs::write(&reg, format!("SEQUENTIAL\n1200;127.0.0.1:{port1}\n1201;127.0.0.1:{port2}\n")).expect("csv");
    let (ok, n, _) = sipp_with_file(t.udp, "register-contact.xml", &reg, &["-m", "2"]);
    assert!(ok && n == 2, "both phones registered");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (released, transferred) = runtime.block_on(async {
        let mut ws = desk_on(t.cti.expect("cti"), "1200").await;
        let gateway = reinvited_gateway(&t, "1200");
        let established = next_named(&mut ws, "EventEstablished", Duration::from_secs(10)).await.expect("answered");
        let conn = established["ConnID"].as_str().expect("ConnID").to_owned();
        let transfer = format!(
            r#"{{"message":"RequestSingleStepTransfer","ReferenceID":5,"ThisDN":"1200","ConnID":"{conn}","OtherDN":"1201"}}"#
        );
        ws.send(Message::Text(transfer)).await.expect("send");
        let released = next_named(&mut ws, "EventReleased", Duration::from_secs(5)).await;
        let out = tokio::task::spawn_blocking(move || gateway.wait_with_output()).await.expect("join").expect("sipp");
        (released, sipp_counts(&out))
    });
    let released = released.expect("the transferring desktop saw EventReleased");
    assert_eq!(released["ReferenceID"].as_u64(), Some(5));
    assert_eq!(transferred, (true, 1, 0), "the gateway's call was moved by re-INVITE and ended by its own BYE");
    std::thread::sleep(Duration::from_millis(1100));
    let metrics = http_get(t.http.expect("http"), "/metrics");
    assert!(metrics.contains(r#"tandem_calls_transferred_total{site="s1"} 1"#), "{metrics}");
}

/// baresip's `ctrl_tcp` command `name` with `params`, as a netstring.
fn baresip_command(port: u16, name: &str, params: &str) {
    use std::io::Write;
    let json = format!(r#"{{"command":"{name}","params":"{params}","token":"t1"}}"#);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("baresip's ctrl_tcp");
    s.write_all(format!("{}:{json},", json.len()).as_bytes()).expect("command");
}

/// Issue 23 with a real phone: baresip (the agent's phone, on 1200) answers a sipp gateway's
/// call and puts it on hold itself (a re-INVITE offering `sendonly`); the desktop on 1200
/// sees EventHeld, and the gateway gets the hold as a re-INVITE of its own dialog (the
/// scenario fails if a BYE or anything else comes instead).
#[test]
fn a_baresip_phone_holds_the_call_and_its_desktop_sees_event_held() {
    if !enabled() {
        return;
    }
    let t = cti_site("baresip-hold");
    let ctrl = free_tcp_port();
    let account = format!("<sip:1200@{};transport=udp>;regint=600;answermode=auto", t.udp);
    let modules = format!("module_app menu.so\nmodule_app ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{ctrl}\n");
    let _phone = baresip_with(&t, &account, &modules);
    assert!(registered_within(&t, Duration::from_secs(5)), "baresip registered");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (held, gateway) = runtime.block_on(async {
        let mut ws = desk_on(t.cti.expect("cti"), "1200").await;
        let gateway = reinvited_gateway(&t, "1200");
        next_named(&mut ws, "EventEstablished", Duration::from_secs(10)).await.expect("baresip answered");
        tokio::time::sleep(Duration::from_millis(300)).await;
        baresip_command(ctrl, "hold", "");
        let held = next_named(&mut ws, "EventHeld", Duration::from_secs(5)).await;
        let out = tokio::task::spawn_blocking(move || gateway.wait_with_output()).await.expect("join").expect("sipp");
        (held, sipp_counts(&out))
    });
    let held = held.expect("the phone's own hold is seen by its desktop");
    assert_eq!(held["ThisDN"].as_str(), Some("1200"));
    assert_eq!(gateway, (true, 1, 0), "the gateway's dialog got the hold as a re-INVITE, then ended by its own BYE");
}

/// A blind transfer from a real phone: baresip (1200) sends REFER to 1201 (a sipp phone);
/// Tandem carries it out itself: 1201 rings and answers, 1200's desktop sees EventReleased,
/// and the gateway's dialog gets 1201's media by re-INVITE (never a BYE or a REFER).
#[test]
fn a_baresip_phone_transfers_the_call_by_refer_and_the_gateway_only_sees_a_re_invite() {
    if !enabled() {
        return;
    }
    let t = cti_site("baresip-refer");
    let (ctrl, port2) = (free_tcp_port(), free_udp_port());
    let account = format!("<sip:1200@{};transport=udp>;regint=600;answermode=auto", t.udp);
    let modules = format!("module_app menu.so\nmodule_app ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{ctrl}\n");
    let _phone = baresip_with(&t, &account, &modules);
    let _phone2 = sipp_phone(port2, t.udp);
    let reg = t.dir.join("reg.csv");
    std::fs::write(&reg, format!("SEQUENTIAL\n1201;127.0.0.1:{port2}\n")).expect("csv");
    let (ok, n, _) = sipp_with_file(t.udp, "register-contact.xml", &reg, &["-m", "1"]);
    assert!(ok && n == 1, "1201 registered");
    assert!(metric_within(&t, r#"tandem_registrations{site="s1"} 2"#, Duration::from_secs(5)), "baresip registered");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let target = format!("sip:1201@{}", t.udp);
    let (released, gateway) = runtime.block_on(async {
        let mut ws = desk_on(t.cti.expect("cti"), "1200").await;
        let gateway = reinvited_gateway(&t, "1200");
        next_named(&mut ws, "EventEstablished", Duration::from_secs(10)).await.expect("baresip answered");
        tokio::time::sleep(Duration::from_millis(300)).await;
        baresip_command(ctrl, "transfer", &target);
        let released = next_named(&mut ws, "EventReleased", Duration::from_secs(5)).await;
        let out = tokio::task::spawn_blocking(move || gateway.wait_with_output()).await.expect("join").expect("sipp");
        (released, sipp_counts(&out))
    });
    assert!(released.is_some(), "1200's desktop saw its part of the call end");
    assert_eq!(gateway, (true, 1, 0), "the gateway's dialog was moved to 1201 by re-INVITE and ended by its own BYE");
    std::thread::sleep(Duration::from_millis(1100));
    let metrics = http_get(t.http.expect("http"), "/metrics");
    assert!(metrics.contains(r#"tandem_calls_transferred_total{site="s1"} 1"#), "{metrics}");
}
