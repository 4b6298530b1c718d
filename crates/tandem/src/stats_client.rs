//! `tandem stats`: prints a stat service's figures. Without `--watch` it prints the
//! current values and exits; with it, every change as it comes (one line each).

use std::time::Duration;

use anyhow::Context as _;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Where and how to reach a stat service.
pub(crate) struct Endpoint<'a> {
    /// `ws://host:port/stats/ws`, or `wss://` for a site with `stats_tls`.
    pub(crate) url: &'a str,
    /// A viewer, client or admin token of the site.
    pub(crate) token: Option<&'a str>,
    /// For `wss://`: the PEM file of the site's certificate or of its CA.
    pub(crate) ca: Option<&'a std::path::Path>,
}

/// Connects to `to`, subscribes to `names` (all when empty) and prints them.
#[allow(clippy::print_stdout)]
pub(crate) async fn run(to: Endpoint<'_>, names: &[String], watch: bool) -> anyhow::Result<()> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let url = to.url;
    let mut request = url.into_client_request().with_context(|| format!("not a WebSocket URL: {url}"))?;
    if let Some(token) = to.token {
        let value = format!("Bearer {token}").parse().context("the token is not a valid header value")?;
        request.headers_mut().insert("authorization", value);
    }
    if url.starts_with("wss://") {
        let ca = to.ca.context("a wss:// URL needs --ca: the site's certificate or its CA (PEM)")?;
        let tls = tls_stream(&request, ca).await.with_context(|| format!("connecting to {url}"))?;
        let (ws, _) = tokio_tungstenite::client_async(request, tls).await.with_context(|| format!("opening {url}"))?;
        print_updates(ws, names, watch).await
    } else {
        let (ws, _) =
            tokio_tungstenite::connect_async(request).await.with_context(|| format!("connecting to {url}"))?;
        print_updates(ws, names, watch).await
    }
}

/// A TLS session with the host of `request`, trusting the certificates in `ca`.
async fn tls_stream(
    request: &tokio_tungstenite::tungstenite::handshake::client::Request,
    ca: &std::path::Path,
) -> anyhow::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use tokio_rustls::rustls;
    let host = request.uri().host().context("the URL has no host")?.trim_matches(['[', ']']).to_owned();
    let port = request.uri().port_u16().unwrap_or(443);
    let roots = crate::tls::ca_roots(ca, "--ca")?;
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.clone()).with_context(|| format!("`{host}` is no name"))?;
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    Ok(connector.connect(name, tcp).await?)
}

/// Subscribes to `names` (all when empty) on `ws` and prints the updates.
#[allow(clippy::print_stdout)]
async fn print_updates<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    names: &[String],
    watch: bool,
) -> anyhow::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    // The last line printed per statistic.
    let mut printed: std::collections::HashMap<String, String> = std::collections::HashMap::new();
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
        let text = line(&update);
        // The service pushes its site figures every second: a line that did not change is
        // not printed again.
        let name = update["stat"].as_str().unwrap_or("?").to_owned();
        if printed.get(&name) != Some(&text) {
            println!("{text}");
            printed.insert(name, text);
        }
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
