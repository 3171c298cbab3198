//! Lowercase hex, the encoding of every hash and signature in JSON.

/// Encodes bytes as lowercase hex.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// Decodes exactly `N` bytes of lowercase hex.
pub fn decode_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != N * 2 {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nib(b[2 * i])? << 4) | nib(b[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip_and_rejects() {
        let h = super::encode(&[0x00, 0xab, 0xff]);
        assert_eq!(h, "00abff");
        assert_eq!(super::decode_array::<3>(&h), Some([0x00, 0xab, 0xff]));
        assert_eq!(super::decode_array::<3>("00ABFF"), None);
        assert_eq!(super::decode_array::<2>("00abff"), None);
    }
}
