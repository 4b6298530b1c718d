//! RFC 3261 section 17.2.2: non-INVITE server transaction.

use netem::LinkConfig;
use sipcore::Transport;
use sipmsg::Method;

use crate::harness::{ms, Pair};

/// 17.2.2: retransmissions while Trying are absorbed; after the final each
/// retransmission is answered with the same final.
#[test]
fn retransmissions_get_the_final_again() {
    let mut p =
        Pair::new(1, LinkConfig { latency: ms(400), ..LinkConfig::default() }, Transport::Udp, vec![(ms(1_000), 200)]);
    p.send(Method::Register, "z9hG4bKn1");
    p.run_for(ms(10_000));
    assert_eq!(p.server_new.len(), 1, "retransmissions create no new transaction");
    let requests = p.sent(true, "REGISTER").len();
    let finals = p.sent(false, "SIP/2.0 200").len();
    assert!(requests >= 3, "{requests}");
    assert!(finals >= 2, "retransmissions after the final are answered: {finals}");
    assert_eq!(p.client_got.len(), 1, "the client TU sees the final once");
}

/// 17.2.2: timer J keeps Completed for 64*T1 on UDP, zero on TCP.
#[test]
fn timer_j_depends_on_transport() {
    let mut udp = Pair::new(1, LinkConfig::default(), Transport::Udp, vec![(ms(0), 200)]);
    udp.send(Method::Options, "z9hG4bKn2");
    udp.run_for(ms(31_000));
    assert_eq!(udp.server.len(), 1);
    udp.run_for(ms(2_000));
    assert!(udp.server.is_empty());

    let mut tcp = Pair::new(1, LinkConfig::default(), Transport::Tcp, vec![(ms(0), 200)]);
    tcp.send(Method::Options, "z9hG4bKn3");
    tcp.run_for(ms(100));
    assert!(tcp.server.is_empty());
}
