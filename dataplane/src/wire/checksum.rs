//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! All functions return the ones' complement *sum* folded to 16 bits; the checksum field
//! holds its complement (`!combine(..)`). A received header verifies when the sum over it
//! (checksum field included) is `0xffff`.

use super::{IpProtocol, Ipv4Addr, Ipv6Addr};

/// Folds a wide accumulator into a 16-bit ones' complement sum (end-around carry).
#[inline]
const fn fold(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The ones' complement sum of `data` as big-endian 16-bit words (an odd last byte is
/// padded with a zero byte, RFC 1071 section 4.1).
///
/// Sums 32-bit words into a 64-bit accumulator (2^16 ≡ 1 mod 2^16-1, so the 16-bit sum is
/// the folded 32-bit sum); no carry handling is needed inside the loop for any packet
/// shorter than 16 GiB, and the loop vectorizes.
pub fn data(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    match *words.remainder() {
        [a, b, c] => acc += u64::from(u16::from_be_bytes([a, b])) + (u64::from(c) << 8),
        [a, b] => acc += u64::from(u16::from_be_bytes([a, b])),
        [a] => acc += u64::from(a) << 8,
        _ => {}
    }
    fold(acc)
}

/// Combines partial ones' complement sums.
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// The sum over the IPv4 pseudo-header (RFC 768, RFC 9293 section 3.1).
pub fn pseudo_header_v4(src: &Ipv4Addr, dst: &Ipv4Addr, proto: IpProtocol, length: u16) -> u16 {
    let s = src.octets();
    let d = dst.octets();
    let acc = u64::from(u16::from_be_bytes([s[0], s[1]]))
        + u64::from(u16::from_be_bytes([s[2], s[3]]))
        + u64::from(u16::from_be_bytes([d[0], d[1]]))
        + u64::from(u16::from_be_bytes([d[2], d[3]]))
        + u64::from(u8::from(proto))
        + u64::from(length);
    fold(acc)
}

/// The sum over the IPv6 pseudo-header (RFC 8200 section 8.1): addresses, the upper-layer
/// packet length and the upper-layer protocol.
pub fn pseudo_header_v6(src: &Ipv6Addr, dst: &Ipv6Addr, proto: IpProtocol, length: u32) -> u16 {
    let acc = u64::from(data(&src.octets()))
        + u64::from(data(&dst.octets()))
        + u64::from(length >> 16)
        + u64::from(length & 0xffff)
        + u64::from(u8::from(proto));
    fold(acc)
}

/// Updates a checksum *field* after one 16-bit word of the covered data changed from `old`
/// to `new`, per RFC 1624 equation 3: `HC' = ~(~HC + ~m + m')`. Unlike equation 2 it never
/// yields 0x0000 from a non-zero sum, so it matches a full recomputation.
#[inline]
pub fn update_u16(checksum: u16, old: u16, new: u16) -> u16 {
    let acc = u64::from(!checksum) + u64::from(!old) + u64::from(new);
    !fold(acc)
}

/// Updates an IPv4 header checksum field for a TTL decrement by one: the TTL is the high
/// byte of the word it shares with the protocol (RFC 1624 section 4, RFC 1812 5.3.1).
#[inline]
pub fn update_for_ttl_decrement(checksum: u16, old_ttl: u8, proto: u8) -> u16 {
    let old = u16::from_be_bytes([old_ttl, proto]);
    let new = u16::from_be_bytes([old_ttl.wrapping_sub(1), proto]);
    update_u16(checksum, old, new)
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    /// Word-at-a-time reference from RFC 1071 section 4.1.
    fn reference(bytes: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        let mut i = 0;
        while i + 1 < bytes.len() {
            sum += u32::from(u16::from_be_bytes([bytes[i], bytes[i + 1]]));
            i += 2;
        }
        if i < bytes.len() {
            sum += u32::from(bytes[i]) << 8;
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        assert_eq!(data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0xddf2);
    }

    #[test]
    fn odd_lengths() {
        assert_eq!(data(&[]), 0);
        assert_eq!(data(&[0xab]), 0xab00);
        assert_eq!(data(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(data(&[0xff; 7]), reference(&[0xff; 7]));
    }

    #[test]
    fn pseudo_headers() {
        let s = Ipv4Addr::new(192, 0, 2, 1);
        let d = Ipv4Addr::new(198, 51, 100, 2);
        let mut ph = Vec::new();
        ph.extend_from_slice(&s.octets());
        ph.extend_from_slice(&d.octets());
        ph.extend_from_slice(&[0, 17, 0, 28]);
        assert_eq!(pseudo_header_v4(&s, &d, IpProtocol::Udp, 28), reference(&ph));

        let s6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d6: Ipv6Addr = "2001:db8:ffff::2".parse().unwrap();
        let mut ph6 = Vec::new();
        ph6.extend_from_slice(&s6.octets());
        ph6.extend_from_slice(&d6.octets());
        ph6.extend_from_slice(&0x0001_0010u32.to_be_bytes());
        ph6.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(pseudo_header_v6(&s6, &d6, IpProtocol::Icmpv6, 0x0001_0010), reference(&ph6));
    }

    #[test]
    fn ttl_decrement_matches_recompute() {
        // IPv4 header with TTL 64, protocol UDP, checksum 0xb861 (Wikipedia example).
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(data(&hdr), 0xffff);
        let updated = update_for_ttl_decrement(0xb861, 0x40, 0x11);
        hdr[8] = 0x3f;
        hdr[10] = 0;
        hdr[11] = 0;
        assert_eq!(updated, !data(&hdr));
    }

    proptest! {
        #[test]
        fn data_matches_reference(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            prop_assert_eq!(data(&bytes), reference(&bytes));
        }

        #[test]
        fn split_sums_combine(bytes in proptest::collection::vec(any::<u8>(), 0..300),
                              cut in 0usize..150) {
            // Combining is valid when the first part has an even length.
            let cut = (cut * 2).min(bytes.len() & !1);
            let (a, b) = bytes.split_at(cut);
            prop_assert_eq!(fold(u64::from(combine(&[data(a), data(b)]))),
                            fold(u64::from(data(&bytes))));
        }

        #[test]
        fn incremental_update_matches_recompute(
            mut words in proptest::collection::vec(any::<u16>(), 1..40),
            idx in any::<prop::sample::Index>(),
            new in any::<u16>(),
        ) {
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
            let ck = !data(&bytes);
            let i = idx.index(words.len());
            let old = words[i];
            words[i] = new;
            let bytes2: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
            let updated = update_u16(ck, old, new);
            // 0x0000 and 0xffff are the same number in ones' complement; a recomputation
            // over all-zero data gives 0xffff where the update may give either.
            let full = !data(&bytes2);
            prop_assert!(updated == full || (updated ^ full == 0xffff && data(&bytes2).is_multiple_of(0xffff)));
        }
    }
}
