//! What the node puts on the wire for each RFC 4475 message.

mod common;

use std::fs;
use std::path::Path;

use common::{status, Site};

fn vectors(folder: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sipmsg/tests/vectors").join(folder);
    let mut out: Vec<_> = fs::read_dir(dir)
        .expect("vectors")
        .map(|e| {
            let p = e.expect("entry").path();
            (p.file_stem().and_then(|s| s.to_str()).expect("name").to_owned(), fs::read(&p).expect("read"))
        })
        .collect();
    out.sort();
    out
}

/// The answer the node gives: the RFC's, from the file name. `inv2543` ("ok": the RFC
/// only asks that it be accepted) is for a user not provisioned here, so 404.
fn expected_now(name: &str) -> Option<u16> {
    match name.rsplit('.').next().expect("code") {
        "drop" => None,
        "ok" => Some(404),
        code => Some(code.parse().expect("numeric code")),
    }
}

#[test]
fn invalid_and_application_messages_get_the_rfc_answer() {
    for folder in ["invalid", "app"] {
        for (name, bytes) in vectors(folder) {
            let mut site = Site::new();
            let out: Vec<Vec<u8>> = site.send(&bytes).into_iter().filter(|m| !m.starts_with(b"SIP/2.0 100")).collect();
            match expected_now(&name) {
                None => assert!(out.is_empty(), "{name}: must be dropped"),
                Some(code) => {
                    assert_eq!(out.len(), 1, "{name}: one answer");
                    assert_eq!(status(&out[0]), code, "{name}: {}", String::from_utf8_lossy(&out[0]));
                }
            }
        }
    }
}

#[test]
fn valid_requests_are_answered_and_nothing_panics() {
    for (name, bytes) in vectors("valid") {
        let mut site = Site::new();
        let out: Vec<Vec<u8>> = site.send(&bytes).into_iter().filter(|m| !m.starts_with(b"SIP/2.0 100")).collect();
        if bytes.starts_with(b"SIP/2.0") {
            assert!(out.is_empty(), "{name}: stray responses are dropped");
        } else {
            assert_eq!(out.len(), 1, "{name}");
            assert!(status(&out[0]) < 600, "{name}");
        }
    }
}
