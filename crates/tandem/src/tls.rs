//! TLS for SIP (`sip_tls`, RFC 3261 section 26.2, port 5061 by convention): rustls with
//! the certificate chain and key of `[site.tls]`, TLS 1.2 and 1.3 only. A TLS connection
//! is a reliable stream like TCP once the handshake is done (`tcp.rs` serves both);
//! the handshake must finish within [`HANDSHAKE_TIMEOUT`]. With `client_ca`, clients are
//! asked for a certificate (none is fine: phones) and one that CA issued proves the names
//! it carries: the trunks' `allow` rules with `cert=` see them as [`engine::Peer::certified`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
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

/// The SIP TLS listener's acceptor, and the certificate names trunks are known by.
#[derive(Clone)]
pub(crate) struct SipTls {
    pub(crate) acceptor: TlsAcceptor,
    /// Bit `i` of [`engine::Peer::certified`] is `names[i]` ([`engine::DnPlan::cert_names`]).
    names: Arc<[ServerName<'static>]>,
}

impl SipTls {
    /// The acceptor of the PEM files `cert` and `key`; with `client_ca`, one that asks
    /// clients for certificates and checks them against it, for the names `cert_names`.
    pub(crate) fn new(
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
        cert_names: &[String],
    ) -> anyhow::Result<Self> {
        let Some(ca) = client_ca else {
            return Ok(Self { acceptor: acceptor(cert, key)?, names: Arc::new([]) });
        };
        let (chain, key) = read_pem(cert, key)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(ca_roots(ca, "tls.client_ca")?);
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
            .allow_unauthenticated()
            .build()
            .context("tls.client_ca: building the client certificate check")?;
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .context("tls: the key does not match the certificate")?;
        let names = cert_names
            .iter()
            .map(|n| ServerName::try_from(n.clone()).with_context(|| format!("allow: `cert={n}` is no DNS name or IP")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self { acceptor: TlsAcceptor::from(Arc::new(config)), names: names.into() })
    }

    /// The names (as bits) the client's certificate of `session` carries. rustls has
    /// verified the certificate against `client_ca` in the handshake, or there is none.
    pub(crate) fn certified(&self, session: &rustls::ServerConnection) -> u64 {
        if self.names.is_empty() {
            return 0;
        }
        let Some(leaf) = session.peer_certificates().and_then(<[_]>::first) else { return 0 };
        let Ok(parsed) = rustls::server::ParsedCertificate::try_from(leaf) else { return 0 };
        self.names
            .iter()
            .enumerate()
            .filter(|(_, name)| rustls::client::verify_server_name(&parsed, name).is_ok())
            .fold(0, |bits, (i, _)| bits | (1 << i))
    }
}

/// The trust anchors in the PEM file `ca`; `field` names it in errors.
pub(crate) fn ca_roots(ca: &Path, field: &str) -> anyhow::Result<rustls::RootCertStore> {
    let file = std::fs::File::open(ca).with_context(|| format!("{field}: opening {}", ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut std::io::BufReader::new(file)) {
        let cert = cert.with_context(|| format!("{field}: reading PEM certificates from {}", ca.display()))?;
        roots.add(cert).with_context(|| format!("{field}: a certificate in {} is not usable", ca.display()))?;
    }
    anyhow::ensure!(!roots.is_empty(), "{field}: no certificate in {}", ca.display());
    Ok(roots)
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
