//! RFC 3261 section 17.1.2: non-INVITE client transaction.

use netem::LinkConfig;
use sipcore::{TransactionEvent, Transport};
use sipmsg::Method;

use crate::harness::{ms, Pair};

/// 17.1.2.2: timer E doubles up to T2 (4 s); timer F (64*T1) ends it with a timeout.
#[test]
fn timer_e_caps_at_t2_and_timer_f_times_out() {
    let mut p = Pair::new(1, LinkConfig { loss: 1.0, ..LinkConfig::default() }, Transport::Udp, vec![]);
    let key = p.send(Method::Register, "z9hG4bKe1");
    p.run_for(ms(60_000));
    let expected: Vec<_> =
        [0, 500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500].into_iter().map(ms).collect();
    assert_eq!(p.sent(true, "REGISTER"), expected);
    assert_eq!(p.client_events, vec![TransactionEvent::TimedOut(key)]);
}

/// 17.1.2.2: in Proceeding, timer E fires every T2.
#[test]
fn proceeding_retransmits_every_t2() {
    // The server answers 100 at once and the final only after 20 s; the link loses the
    // requests the server would otherwise absorb, so what we count is the client's.
    let mut p = Pair::new(1, LinkConfig::default(), Transport::Udp, vec![(ms(0), 100), (ms(20_000), 200)]);
    p.send(Method::Options, "z9hG4bKe2");
    p.run_for(ms(40_000));
    let sent = p.sent(true, "OPTIONS");
    // The 100 arrives after 20 ms, before E first fires, so every gap is T2.
    assert_eq!(sent[0], ms(0));
    for pair in sent.windows(2).skip(1) {
        assert_eq!(pair[1] - pair[0], ms(4000), "{sent:?}");
    }
    // Every provisional is passed up while Proceeding (17.1.2.2); the final exactly once.
    let codes: Vec<_> = p.client_got.iter().map(|g| g.1).collect();
    assert_eq!(codes.first(), Some(&100));
    assert_eq!(codes.last(), Some(&200));
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1);
}

/// 17.1.2.2: a final response moves to Completed; timer K (T4 on UDP) ends it.
#[test]
fn final_response_completes_and_timer_k_ends() {
    let mut p = Pair::new(1, LinkConfig::default(), Transport::Udp, vec![(ms(0), 200)]);
    p.send(Method::Register, "z9hG4bKe3");
    p.run_for(ms(1_000));
    assert_eq!(p.client_got.len(), 1);
    assert_eq!(p.client.len(), 1, "Completed waits for timer K");
    p.run_for(ms(10_000));
    assert!(p.client.is_empty());
}

/// 17.1.2.2: over TCP, K is zero and the transaction ends with the final response.
#[test]
fn reliable_transport_completes_at_once() {
    let mut p = Pair::new(1, LinkConfig::default(), Transport::Tcp, vec![(ms(0), 404)]);
    p.send(Method::Options, "z9hG4bKe4");
    p.run_for(ms(100));
    assert_eq!(p.client_got.iter().map(|g| g.1).collect::<Vec<_>>(), vec![404]);
    assert!(p.client.is_empty());
    assert_eq!(p.sent(true, "OPTIONS").len(), 1);
}
