//! Settings that would leave a site open to whoever can reach it, refused at load with the
//! field named: authentication that the DR peer's (spoofable) address bypasses, trunks any
//! authenticated line may dial out through, the example's published secrets off loopback,
//! and registrar limits of zero. `docs/configuration.md` ("Security") lists them.

use toml::Spanned;

use super::Invalid;

/// What the checks read of one site.
pub(super) struct Site<'a> {
    /// Where the site's name stands (errors point there).
    pub(super) name_at: usize,
    /// The site's SIP address is not on loopback.
    pub(super) exposed: bool,
    pub(super) auth: Option<&'a engine::auth::AuthConfig>,
    pub(super) dns: &'a engine::DnPlan,
    pub(super) dr_peer_trunk: Option<&'a str>,
    pub(super) peer_secret: Option<&'a Spanned<String>>,
    /// `[site.peer_link]` is configured.
    pub(super) peer_link: bool,
    /// `registrar.default_expires` and `registrar.max_contacts`.
    pub(super) registrar: (u32, u32),
}

/// Every check, in turn.
pub(super) fn check(site: &Site<'_>) -> Result<(), Invalid> {
    short_peer_secret(site)?;
    peer_can_be_spoofed(site)?;
    trunk_open_to_every_line(site)?;
    demo_secret_exposed(site)?;
    registrar_zero(site)
}

fn short_peer_secret(site: &Site<'_>) -> Result<(), Invalid> {
    match site.peer_secret.filter(|s| s.get_ref().len() < 16) {
        Some(secret) => Err((secret.span().start, "`peer_secret` must be at least 16 characters".into())),
        None => Ok(()),
    }
}

fn peer_can_be_spoofed(site: &Site<'_>) -> Result<(), Invalid> {
    let unsealed = site.peer_secret.is_none() && !site.peer_link;
    if site.auth.is_some() && site.dr_peer_trunk.is_some() && unsealed && site.exposed {
        return Err((
            site.name_at,
            "`[site.auth]` with a `dr-peer-trunk` off loopback needs `peer_secret` or `[site.peer_link]`: \
             without either, anyone who spoofs the DR peer's address is believed as the peer"
                .into(),
        ));
    }
    Ok(())
}

fn trunk_open_to_every_line(site: &Site<'_>) -> Result<(), Invalid> {
    if site.auth.is_none() {
        return Ok(()); // without auth every From is believed anyway
    }
    let outside = |(name, t): &(&str, &engine::Trunk)| Some(*name) != site.dr_peer_trunk && !t.prefix.is_empty();
    match site.dns.trunks().find(|entry| outside(entry) && entry.1.callers.is_empty()) {
        Some((name, t)) => Err((
            site.name_at,
            format!(
                "trunk `{name}` (prefix `{}`) reaches the outside: list the DNs that may dial out through it \
                 in its `callers` (e.g. `callers = [\"1000-1999\"]`)",
                t.prefix
            ),
        )),
        None => Ok(()),
    }
}

fn demo_secret_exposed(site: &Site<'_>) -> Result<(), Invalid> {
    if !site.exposed {
        return Ok(());
    }
    let demo = |text: &str| text.contains("change-me");
    if let Some(secret) = site.peer_secret.filter(|s| demo(s.get_ref())) {
        return Err((secret.span().start, "`peer_secret`: the example's secret is for loopback only".into()));
    }
    if site.auth.is_some_and(|a| demo(&String::from_utf8_lossy(&a.nonce_secret))) {
        return Err((site.name_at, "`auth.nonce_secret`: the example's secret is for loopback only".into()));
    }
    Ok(())
}

fn registrar_zero(site: &Site<'_>) -> Result<(), Invalid> {
    let (default_expires, max_contacts) = site.registrar;
    if default_expires == 0 || max_contacts == 0 {
        return Err((
            site.name_at,
            "`registrar.default_expires` and `registrar.max_contacts` must be at least 1 \
             (0 would unregister every phone that names no expiry, or refuse every contact)"
                .into(),
        ));
    }
    Ok(())
}
