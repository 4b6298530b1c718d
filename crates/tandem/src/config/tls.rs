//! `[site.tls]` and the TLS listeners that use it (`sip_tls`, `cti_tls`, `stats_tls`).

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
    /// The CA that issues trunks' client certificates: `sip_tls` then asks every client
    /// for one (phones without one still connect), and `allow` rules with `cert=` are met
    /// by a certificate it issued for that name.
    client_ca: Option<Spanned<std::path::PathBuf>>,
}

/// The PEM files of a site's TLS listener.
#[derive(Debug, Clone)]
pub(crate) struct TlsFiles {
    pub(crate) cert: std::path::PathBuf,
    pub(crate) key: std::path::PathBuf,
    /// `client_ca` (SIP over TLS only).
    pub(crate) client_ca: Option<std::path::PathBuf>,
}

/// SIP over TLS: its address and files.
type SipTls = Option<(SocketAddr, TlsFiles)>;

/// The site's TLS settings as written: `[site.tls]`, and what uses it.
pub(super) struct TlsUse {
    pub(super) tls: Option<TlsFile>,
    pub(super) sip_tls: Option<Spanned<SocketAddr>>,
    pub(super) cti_tls: Option<Spanned<bool>>,
    pub(super) stats_tls: Option<Spanned<bool>>,
    /// Where the first `allow` rule naming a certificate is, if any (it needs `sip_tls`
    /// and `client_ca`).
    pub(super) cert_rule_at: Option<usize>,
}

/// The TLS listeners of a site: SIP's address and files, and the files of CTI's `wss://`
/// and of the stats API's `https://` / `wss://`.
pub(super) struct Listeners {
    pub(super) sip: SipTls,
    pub(super) cti: Option<TlsFiles>,
    pub(super) stats: Option<TlsFiles>,
}

/// Which listeners use TLS, with which files; the settings checked.
pub(super) fn listeners(asked: TlsUse) -> Result<Listeners, (usize, String)> {
    let TlsUse { tls, sip_tls, cti_tls, stats_tls, cert_rule_at } = asked;
    if let Some(at) = cert_rule_at {
        if sip_tls.is_none() || tls.as_ref().is_none_or(|t| t.client_ca.is_none()) {
            return Err((at, "`allow` with `cert=` needs `sip_tls` and `[site.tls]` with `client_ca`".into()));
        }
    }
    if let (Some(ca), None) = (tls.as_ref().and_then(|t| t.client_ca.as_ref()), sip_tls.as_ref()) {
        return Err((ca.span().start, "`tls.client_ca` is for `sip_tls`, which is not set".into()));
    }
    let files = tls.map(|t| TlsFiles { cert: t.cert, key: t.key, client_ca: t.client_ca.map(Spanned::into_inner) });
    let sip = match (sip_tls, &files) {
        (Some(addr), Some(files)) => Some((addr.into_inner(), files.clone())),
        (Some(addr), None) => {
            return Err((addr.span().start, "`sip_tls` needs `[site.tls]` with `cert` and `key`".into()))
        }
        (None, _) => None,
    };
    let cti = https_files(cti_tls, files.as_ref(), "cti_tls")?;
    let stats = https_files(stats_tls, files.as_ref(), "stats_tls")?;
    Ok(Listeners { sip, cti, stats })
}

/// The files of an HTTP listener switched to TLS by the flag `asked` (named `field`).
fn https_files(
    asked: Option<Spanned<bool>>,
    files: Option<&TlsFiles>,
    field: &str,
) -> Result<Option<TlsFiles>, (usize, String)> {
    match (asked.filter(|t| *t.get_ref()), files) {
        (Some(_), Some(files)) => Ok(Some(TlsFiles { client_ca: None, ..files.clone() })),
        (Some(t), None) => Err((t.span().start, format!("`{field}` needs `[site.tls]` with `cert` and `key`"))),
        (None, _) => Ok(None),
    }
}

/// `[site.peer_link]`: the DR peer link over mutual TLS (see `peer_tls.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PeerLinkFile {
    /// Where the DR peer dials in.
    listen: Spanned<SocketAddr>,
    /// The DR peer's `peer_link.listen` address.
    peer: Spanned<SocketAddr>,
    /// The name the peer's certificate carries (a DNS name or IP address). Default: the
    /// IP address of `peer`.
    peer_name: Option<Spanned<String>>,
    /// This site's certificate chain, leaf first (shown to the peer either way).
    cert: std::path::PathBuf,
    /// Its private key.
    key: std::path::PathBuf,
    /// The pair's own CA: only certificates it issued are accepted.
    ca: std::path::PathBuf,
}

impl PeerLinkFile {
    /// The link's settings; `has_dr_peer` says whether the site has a `dr-peer-trunk`
    /// (the link carries that trunk's traffic, so it needs one).
    pub(super) fn into_config(self, has_dr_peer: bool) -> Result<crate::peer_tls::PeerLinkConfig, (usize, String)> {
        if !has_dr_peer {
            return Err((self.listen.span().start, "`peer_link` needs `options.dr-peer-trunk`".into()));
        }
        if let Some(name) = self.peer_name.as_ref().filter(|n| n.get_ref().is_empty()) {
            return Err((name.span().start, "`peer_link.peer_name` must not be empty".into()));
        }
        let peer = self.peer.into_inner();
        Ok(crate::peer_tls::PeerLinkConfig {
            listen: self.listen.into_inner(),
            peer,
            peer_name: self.peer_name.map_or_else(|| peer.ip().to_string(), Spanned::into_inner),
            cert: self.cert,
            key: self.key,
            ca: self.ca,
        })
    }
}
