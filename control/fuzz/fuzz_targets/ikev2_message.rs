//! Feeds arbitrary bytes to every IKEv2 codec entry point: the whole-message parser, the
//! encrypted-payload view, and (first byte = first payload type) the payload-chain parser
//! that decrypted SK contents go through. Anything that parses must re-emit to bytes that
//! parse to the same value. Run with `cargo +nightly fuzz run ikev2_message` from
//! `control/`.
#![no_main]

use control::ikev2::wire::{Encrypted, Message, PayloadType, chain_len, emit_chain, parse_chain};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse(data) {
        let again = m.to_vec().expect("a parsed message emits");
        assert_eq!(Message::parse(&again).as_ref(), Ok(&m));
        let _ = m.to_string();
    }
    if let Ok(e) = Encrypted::new_checked(data) {
        let _ = e.associated_data();
        for (iv, icv) in [(8, 16), (16, 12), (0, 16)] {
            let _ = e.split(iv, icv);
            let _ = e.integrity_range(icv);
        }
    }
    if let Some((&first, chain)) = data.split_first() {
        if let Ok(payloads) = parse_chain(PayloadType::from(first), chain) {
            let mut buf = vec![0; chain_len(&payloads)];
            let first_out = emit_chain(&payloads, &mut buf).expect("a parsed chain emits");
            assert_eq!(parse_chain(first_out, &buf).as_ref(), Ok(&payloads));
        }
    }
});
