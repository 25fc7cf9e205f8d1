//! The IKEv2 responder state machine (through `IkeEndpoint`) against a real initiator over
//! a network the fuzzer controls: see `control/tests/support/responder_harness.rs`. Run
//! with `cargo +nightly fuzz run ikev2_responder` from `control/`; the same harness runs
//! as a property test in CI (`control/tests/ikev2_responder_fuzz.rs`).
#![no_main]

include!("../../tests/support/responder_harness.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    run_responder_harness(data);
});
