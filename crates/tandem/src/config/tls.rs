//! `[site.tls]` and the TLS listeners that use it (`sip_tls`, `cti_tls`).

use std::net::SocketAddr;

use serde::Deserialize;
use toml::Spanned;

/// `[site.tls]`: PEM files for `sip_tls` (read at start; a restart picks up new ones).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TlsFile {
    /// The certificate chain, leaf first.
    cert: std::path::PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    key: std::path::PathBuf,
}

/// The PEM files of a site's TLS listener.
#[derive(Debug, Clone)]
pub(crate) struct TlsFiles {
    pub(crate) cert: std::path::PathBuf,
    pub(crate) key: std::path::PathBuf,
}

/// SIP over TLS: its address and files.
type SipTls = Option<(SocketAddr, TlsFiles)>;

/// Where SIP over TLS listens and with which files, and the files CTI's `wss://` uses.
pub(super) fn listeners(
    tls: Option<TlsFile>,
    sip_tls: Option<Spanned<SocketAddr>>,
    cti_tls: Option<Spanned<bool>>,
) -> Result<(SipTls, Option<TlsFiles>), (usize, String)> {
    let files = tls.map(|t| TlsFiles { cert: t.cert, key: t.key });
    let sip = match (sip_tls, &files) {
        (Some(addr), Some(files)) => Some((addr.into_inner(), files.clone())),
        (Some(addr), None) => {
            return Err((addr.span().start, "`sip_tls` needs `[site.tls]` with `cert` and `key`".into()))
        }
        (None, _) => None,
    };
    let cti = match (cti_tls.filter(|t| *t.get_ref()), files) {
        (Some(_), Some(files)) => Some(files),
        (Some(t), None) => return Err((t.span().start, "`cti_tls` needs `[site.tls]` with `cert` and `key`".into())),
        (None, _) => None,
    };
    Ok((sip, cti))
}
