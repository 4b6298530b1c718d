//! Transactions over a link with loss, duplication and reordering, across 200 seeds.

use netem::LinkConfig;
use sipcore::Transport;
use sipmsg::Method;

use crate::harness::{ms, Pair};

#[test]
fn non_invite_survives_loss_duplication_and_reordering() {
    let link = LinkConfig { loss: 0.2, duplicate: 0.2, latency: ms(20), jitter: ms(40) };
    let mut completed = 0;
    for seed in 0..200 {
        let mut p = Pair::new(seed, link, Transport::Udp, vec![(ms(0), 200)]);
        p.send(Method::Register, &format!("z9hG4bKseed{seed}"));
        p.run_for(ms(70_000));
        let finals = p.client_got.iter().filter(|g| g.1 == 200).count();
        assert!(finals <= 1, "seed {seed}: the TU saw the final {finals} times");
        assert!(p.server_new.len() <= 1, "seed {seed}: duplicate server transactions");
        assert_eq!(finals + p.client_events.len(), 1, "seed {seed}: exactly one outcome");
        assert!(p.client.is_empty() && p.server.is_empty(), "seed {seed}: no transaction left behind");
        completed += finals;
    }
    // With 20 % loss each way and 11 transmissions, all but a few seeds complete.
    assert!(completed >= 198, "{completed}/200 completed");
}

#[test]
fn invite_with_error_final_survives_loss() {
    let link = LinkConfig { loss: 0.2, duplicate: 0.1, latency: ms(20), jitter: ms(40) };
    for seed in 0..200 {
        let mut p = Pair::new(seed, link, Transport::Udp, vec![(ms(0), 100), (ms(50), 486)]);
        p.send(Method::Invite, &format!("z9hG4bKinv{seed}"));
        p.run_for(ms(100_000));
        let finals = p.client_got.iter().filter(|g| g.1 == 486).count();
        assert!(finals <= 1, "seed {seed}");
        assert!(p.client.is_empty() && p.server.is_empty(), "seed {seed}: no transaction left behind");
    }
}
