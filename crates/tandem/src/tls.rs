//! TLS for SIP (`sip_tls`, RFC 3261 section 26.2, port 5061 by convention): rustls with
//! the certificate chain and key of `[site.tls]`, TLS 1.2 and 1.3 only. A TLS connection
//! is a reliable stream like TCP once the handshake is done (`tcp.rs` serves both);
//! the handshake must finish within [`HANDSHAKE_TIMEOUT`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// How long a client may take over its TLS handshake before it is closed.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// An acceptor for the PEM certificate chain at `cert` and the PEM private key at `key`.
pub(crate) fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let (chain, key) = read_pem(cert, key)?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("tls: the key does not match the certificate")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A certificate chain (leaf first) and its private key.
pub(crate) type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// Reads the PEM certificate chain at `cert` and the PEM private key at `key`.
pub(crate) fn read_pem(cert: &Path, key: &Path) -> anyhow::Result<Identity> {
    let chain = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(cert).with_context(|| format!("tls.cert: opening {}", cert.display()))?,
    ))
    .collect::<Result<Vec<_>, _>>()
    .with_context(|| format!("tls.cert: reading PEM certificates from {}", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "tls.cert: no certificate in {}", cert.display());
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(key).with_context(|| format!("tls.key: opening {}", key.display()))?,
    ))
    .with_context(|| format!("tls.key: reading a PEM private key from {}", key.display()))?
    .with_context(|| format!("tls.key: no private key in {}", key.display()))?;
    Ok((chain, key))
}
