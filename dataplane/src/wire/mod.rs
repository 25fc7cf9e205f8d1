//! Zero-copy typed views of packet headers (smoltcp style).
