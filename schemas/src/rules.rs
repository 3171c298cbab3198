//! The rules a single string must keep, shared by the exhaustive walk
//! (`validate`) and the fast path (`fast`), so both judge
//! the same way.

use uuid::Uuid;

/// The UUID in `s`, or the rule it breaks: `event_id` must be an RFC 9562
/// UUID of version 1 to 8.
pub(crate) fn uuid_rule(s: &str) -> Result<Uuid, (&'static str, &'static str)> {
    match Uuid::try_parse(s) {
        Ok(u)
            if u.get_variant() == uuid::Variant::RFC4122
                && (1..=8).contains(&u.get_version_num()) =>
        {
            Ok(u)
        }
        Ok(_) => Err(("uuid_version", "must be an RFC 9562 UUID of version 1 to 8")),
        Err(_) => Err((
            "uuid",
            "must be a UUID such as 0190a5a4-7c3e-7b5e-8f3a-2d4c5b6a7e8f",
        )),
    }
}

/// The rule a string field breaks, if any: longer than `max` UTF-8 bytes, or
/// holding a control character.
pub(crate) fn text_rule(s: &str, max: usize) -> Option<(&'static str, String)> {
    if s.len() > max {
        return Some((
            "max_length",
            format!("is {} bytes; the limit is {max}", s.len()),
        ));
    }
    if has_control(s) {
        return Some((
            "control_character",
            "must not contain control characters".to_owned(),
        ));
    }
    None
}

/// `s.chars().any(char::is_control)` over bytes: the controls are U+0000 to
/// U+001F and U+007F to U+009F, which UTF-8 spells as the bytes 0x00–0x1F and
/// 0x7F, and 0xC2 followed by 0x80–0x9F.
fn has_control(s: &str) -> bool {
    let b = s.as_bytes();
    // A branch-free pass first (it vectorises): most text has no byte that
    // could start a control character.
    let suspect = b.iter().fold(false, |acc, &c| {
        acc | (c < 0x20) | (c == 0x7F) | (c == 0xC2)
    });
    suspect
        && b.iter().enumerate().any(|(i, &c)| {
            c < 0x20
                || c == 0x7F
                || (c == 0xC2 && b.get(i + 1).is_some_and(|n| (0x80..=0x9F).contains(n)))
        })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::has_control;

    proptest! {
        #[test]
        fn the_byte_scan_finds_exactly_the_control_characters(s in "\\PC{0,8}|[\u{0}-\u{a0}]{0,8}|.{0,8}") {
            prop_assert_eq!(has_control(&s), s.chars().any(char::is_control));
        }
    }

    #[test]
    fn c1_controls_and_their_neighbours() {
        for (s, control) in [
            ("a\u{80}", true),
            ("\u{9f}", true),
            ("\u{a0}", false),
            ("\u{7f}", true),
            ("é", false),
            ("\u{100}", false),
        ] {
            assert_eq!(has_control(s), control, "{s:?}");
        }
    }
}
