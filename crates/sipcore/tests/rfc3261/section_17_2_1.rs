//! RFC 3261 section 17.2.1: INVITE server transaction (with RFC 6026's Accepted state).

use netem::LinkConfig;
use sipcore::{TransactionEvent, Transport};
use sipmsg::Method;

use crate::harness::{ms, Pair};

/// 17.2.1: a retransmitted INVITE makes the server resend its last provisional, and
/// creates no second transaction.
#[test]
fn retransmitted_invite_resends_the_provisional() {
    // The 180 is sent at once but the client only sees it after its own retransmission,
    // because we delay the final; count what the server sent.
    let mut p = Pair::new(
        1,
        LinkConfig { latency: ms(300), ..LinkConfig::default() },
        Transport::Udp,
        vec![(ms(0), 180), (ms(5_000), 200)],
    );
    p.send(Method::Invite, "z9hG4bKi1");
    p.run_for(ms(8_000));
    assert_eq!(p.server_new.len(), 1);
    assert!(p.sent(true, "INVITE").len() >= 2, "the client retransmitted before the 180 arrived");
    assert!(p.sent(false, "SIP/2.0 180").len() >= 2, "each retransmission got the 180 again");
}

/// 17.2.1: a non-2xx final is retransmitted on timer G (T1 doubling to T2) until timer H,
/// which reports the missing ACK.
#[test]
fn non_2xx_final_retransmits_until_timer_h() {
    let mut p = Pair::new(1, LinkConfig::default(), Transport::Udp, vec![(ms(0), 603)]);
    // Cut the link after the INVITE is delivered, so neither the 603 nor an ACK crosses.
    p.send(Method::Invite, "z9hG4bKi2");
    p.run_for(ms(15));
    p.net.set_partitioned(true);
    p.run_for(ms(60_000));
    let finals = p.sent(false, "SIP/2.0 603");
    let gaps: Vec<_> = finals.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps[..4], [ms(500), ms(1000), ms(2000), ms(4000)]);
    assert!(gaps[4..].iter().all(|g| *g == ms(4000)), "{gaps:?}");
    assert_eq!(p.server_events.len(), 1);
    assert!(matches!(&p.server_events[0], TransactionEvent::TimedOut(k) if k.server));
}

/// 17.2.1: the ACK moves Completed to Confirmed, stops G, and timer I (T4) ends it.
#[test]
fn ack_confirms_and_timer_i_ends() {
    let mut p = Pair::new(1, LinkConfig::default(), Transport::Udp, vec![(ms(0), 486)]);
    p.send(Method::Invite, "z9hG4bKi3");
    p.run_for(ms(100));
    assert_eq!(p.sent(false, "SIP/2.0 486").len(), 1);
    assert_eq!(p.server.len(), 1, "Confirmed, waiting for timer I");
    p.run_for(ms(6_000));
    assert!(p.server.is_empty());
    assert!(p.server_events.is_empty());
}

/// RFC 6026 section 7.1: after a 2xx the INVITE transaction absorbs retransmitted
/// INVITEs (timer L) and ACKs for the 2xx go to the TU.
#[test]
fn two_hundred_then_ack_goes_to_the_tu() {
    let mut p = Pair::new(1, LinkConfig::default(), Transport::Udp, vec![(ms(0), 200)]);
    p.send(Method::Invite, "z9hG4bKi4");
    p.run_for(ms(100));
    p.send_ack_for_2xx("z9hG4bKi4");
    p.run_for(ms(100));
    assert_eq!(p.acks_for_tu, 1);
    assert_eq!(p.server_new.len(), 1);
    p.run_for(ms(40_000));
    assert!(p.server.is_empty(), "timer L ended the transaction");
}
