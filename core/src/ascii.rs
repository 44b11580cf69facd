//! Writing numbers as ASCII without `core::fmt`, for the hot encoding paths.

use alloc::vec::Vec;

/// A short line of ASCII built on the stack (an SSE `id:` line, a chunk header).
pub(crate) struct StackLine {
    bytes: [u8; 64],
    len: usize,
}

impl StackLine {
    pub(crate) const fn new() -> Self {
        StackLine {
            bytes: [0; 64],
            len: 0,
        }
    }

    /// Appends `s`, dropping what does not fit (callers stay far below 64 bytes).
    pub(crate) fn push(&mut self, s: &[u8]) -> &mut Self {
        let take = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + take].copy_from_slice(&s[..take]);
        self.len += take;
        self
    }

    pub(crate) fn push_decimal(&mut self, n: u64) -> &mut Self {
        // In place, from the last digit back: an event id is written for every recipient of a
        // broadcast, and a copy through a scratch array cost as much as the digits.
        let mut count = 1;
        let mut rest = n / 10;
        while rest > 0 {
            count += 1;
            rest /= 10;
        }
        if self.len + count > self.bytes.len() {
            return self;
        }
        let mut n = n;
        for slot in self.bytes[self.len..self.len + count].iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
        self.len += count;
        self
    }

    pub(crate) fn push_hex(&mut self, n: u64) -> &mut Self {
        let mut digits = [0u8; 16];
        let mut i = digits.len();
        let mut n = n;
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdef"[(n & 0xf) as usize];
            n >>= 4;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..])
    }

    /// Whether `more` bytes still fit.
    pub(crate) fn fits(&self, more: usize) -> bool {
        self.len + more <= self.bytes.len()
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The decimal digits of `n`, right-aligned: the digits are `buffer[start..]`.
fn decimal_digits(mut n: u64) -> ([u8; 20], usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return (digits, i);
        }
    }
}

/// Appends `n` in decimal.
pub(crate) fn push_decimal(out: &mut Vec<u8>, n: u64) {
    let (digits, start) = decimal_digits(n);
    out.extend_from_slice(&digits[start..]);
}
