//! The agent page (`/agent` on a site's CTI address) in a real headless Chromium: an agent
//! logs in from the page, turns Ready, sees a gateway call arrive and be answered within
//! 1 s, holds it and releases it from the page; a screenshot is kept as `target/agent.png`.
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
    let config =
        "[[site]]\nname = \"s1\"\nsip_udp = \"127.0.0.1:0\"\nsip_tcp = \"127.0.0.1:0\"\ncti = \"127.0.0.1:0\"\n\
                  cti_tokens = [\"t0ken\"]\ndns = [\"1000-1999\"]\n[[site.agent]]\nid = \"A1500\"\ndn = \"1500\"\n";
    let site = Tandem::start_with("agent-page", config);
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
    click("logout");
    assert!(browser.wait_for(&state_is("LoggedOut"), Duration::from_secs(3)).is_some(), "logged out");
}
