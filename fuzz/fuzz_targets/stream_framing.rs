//! Framing a stream fed in arbitrary chunks never panics and never loses track of bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sipcore::StreamFramer;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, rest)) = data.split_first() else { return };
    let chunk = usize::from(chunk).max(1);
    let mut framer = StreamFramer::default();
    for piece in rest.chunks(chunk) {
        framer.push(piece);
        loop {
            match framer.next_message() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
