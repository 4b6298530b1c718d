//! One way to move a simulated world through virtual time, shared by every test world
//! (the whole-topology `sim::World` and the RFC 3261 transaction harness): jump to the
//! next thing that happens (a packet arriving, a deadline), deliver what is due, fire
//! what is due, flush what that produced onto the network; repeat, with a bound.

use std::time::{Duration, Instant};

use crate::{Network, Packet};

/// A world of sans-IO actors connected by one [`Network`].
pub trait Stepped<A> {
    /// Virtual now.
    fn now(&self) -> Instant;
    /// Moves virtual now (never backwards: [`step`] only moves it forwards).
    fn set_now(&mut self, now: Instant);
    /// The network between the actors.
    fn network(&mut self) -> &mut Network<A>;
    /// The earliest deadline of any actor, if any.
    fn next_deadline(&self) -> Option<Instant>;
    /// A packet arrives at its receiver.
    fn deliver(&mut self, packet: Packet<A>);
    /// Every actor whose deadline is due at `now()` handles it.
    fn fire_due(&mut self);
    /// Moves everything the actors queued onto the network (and into the world's logs).
    fn flush(&mut self);
}

/// Advances `world` to the next thing that happens, not beyond `end`: false (and now =
/// `end`) when nothing is left before it.
pub fn step<A: Clone + Ord, W: Stepped<A>>(world: &mut W, end: Instant) -> bool {
    world.flush();
    let next = [world.network().next_delivery(), world.next_deadline()].into_iter().flatten().min();
    let Some(next) = next.filter(|n| *n <= end) else {
        world.set_now(end);
        return false;
    };
    let now = world.now().max(next);
    world.set_now(now);
    while let Some(packet) = world.network().poll_deliver(now) {
        world.deliver(packet);
    }
    world.fire_due();
    world.flush();
    true
}

/// More steps than a bounded run allows: something answers itself forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Livelock {
    /// The bound that was reached.
    pub steps: usize,
}

impl std::fmt::Display for Livelock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "livelock: {} steps without reaching the end of the span", self.steps)
    }
}

/// Steps `world` through `span` of virtual time, at most `max_steps` times.
pub fn run_for<A: Clone + Ord, W: Stepped<A>>(world: &mut W, span: Duration, max_steps: usize) -> Result<(), Livelock> {
    let end = world.now() + span;
    for _ in 0..max_steps {
        if !step(world, end) {
            return Ok(());
        }
    }
    Err(Livelock { steps: max_steps })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LinkConfig;

    /// Two actors that echo every packet back once, plus a deadline that sends one.
    struct Echo {
        now: Instant,
        net: Network<u8>,
        deadline: Option<Instant>,
        got: Vec<(Duration, u8, Vec<u8>)>,
        start: Instant,
        outbox: Vec<(u8, u8, Vec<u8>)>,
    }

    impl Stepped<u8> for Echo {
        fn now(&self) -> Instant {
            self.now
        }
        fn set_now(&mut self, now: Instant) {
            self.now = now;
        }
        fn network(&mut self) -> &mut Network<u8> {
            &mut self.net
        }
        fn next_deadline(&self) -> Option<Instant> {
            self.deadline
        }
        fn deliver(&mut self, p: Packet<u8>) {
            self.got.push((self.now - self.start, p.to, p.bytes.clone()));
            if p.bytes.len() < 3 {
                let mut echo = p.bytes;
                echo.push(p.to);
                self.outbox.push((p.to, p.from, echo));
            }
        }
        fn fire_due(&mut self) {
            if self.deadline.is_some_and(|d| d <= self.now) {
                self.deadline = None;
                self.outbox.push((1, 2, vec![0]));
            }
        }
        fn flush(&mut self) {
            for (from, to, bytes) in self.outbox.drain(..) {
                self.net.send(self.now, from, to, bytes);
            }
        }
    }

    fn echo() -> Echo {
        #[allow(clippy::disallowed_methods)] // a test picks its own starting instant
        let start = Instant::now();
        let net = Network::new(1, LinkConfig::default());
        Echo {
            now: start,
            net,
            deadline: Some(start + Duration::from_millis(5)),
            got: Vec::new(),
            start,
            outbox: Vec::new(),
        }
    }

    #[test]
    fn time_jumps_from_deadline_to_delivery_until_the_world_is_idle() {
        let mut w = echo();
        run_for(&mut w, Duration::from_secs(1), 100).expect("bounded");
        let ms = Duration::from_millis;
        // The deadline at 5 ms sends [0]; each arrival 10 ms later is echoed until 3 bytes.
        assert_eq!(w.got, vec![(ms(15), 2, vec![0]), (ms(25), 1, vec![0, 2]), (ms(35), 2, vec![0, 2, 1])],);
        assert_eq!(w.now, w.start + Duration::from_secs(1), "now ends at the end of the span");
    }

    #[test]
    fn a_world_that_never_goes_idle_is_a_livelock() {
        let mut w = echo();
        let err = run_for(&mut w, Duration::from_secs(1), 2).expect_err("two steps are not enough");
        assert_eq!(err, Livelock { steps: 2 });
    }
}
