//! A headless Chromium driven over WebDriver (chromedriver), for the page tests: plain
//! HTTP over a `TcpStream`, no WebDriver crate.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};

/// One WebDriver command: `method` on `path` with a JSON body; the JSON answer's `value`.
pub(crate) fn webdriver(port: u16, method: &str, path: &str, body: &serde_json::Value) -> serde_json::Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("chromedriver");
    let body = body.to_string();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).and_then(|()| s.write_all(body.as_bytes())).expect("write");
    // chromedriver keeps the connection open: read the head, then Content-Length bytes.
    let mut reader = BufReader::new(s);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("read") == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    serde_json::from_slice::<serde_json::Value>(&body).map(|v| v["value"].clone()).unwrap_or_default()
}

pub(crate) fn script(port: u16, session: &str, js: &str) -> serde_json::Value {
    webdriver(port, "POST", &format!("/session/{session}/execute/sync"), &serde_json::json!({"script": js, "args": []}))
}

/// Polls `js` every 25 ms until it returns true; how long that took, or None after `limit`.
pub(crate) fn wait_for(port: u16, session: &str, js: &str, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if script(port, session, js) == serde_json::Value::Bool(true) {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    None
}

pub(crate) fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let sextets: Vec<u8> = text.bytes().filter_map(value).collect();
    sextets
        .chunks(4)
        .flat_map(|c| {
            let n = c.iter().enumerate().fold(0u32, |n, (i, s)| n | (u32::from(*s) << (18 - 6 * i)));
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            bytes.into_iter().take(c.len().saturating_sub(1)).collect::<Vec<_>>()
        })
        .collect()
}

/// Waits until chromedriver accepts connections on `port` (its start-up time varies from
/// a fraction of a second to several on a cold machine); panics after `limit`.
fn wait_until_listening(port: u16, limit: Duration) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < limit, "chromedriver did not listen on {port} within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill(); // by PID
        let _ = self.0.wait();
    }
}

/// A chromedriver process and one headless Chromium session in it; the session ends and
/// the driver is stopped (by PID) when dropped.
pub(crate) struct Browser {
    port: u16,
    session: String,
    _driver: Killed,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium of `width` x `height`.
    pub(crate) fn start(width: u32, height: u32) -> Self {
        let port = super::free_tcp_port();
        let driver = Killed(
            std::process::Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("chromedriver (apt-get install chromium-driver)"),
        );
        wait_until_listening(port, Duration::from_secs(30));
        let window = format!("--window-size={width},{height}");
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", window]
        }}}});
        let created = webdriver(port, "POST", "/session", &caps);
        let session =
            created["sessionId"].as_str().unwrap_or_else(|| panic!("a WebDriver session: {created}")).to_owned();
        Self { port, session, _driver: driver }
    }

    /// Loads `url`.
    pub(crate) fn open(&self, url: &str) {
        webdriver(self.port, "POST", &format!("/session/{}/url", self.session), &serde_json::json!({ "url": url }));
    }

    /// Runs `js` in the page; what it returns.
    pub(crate) fn run(&self, js: &str) -> serde_json::Value {
        script(self.port, &self.session, js)
    }

    /// Polls `js` until it returns true: how long that took, or None after `limit`.
    pub(crate) fn wait_for(&self, js: &str, limit: Duration) -> Option<Duration> {
        wait_for(self.port, &self.session, js, limit)
    }

    /// Saves a screenshot of the page as PNG (its folder made if missing: a build with
    /// `CARGO_TARGET_DIR` elsewhere has no `target/` in the tree).
    pub(crate) fn screenshot(&self, path: &std::path::Path) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        let png = webdriver(self.port, "GET", &format!("/session/{}/screenshot", self.session), &serde_json::json!({}));
        std::fs::write(path, base64_decode(png.as_str().unwrap_or(""))).expect("screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        webdriver(self.port, "DELETE", &format!("/session/{}", self.session), &serde_json::json!({}));
    }
}
