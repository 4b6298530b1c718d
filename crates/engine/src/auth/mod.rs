//! SIP digest authentication (RFC 3261 section 22, RFC 8760): who may register a DN and
//! who may call as one.
//!
//! The site keeps no password, only HA1 hashes per DN ([`AuthConfig::users`]). Challenges
//! offer SHA-256 before MD5 with `qop=auth`; nonces are stateless (`nonce.rs`: an HMAC
//! bound to the issuing site, the challenged DN and the address challenged, so a capture
//! replays at no other site, for no other DN, from no other address). The [`Guard`] keeps
//! the highest nonce-count seen per used nonce (a replayed request is challenged again)
//! and counts failures per source address and per DN (`strikes.rs`): past `slow_after` a
//! source (or a DN, for addresses that did not prove its password) gets one try a second,
//! past `block_after` none for `block_for`.

mod digest;
mod nonce;
mod strikes;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use sipmsg::{HeaderName, Message};

pub(crate) use digest::hex;
pub use digest::{authorize, Algorithm, Credentials};
pub use nonce::constant_time_eq;
pub(crate) use nonce::unhex;
use nonce::{NonceCheck, Scope};
use strikes::Strikes;
pub use strikes::Throttle;

/// Most used nonces whose nonce-count is remembered; the oldest go first.
const MAX_NONCE_COUNTS: usize = 200_000;

/// Digest authentication for one site (the `[site.auth]` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// The realm in challenges; the same at both sites of a BC pair.
    pub realm: String,
    /// Key of the nonce MAC; the same at both sites of a BC pair.
    pub nonce_secret: Vec<u8>,
    /// HA1 hashes by DN (the digest username is the DN).
    pub users: BTreeMap<String, UserHashes>,
    /// Algorithms challenged with, in order (default SHA-256, then MD5).
    pub algorithms: Vec<Algorithm>,
    /// How long a nonce is good for; after it, `stale=true` (default 300 s).
    pub nonce_lifetime: Duration,
    /// What repeated failures from one source cost it.
    pub throttle: Throttle,
    /// Per mille of the DNs with credentials that use MD5 alone
    /// ([`AuthConfig::md5_per_mille_of`]): DNs without credentials are challenged as
    /// MD5-only ones at this rate, so an MD5 challenge does not prove that a DN exists.
    pub md5_per_mille: u16,
}

impl AuthConfig {
    /// The share (per mille) of `users` that use MD5 alone.
    pub fn md5_per_mille_of(users: &BTreeMap<String, UserHashes>) -> u16 {
        let md5_only = users.values().filter(|u| u.sha256.is_none() && u.md5.is_some()).count();
        u16::try_from(md5_only * 1000 / users.len().max(1)).unwrap_or(1000)
    }
}

/// One DN's HA1 hashes (lowercase hex), one per algorithm it may use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserHashes {
    /// H(dn:realm:password) with MD5.
    pub md5: Option<String>,
    /// H(dn:realm:password) with SHA-256.
    pub sha256: Option<String>,
}

impl UserHashes {
    /// The HA1 this DN may be checked with under `algorithm`: MD5 only for a DN that has
    /// no SHA-256 hash (MD5 is asked for per DN, by giving it an MD5 hash alone), so a
    /// DN with a SHA-256 hash cannot be downgraded to MD5.
    fn ha1(&self, algorithm: Algorithm) -> Option<&str> {
        match algorithm {
            Algorithm::Md5 if self.sha256.is_some() => None,
            Algorithm::Md5 => self.md5.as_deref(),
            Algorithm::Sha256 => self.sha256.as_deref(),
        }
    }
}

/// What the guard says of a request that needs credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Proven to be this DN.
    Accepted(String),
    /// No usable credentials (none, another realm, an unknown or replayed nonce): challenge;
    /// `stale` when the nonce was ours but expired (RFC 2617 section 3.2.1).
    Challenge {
        /// Say `stale=true`.
        stale: bool,
    },
    /// Wrong credentials, or for a user other than the one the request speaks for, or for
    /// a DN without any: 403, and a strike for the source and the DN.
    Refused,
    /// Guesses at this DN's password wait (it failed too often lately, from addresses
    /// other than this one): answered 403 unchecked.
    Throttled,
}

/// Who asks, for a challenge or a check: the nonce is bound to all three.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asker<'a> {
    /// Our site's name.
    pub(crate) site: &'a str,
    /// The DN the request speaks for: the To user of a REGISTER, the From user otherwise.
    pub(crate) identity: &'a str,
    /// The request's source address.
    pub(crate) source: IpAddr,
}

impl Asker<'_> {
    fn scope<'a>(&'a self, config: &'a AuthConfig) -> Scope<'a> {
        Scope { realm: &config.realm, site: self.site, dn: self.identity, source: self.source }
    }
}

/// Counters, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthStats {
    /// Challenges sent (401/407).
    pub challenges: u64,
    /// Requests authenticated.
    pub accepted: u64,
    /// Credentials refused (403).
    pub failures: u64,
    /// Nonce-counts seen again (replays), challenged anew.
    pub replays: u64,
    /// Requests dropped because their source (or the DN they guessed at) was slowed or
    /// blocked.
    pub throttled: u64,
    /// Sources blocked so far.
    pub sources_blocked: u64,
    /// DNs blocked so far (for addresses that had not proved their password).
    pub dns_blocked: u64,
    /// Failures from sources the full table could not track (they weigh more on the DN).
    pub untracked_failures: u64,
}

/// The authentication state of a site: nonce-counts of used nonces and failures per source.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    /// Highest nonce-count per used nonce (nonces start with their issue time, so the
    /// map's first entries are the oldest).
    counts: BTreeMap<Box<str>, u32>,
    strikes: Strikes,
    pub(crate) stats: AuthStats,
}

impl Guard {
    /// Checks the credentials `req` carries for `asker` at `unix_now` (wall-clock seconds).
    pub(crate) fn check(
        &mut self,
        config: &AuthConfig,
        req: &Message<'_>,
        asker: Asker<'_>,
        now: Instant,
        unix_now: u64,
    ) -> Verdict {
        let verdict = self.judge(config, req, asker, now, unix_now);
        match &verdict {
            Verdict::Accepted(dn) => {
                self.stats.accepted += 1;
                self.strikes.proved(asker.source, dn, now);
            }
            Verdict::Challenge { .. } => self.stats.challenges += 1,
            Verdict::Throttled => self.stats.throttled += 1,
            Verdict::Refused => self.count_failure(config, asker, now),
        }
        verdict
    }

    fn count_failure(&mut self, config: &AuthConfig, asker: Asker<'_>, now: Instant) {
        self.stats.failures += 1;
        let dn = config.users.contains_key(asker.identity).then_some(asker.identity);
        let struck = self.strikes.fail(asker.source, dn, now, &config.throttle);
        let source = asker.source;
        if struck.source_blocked {
            self.stats.sources_blocked += 1;
            tracing::warn!(%source, "source blocked after repeated authentication failures");
        }
        if struck.dn_blocked {
            self.stats.dns_blocked += 1;
            tracing::warn!(dn = asker.identity, "DN blocked for new addresses after repeated authentication failures");
        }
        if struck.untracked {
            self.stats.untracked_failures += 1;
        }
    }

    /// False when `source` is blocked, or slowed and tried less than a second ago: its
    /// request is dropped before it costs anything (and counted).
    pub(crate) fn admits(&mut self, source: IpAddr, now: Instant, throttle: &Throttle) -> bool {
        let admitted = self.strikes.admits(source, now, throttle);
        if !admitted {
            self.stats.throttled += 1;
        }
        admitted
    }

    fn judge(
        &mut self,
        config: &AuthConfig,
        req: &Message<'_>,
        asker: Asker<'_>,
        now: Instant,
        unix_now: u64,
    ) -> Verdict {
        let ours = [HeaderName::Authorization, HeaderName::ProxyAuthorization]
            .into_iter()
            .flat_map(|name| req.headers_named(name))
            .filter_map(|h| Credentials::parse(h.value))
            .find(|c| c.realm == config.realm);
        let Some(creds) = ours else {
            return Verdict::Challenge { stale: false };
        };
        let Some(algorithm) = Algorithm::from_name(creds.algorithm).filter(|a| config.algorithms.contains(a)) else {
            return Verdict::Challenge { stale: false };
        };
        let lifetime = config.nonce_lifetime.as_secs();
        match nonce::check(&config.nonce_secret, &asker.scope(config), creds.nonce, unix_now, lifetime) {
            NonceCheck::Invalid => return Verdict::Challenge { stale: false },
            NonceCheck::Stale => return Verdict::Challenge { stale: true },
            NonceCheck::Fresh { .. } => {}
        }
        let identity = asker.identity;
        if config.users.contains_key(identity)
            && !self.strikes.admits_guess(asker.source, identity, now, &config.throttle)
        {
            return Verdict::Throttled;
        }
        // An algorithm this DN may not use (an MD5 downgrade, say) fails as a wrong
        // password or an unknown DN would: no answer tells the three apart.
        let ha1 = config.users.get(identity).and_then(|u| u.ha1(algorithm));
        let (Some(ha1), Some(nc), Some(method)) = (ha1, creds.nonce_count(), req.method()) else {
            return Verdict::Refused;
        };
        let uri_matches = req.request_uri().is_some_and(|uri| uri == creds.uri);
        let expected = creds.expected_response(algorithm, ha1, method.as_str());
        let right = constant_time_eq(expected.as_bytes(), creds.response.to_ascii_lowercase().as_bytes());
        if creds.username != identity || !right || !uri_matches || creds.qop != Some("auth") {
            return Verdict::Refused;
        }
        if !self.count_use(creds.nonce, nc, unix_now, lifetime) {
            self.stats.replays += 1;
            return Verdict::Challenge { stale: false };
        }
        Verdict::Accepted(identity.to_owned())
    }

    /// Records nonce-count `nc` for `nonce`; false when it is not above the last one seen.
    fn count_use(&mut self, nonce: &str, nc: u32, unix_now: u64, lifetime: u64) -> bool {
        if let Some(last) = self.counts.get_mut(nonce) {
            if nc <= *last {
                return false;
            }
            *last = nc;
            return true;
        }
        // Forget nonces past their lifetime (they would be stale anyway), and the oldest
        // when too many are remembered.
        let oldest_fresh = nonce::floor(unix_now.saturating_sub(lifetime));
        loop {
            let full = self.counts.len() >= MAX_NONCE_COUNTS;
            match self.counts.first_entry() {
                Some(entry) if full || **entry.key() < *oldest_fresh => entry.remove(),
                _ => break,
            };
        }
        self.counts.insert(nonce.into(), nc);
        true
    }

    /// The challenge header values for a new nonce bound to `asker`: one per algorithm, in
    /// the configured order (RFC 8760 section 2.4: the preferred first), leaving out the
    /// algorithms the DN may not use ([`UserHashes::ha1`]). A DN without credentials is
    /// offered what a DN with them would be: SHA-256, or MD5 at the rate MD5-only DNs have
    /// (drawn once per DN with the secret), so a challenge does not tell which DNs exist.
    pub(crate) fn challenges(
        config: &AuthConfig,
        asker: Asker<'_>,
        unix_now: u64,
        random: u64,
        stale: bool,
    ) -> Vec<String> {
        let nonce = nonce::mint(&config.nonce_secret, &asker.scope(config), unix_now, random);
        let stale = if stale { ", stale=true" } else { "" };
        // Whether the DN may use MD5 (then alone) or SHA-256.
        let md5 = match config.users.get(asker.identity) {
            Some(user) => user.ha1(Algorithm::Md5).is_some(),
            // No draw (an HMAC) when every or no DN is MD5-only, the common cases.
            None => match config.md5_per_mille {
                0 => false,
                1000.. => true,
                share => nonce::draw_per_mille(&config.nonce_secret, asker.identity) < share,
            },
        };
        let usable = |a: &&Algorithm| (**a == Algorithm::Md5) == md5;
        let offered: Vec<Algorithm> = config.algorithms.iter().filter(usable).copied().collect();
        let offered = if offered.is_empty() { config.algorithms.clone() } else { offered };
        offered
            .iter()
            .map(|a| {
                format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{stale}",
                    config.realm,
                    a.name()
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
