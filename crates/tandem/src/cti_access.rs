//! Who may ask a site what over CTI: each token has a role. An **admin** may do
//! everything (shut down, reload, log any agent out); a **client** (router, stat service)
//! may monitor any DN and route calls, reserve agents and set them NotReady (the
//! no-answer limit) and change a call's UserData, but not log agents in or out, dial,
//! hold, transfer or stop the site; a **desktop** acts only on its own DNs (register, log
//! in and out, Ready/NotReady, dial, answer, release, hold, retrieve, transfer, redirect,
//! UserData, query) and routes nothing. Tokens are compared in constant time; a token may
//! travel in the `Authorization: Bearer` header or the `tandem-token.<token>` WebSocket
//! subprotocol (what a browser can send) from anywhere, in the query string only from
//! loopback (URLs end up in logs and proxies).

use engine::DnRange;

/// A token and what it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    /// The secret the client presents.
    pub(crate) token: String,
    /// What it may do.
    pub(crate) role: Role,
}

/// What a token allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Role {
    /// Everything.
    Admin,
    /// Monitoring and routing (routers, stat services).
    Client,
    /// One agent's desktop: requests about these DNs only.
    Desktop(Vec<DnRange>),
    /// Read-only: the stat service's figures and wallboard; on CTI, monitoring only
    /// (register, unregister and query a DN).
    Viewer,
}

impl Role {
    /// The role's name in the configuration and logs.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Client => "client",
            Self::Desktop(_) => "desktop",
            Self::Viewer => "viewer",
        }
    }

    /// True when this role may send `request`.
    pub(crate) fn permits(&self, request: &cti::Request) -> bool {
        use cti::Request as R;
        match self {
            Self::Admin => true,
            Self::Viewer => matches!(
                request,
                R::RequestRegisterAddress { .. } | R::RequestUnregisterAddress { .. } | R::RequestQueryAddress { .. }
            ),
            Self::Client => client_permits(request),
            Self::Desktop(dns) => desktop_permits(dns, request),
        }
    }
}

/// A CTI client (a router, a supervisor's tool): routing, UserData, NotReady, recording.
fn client_permits(request: &cti::Request) -> bool {
    use cti::Request as R;
    let recording = matches!(request, R::RequestPrivateService { service_id, .. } if cti::RecordOp::of_service(*service_id).is_some());
    recording
        || matches!(
            request,
            R::RequestRegisterAddress { .. }
                | R::RequestUnregisterAddress { .. }
                | R::RequestRouteCall { .. }
                | R::RequestApplyTreatment { .. }
                | R::RequestReserveAgent { .. }
                | R::RequestAgentNotReady { .. }
                | R::RequestQueryAddress { .. }
                | R::RequestAttachUserData { .. }
                | R::RequestUpdateUserData { .. }
                | R::RequestDeleteUserData { .. }
                | R::RequestDeleteAllUserData { .. }
        )
}

/// A desktop: what concerns its own DNs (`dns`), never routing or the process.
fn desktop_permits(dns: &[DnRange], request: &cti::Request) -> bool {
    use cti::Request as R;
    let own = |dn: &str| dns.iter().any(|r| r.contains(dn));
    match request {
        R::RequestRegisterAddress { this_dn, .. }
        | R::RequestUnregisterAddress { this_dn, .. }
        | R::RequestAgentLogin { this_dn, .. }
        | R::RequestAgentLogout { this_dn, .. }
        | R::RequestAgentReady { this_dn, .. }
        | R::RequestAgentNotReady { this_dn, .. }
        | R::RequestMakeCall { this_dn, .. }
        | R::RequestAnswerCall { this_dn, .. }
        | R::RequestReleaseCall { this_dn, .. }
        | R::RequestHoldCall { this_dn, .. }
        | R::RequestRetrieveCall { this_dn, .. }
        | R::RequestSingleStepTransfer { this_dn, .. }
        | R::RequestMuteTransfer { this_dn, .. }
        | R::RequestRedirectCall { this_dn, .. }
        | R::RequestAttachUserData { this_dn, .. }
        | R::RequestUpdateUserData { this_dn, .. }
        | R::RequestDeleteUserData { this_dn, .. }
        | R::RequestDeleteAllUserData { this_dn, .. }
        | R::RequestInitiateTransfer { this_dn, .. }
        | R::RequestCompleteTransfer { this_dn, .. }
        | R::RequestAlternateCall { this_dn, .. }
        | R::RequestReconnectCall { this_dn, .. }
        | R::RequestInitiateConference { this_dn, .. }
        | R::RequestCompleteConference { this_dn, .. }
        | R::RequestDeleteFromConference { this_dn, .. }
        | R::RequestQueryAddress { this_dn, .. } => own(this_dn),
        // A desktop records the calls of its own DNs (3013-3016).
        R::RequestPrivateService { service_id, this_dn: Some(this_dn), .. }
            if cti::RecordOp::of_service(*service_id).is_some() =>
        {
            own(this_dn)
        }
        R::RequestRouteCall { .. }
        | R::RequestApplyTreatment { .. }
        | R::RequestReserveAgent { .. }
        | R::RequestReloadConfig { .. }
        | R::RequestPrivateService { .. } => false,
    }
}

/// The grant whose token is `presented`, compared in constant time against every token
/// (the time taken does not tell which token, or how much of one, matched).
pub(crate) fn find<'a>(grants: &'a [Grant], presented: &str) -> Option<&'a Grant> {
    let same = |g: &Grant| engine::auth::constant_time_eq(g.token.as_bytes(), presented.as_bytes());
    grants.iter().fold(None, |found, g| if same(g) { Some(g) } else { found })
}

/// What the CTI server checks before the engine sees a request: the tokens, and the
/// agents' password hashes (verified off the engine thread: argon2 is slow on purpose).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CtiTable {
    pub(crate) grants: Vec<Grant>,
    /// PHC strings (`$argon2id$...`) by AgentID.
    pub(crate) agent_hashes: std::collections::BTreeMap<String, String>,
    /// Each agent login's configured DN (`[[site.agent]] dn`), by AgentID.
    pub(crate) agent_dns: std::collections::BTreeMap<String, Option<String>>,
}

impl CtiTable {
    /// True when `role` may read the stat service's figures (every role but a desktop's).
    pub(crate) fn may_read_stats(role: &Role) -> bool {
        matches!(role, Role::Admin | Role::Client | Role::Viewer)
    }

    /// False when a desktop token (`role`) asks to log in an agent that is not its own: an
    /// agent without a password whose configured DN is none of the token's DNs. A
    /// password proves the agent wherever it sits; other roles and requests pass.
    pub(crate) fn may_log_in(&self, role: &Role, request: &cti::Request) -> bool {
        let (Role::Desktop(dns), cti::Request::RequestAgentLogin { agent_id, .. }) = (role, request) else {
            return true;
        };
        if self.agent_hashes.contains_key(agent_id) {
            return true;
        }
        let home = self.agent_dns.get(agent_id).and_then(Option::as_deref);
        home.is_some_and(|dn| dns.iter().any(|r| r.contains(dn)))
    }
}

/// True when `password` matches the PHC `hash` (argon2); a malformed hash never matches.
pub(crate) fn password_matches(hash: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A PHC argon2id hash of `password` with a fresh random salt (`tandem passwd --agent`).
pub(crate) fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// The subprotocol prefix a browser uses to present its token.
pub(crate) const TOKEN_PROTOCOL: &str = "tandem-token.";

/// A token as a client presented it, and the WebSocket subprotocol to answer it with.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Presented {
    /// From `Authorization: Bearer`, else the `tandem-token.<token>` subprotocol
    /// (browsers cannot set headers), else `?token=` from loopback only (URLs end up in
    /// logs and proxies).
    pub(crate) token: Option<String>,
    /// `named` when the client offered it (so the 101 does not echo the token), else the
    /// token subprotocol it offered, if any.
    pub(crate) protocol: Option<String>,
}

/// What `headers` (and the query's `token`) present, for a server whose own
/// subprotocol is `named` (`tandem-cti`, `tandem-stats`).
pub(crate) fn presented(
    headers: &axum::http::HeaderMap,
    query_token: Option<String>,
    remote: std::net::SocketAddr,
    named: &str,
) -> Presented {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let bearer = header("authorization").and_then(|v| v.strip_prefix("Bearer ")).map(str::to_owned);
    let offered: Vec<&str> =
        header("sec-websocket-protocol").map_or(Vec::new(), |v| v.split(',').map(str::trim).collect());
    let token_protocol = offered.iter().find(|p| p.starts_with(TOKEN_PROTOCOL)).copied();
    let from_protocol = token_protocol.map(|p| p[TOKEN_PROTOCOL.len()..].to_owned());
    let from_query = query_token.filter(|_| remote.ip().is_loopback());
    let protocol = if offered.contains(&named) { Some(named) } else { token_protocol };
    Presented { token: bearer.or(from_protocol).or(from_query), protocol: protocol.map(str::to_owned) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::DnKind;

    fn request(json: &str) -> cti::Request {
        serde_json::from_str(json).expect("request")
    }

    #[test]
    fn a_desktop_acts_on_its_own_dns_only_and_never_stops_or_routes() {
        let desk = Role::Desktop(vec![DnRange { first: 1001, last: 1001, width: 4, kind: DnKind::Extension }]);
        assert!(desk.permits(&request(r#"{"message":"RequestAgentLogin","ThisDN":"1001","AgentID":"A1"}"#)));
        assert!(!desk.permits(&request(r#"{"message":"RequestAgentLogout","ThisDN":"1002"}"#)), "another's DN");
        assert!(!desk.permits(&request(r#"{"message":"RequestPrivateService","ServiceID":3019}"#)), "shutdown");
        let record = |dn: &str, id: u32| {
            request(&format!(r#"{{"message":"RequestPrivateService","ServiceID":{id},"ThisDN":"{dn}","ConnID":"1"}}"#))
        };
        assert!(desk.permits(&record("1001", 3015)), "a desktop pauses its own call's recording");
        assert!(!desk.permits(&record("1002", 3013)), "not another DN's");
        assert!(!desk.permits(&record("1001", 3019)), "shutdown, whatever DN it names");
        assert!(!desk.permits(&request(r#"{"message":"RequestReloadConfig"}"#)));
        assert!(!desk.permits(&request(r#"{"message":"RequestRouteCall","ThisDN":"1001","ConnID":"1"}"#)));
    }

    /// Issue 21, finding 9: a desktop token logs in its own agents only, unless the agent
    /// proves itself with its password.
    #[test]
    fn a_desktop_token_logs_in_its_own_agents_or_one_with_a_password_only() {
        let desk = Role::Desktop(vec![DnRange { first: 1001, last: 1001, width: 4, kind: DnKind::Extension }]);
        let mut table = CtiTable::default();
        table.agent_dns.insert("A1001".into(), Some("1001".into()));
        table.agent_dns.insert("A1002".into(), Some("1002".into()));
        table.agent_dns.insert("A1003".into(), Some("1003".into()));
        table.agent_hashes.insert("A1003".into(), "$argon2id$...".into());
        let login =
            |agent: &str| request(&format!(r#"{{"message":"RequestAgentLogin","ThisDN":"1001","AgentID":"{agent}"}}"#));
        assert!(table.may_log_in(&desk, &login("A1001")), "its own agent");
        assert!(!table.may_log_in(&desk, &login("A1002")), "another's agent, without a password");
        assert!(table.may_log_in(&desk, &login("A1003")), "an agent with a password (checked next)");
        assert!(!table.may_log_in(&desk, &login("A9999")), "no such agent");
        assert!(table.may_log_in(&Role::Admin, &login("A1002")));
    }

    #[test]
    fn a_client_monitors_and_routes_but_does_not_log_agents_in_or_out_or_stop_the_site() {
        let client = Role::Client;
        assert!(client.permits(&request(r#"{"message":"RequestRegisterAddress","ThisDN":"5000"}"#)));
        assert!(client.permits(&request(r#"{"message":"RequestRouteCall","ThisDN":"5000","ConnID":"1"}"#)));
        assert!(!client.permits(&request(r#"{"message":"RequestAgentLogout","ThisDN":"1002"}"#)));
        assert!(!client.permits(&request(r#"{"message":"RequestMakeCall","ThisDN":"1002","OtherDN":"9123"}"#)));
        assert!(!client.permits(&request(r#"{"message":"RequestPrivateService","ServiceID":3019}"#)));
        let record = r#"{"message":"RequestPrivateService","ServiceID":3013,"ThisDN":"1002","ConnID":"1"}"#;
        assert!(client.permits(&request(record)), "a supervisor's tool records any call");
        assert!(Role::Admin.permits(&request(r#"{"message":"RequestPrivateService","ServiceID":3019}"#)));
    }

    #[test]
    fn a_token_is_taken_from_the_header_the_subprotocol_or_a_loopback_query_and_never_echoed() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("sec-websocket-protocol", "tandem-cti, tandem-token.s3cret".parse().expect("value"));
        let here: std::net::SocketAddr = "127.0.0.1:4000".parse().expect("addr");
        let far: std::net::SocketAddr = "192.0.2.1:4000".parse().expect("addr");
        let p = presented(&headers, None, here, "tandem-cti");
        assert_eq!(p, Presented { token: Some("s3cret".into()), protocol: Some("tandem-cti".into()) });
        let old_client = presented(&headers, None, here, "tandem-stats");
        assert_eq!(
            old_client.protocol.as_deref(),
            Some("tandem-token.s3cret"),
            "echoed only when nothing else offered"
        );
        let query = |remote| presented(&axum::http::HeaderMap::new(), Some("q".into()), remote, "tandem-cti").token;
        assert_eq!(query(here), Some("q".into()));
        assert_eq!(query(far), None, "a token in a URL only from loopback");
        headers.insert("authorization", "Bearer b".parse().expect("value"));
        assert_eq!(presented(&headers, None, far, "tandem-cti").token.as_deref(), Some("b"), "the header first");
    }

    #[test]
    fn an_agent_password_hash_matches_its_password_only() {
        let hash = hash_password("s3cret pass").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(password_matches(&hash, "s3cret pass"));
        assert!(!password_matches(&hash, "s3cret pas"));
        assert!(!password_matches("not a hash", "s3cret pass"));
        assert_ne!(hash, hash_password("s3cret pass").expect("hash"), "salted");
    }

    #[test]
    fn tokens_match_only_when_equal() {
        let grants = vec![
            Grant { token: "s3cret".into(), role: Role::Admin },
            Grant { token: "desk".into(), role: Role::Client },
        ];
        assert_eq!(find(&grants, "s3cret").map(|g| &g.role), Some(&Role::Admin));
        assert_eq!(find(&grants, "desk").map(|g| &g.role), Some(&Role::Client));
        assert!(find(&grants, "s3cre").is_none());
        assert!(find(&grants, "s3cret!").is_none());
        assert!(find(&grants, "").is_none());
    }
}
