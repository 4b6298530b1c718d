//! `tandem stats`: prints a stat service's figures. Without `--watch` it prints the
//! current values and exits; with it, every change as it comes (one line each).

use std::time::Duration;

use anyhow::Context as _;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Connects to `url` (`ws://host:port/stats/ws`) with `token` if given (a viewer, client
/// or admin token of the site), subscribes to `names` (all when empty).
#[allow(clippy::print_stdout)]
pub(crate) async fn run(url: &str, token: Option<&str>, names: &[String], watch: bool) -> anyhow::Result<()> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut request = url.into_client_request().with_context(|| format!("not a WebSocket URL: {url}"))?;
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().context("the token is not a valid header value")?;
        request.headers_mut().insert("authorization", value);
    }
    let (ws, _) = tokio_tungstenite::connect_async(request).await.with_context(|| format!("connecting to {url}"))?;
    let (mut sink, mut stream) = ws.split();
    let names: Vec<String> = if names.is_empty() { vec!["*".into()] } else { names.to_vec() };
    sink.send(Message::Text(json!({ "subscribe": names }).to_string())).await?;
    loop {
        // The current values arrive at once; a short quiet ends the first screen.
        let wait = if watch { Duration::from_secs(3600) } else { Duration::from_millis(500) };
        let Ok(next) = tokio::time::timeout(wait, stream.next()).await else {
            if watch {
                continue;
            }
            return Ok(());
        };
        let Some(Ok(Message::Text(text))) = next else { return Ok(()) };
        let update: Value = serde_json::from_str(&text).context("the stat service sent something that is not JSON")?;
        println!("{}", line(&update));
    }
}

/// `rp/5000  waiting=1 longest=3.2s offered=10 answered=8 ...` from one update.
fn line(update: &Value) -> String {
    let name = update["stat"].as_str().unwrap_or("?");
    let mut parts = Vec::new();
    flatten("", &update["value"], &mut parts);
    format!("{name:<16} {}", parts.join(" "))
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        Value::Null => {}
        other => out.push(format!("{prefix}={other}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_line_flattens_the_value_and_skips_nulls() {
        let update =
            serde_json::json!({"stat": "total", "value": {"agents": {"ready": 2}, "calls_waiting": 1, "sl": null}});
        assert_eq!(super::line(&update), "total            agents.ready=2 calls_waiting=1");
    }
}
