//! Bounds-checked reading and length-checked writing: every access driven by an untrusted
//! length goes through [`Reader`], so a bad length is a [`WireError`], never an
//! out-of-range index; every length field written goes through [`fit`], which either
//! refuses a value that does not fit ([`Mode::Strict`]) or clamps it ([`Mode::Clamp`]).

use super::WireError;

/// Result of a codec operation.
pub(crate) type Result<T> = core::result::Result<T, WireError>;

/// Reads big-endian fields from a slice; a read past the end is [`WireError::Truncated`]
/// naming `what`.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, what }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let (head, tail) = self.buf.split_at_checked(n).ok_or(WireError::Truncated {
            what: self.what,
            need: n,
            have: self.buf.len(),
        })?;
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Everything not read yet; the reader is then empty.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.buf)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Fails with [`WireError::TrailingBytes`] unless everything was read.
    pub(crate) fn finish(&self) -> Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes { what: self.what, extra: self.buf.len() })
        }
    }
}

/// How emission treats a value that does not fit its field.
///
/// The public emitters without `try_` cannot fail (the state machine builds messages from
/// its own bounded data, and a `Result` there would only be unwrapped); they clamp. Values
/// that came out of the parser always fit, so both modes give identical bytes for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Refuse with [`WireError::TooLong`] (the `try_` emitters).
    Strict,
    /// Cut the value down to what the field holds.
    Clamp,
}

/// `len` if it is at most `max`; otherwise an error (strict) or `max` (clamp).
pub(crate) fn fit(mode: Mode, what: &'static str, len: usize, max: usize) -> Result<usize> {
    if len <= max {
        Ok(len)
    } else if mode == Mode::Strict {
        Err(WireError::TooLong { what, len, max })
    } else {
        Ok(max)
    }
}

/// Writes the big-endian `u16` length of everything from `start` to the end of `out` at
/// `out[start + 2..start + 4]` (the generic payload header layout), fitted to 16 bits.
pub(crate) fn patch_len16(
    out: &mut [u8],
    start: usize,
    mode: Mode,
    what: &'static str,
) -> Result<()> {
    let len = out.len().saturating_sub(start);
    let len = fit(mode, what, len, usize::from(u16::MAX))?;
    let field = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
    if let Some(slot) = out.get_mut(start + 2..start + 4) {
        slot.copy_from_slice(&field);
    }
    Ok(())
}

/// Runs a clamping emitter into a fresh vector. Clamping emitters do not fail; should one
/// ever do, the bytes written so far are returned rather than a panic.
pub(crate) fn clamped(f: impl FnOnce(&mut Vec<u8>, Mode) -> Result<()>) -> Vec<u8> {
    let mut out = Vec::new();
    let _never_fails_when_clamping = f(&mut out, Mode::Clamp);
    out
}

/// Runs a strict emitter into a fresh vector.
pub(crate) fn strict(f: impl FnOnce(&mut Vec<u8>, Mode) -> Result<()>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    f(&mut out, Mode::Strict)?;
    Ok(out)
}
