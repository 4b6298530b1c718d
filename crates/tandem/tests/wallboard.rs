//! The wallboard in a real headless Chromium (driven over WebDriver by chromedriver):
//! `tandem up` with a stat service, the page loads, shows an agent turning Ready and a
//! call arriving within 1 s, today's intervals from the call records, and a screenshot is
//! kept as `target/wallboard.png`.
//!
//! Needs Debian `chromium` and `chromium-driver`, and sipp; runs when TANDEM_REAL_PEERS=1.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::browser::{Browser, Killed};
use common::*;

fn config(sip: [u16; 2], tcp: [u16; 2], cti: [u16; 2], stats: u16, store: &Path) -> String {
    let site = |name: &str, i: usize, extra: &str| {
        format!(
            "[[site]]\nname = \"{name}\"\nsip_udp = \"127.0.0.1:{}\"\nsip_tcp = \"127.0.0.1:{}\"\ncti = \"127.0.0.1:{}\"\n{extra}\
             cti_tokens = [\"t0ken\"]\ndns = [\"1000-1999\"]\n[[site.dn]]\nnumber = \"5000\"\ntype = \"routing-point\"\n\
             [[site.agent]]\nid = \"A1001\"\ndn = \"1001\"\n",
            sip[i], tcp[i], cti[i]
        )
    };
    let store = format!("[site.store]\npath = \"{}\"\n", store.display());
    site("s1", 0, &format!("stats = \"127.0.0.1:{stats}\"\n"))
        + &store
        + &site("s2", 1, "")
        + "[routing]\n[[routing.agent]]\nid = \"A1001\"\ngroups = [\"sales\"]\nskills = { sales = 1 }\n\
           [[routing.point]]\ndn = \"5000\"\ntarget = \"sales\"\nwait-amber = 1\nwait-red = 2\n"
}

#[test]
fn the_wallboard_shows_an_agent_turning_ready_and_a_call_arriving_within_a_second() {
    if !enabled() {
        return;
    }
    let (sip, tcp, cti, stats) = (
        [free_udp_port(), free_udp_port()],
        [free_tcp_port(), free_tcp_port()],
        [free_tcp_port(), free_tcp_port()],
        free_tcp_port(),
    );
    let dir = std::env::temp_dir().join(format!("tandem-wallboard-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("deployment.toml");
    std::fs::write(&file, config(sip, tcp, cti, stats, &dir.join("s1.db"))).expect("config");
    let _up = up_with_stats(&file);
    eprintln!("tandem up is serving");
    let browser = Browser::start(1280, 900);
    browser.open(&format!("http://127.0.0.1:{stats}/wallboard"));
    let live =
        browser.wait_for("return document.getElementById('status').textContent === 'live'", Duration::from_secs(10));
    assert!(live.is_some(), "the page connects to the stat service");
    assert!(
        browser.wait_for("return !!document.getElementById('stat-site-s2')", Duration::from_secs(5)).is_some(),
        "both sites are shown"
    );

    // A phone for 1001 at both sites; the agent logs in NotReady, then turns Ready.
    let phone_port = free_udp_port();
    let _phone = sipp_phone(phone_port, format!("127.0.0.1:{}", sip[0]).parse().expect("addr"));
    let reg = dir.join("reg.csv");
    std::fs::write(&reg, format!("SEQUENTIAL\n1001;127.0.0.1:{phone_port}\n")).expect("csv");
    for port in sip {
        let (ok, n, _) = sipp_with_file(
            format!("127.0.0.1:{port}").parse().expect("addr"),
            "register-contact.xml",
            &reg,
            &["-m", "1"],
        );
        assert!(ok && n == 1, "registered at {port}");
    }
    let cti_url = format!("ws://127.0.0.1:{}/cti", cti[0]);
    let desk = |requests: &[&str]| {
        Killed(
            Command::new(env!("CARGO_BIN_EXE_tandem"))
                .args(["cti", "--url", &cti_url, "--token", "t0ken", "--wait", "0"])
                .args(requests)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("tandem cti"),
        )
    };
    let _login = desk(&["RequestRegisterAddress ThisDN=1001", "RequestAgentLogin ThisDN=1001 AgentID=A1001"]);
    let has_class = |class: &str| {
        format!("const t = document.getElementById('agent-A1001'); return !!t && t.classList.contains('{class}')")
    };
    assert!(browser.wait_for(&has_class("NotReady"), Duration::from_secs(5)).is_some(), "the agent tile appears");
    let _ready = desk(&["RequestRegisterAddress ThisDN=1001", "RequestAgentReady ThisDN=1001"]);
    let took = browser.wait_for(&has_class("Ready"), Duration::from_secs(3)).expect("the tile turns Ready");
    eprintln!("agent Ready on the wallboard after {took:?} (including starting `tandem cti`)");
    assert!(took < Duration::from_secs(1), "Ready shown within 1 s: {took:?}");

    // A gateway call to the Routing Point: the router gives it to A1001, the tile turns Busy
    // and the queue counts it.
    let calls = dir.join("calls.csv");
    std::fs::write(&calls, "SEQUENTIAL\n5000;\n").expect("csv");
    let hold = scenario("gateway-call-hold.xml");
    let mut gateway = sipp_command(
        format!("127.0.0.1:{}", sip[0]).parse().expect("addr"),
        &["-sf", hold.to_str().expect("path"), "-inf", calls.to_str().expect("path"), "-m", "1", "-d", "3000"],
    );
    let _gateway = Killed(gateway.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("sipp gateway"));
    let took = browser.wait_for(&has_class("Busy"), Duration::from_secs(3)).expect("the call reaches the tile");
    eprintln!("call on the wallboard after {took:?} (including starting sipp)");
    assert!(took < Duration::from_secs(1), "the call shown within 1 s: {took:?}");
    let answered =
        "const q = document.getElementById('stat-rp-5000'); return !!q && q.textContent.includes('answered1')";
    let took = browser.wait_for(answered, Duration::from_secs(2)).expect("the queue counts the call");
    assert!(took < Duration::from_secs(1), "the queue's answered count within 1 s: {took:?}");
    // Issue 26: a busy agent's tile counts the call's length, not the time in state.
    let on_call = "const t = document.getElementById('agent-A1001'); return !!t && t.textContent.includes('on call')";
    assert!(browser.wait_for(on_call, Duration::from_secs(2)).is_some(), "the tile shows the call's length");
    let queue_class = |class: &str| {
        format!("const q = document.getElementById('stat-rp-5000'); return !!q && q.classList.contains('{class}')")
    };
    assert!(browser.run(&queue_class("alarm-red")) == serde_json::json!(false), "a queue answered in time is not red");
    // The filter box hides the agent tiles that do not match.
    browser.run("const f = document.getElementById('filter'); f.value = 'nobody'; f.dispatchEvent(new Event('input'))");
    let hidden = "return document.getElementById('agent-A1001').classList.contains('hidden')";
    assert!(browser.wait_for(hidden, Duration::from_secs(1)).is_some(), "filtered out");
    browser.run("const f = document.getElementById('filter'); f.value = 'sales'; f.dispatchEvent(new Event('input'))");
    assert!(browser.wait_for(&hidden.replace("return ", "return !"), Duration::from_secs(1)).is_some(), "by group");

    // With the agent Not Ready, a second call waits: past `wait-red` (2 s) the queue's
    // tile turns red.
    std::thread::sleep(Duration::from_secs(3)); // the first call ends
    let _not_ready = desk(&["RequestRegisterAddress ThisDN=1001", "RequestAgentNotReady ThisDN=1001"]);
    std::thread::sleep(Duration::from_millis(500));
    let mut waiting = sipp_command(
        format!("127.0.0.1:{}", sip[0]).parse().expect("addr"),
        &["-sf", hold.to_str().expect("path"), "-inf", calls.to_str().expect("path"), "-m", "1", "-d", "1000"],
    );
    let _waiting = Killed(waiting.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("sipp gateway"));
    let took =
        browser.wait_for(&queue_class("alarm-red"), Duration::from_secs(6)).expect("the waiting queue turns red");
    eprintln!("queue red on the wallboard after {took:?} (wait-red = 2 s)");

    // Today's history (from the call records): the first call, answered.
    browser.run("history(); return true");
    let today = "const t = document.getElementById('today-5000'); \
                 return !!t && [...t.querySelectorAll('tr')].slice(1).some(r => r.cells[2].textContent === '1')";
    assert!(browser.wait_for(today, Duration::from_secs(3)).is_some(), "today's intervals shown from the records");

    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/wallboard.png");
    browser.screenshot(&shot);
    eprintln!("screenshot: {}", shot.display());
    let _ = std::fs::remove_dir_all(&dir);
}
