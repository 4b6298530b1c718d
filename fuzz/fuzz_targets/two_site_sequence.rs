//! Stateful fuzzing: a sequence of gateway and phone messages with mutated fields, CTI
//! requests, disconnects and time passing, on a BC pair of two sites. The harness
//! (`sim::hostile`) checks that nothing panics, everything sent parses, no deadline
//! stays due, and no transaction is left once the network falls quiet.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sim::hostile::{Hostile, Op};

fuzz_target!(|ops: Vec<Op>| {
    Hostile::new(2, 1).run(&ops);
});
