//! What the media tests share: a site anchored at a scripted partner, a gateway and
//! phones, and readers of what the partner was told and the phones were shown.

pub(crate) use std::net::SocketAddr;
pub(crate) use std::time::Duration;

pub(crate) use engine::media::{MediaConfig, MediaFailure, MediaOp};
pub(crate) use engine::{AgentLogin, NodeConfig, Record};
pub(crate) use netem::LinkConfig;
pub(crate) use sim::media_partner::PARTNER_ADDRESS;
pub(crate) use sim::{PartnerMode, Pickup, Ua, UaEvent, World};

pub(crate) const GW: &str = "127.0.0.1:5080";
pub(crate) const PHONE: &str = "127.0.0.1:6001";
pub(crate) const SITE: &str = "127.0.0.1:5060";

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

pub(crate) fn config(on_failure: MediaFailure) -> NodeConfig {
    let mut c = NodeConfig::for_tests();
    c.agents.insert("A1001".into(), AgentLogin { id: "A1001".into(), password: None, default_dn: Some("1001".into()) });
    c.media = Some(MediaConfig { timeout: Duration::from_millis(500), on_failure, ..MediaConfig::default() });
    c
}

/// A site with media anchoring, a partner in `mode`, a gateway and phone 1001 (answers
/// after 200 ms) registered, desk 1 on 1001.
pub(crate) fn world(seed: u64, link: LinkConfig, mode: PartnerMode, on_failure: MediaFailure) -> World {
    let mut w = World::new(seed, config(on_failure), link);
    w.add_media_partner(addr(SITE), mode);
    w.add(Ua::new("gw", addr(GW), Pickup::Never));
    w.add(Ua::new("1001", addr(PHONE), Pickup::After(Duration::from_millis(200))));
    w.register(addr(PHONE));
    w.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    w.run_for(Duration::from_secs(5));
    w
}

/// The ConnID of the first call desk 1 saw established.
pub(crate) fn established(w: &World) -> String {
    w.desk_events(1)
        .iter()
        .find_map(|e| if let cti::Event::EventEstablished { conn_id, .. } = e { Some(conn_id.clone()) } else { None })
        .expect("established")
}

pub(crate) fn answering(delay_ms: u64) -> PartnerMode {
    PartnerMode::Answer { delay: Duration::from_millis(delay_ms) }
}

pub(crate) fn lossy() -> LinkConfig {
    LinkConfig { loss: 0.1, duplicate: 0.05, latency: Duration::from_millis(5), jitter: Duration::from_millis(15) }
}

pub(crate) fn finals(w: &mut World, ua: &str) -> Vec<u16> {
    w.ua(addr(ua))
        .events
        .iter()
        .filter_map(|e| if let UaEvent::Final { code, .. } = e { Some(*code) } else { None })
        .collect()
}

/// The session descriptions the site sent to `ua` (bodies of SIP messages with one).
pub(crate) fn descriptions_to(w: &World, ua: &str) -> Vec<String> {
    w.sent
        .iter()
        .filter(|(_, to, _)| *to == addr(ua))
        .filter_map(|(_, _, bytes)| {
            let text = String::from_utf8_lossy(bytes);
            text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).filter(|b| b.starts_with("v=0"))
        })
        .collect()
}

pub(crate) fn all_anchored(descriptions: &[String]) -> bool {
    !descriptions.is_empty() && descriptions.iter().all(|d| d.contains(&format!("c=IN IP4 {PARTNER_ADDRESS}")))
}

pub(crate) const PHONE2: &str = "127.0.0.1:6002";

/// [`world`] with its media configuration changed by `change`, Routing Point 5000 (desk 9
/// watches it, as a router) and phone 1001 (desk 1) answering after 200 ms.
pub(crate) fn rp_world(seed: u64, change: impl FnOnce(&mut MediaConfig)) -> World {
    rp_world_with(seed, |c| change(c.media.as_mut().expect("media")))
}

/// [`rp_world`] with the whole site configuration changed by `change`.
pub(crate) fn rp_world_with(seed: u64, change: impl FnOnce(&mut NodeConfig)) -> World {
    let mut c = config(MediaFailure::Continue);
    let rp = engine::Dn { kind: engine::DnKind::RoutingPoint, options: Default::default(), trunk: None };
    c.dns.singles.insert("5000".into(), rp);
    change(&mut c);
    let mut w = World::new(seed, c, LinkConfig::default());
    w.add_media_partner(addr(SITE), answering(2));
    w.add(Ua::new("gw", addr(GW), Pickup::Never));
    w.add(Ua::new("1001", addr(PHONE), Pickup::After(Duration::from_millis(200))));
    w.register(addr(PHONE));
    w.desk(1, r#"{"message":"RequestRegisterAddress","ThisDN":"1001"}"#);
    w.desk(9, r#"{"message":"RequestRegisterAddress","ThisDN":"5000"}"#);
    w.run_for(Duration::from_secs(5));
    w
}

/// The ConnID of the first call the router's desk (9) was asked to route.
pub(crate) fn route_request_conn(w: &World) -> String {
    w.desk_events(9)
        .iter()
        .find_map(|e| match serde_json::to_value(e).expect("json") {
            v if v["message"] == "EventRouteRequest" => v["ConnID"].as_str().map(str::to_owned),
            _ => None,
        })
        .expect("a route request")
}
