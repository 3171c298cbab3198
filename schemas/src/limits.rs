//! Bounds enforced by validation. Every bound is configurable through the
//! `[limits]` section of the configuration file.

use serde::{Deserialize, Serialize};

/// Size bounds for one audit event. String lengths are counted in UTF-8 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted event, in bytes of its JSON encoding as received.
    #[serde(default = "default_max_event_bytes")]
    pub max_event_bytes: usize,
    /// Most entries allowed in `attributes`.
    #[serde(default = "default_max_attributes")]
    pub max_attributes: usize,
    /// Longest identifier: `tenant`, `source`, `action`, `actor.type`,
    /// `actor.id`, `resource.type`, `resource.id`.
    #[serde(default = "default_max_string_len")]
    pub max_string_len: usize,
    /// Longest free text: `reason` and `actor.user_agent`.
    #[serde(default = "default_max_text_len")]
    pub max_text_len: usize,
    /// Longest attribute key.
    #[serde(default = "default_max_attribute_key_len")]
    pub max_attribute_key_len: usize,
    /// Longest attribute value.
    #[serde(default = "default_max_attribute_value_len")]
    pub max_attribute_value_len: usize,
}

fn default_max_event_bytes() -> usize {
    64 * 1024
}
fn default_max_attributes() -> usize {
    64
}
fn default_max_string_len() -> usize {
    256
}
fn default_max_text_len() -> usize {
    4096
}
fn default_max_attribute_key_len() -> usize {
    128
}
fn default_max_attribute_value_len() -> usize {
    1024
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_event_bytes: default_max_event_bytes(),
            max_attributes: default_max_attributes(),
            max_string_len: default_max_string_len(),
            max_text_len: default_max_text_len(),
            max_attribute_key_len: default_max_attribute_key_len(),
            max_attribute_value_len: default_max_attribute_value_len(),
        }
    }
}
