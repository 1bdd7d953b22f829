//! The `configs` field of MSK's topic API: topic configs as a Base64 string.
//!
//! The API reference only says "Topic configurations encoded as a Base64 string"; the
//! developer guide's `DescribeTopic` example decodes to Java properties text
//! (`compression.type=producer`, newline, `retention.ms=604800000`). Ferry writes that format
//! ([`ferry_core::msk::to_properties`]) and reads it back; a decoded JSON object of strings
//! (what some infrastructure tools put there) is read too.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ferry_core::msk::{parse_properties, to_properties};
use std::collections::BTreeMap;
use thiserror::Error;

/// A `configs` string Ferry cannot read.
#[derive(Debug, Error)]
pub enum ConfigsError {
    /// Not Base64.
    #[error("topic configs are not Base64")]
    Base64(#[source] base64::DecodeError),
    /// Not UTF-8 once decoded.
    #[error("decoded topic configs are not UTF-8")]
    Utf8(#[source] std::string::FromUtf8Error),
    /// Looked like JSON but is not an object of strings.
    #[error("decoded topic configs are not a JSON object of strings")]
    Json(#[source] serde_json::Error),
}

/// Encodes `configs` as Base64 properties text.
pub fn encode_configs(configs: &BTreeMap<String, String>) -> String {
    STANDARD.encode(to_properties(configs))
}

/// Decodes a `configs` string (Base64 of properties text or of a JSON object). Empty input is
/// no configs.
pub fn decode_configs(encoded: &str) -> Result<BTreeMap<String, String>, ConfigsError> {
    let encoded = encoded.trim();
    if encoded.is_empty() {
        return Ok(BTreeMap::new());
    }
    let bytes = STANDARD.decode(encoded).map_err(ConfigsError::Base64)?;
    let text = String::from_utf8(bytes).map_err(ConfigsError::Utf8)?;
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(&text).map_err(ConfigsError::Json);
    }
    Ok(parse_properties(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_developer_guide_example() {
        let c = decode_configs("Y29tcHJlc3Npb24udHlwZT1wcm9kdWNlcgpyZXRlbnRpb24ubXM9NjA0ODAwMDAw")
            .unwrap();
        assert_eq!(c["compression.type"], "producer");
        assert_eq!(c["retention.ms"], "604800000");
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn round_trips_and_reads_json() {
        let configs: BTreeMap<String, String> = [("retention.ms", "-1"), ("a b", "c=d")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(decode_configs(&encode_configs(&configs)).unwrap(), configs);
        assert!(decode_configs("").unwrap().is_empty());
        let json = STANDARD.encode(r#"{"retention.ms":"-1"}"#);
        assert_eq!(decode_configs(&json).unwrap()["retention.ms"], "-1");
        assert!(matches!(
            decode_configs("%%%"),
            Err(ConfigsError::Base64(_))
        ));
        let bad_json = STANDARD.encode(r#"{"retention.ms":-1}"#);
        assert!(matches!(
            decode_configs(&bad_json),
            Err(ConfigsError::Json(_))
        ));
    }
}
