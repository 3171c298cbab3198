//! Fuzzing (proptest over arbitrary and mutated bytes): request bodies in
//! both framings never panic the parser, and whatever it accepts is valid.

use ingest::body::{BodyFormat, parse_body};
use proptest::prelude::*;
use schemas::Limits;

fn valid_ndjson() -> Vec<u8> {
    schemas::sample::sample_events(5, 3, 2)
        .flat_map(|e| {
            let mut line = e.to_canonical_json();
            line.push(b'\n');
            line
        })
        .collect()
}

fn check(body: &[u8]) {
    let limits = Limits::default();
    for format in [BodyFormat::Json, BodyFormat::Ndjson] {
        if let Ok(events) = parse_body(format, body, &limits, 100) {
            for e in events {
                assert!(
                    schemas::parse_event(&e.to_canonical_json(), &limits).is_ok(),
                    "accepted an event whose canonical form does not validate"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check(&body);
    }

    #[test]
    fn mutated_valid_bodies_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut body = valid_ndjson();
        for (i, b) in flips {
            let at = i.index(body.len());
            body[at] = b;
        }
        check(&body);
        let n = cut.index(body.len());
        check(&body[..n]);
    }
}
