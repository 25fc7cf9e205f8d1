//! Feeds arbitrary bytes to every IKEv1 / ISAKMP codec entry point: the header and whole
//! plaintext message parsers, the payload-chain parser that decrypted bodies go through
//! (first byte = first payload type) and each payload body parser. Anything that parses
//! must re-emit to bytes that parse to the same value (`round_trip_check`, which the
//! property tests in `control/tests/ikev1_wire.rs` also run in CI). Run with
//! `cargo +nightly fuzz run ikev1_message` from `control/`.
#![no_main]

use control::ikev1::wire::round_trip_check;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = round_trip_check(data) {
        panic!("IKEv1 codec round trip broken: {violation}");
    }
});
