//! `tandem cti`: a command-line CTI client for operators and scripts. It connects to a
//! site's CTI WebSocket, sends requests, and prints every event as one JSON line.

use std::time::Duration;

use anyhow::Context as _;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

/// Turns `RequestAgentLogin ThisDN=1001 AgentID=A1001` (or a JSON object) into JSON text.
pub(crate) fn request_json(words: &str) -> anyhow::Result<String> {
    let words = words.trim();
    if words.starts_with('{') {
        let req: cti::Request = serde_json::from_str(words).context("not a valid CTI request")?;
        return Ok(serde_json::to_string(&req)?);
    }
    let mut parts = words.split_whitespace();
    let name = parts.next().context("empty request")?;
    let mut object = serde_json::Map::new();
    object.insert("message".into(), name.into());
    for part in parts {
        let (key, value) = part.split_once('=').with_context(|| format!("`{part}`: expected Attribute=value"))?;
        let value = match key {
            "ReferenceID" | "ServiceID" => serde_json::Value::from(
                value.parse::<u64>().with_context(|| format!("{key} `{value}` is not a number"))?,
            ),
            _ if value.starts_with('{') => serde_json::from_str(value).with_context(|| format!("`{key}`: bad JSON"))?,
            _ => value.into(),
        };
        object.insert(key.into(), value);
    }
    let req: cti::Request =
        serde_json::from_value(object.into()).with_context(|| format!("`{words}` is not a valid CTI request"))?;
    Ok(serde_json::to_string(&req)?)
}

/// A WebSocket request for `url` presenting `token` in the `Authorization` header (never
/// in the URL, which ends up in logs; a site takes a query-string token from loopback only).
pub(crate) fn ws_request(
    url: &str,
    token: &str,
) -> anyhow::Result<tokio_tungstenite::tungstenite::handshake::client::Request> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().with_context(|| format!("the CTI URL {url}"))?;
    let value = format!("Bearer {token}").parse().context("the CTI token must be printable ASCII")?;
    request.headers_mut().insert("authorization", value);
    Ok(request)
}

/// Each stdin line as a request, read on a thread of its own (when `read`); a bad line
/// is reported and skipped.
fn stdin_requests(read: bool) -> tokio::sync::mpsc::Receiver<String> {
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(1024);
    if !read {
        return rx;
    }
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok).filter(|l| !l.trim().is_empty()) {
            match request_json(&line) {
                Ok(json) => {
                    if tx.blocking_send(json).is_err() {
                        break;
                    }
                }
                Err(e) => eprintln!("skipped: {e:#}"),
            }
        }
    });
    rx
}

/// Connects, sends `requests` and, when one of them is `-`, then each stdin line as it
/// arrives (a bad line is reported and skipped); prints events until `wait` passes
/// without any (forever when `wait` is zero).
#[allow(clippy::print_stdout)]
pub(crate) async fn run(url: &str, token: &str, requests: &[String], wait: Duration) -> anyhow::Result<()> {
    let (ws, _) = tokio_tungstenite::connect_async(ws_request(url, token)?)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let given = requests.iter().filter(|r| *r != "-").map(|l| request_json(l)).collect::<anyhow::Result<Vec<_>>>()?;
    let mut from_stdin = stdin_requests(requests.iter().any(|r| r == "-"));
    // Send while reading, as a desktop does: a client that only writes would see its own
    // event queue overflow on the server.
    let (mut sink, mut stream) = ws.split();
    let sender = tokio::spawn(async move {
        for json in given {
            if sink.send(Message::Text(json)).await.is_err() {
                return sink;
            }
        }
        while let Some(json) = from_stdin.recv().await {
            if sink.send(Message::Text(json)).await.is_err() {
                break;
            }
        }
        sink
    });
    loop {
        let next =
            if wait.is_zero() { Ok(stream.next().await) } else { tokio::time::timeout(wait, stream.next()).await };
        match next {
            Ok(Some(Ok(Message::Text(text)))) => println!("{text}"),
            Ok(Some(Ok(Message::Close(frame)))) => {
                let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                if reason == "site shutting down" {
                    eprintln!("the site closed the connection: {reason}");
                    break;
                }
                anyhow::bail!("server closed the connection: {reason}");
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) | Err(_) => break,
        }
    }
    if sender.is_finished() {
        let _ = sender.await?.close().await;
    } else {
        sender.abort(); // still waiting on stdin
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthand_and_json_requests() {
        let json = request_json("RequestAgentLogin ReferenceID=4 ThisDN=1001 AgentID=A1001").expect("valid");
        let req: cti::Request = serde_json::from_str(&json).expect("parses");
        assert_eq!(req.reference_id(), Some(4));
        assert_eq!(req.name(), "RequestAgentLogin");
        assert!(request_json(r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#).is_ok());
        assert!(request_json("RequestFly ThisDN=1").is_err());
        assert!(request_json("RequestAgentLogin ThisDN").is_err());
    }
}
