//! The stateful sweep of issue 23: a gateway calls and hangs up at random while three
//! desktops send random call-control requests (valid and not: hold, retrieve, transfers
//! to good and bad targets, consultations and their completion, alternate and reconnect,
//! redirects, UserData, releases) on the calls they have seen and on made-up ConnIDs,
//! over a lossy network. The World checks the reference model after every step (every
//! event names a live call; the node holds exactly the model's calls). At the end every
//! call is hung up: no call, open record, ringing phone or transaction may be left.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::common::*;

const PHONES: [(&str, &str); 3] = [("1001", PHONE1), ("1002", PHONE2), ("1003", "127.0.0.1:6003")];
const TARGETS: [&str; 7] = ["1001", "1002", "1003", "5000", "99999", "1500", ""];
const ONE_STEP: [&str; 4] =
    ["RequestHoldCall", "RequestRetrieveCall", "RequestSingleStepTransfer", "RequestMuteTransfer"];
const TWO_STEP: [&str; 4] =
    ["RequestInitiateTransfer", "RequestCompleteTransfer", "RequestAlternateCall", "RequestReconnectCall"];
const OTHERS: [&str; 4] = ["RequestRedirectCall", "RequestAttachUserData", "RequestReleaseCall", "RequestAnswerCall"];
const CONFERENCE: [&str; 4] = [
    "RequestInitiateConference",
    "RequestCompleteConference",
    "RequestDeleteFromConference",
    "RequestCompleteConference",
];

#[test]
fn random_call_control_from_several_desktops_leaves_nothing_behind() {
    for seed in 0..seeds(200) {
        sweep(seed, Mode::Plain);
    }
}

/// The same with media anchored at a partner and a conference mixer: conference
/// requests join the others, and parties hang up inside conferences.
#[test]
fn random_call_control_with_conferences_leaves_nothing_behind() {
    let joins: usize = (0..seeds(100)).map(|seed| sweep(seed, Mode::Conferences)).sum();
    assert!(joins > 0, "the sweep made conferences (and tore them down)");
}

/// The same with media anchored and a router on Routing Point 5000 routing at random:
/// calls wait there with music, as early media or (odd seeds) answered for it.
#[test]
fn random_call_control_with_queue_music_leaves_nothing_behind() {
    let plays: usize = (0..seeds(100)).map(|seed| sweep(seed, Mode::Music)).sum();
    assert!(plays > 0, "calls waited with music");
}

fn seeds(default: u64) -> u64 {
    std::env::var("SWEEP_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// What the site has besides its three agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    /// Media anchored, a mixer: conference requests too.
    Conferences,
    /// Media anchored, queue music, a router on 5000.
    Music,
}

/// One seed; how many parties joined a mixer (conferences) or how often music played.
fn sweep(seed: u64, mode: Mode) -> usize {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut w = three_agents(seed, &mut rng, mode);
    let mut calls = Vec::new();
    for _ in 0..60 {
        match rng.gen_range(0..10) {
            0 | 1 => calls.push(w.call(addr(GW), TARGETS[rng.gen_range(0..4)])),
            2 if !calls.is_empty() => {
                let call = calls.swap_remove(rng.gen_range(0..calls.len()));
                w.hang_up(addr(GW), &call);
                w.cancel(addr(GW), &call);
            }
            3 if mode == Mode::Music => route_one(&mut w, &mut rng),
            _ => random_request(&mut w, &mut rng, mode == Mode::Conferences),
        }
        w.run_for(Duration::from_millis(rng.gen_range(100..3_000)));
    }
    end_everything(&mut w, calls);
    check_nothing_is_left(&mut w, seed);
    match mode {
        Mode::Plain => 0,
        Mode::Conferences => w.partner(addr(SITE)).count("join"),
        Mode::Music => w.partner(addr(SITE)).count("play"),
    }
}

/// A gateway and phones 1001..1003 (most answer), each with its desktop registered.
fn three_agents(seed: u64, rng: &mut ChaCha8Rng, mode: Mode) -> World {
    let mut c = config();
    let mut media = engine::media::MediaConfig::default();
    match mode {
        Mode::Plain => {}
        Mode::Conferences => media.mixer = true,
        Mode::Music => {
            media.sounds.queue = Some("/sounds/queue.wav".into());
            media.answer_waiting = seed % 2 == 1;
        }
    }
    if mode != Mode::Plain {
        c.media = Some(media);
    }
    let mut w = World::new(seed, c, lossy());
    if mode != Mode::Plain {
        w.add_media_partner(addr(SITE), sim::PartnerMode::Answer { delay: Duration::from_millis(5) });
    }
    w.add(Ua::new("gw", addr(GW), Pickup::Never));
    for (dn, at) in PHONES {
        let pickup = if rng.gen_bool(0.8) { Pickup::After(Duration::from_millis(300)) } else { Pickup::Never };
        w.add(Ua::new(dn, addr(at), pickup));
        w.register(addr(at));
    }
    for (desk, (dn, _)) in (1u64..).zip(PHONES) {
        w.desk(desk, &format!(r#"{{"message":"RequestRegisterAddress","ThisDN":"{dn}"}}"#));
    }
    if mode == Mode::Music {
        w.desk(ROUTER, r#"{"message":"RequestRegisterAddress","ThisDN":"5000"}"#);
    }
    w.run_for(Duration::from_secs(10));
    w
}

/// The router's desk (with music: it watches 5000, so calls wait there).
const ROUTER: u64 = 4;

/// The router sends a call it was asked about (or a made-up one) to a random target.
fn route_one(w: &mut World, rng: &mut ChaCha8Rng) {
    let asked: Vec<String> = w
        .desk_events(ROUTER)
        .iter()
        .filter_map(|e| match serde_json::to_value(e).ok()? {
            v if v["message"] == "EventRouteRequest" => v["ConnID"].as_str().map(str::to_owned),
            _ => None,
        })
        .collect();
    let conn = match asked.len() {
        0 => "00000000000000ff".to_owned(),
        n => asked[rng.gen_range(0..n)].clone(),
    };
    let to = TARGETS[rng.gen_range(0..TARGETS.len())];
    w.desk(ROUTER, &format!(r#"{{"message":"RequestRouteCall","ThisDN":"5000","ConnID":"{conn}","OtherDN":"{to}"}}"#));
}

/// One random request from a random desktop, on ConnIDs some desktop has seen (or none).
fn random_request(w: &mut World, rng: &mut ChaCha8Rng, conferences: bool) {
    let desk = rng.gen_range(1..=3u64);
    let seen: Vec<String> = (1..=3).flat_map(|d| conn_ids(w, d)).collect();
    let mut pick = || match seen.len() {
        0 => "00000000000000ff".to_owned(),
        n => seen[rng.gen_range(0..n)].clone(),
    };
    let (conn, other) = (pick(), pick());
    let kind = match rng.gen_range(0..10) {
        0..=2 if conferences => CONFERENCE[rng.gen_range(0..4)],
        0..=3 => ONE_STEP[rng.gen_range(0..4)],
        4..=6 => TWO_STEP[rng.gen_range(0..4)],
        _ => OTHERS[rng.gen_range(0..4)],
    };
    let (dn, to) = (PHONES[desk as usize - 1].0, TARGETS[rng.gen_range(0..TARGETS.len())]);
    w.desk(
        desk,
        &format!(
            r#"{{"message":"{kind}","ThisDN":"{dn}","ConnID":"{conn}","TransferConnID":"{other}","OtherDN":"{to}","UserData":{{"k":"{to}"}}}}"#
        ),
    );
}

/// The gateway ends its calls; the desktops release the consultations (calls between two
/// agents) that are left.
fn end_everything(w: &mut World, mut calls: Vec<String>) {
    // And every call the gateway made that was answered, even one it gave up on before its
    // INVITE arrived: its BYE and CANCEL can overtake the INVITE on the lossy link (481),
    // and the 200 that follows confirms the dialog anyway.
    for e in &w.ua(addr(GW)).events {
        if let UaEvent::Final { call, code: 200..=299 } = e {
            if !calls.contains(call) {
                calls.push(call.clone());
            }
        }
    }
    for call in calls {
        // Answered calls end by BYE, ringing or queued ones by CANCEL; the other gets 481.
        w.hang_up(addr(GW), &call);
        w.cancel(addr(GW), &call);
    }
    w.run_for(Duration::from_secs(60));
    for (desk, (dn, _)) in (1u64..).zip(PHONES) {
        for conn in conn_ids(w, desk) {
            w.desk(desk, &format!(r#"{{"message":"RequestReleaseCall","ThisDN":"{dn}","ConnID":"{conn}"}}"#));
        }
    }
    w.run_for(Duration::from_secs(120));
}

fn check_nothing_is_left(w: &mut World, seed: u64) {
    let debug = std::env::var("SWEEP_DEBUG").is_ok();
    if debug {
        let stats = w.site().stats();
        let (answered, held, transferred) = (stats.calls_answered, stats.calls_held, stats.calls_transferred);
        eprintln!("seed {seed}: {answered} answered, {held} held, {transferred} transferred");
    }
    if debug && w.site().active_calls() != 0 {
        for d in 1..=3 {
            let names: Vec<String> =
                w.desk_events(d).iter().map(|e| serde_json::to_string(e).unwrap_or_default()).collect();
            eprintln!("desk {d}: {}", names.join("\n"));
        }
        eprintln!("partner: {:?}", w.partner(addr(SITE)).kinds());
        let left = w.site().describe_calls();
        eprintln!("calls left: {left:#?}");
        for call_id in
            left.iter().flat_map(|l| l.split(' ')).filter(|w| w.starts_with("call50") || w.ends_with("@tandem"))
        {
            for (from, to, bytes) in &w.sent {
                let text = String::from_utf8_lossy(bytes);
                if text.contains(&format!("Call-ID: {call_id}\r")) {
                    let first = text.lines().next().unwrap_or("");
                    let cseq = text.lines().find(|l| l.starts_with("CSeq")).unwrap_or("");
                    eprintln!("{call_id}: {from} -> {to}: {first} | {cseq}");
                }
            }
        }
    }
    assert_eq!(w.site().active_calls(), 0, "seed {seed}: no call left");
    assert_eq!(w.open_records(addr(SITE)), 0, "seed {seed}: every record closed");
    for (dn, at) in PHONES {
        if debug && w.ua(addr(at)).live_calls() != 0 {
            eprintln!("{dn}: {:#?}", w.ua(addr(at)).events);
            for d in 1..=3 {
                eprintln!(
                    "desk {d}: {:?}",
                    w.desk_events(d).iter().map(|e| serde_json::to_string(e).unwrap_or_default()).collect::<Vec<_>>()
                );
            }
        }
        assert_eq!(w.ua(addr(at)).live_calls(), 0, "seed {seed}: {dn} still has a call");
    }
}
