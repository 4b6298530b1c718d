//! The guard against RFC 3261 section 22 / RFC 8760 cases: both algorithms, a nonce the
//! other site issued, stale nonces, another realm, reused nonce-counts, the wrong user.
#![allow(clippy::disallowed_methods)] // tests pick their own starting instant; the code under test never reads a clock

use super::*;
use sipmsg::{Framing, Message};

const REALM: &str = "tandem";

fn config() -> AuthConfig {
    let mut users = BTreeMap::new();
    users.insert(
        "1001".to_owned(),
        UserHashes {
            md5: Some(Algorithm::Md5.ha1("1001", REALM, "s3cret")),
            sha256: Some(Algorithm::Sha256.ha1("1001", REALM, "s3cret")),
        },
    );
    AuthConfig {
        realm: REALM.into(),
        nonce_secret: b"shared by the pair".to_vec(),
        users,
        algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
        nonce_lifetime: Duration::from_secs(300),
        throttle: Throttle::default(),
        md5_per_mille: 0,
    }
}

fn register(authorization: Option<&str>) -> String {
    let auth = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr1\r\n\
         From: <sip:1001@127.0.0.1>;tag=1\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: reg\r\nCSeq: 1 REGISTER\r\n\
         Contact: <sip:1001@127.0.0.1:5070>\r\n{auth}Content-Length: 0\r\n\r\n"
    )
}

/// Phone 1001 at 192.0.2.1, asking site1.
fn asker(dn: &str) -> Asker<'_> {
    Asker { site: "site1", identity: dn, source: "192.0.2.1".parse().expect("ip") }
}

fn verdict(guard: &mut Guard, config: &AuthConfig, text: &str, unix: u64) -> Verdict {
    verdict_as(guard, config, text, unix, asker("1001"))
}

fn verdict_as(guard: &mut Guard, config: &AuthConfig, text: &str, unix: u64, asker: Asker<'_>) -> Verdict {
    let msg = Message::parse(text.as_bytes(), Framing::Datagram).expect("parsed");
    guard.check(config, &msg, asker, Instant::now(), unix)
}

fn answer(challenge: &str, password: &str, nc: u32) -> String {
    authorize(challenge, "REGISTER", "sip:127.0.0.1", "1001", password, nc).expect("a digest challenge")
}

#[test]
fn a_dn_with_a_sha256_hash_is_offered_and_accepts_sha256_only_and_an_md5_only_dn_md5() {
    let mut config = config();
    let mut guard = Guard::default();
    assert_eq!(verdict(&mut guard, &config, &register(None), 1_000), Verdict::Challenge { stale: false });
    let challenges = Guard::challenges(&config, asker("1001"), 1_000, 7, false);
    assert_eq!(challenges.len(), 1, "no MD5 for a DN with a SHA-256 hash: {challenges:?}");
    assert!(challenges[0].contains("algorithm=SHA-256"));
    assert!(challenges.iter().all(|c| c.contains("qop=\"auth\"") && c.contains("realm=\"tandem\"")));
    let text = register(Some(&answer(&challenges[0], "s3cret", 1)));
    assert_eq!(verdict(&mut guard, &config, &text, 1_001), Verdict::Accepted("1001".into()));
    // Issue 21, finding 10: answering with MD5 instead (a downgrade) fails, as a wrong
    // password (or an unknown DN) would: the answer does not tell them apart.
    let downgraded = challenges[0].replace("algorithm=SHA-256", "algorithm=MD5");
    let text = register(Some(&answer(&downgraded, "s3cret", 2)));
    assert_eq!(verdict(&mut guard, &config, &text, 1_001), Verdict::Refused);
    // MD5 is asked for per DN: a DN with an MD5 hash alone.
    config.users.get_mut("1001").expect("user").sha256 = None;
    let md5 = Guard::challenges(&config, asker("1001"), 1_000, 8, false);
    assert_eq!(md5.len(), 1);
    let text = register(Some(&answer(&md5[0], "s3cret", 1)));
    assert_eq!(verdict(&mut guard, &config, &text, 1_001), Verdict::Accepted("1001".into()), "{md5:?}");
}

/// Issue 21, finding 10: DNs without credentials are challenged as DNs with them are, in
/// the same shares (MD5-only at the rate the site's DNs are), the same each time: an MD5
/// challenge does not prove that a DN exists.
#[test]
fn unknown_dns_are_challenged_as_the_site_s_dns_are() {
    let mut config = config();
    config.users = (0..10)
        .map(|n| {
            let md5 = Some(Algorithm::Md5.ha1("x", REALM, "x"));
            let sha256 = (n >= 3).then(|| Algorithm::Sha256.ha1("x", REALM, "x"));
            (format!("10{n:02}"), UserHashes { md5, sha256 })
        })
        .collect();
    config.md5_per_mille = AuthConfig::md5_per_mille_of(&config.users);
    assert_eq!(config.md5_per_mille, 300);
    let md5_challenged = |config: &AuthConfig, dn: &str| {
        let challenges = Guard::challenges(config, asker(dn), 1_000, 7, false);
        assert_eq!(challenges.len(), 1, "{challenges:?}");
        challenges[0].contains("algorithm=MD5")
    };
    assert!(md5_challenged(&config, "1000") && !md5_challenged(&config, "1005"), "known DNs by their hashes");
    let unknown: Vec<String> = (0..2_000).map(|n| format!("9{n:04}")).collect();
    let share = unknown.iter().filter(|dn| md5_challenged(&config, dn)).count();
    assert!((500..700).contains(&share), "about 30 % of unknown DNs look MD5-only: {share} of 2,000");
    assert!(unknown.iter().all(|dn| md5_challenged(&config, dn) == md5_challenged(&config, dn)), "stable per DN");
    config.md5_per_mille = 0;
    assert!(!unknown.iter().any(|dn| md5_challenged(&config, dn)), "no MD5 DN: no MD5 challenge");
}

/// Issue 21, finding 5: credentials captured at site1 replay nowhere else: not at site2
/// (which has its own replay state), not from another address. Each is challenged anew.
#[test]
fn a_capture_replays_at_no_other_site_and_from_no_other_address() {
    let config = config();
    let challenge = &Guard::challenges(&config, asker("1001"), 1_000, 7, false)[0];
    let text = register(Some(&answer(challenge, "s3cret", 1)));
    let mut other_site = Guard::default();
    let at_site2 = Asker { site: "site2", ..asker("1001") };
    assert_eq!(verdict_as(&mut other_site, &config, &text, 1_002, at_site2), Verdict::Challenge { stale: false });
    let mut site1 = Guard::default();
    let attacker = Asker { source: "203.0.113.66".parse().expect("ip"), ..asker("1001") };
    assert_eq!(verdict_as(&mut site1, &config, &text, 1_002, attacker), Verdict::Challenge { stale: false });
    assert_eq!(verdict(&mut site1, &config, &text, 1_002), Verdict::Accepted("1001".into()), "the phone itself");
    assert_eq!(other_site.stats.failures + site1.stats.failures, 0, "no strikes for anyone");
}

/// Issue 21, finding 4: wrong credentials sent with the victim's address (spoofed) carry a
/// nonce that was issued to the attacker's address: challenged, no strike for the victim.
#[test]
fn spoofed_failures_earn_the_victim_no_strikes() {
    let config = config();
    let mut guard = Guard::default();
    let attacker = Asker { source: "203.0.113.66".parse().expect("ip"), ..asker("1001") };
    let challenge = &Guard::challenges(&config, attacker, 1_000, 7, false)[0];
    for nc in 1..=30 {
        let wrong = register(Some(&answer(challenge, "guess", nc)));
        assert_eq!(verdict(&mut guard, &config, &wrong, 1_001), Verdict::Challenge { stale: false });
    }
    assert_eq!(guard.stats.failures, 0);
    assert!(guard.admits("192.0.2.1".parse().expect("ip"), Instant::now(), &config.throttle));
}

/// Issue 21, finding 3: guesses at one DN from many addresses are bounded by the DN's own
/// count; the phone that proved the password still gets in.
#[test]
fn guesses_at_a_dn_from_many_addresses_are_throttled_and_its_phone_is_not() {
    let config = config();
    let mut guard = Guard::default();
    let mine = &Guard::challenges(&config, asker("1001"), 1_000, 7, false)[0];
    assert_eq!(
        verdict(&mut guard, &config, &register(Some(&answer(mine, "s3cret", 1))), 1_001),
        Verdict::Accepted("1001".into())
    );
    let mut verdicts = Vec::new();
    for i in 0..40u8 {
        let source = format!("198.51.100.{i}");
        let guesser = Asker { source: source.parse().expect("ip"), ..asker("1001") };
        let challenge = &Guard::challenges(&config, guesser, 1_000, u64::from(i), false)[0];
        let wrong = register(Some(&answer(challenge, "guess", 1)));
        verdicts.push(verdict_as(&mut guard, &config, &wrong, 1_001, guesser));
    }
    let refused = verdicts.iter().filter(|v| **v == Verdict::Refused).count();
    assert_eq!(refused, 5, "5 guesses, then one a second at most: {verdicts:?}");
    assert!(verdicts[5..].iter().all(|v| *v == Verdict::Throttled));
    let again = register(Some(&answer(mine, "s3cret", 2)));
    assert_eq!(verdict(&mut guard, &config, &again, 1_002), Verdict::Accepted("1001".into()), "the phone itself");
}

#[test]
fn an_expired_nonce_is_stale_and_a_reused_nonce_count_is_challenged_again() {
    let config = config();
    let mut guard = Guard::default();
    let challenge = &Guard::challenges(&config, asker("1001"), 1_000, 7, false)[0];
    let first = register(Some(&answer(challenge, "s3cret", 1)));
    assert_eq!(verdict(&mut guard, &config, &first, 1_001), Verdict::Accepted("1001".into()));
    assert_eq!(verdict(&mut guard, &config, &first, 1_002), Verdict::Challenge { stale: false }, "replayed");
    assert_eq!(guard.stats.replays, 1);
    let second = register(Some(&answer(challenge, "s3cret", 2)));
    assert_eq!(verdict(&mut guard, &config, &second, 1_003), Verdict::Accepted("1001".into()), "nc 2 is new");
    let late = register(Some(&answer(challenge, "s3cret", 3)));
    assert_eq!(verdict(&mut guard, &config, &late, 1_301), Verdict::Challenge { stale: true });
    assert!(Guard::challenges(&config, asker("1001"), 1_301, 8, true)[0].ends_with("stale=true"));
}

#[test]
fn wrong_password_wrong_user_and_other_realms_do_not_get_in() {
    let config = config();
    let mut guard = Guard::default();
    let challenge = &Guard::challenges(&config, asker("1001"), 1_000, 7, false)[0];
    let wrong = register(Some(&answer(challenge, "guess", 1)));
    assert_eq!(verdict(&mut guard, &config, &wrong, 1_001), Verdict::Refused);
    let as_other = authorize(challenge, "REGISTER", "sip:127.0.0.1", "1002", "s3cret", 1).expect("digest");
    assert_eq!(verdict(&mut guard, &config, &register(Some(&as_other)), 1_001), Verdict::Refused, "1002 for 1001");
    let other_realm = challenge.replace("realm=\"tandem\"", "realm=\"elsewhere\"");
    let text = register(Some(&answer(&other_realm, "s3cret", 1)));
    assert_eq!(verdict(&mut guard, &config, &text, 1_001), Verdict::Challenge { stale: false });
    let forged = Guard::challenges(
        &AuthConfig { nonce_secret: b"guessed".to_vec(), ..config.clone() },
        asker("1001"),
        1_000,
        7,
        false,
    );
    let text = register(Some(&answer(&forged[0], "s3cret", 1)));
    assert_eq!(verdict(&mut guard, &config, &text, 1_001), Verdict::Challenge { stale: false }, "nonce not ours");
    assert_eq!(guard.stats.failures, 2);
}
