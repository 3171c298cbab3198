//! Which `[kafka.properties]` hold secrets, so `auditlog config` can print
//! the configuration in effect without them.

/// What a redacted value is shown as.
pub const REDACTED: &str = "<redacted>";

/// Properties that carry a secret although their names do not say so.
const SECRET_PROPERTIES: &[&str] = &[
    "sasl.jaas.config",
    "sasl.oauthbearer.config",
    "sasl.oauthbearer.assertion.private.key.pem",
    "ssl.key.pem",
    "ssl_key",
];

/// Words that mark a property as secret wherever they appear in its name.
const SECRET_WORDS: &[&str] = &["password", "secret", "passphrase", "credential"];

/// Whether a librdkafka property's value must never be printed:
/// `sasl.password`, `ssl.key.password`, `ssl.keystore.password`,
/// `sasl.oauthbearer.client.secret`, `sasl.jaas.config`, inline private
/// keys, and any name containing password, secret, passphrase or
/// credential (case-insensitive).
pub fn is_secret_property(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    SECRET_PROPERTIES.contains(&name.as_str()) || SECRET_WORDS.iter().any(|w| name.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_recognised_and_ordinary_settings_are_not() {
        for secret in [
            "sasl.password",
            "ssl.key.password",
            "ssl.keystore.password",
            "ssl.truststore.password",
            "sasl.oauthbearer.client.secret",
            "sasl.oauthbearer.config",
            "sasl.jaas.config",
            "ssl.key.pem",
            "SASL.PASSWORD",
            "my.custom.secret.thing",
        ] {
            assert!(is_secret_property(secret), "{secret}");
        }
        for plain in [
            "sasl.username",
            "sasl.mechanism",
            "security.protocol",
            "ssl.ca.location",
            "ssl.certificate.pem",
            "linger.ms",
            "acks",
            "sasl.oauthbearer.client.id",
        ] {
            assert!(!is_secret_property(plain), "{plain}");
        }
    }
}
