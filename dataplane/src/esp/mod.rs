//! RFC 4303 ESP encapsulation and decapsulation over bursts of packets.
