//! ECN through the tunnel: RFC 6040 ("normal mode").

/// Not ECN-capable transport.
pub const NOT_ECT: u8 = 0b00;
/// ECN-capable transport, codepoint 1.
pub const ECT1: u8 = 0b01;
/// ECN-capable transport, codepoint 0.
pub const ECT0: u8 = 0b10;
/// Congestion experienced.
pub const CE: u8 = 0b11;

/// The outer ECN field at encapsulation (RFC 6040 4.1, normal mode): copy the inner field,
/// except that CE is not copied (it becomes ECT(0)) so that congestion marked before the
/// tunnel is not counted twice.
pub const fn encap(inner: u8) -> u8 {
    match inner & 3 {
        CE => ECT0,
        e => e,
    }
}

/// The inner ECN field after decapsulation (RFC 6040 4.2, Figure 4). `None` for the
/// combination that must be dropped: inner Not-ECT with outer CE (congestion cannot be
/// signalled to a transport that does not understand ECN).
pub const fn decap(inner: u8, outer: u8) -> Option<u8> {
    match (inner & 3, outer & 3) {
        (NOT_ECT, CE) => None,
        (NOT_ECT, _) => Some(NOT_ECT),
        (_, CE) => Some(CE),
        (ECT0, ECT1) => Some(ECT1),
        (i, _) => Some(i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encap_normal_mode() {
        assert_eq!(
            [encap(NOT_ECT), encap(ECT0), encap(ECT1), encap(CE)],
            [NOT_ECT, ECT0, ECT1, ECT0]
        );
    }

    /// RFC 6040 Figure 4, row by row (columns: outer Not-ECT, ECT(0), ECT(1), CE).
    #[test]
    fn decap_table() {
        let cols = [NOT_ECT, ECT0, ECT1, CE];
        let table = [
            (NOT_ECT, [Some(NOT_ECT), Some(NOT_ECT), Some(NOT_ECT), None]),
            (ECT0, [Some(ECT0), Some(ECT0), Some(ECT1), Some(CE)]),
            (ECT1, [Some(ECT1), Some(ECT1), Some(ECT1), Some(CE)]),
            (CE, [Some(CE), Some(CE), Some(CE), Some(CE)]),
        ];
        for (inner, row) in table {
            for (outer, want) in cols.into_iter().zip(row) {
                assert_eq!(decap(inner, outer), want, "inner {inner:02b} outer {outer:02b}");
            }
        }
    }
}
