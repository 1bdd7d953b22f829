//! Decoders of single record fields: base64 key/value, topic, timestamp type, headers as
//! signed-byte arrays, and the record field names.

use super::*;

/// A base64 field: absent/null, decoded bytes, or why it did not decode (reported with the
/// record's partition and offset once the whole record is read).
pub(super) enum B64 {
    Null,
    Bytes(Vec<u8>),
    Invalid(base64::DecodeError),
}

impl<'de> Deserialize<'de> for B64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = B64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string or null")
            }
            fn visit_none<E: de::Error>(self) -> Result<B64, E> {
                Ok(B64::Null)
            }
            fn visit_unit<E: de::Error>(self) -> Result<B64, E> {
                Ok(B64::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<B64, D::Error> {
                // As bytes: serde_json then hands over the string's raw bytes without UTF-8
                // validation (the base64 decoder checks every byte anyway; ~2 % of the
                // mirror's CPU in the profile). Other deserializers give a `str`.
                d.deserialize_bytes(self)
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<B64, E> {
                Ok(match decode_base64(v) {
                    Ok(bytes) => B64::Bytes(bytes),
                    Err(e) => B64::Invalid(e),
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<B64, E> {
                self.visit_bytes(v.as_bytes())
            }
        }
        d.deserialize_option(V)
    }
}

/// Decodes standard, padded base64 with SIMD (`base64-simd`, the AWS SDK's own decoder: several
/// times faster than the scalar `base64` engine on the megabytes of a full batch). Input it
/// rejects is decoded again by the `base64` crate, whose error says what and where (bad input
/// only); both accept exactly the canonical encodings (property-tested below).
pub(super) fn decode_base64(v: &[u8]) -> Result<Vec<u8>, base64::DecodeError> {
    base64_simd::STANDARD
        .decode_to_vec(v)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(v))
}

/// `topic` compared with the partition key's topic without allocating (the value is kept only
/// when it differs, for the error).
pub(super) struct TopicSeed<'a>(pub(super) &'a str);

impl<'de> DeserializeSeed<'de> for TopicSeed<'_> {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for TopicSeed<'_> {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a topic name or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok((v != self.0).then(|| v.to_owned()))
    }
}

/// `timestampType`: a known spelling, or the unknown value (for the error).
pub(super) struct TsType(pub(super) Result<TimestampType, String>);

impl<'de> Deserialize<'de> for TsType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TsType;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timestamp type")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TsType, E> {
                Ok(TsType(
                    TimestampType::from_esm(v).ok_or_else(|| v.to_owned()),
                ))
            }
        }
        d.deserialize_str(V)
    }
}

/// `headers`: single-key maps of name → signed bytes. A map with another number of entries is
/// remembered as `(index, entries)` for the error.
pub(super) struct Headers {
    pub(super) headers: Vec<Header>,
    pub(super) bad: Option<(usize, usize)>,
}

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Headers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of single-key header maps")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Headers, A::Error> {
                let mut out = Headers {
                    headers: Vec::with_capacity(seq.size_hint().unwrap_or(0)),
                    bad: None,
                };
                let mut index = 0;
                while let Some(one) = seq.next_element::<OneHeader>()? {
                    match one {
                        OneHeader::One(h) => out.headers.push(h),
                        OneHeader::Entries(n) => {
                            out.bad.get_or_insert((index, n));
                        }
                    }
                    index += 1;
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V)
    }
}

pub(super) enum OneHeader {
    One(Header),
    Entries(usize),
}

impl<'de> Deserialize<'de> for OneHeader {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneHeader;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a header map of name to an array of signed bytes")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OneHeader, A::Error> {
                let mut first: Option<Header> = None;
                let mut entries = 0;
                while let Some(FieldName(key)) = map.next_key::<FieldName>()? {
                    let SignedBytes(value) = map.next_value()?;
                    entries += 1;
                    if entries == 1 {
                        first = Some(Header { key, value });
                    }
                }
                Ok(match first {
                    Some(h) if entries == 1 => OneHeader::One(h),
                    _ => OneHeader::Entries(entries),
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// An array of signed bytes (Java's `byte[]` as AWS serializes it) read straight into bytes.
pub(super) struct SignedBytes(pub(super) Vec<u8>);

impl<'de> Deserialize<'de> for SignedBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SignedBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of signed bytes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SignedBytes, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(b) = seq.next_element::<i8>()? {
                    out.push(b as u8);
                }
                Ok(SignedBytes(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// Epoch milliseconds `>= 0`, or Kafka's "no timestamp" `-1`: always for `NO_TIMESTAMP_TYPE`,
/// and also with `CREATE_TIME` (records from pre-0.10 producers keep `-1` after conversion to
/// the current format; `LOG_APPEND_TIME` never has it in practice, but it is as harmless).
pub(super) fn timestamp_allowed(timestamp: i64, timestamp_type: TimestampType) -> bool {
    match timestamp_type {
        TimestampType::NoTimestamp => timestamp == -1,
        TimestampType::CreateTime | TimestampType::LogAppendTime => timestamp >= -1,
    }
}

/// The record fields Ferry reads; anything else is skipped.
#[derive(Clone, Copy)]
pub(super) enum RecordField {
    Topic,
    Partition,
    Offset,
    Timestamp,
    TimestampType,
    Key,
    Value,
    Headers,
    Other,
}

impl RecordField {
    /// The JSON name of a known field.
    pub(super) fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::Topic => "topic",
            Self::Partition => "partition",
            Self::Offset => "offset",
            Self::Timestamp => "timestamp",
            Self::TimestampType => "timestampType",
            Self::Key => "key",
            Self::Value => "value",
            Self::Headers => "headers",
            Self::Other => return None,
        })
    }
}

impl<'de> Deserialize<'de> for RecordField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RecordField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a record field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RecordField, E> {
                Ok(match v {
                    "topic" => RecordField::Topic,
                    "partition" => RecordField::Partition,
                    "offset" => RecordField::Offset,
                    "timestamp" => RecordField::Timestamp,
                    "timestampType" => RecordField::TimestampType,
                    "key" => RecordField::Key,
                    "value" => RecordField::Value,
                    "headers" => RecordField::Headers,
                    _ => RecordField::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}
