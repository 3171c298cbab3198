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

fn nib(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Decodes lowercase hex of any even length.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return None;
    }
    b.chunks_exact(2)
        .map(|p| Some((nib(p[0])? << 4) | nib(p[1])?))
        .collect()
}

/// Decodes exactly `N` bytes of lowercase hex.
pub fn decode_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2 {
        return None;
    }
    decode(s)?.try_into().ok()
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
        assert_eq!(super::decode("00abff"), Some(vec![0x00, 0xab, 0xff]));
        assert_eq!(super::decode("0"), None);
    }
}
