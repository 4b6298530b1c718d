//! The agent page (`/agent` on a site's CTI address) in a real headless Chromium: an agent
//! logs in from the page, picks a NotReady reason the configuration names, turns Ready,
//! sees a gateway call arrive and be answered within 1 s with the UserData a router
//! attached, holds it and releases it from the page, finds it among its last calls (from
//! the store), and the page reconnects by itself after its connection drops; a screenshot
//! is kept as `target/agent.png`.
//!
//! Needs Debian `chromium` and `chromium-driver`, and sipp; runs when TANDEM_REAL_PEERS=1.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::browser::{Browser, Killed};
use common::*;

#[test]
fn an_agent_logs_in_turns_ready_and_handles_a_call_from_the_page() {
    if !enabled() {
        return;
    }
    let store = std::env::temp_dir().join(format!("tandem-agent-page-{}.db", std::process::id()));
    let config = format!(
        "[[site]]\nname = \"s1\"\nsip_udp = \"127.0.0.1:0\"\nsip_tcp = \"127.0.0.1:0\"\ncti = \"127.0.0.1:0\"\n\
         cti_tokens = [\"t0ken\"]\ndns = [\"1000-1999\"]\nnot_ready_reasons = [\"Lunch\", \"Training\"]\n\
         [[site.agent]]\nid = \"A1500\"\ndn = \"1500\"\n[site.store]\npath = \"{}\"\n",
        store.display()
    );
    let site = Tandem::start_with("agent-page", &config);
    let phone_port = free_udp_port();
    let _phone = sipp_phone(phone_port, site.udp);
    register_phone_at(&[&site], &[1500], phone_port);

    let browser = Browser::start(900, 800);
    browser.open(&format!("http://{}/agent?dn=1500&agent=A1500&token=t0ken", site.cti.expect("cti")));
    let state_is = |state: &str| format!("return document.getElementById('state').className === '{state}'");
    let click = |id: &str| {
        browser.run(&format!("document.getElementById('{id}').click(); return true"));
    };

    click("login");
    assert!(
        browser.wait_for(&state_is("NotReady"), Duration::from_secs(5)).is_some(),
        "logged in from the page, NotReady"
    );
    let reasons = "return [...document.querySelectorAll('#reasons button')].map(b => b.dataset.reason).join(',')";
    assert_eq!(browser.run(reasons), "Lunch,Training", "one NotReady button per configured reason");
    browser.run("document.querySelector('#reasons button[data-reason=Training]').click(); return true");
    let training = "return document.getElementById('state').textContent.includes('Training')";
    assert!(browser.wait_for(training, Duration::from_secs(3)).is_some(), "NotReady with the reason picked");
    click("ready");
    let took = browser.wait_for(&state_is("Ready"), Duration::from_secs(3)).expect("Ready");
    assert!(took < Duration::from_secs(1), "Ready within 1 s: {took:?}");

    // A gateway call that lasts 5 s: the phone answers it, the page shows it talking (the
    // gateway answers the one re-INVITE the page's Hold sends it).
    let calls = site.dir.join("calls.csv");
    std::fs::write(&calls, "SEQUENTIAL\n1500;\n").expect("csv");
    let hold = scenario("gateway-call-reinvited.xml");
    let mut gateway = sipp_command(
        site.udp,
        &["-sf", hold.to_str().expect("path"), "-inf", calls.to_str().expect("path"), "-m", "1", "-d", "5000"],
    );
    let _gateway = Killed(gateway.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("sipp gateway"));
    let talking =
        "const c = document.querySelector('#calls .call .who'); return !!c && c.textContent.includes('talking')";
    let took = browser.wait_for(talking, Duration::from_secs(3)).expect("the call on the page");
    assert!(took < Duration::from_secs(1), "the answered call shown within 1 s (including starting sipp): {took:?}");
    a_router_attaches_user_data(&browser, &site);
    browser.screenshot(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/agent.png"));

    // Held from the page: the row says so and offers Retrieve instead of Hold.
    browser.run("document.querySelector('#calls .call button.hold').click(); return true");
    let held = "const c = document.querySelector('#calls .call .who'); \
                return !!c && c.textContent.includes('held') && !!document.querySelector('#calls .call button.retrieve')";
    assert!(browser.wait_for(held, Duration::from_secs(3)).is_some(), "held from the page");

    // Released from the page: the call leaves the list.
    browser.run("document.querySelector('#calls .call button.red').click(); return true");
    let gone = "return document.querySelectorAll('#calls .call').length === 0";
    assert!(browser.wait_for(gone, Duration::from_secs(3)).is_some(), "released from the page");
    let listed = "return [...document.querySelectorAll('#history tbody tr')].some(r => r.cells[2].textContent === '1500' && r.cells[3].textContent === 'answered')";
    assert!(
        browser.wait_for(listed, Duration::from_secs(5)).is_some(),
        "the call among the last calls, from the store"
    );

    the_connection_drops_and_comes_back(&browser);
    click("logout");
    assert!(browser.wait_for(&state_is("LoggedOut"), Duration::from_secs(3)).is_some(), "logged out");
    let _ = std::fs::remove_file(&store);
}

/// A router attaches UserData to the call on the page: the page shows it as a table.
fn a_router_attaches_user_data(browser: &Browser, site: &Tandem) {
    let conn = browser.run("return document.querySelector('#calls .call').dataset.conn");
    let conn = conn.as_str().expect("the call's ConnID").to_owned();
    let attach = format!(
        r#"{{"message":"RequestAttachUserData","ThisDN":"1500","ConnID":"{conn}","UserData":{{"Customer":"Gold <b>"}}}}"#
    );
    let register = r#"{"message":"RequestRegisterAddress","ThisDN":"1500"}"#;
    let _ = cti_client(site, "1", &[register, &attach]).wait_with_output();
    let data = "return [...document.querySelectorAll('#calls table.data td')].map(t => t.textContent).join('=')";
    let shown = browser.wait_for(&format!("{data} === 'Customer=Gold <b>'"), Duration::from_secs(3));
    assert!(shown.is_some(), "the UserData shown as text: {}", browser.run(data));
}

/// The page's CTI connection drops: it reconnects by itself and finds the agent Ready.
fn the_connection_drops_and_comes_back(browser: &Browser) {
    browser.run("ws.close(); return true");
    let retrying = "return document.getElementById('link').className === 'retrying'";
    assert!(browser.wait_for(retrying, Duration::from_secs(2)).is_some(), "the page says it reconnects");
    let back = "return document.getElementById('link').className === 'up' && document.getElementById('state').className === 'Ready'";
    assert!(browser.wait_for(back, Duration::from_secs(5)).is_some(), "reconnected, still Ready");
}

/// `GET path` on the CTI address with `token` as a bearer token (if any): status and body.
fn get(addr: std::net::SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").as_bytes())
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_owned()))
}

/// The page's settings are public; a DN's last calls need a token whose role may act on
/// that DN (a desktop token only its own), and a site without a store says so.
#[test]
fn the_last_calls_need_a_token_for_that_dn_and_the_settings_name_the_reasons() {
    let store = std::env::temp_dir().join(format!("tandem-agent-calls-{}.db", std::process::id()));
    let site_config = |with_store: bool| {
        let store = if with_store { format!("[site.store]\npath = \"{}\"\n", store.display()) } else { String::new() };
        format!(
            "[[site]]\nname = \"s1\"\nsip_udp = \"127.0.0.1:0\"\nsip_tcp = \"127.0.0.1:0\"\ncti = \"127.0.0.1:0\"\ncti_tokens = [\"t0ken\"]\n\
             dns = [\"1000-1999\"]\nnot_ready_reasons = [\"Lunch\"]\n\
             [[site.cti_token]]\ntoken = \"desk-1500\"\nrole = \"desktop\"\ndns = [\"1500\"]\n{store}"
        )
    };
    let site = Tandem::start_with("agent-calls", &site_config(true));
    let cti = site.cti.expect("cti");
    let (status, body) = get(cti, "/agent/settings", None);
    assert_eq!(status, 200);
    let settings: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(settings["not_ready_reasons"], serde_json::json!(["Lunch"]));
    assert_eq!((settings["site"].as_str(), settings["history"].as_bool()), (Some("s1"), Some(true)));
    assert_eq!(get(cti, "/agent/calls?dn=1500", None).0, 401, "no token");
    assert_eq!(get(cti, "/agent/calls?dn=1500", Some("wrong-token")).0, 401);
    assert_eq!(get(cti, "/agent/calls?dn=1501", Some("desk-1500")).0, 403, "another DN's calls");
    let (status, body) = get(cti, "/agent/calls?dn=1500", Some("desk-1500"));
    assert_eq!((status, body.as_str()), (200, "[]"), "its own: none yet");
    assert_eq!(get(cti, "/agent/calls?dn=1501", Some("t0ken")).0, 200, "an admin token reads any DN");
    drop(site);
    let bare = Tandem::start_with("agent-calls-bare", &site_config(false));
    assert_eq!(get(bare.cti.expect("cti"), "/agent/calls?dn=1500", Some("t0ken")).0, 404, "no store: nothing to list");
    let _ = std::fs::remove_file(&store);
}
