//! The one-pass `serde` visitors: event -> `records` map -> partition -> record.

use super::*;

/// The top-level object: `records` decoded, the other known fields type-checked and dropped.
pub(super) struct EventVisitor<'a>(pub(super) &'a Location);

impl<'de> Visitor<'de> for EventVisitor<'_> {
    type Value = Result<Vec<PartitionBatch>, DecodeError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kafka event source mapping event (an object with `records`)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut records: Option<Result<Vec<PartitionBatch>, DecodeError>> = None;
        let mut seen = [false; 3];
        while let Some(key) = map.next_key::<FieldName>()? {
            match key.0.as_str() {
                "records" => {
                    if records.is_some() {
                        return Err(de::Error::duplicate_field("records"));
                    }
                    records = Some(map.next_value_seed(RecordsSeed(self.0))?);
                }
                name @ ("eventSource" | "eventSourceArn" | "bootstrapServers") => {
                    let index = usize::from(name != "eventSource")
                        + usize::from(name == "bootstrapServers");
                    if std::mem::replace(&mut seen[index], true) {
                        return Err(de::Error::duplicate_field(
                            ["eventSource", "eventSourceArn", "bootstrapServers"][index],
                        ));
                    }
                    map.next_value::<Option<IgnoredStr>>()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let records = records.ok_or_else(|| de::Error::missing_field("records"))?;
        Ok(records.map(|mut batches| {
            batches.sort_by(|a, b| a.tp.cmp(&b.tp));
            batches
        }))
    }
}

/// An object key, borrowed from the input when possible (only top-level and record keys; few).
pub(super) struct FieldName(pub(super) String);

impl<'de> Deserialize<'de> for FieldName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FieldName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldName, E> {
                Ok(FieldName(v.to_owned()))
            }
        }
        d.deserialize_str(V)
    }
}

/// A string whose content is not needed (type-checked only, never allocated).
pub(super) struct IgnoredStr;

impl<'de> Deserialize<'de> for IgnoredStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IgnoredStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<IgnoredStr, E> {
                Ok(IgnoredStr)
            }
        }
        d.deserialize_str(V)
    }
}

/// `records`: `"<topic>-<partition>"` → records. A repeated key is an error (a map would keep
/// only one of them, and the other's records would be acknowledged unmirrored).
pub(super) struct RecordsSeed<'a>(pub(super) &'a Location);

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = Result<Vec<PartitionBatch>, DecodeError>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = Result<Vec<PartitionBatch>, DecodeError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of \"<topic>-<partition>\" to records")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut batches: Vec<(String, PartitionBatch)> = Vec::new();
        let mut first_error: Option<DecodeError> = None;
        while let Some(FieldName(key)) = map.next_key::<FieldName>()? {
            // Canonical keys only: `t-01` or `t-+1` would be a second key for partition 1.
            let Some(tp) = TopicPartition::parse_esm_key(&key).filter(|tp| tp.esm_key() == key)
            else {
                map.next_value::<IgnoredAny>()?;
                first_error.get_or_insert(DecodeError::BadKey(key));
                continue;
            };
            self.0.enter_partition(&key);
            let records = map.next_value_seed(PartitionSeed {
                key: &key,
                tp: &tp,
                at: self.0,
            })?;
            self.0.leave_partition();
            if batches.iter().any(|(k, _)| *k == key) {
                first_error.get_or_insert(DecodeError::DuplicateKey(key));
                continue;
            }
            match records {
                Ok(records) => batches.push((key, PartitionBatch { tp, records })),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Ok(match first_error {
            Some(e) => Err(e),
            None => Ok(batches.into_iter().map(|(_, b)| b).collect()),
        })
    }
}

/// One partition's record array, offsets strictly ascending. After the first bad record the rest
/// are only parsed (the JSON must still be walked to the end), not decoded.
pub(super) struct PartitionSeed<'a> {
    pub(super) key: &'a str,
    pub(super) tp: &'a TopicPartition,
    pub(super) at: &'a Location,
}

impl<'de> DeserializeSeed<'de> for PartitionSeed<'_> {
    type Value = Result<Vec<MirrorRecord>, DecodeError>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PartitionSeed<'_> {
    type Value = Result<Vec<MirrorRecord>, DecodeError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of Kafka records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut records: Vec<MirrorRecord> =
            Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16_384));
        loop {
            self.at.enter_record(Some(records.len()));
            let Some(record) = seq.next_element_seed(RecordSeed {
                key: self.key,
                tp: self.tp,
                at: self.at,
            })?
            else {
                return Ok(Ok(records));
            };
            let record = record.and_then(|r| match records.last() {
                Some(previous) if r.offset <= previous.offset => Err(DecodeError::NotAscending {
                    tp: self.tp.clone(),
                    offset: r.offset,
                    previous: previous.offset,
                }),
                _ => Ok(r),
            });
            match record {
                Ok(r) => records.push(r),
                Err(e) => {
                    let mut index = records.len();
                    loop {
                        index += 1;
                        self.at.enter_record(Some(index));
                        if seq.next_element::<IgnoredAny>()?.is_none() {
                            break;
                        }
                    }
                    return Ok(Err(e));
                }
            }
        }
    }
}

/// One record, decoded in place.
pub(super) struct RecordSeed<'a> {
    pub(super) key: &'a str,
    pub(super) tp: &'a TopicPartition,
    pub(super) at: &'a Location,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = Result<MirrorRecord, DecodeError>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = Result<MirrorRecord, DecodeError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kafka record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut wrong_topic: Option<String> = None;
        let (mut partition, mut offset, mut timestamp) = (None, None, None);
        let mut timestamp_type: Option<TsType> = None;
        let (mut key, mut value) = (B64::Null, B64::Null);
        let mut headers = Headers {
            headers: Vec::new(),
            bad: None,
        };
        let mut seen = 0u16;
        while let Some(field) = map.next_key::<RecordField>()? {
            self.at.field.set(field.name());
            if let Some(name) = field.name() {
                let bit = 1u16 << (field as u16);
                if seen & bit != 0 {
                    return Err(de::Error::duplicate_field(name));
                }
                seen |= bit;
            }
            match field {
                RecordField::Topic => {
                    wrong_topic = map.next_value_seed(TopicSeed(&self.tp.topic))?
                }
                RecordField::Partition => partition = Some(map.next_value::<i64>()?),
                RecordField::Offset => {
                    let o = map.next_value::<i64>()?;
                    self.at.offset.set(Some(o));
                    offset = Some(o);
                }
                RecordField::Timestamp => timestamp = Some(map.next_value::<i64>()?),
                RecordField::TimestampType => timestamp_type = map.next_value()?,
                RecordField::Key => key = map.next_value()?,
                RecordField::Value => value = map.next_value()?,
                RecordField::Headers => headers = map.next_value()?,
                RecordField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let missing = |name: &'static str| {
            self.at.field.set(Some(name));
            de::Error::missing_field(name)
        };
        let partition = partition.ok_or_else(|| missing("partition"))?;
        let offset = offset.ok_or_else(|| missing("offset"))?;
        let timestamp = timestamp.ok_or_else(|| missing("timestamp"))?;
        self.at.field.set(None);
        Ok(self.finish(
            wrong_topic,
            partition,
            offset,
            timestamp,
            timestamp_type,
            key,
            value,
            headers,
        ))
    }
}

impl RecordSeed<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finish(
        &self,
        wrong_topic: Option<String>,
        partition: i64,
        offset: i64,
        timestamp: i64,
        timestamp_type: Option<TsType>,
        key: B64,
        value: B64,
        headers: Headers,
    ) -> Result<MirrorRecord, DecodeError> {
        let tp = self.tp;
        if wrong_topic.is_some() || partition != i64::from(tp.partition) {
            return Err(DecodeError::Mismatch {
                key: self.key.to_owned(),
                offset,
                field: if wrong_topic.is_some() {
                    "topic"
                } else {
                    "partition"
                },
                topic: wrong_topic.unwrap_or_else(|| tp.topic.clone()),
                partition,
            });
        }
        if !(0..i64::MAX).contains(&offset) {
            return Err(DecodeError::Offset {
                tp: tp.clone(),
                offset,
            });
        }
        let bytes = |field: &'static str, v: B64| match v {
            B64::Null => Ok(None),
            B64::Bytes(b) => Ok(Some(b)),
            B64::Invalid(source) => Err(DecodeError::Base64 {
                tp: tp.clone(),
                offset,
                field,
                source,
            }),
        };
        let timestamp_type = match timestamp_type {
            None => TimestampType::CreateTime,
            Some(TsType(Ok(t))) => t,
            Some(TsType(Err(value))) => {
                return Err(DecodeError::TimestampType {
                    tp: tp.clone(),
                    offset,
                    value,
                })
            }
        };
        if !timestamp_allowed(timestamp, timestamp_type) {
            return Err(DecodeError::Timestamp {
                tp: tp.clone(),
                offset,
                timestamp,
                timestamp_type,
            });
        }
        if let Some((index, entries)) = headers.bad {
            return Err(DecodeError::Header {
                tp: tp.clone(),
                offset,
                index,
                entries,
            });
        }
        Ok(MirrorRecord {
            offset,
            timestamp,
            timestamp_type,
            key: bytes("key", key)?,
            value: bytes("value", value)?,
            headers: headers.headers,
        })
    }
}
