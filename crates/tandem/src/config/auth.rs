//! `[site.auth]`: SIP digest authentication. Absent, every From is believed (a lab
//! set-up; the site says so in its log at start).

use std::collections::BTreeMap;
use std::time::Duration;

use engine::auth::{Algorithm, AuthConfig, Throttle, UserHashes};
use engine::{DnKind, DnPlan};
use serde::Deserialize;
use toml::Spanned;

/// `[site.auth]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthFile {
    /// The realm in challenges; the same at both sites of a BC pair (HA1 hashes include it).
    realm: Spanned<String>,
    /// Key for the nonces' HMAC, at least 16 characters; the same at both sites of a BC
    /// pair, so a nonce one issued is good at the other.
    nonce_secret: Spanned<String>,
    /// Algorithms offered, in order. Default `["SHA-256", "MD5"]`.
    #[serde(default = "default_algorithms")]
    algorithms: Spanned<Vec<String>>,
    /// Seconds a nonce is good for (then `stale=true`), 10-3600. Default 300.
    #[serde(default = "default_nonce_lifetime")]
    nonce_lifetime: u32,
    /// Failures from one address within `failure_window` after which it may try once a
    /// second. Default 5.
    #[serde(default = "default_slow_after")]
    slow_after: u32,
    /// Failures within `failure_window` after which it is ignored for `block_seconds`. Default 20.
    #[serde(default = "default_block_after")]
    block_after: u32,
    /// Seconds failures are remembered. Default 60.
    #[serde(default = "default_failure_window")]
    failure_window: u32,
    /// Seconds a blocked address is ignored. Default 300.
    #[serde(default = "default_block_seconds")]
    block_seconds: u32,
    /// Credentials: `[[site.auth.user]] dn = "1001"`, `md5 = "<HA1>"`, `sha256 = "<HA1>"`
    /// (`tandem passwd` prints them).
    #[serde(default)]
    user: Vec<UserFile>,
}

/// `[[site.auth.user]]`: one DN's HA1 hashes (never its password).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserFile {
    /// The DN (the digest username).
    dn: Spanned<String>,
    /// HA1 = MD5(dn:realm:password), 32 hex digits.
    md5: Option<Spanned<String>>,
    /// HA1 = SHA-256(dn:realm:password), 64 hex digits.
    sha256: Option<Spanned<String>>,
}

fn default_algorithms() -> Spanned<Vec<String>> {
    Spanned::new(0..0, vec!["SHA-256".into(), "MD5".into()])
}
fn default_nonce_lifetime() -> u32 {
    300
}
fn default_slow_after() -> u32 {
    Throttle::default().slow_after
}
fn default_block_after() -> u32 {
    Throttle::default().block_after
}
fn default_failure_window() -> u32 {
    Throttle::default().window.as_secs() as u32
}
fn default_block_seconds() -> u32 {
    Throttle::default().block_for.as_secs() as u32
}

type Invalid = (usize, String);

impl AuthFile {
    /// Checked against the site's DN plan: byte offset and message on error.
    pub(super) fn into_config(self, dns: &DnPlan) -> Result<AuthConfig, Invalid> {
        let realm_at = self.realm.span().start;
        if self.realm.get_ref().is_empty() || self.realm.get_ref().contains(['"', '\\']) {
            return Err((realm_at, "`auth.realm` must be non-empty, without quotes or backslashes".into()));
        }
        if self.nonce_secret.get_ref().len() < 16 {
            return Err((self.nonce_secret.span().start, "`auth.nonce_secret` must be at least 16 characters".into()));
        }
        let algorithms = algorithms(&self.algorithms)?;
        if !(10..=3600).contains(&self.nonce_lifetime) {
            return Err((realm_at, "`auth.nonce_lifetime` must be 10-3600 seconds".into()));
        }
        if self.slow_after == 0 || self.block_after < self.slow_after {
            return Err((realm_at, "`auth.slow_after` must be at least 1 and `auth.block_after` at least it".into()));
        }
        let mut users = BTreeMap::new();
        for user in self.user {
            let (dn, hashes) = user.checked(dns, &algorithms)?;
            users.insert(dn, hashes);
        }
        let md5_per_mille = AuthConfig::md5_per_mille_of(&users);
        Ok(AuthConfig {
            md5_per_mille,
            realm: self.realm.into_inner(),
            nonce_secret: self.nonce_secret.into_inner().into_bytes(),
            users,
            algorithms,
            nonce_lifetime: Duration::from_secs(self.nonce_lifetime.into()),
            throttle: Throttle {
                slow_after: self.slow_after,
                block_after: self.block_after,
                window: Duration::from_secs(self.failure_window.max(1).into()),
                block_for: Duration::from_secs(self.block_seconds.into()),
            },
        })
    }
}

fn algorithms(list: &Spanned<Vec<String>>) -> Result<Vec<Algorithm>, Invalid> {
    let at = list.span().start;
    let mut out = Vec::new();
    for name in list.get_ref() {
        match Algorithm::from_name(Some(name)) {
            Some(a) if !out.contains(&a) => out.push(a),
            Some(_) => return Err((at, format!("`auth.algorithms`: `{name}` is listed twice"))),
            None => return Err((at, format!("`auth.algorithms`: `{name}` is not one of SHA-256, MD5"))),
        }
    }
    if out.is_empty() {
        return Err((at, "`auth.algorithms` must name at least one of SHA-256, MD5".into()));
    }
    Ok(out)
}

impl UserFile {
    fn checked(self, dns: &DnPlan, algorithms: &[Algorithm]) -> Result<(String, UserHashes), Invalid> {
        let at = self.dn.span().start;
        let dn = self.dn.into_inner();
        if !dns.kind(&dn).is_some_and(DnKind::is_agent_line) {
            return Err((at, format!("`auth.user.dn`: `{dn}` is not a provisioned Extension or ACD Position")));
        }
        let md5 = hash(self.md5, 32, "md5")?;
        let sha256 = hash(self.sha256, 64, "sha256")?;
        let usable = algorithms.iter().any(|a| match a {
            // MD5 is for DNs with an MD5 hash alone (no downgrade from SHA-256).
            Algorithm::Md5 => md5.is_some() && sha256.is_none(),
            Algorithm::Sha256 => sha256.is_some(),
        });
        if !usable {
            return Err((at, format!("`auth.user`: `{dn}` has no hash for any algorithm in `auth.algorithms`")));
        }
        Ok((dn, UserHashes { md5, sha256 }))
    }
}

fn hash(value: Option<Spanned<String>>, digits: usize, name: &str) -> Result<Option<String>, Invalid> {
    let Some(value) = value else { return Ok(None) };
    let text = value.get_ref().to_ascii_lowercase();
    if text.len() != digits || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err((
            value.span().start,
            format!("`auth.user.{name}`: an HA1 of {digits} hex digits (`tandem passwd`)"),
        ));
    }
    Ok(Some(text))
}
