//! The text encodings the C2SP formats share: standard base64 (canonical
//! only) and decimal numbers without leading zeroes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::hash::Hash;

/// Standard, padded base64 (RFC 4648 §4).
pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard, padded, canonical base64 (trailing bits must be zero, so
/// every byte string has exactly one encoding).
pub(crate) fn unb64(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}

/// Decodes the base64 of exactly one hash.
pub(crate) fn unb64_hash(s: &str) -> Option<Hash> {
    unb64(s)?.try_into().ok()
}

/// Parses a decimal number as the C2SP formats write sizes and times: ASCII
/// digits, no sign, no leading zero unless the number is 0, at most
/// 2⁶³ − 1 (Go's int64, which the other implementations use).
pub(crate) fn decimal(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) || (b.len() > 1 && b[0] == b'0') {
        return None;
    }
    s.parse::<u64>().ok().filter(|n| i64::try_from(*n).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_canonical_and_bounded() {
        assert_eq!(decimal("0"), Some(0));
        assert_eq!(decimal("20852163"), Some(20852163));
        assert_eq!(decimal("9223372036854775807"), Some(i64::MAX as u64));
        for bad in [
            "",
            "00",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "9223372036854775808",
            "1e3",
        ] {
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn base64_is_canonical() {
        assert_eq!(unb64("AA=="), Some(vec![0]));
        assert_eq!(unb64("AB=="), None, "non-zero trailing bits");
        assert_eq!(unb64("AA"), None, "padding is required");
        assert_eq!(unb64("A A="), None);
    }
}
