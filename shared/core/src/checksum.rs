//! Ordered content checksums of record ranges, used by validation and the tests.
//!
//! A record's digest covers key (null distinct from empty), value (tombstone distinct from empty),
//! headers in order, and timestamp; a range's checksum chains record digests in offset order,
//! so reordering, loss, duplication or a changed byte all change it. Offsets are not covered:
//! source and target offsets differ by design.

use crate::record::MirrorRecord;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_128, Xxh3};

/// Digest of one record's content.
pub fn record_digest(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &mut dyn Iterator<Item = (&str, &[u8])>,
    timestamp: i64,
) -> u128 {
    let mut h = Xxh3::new();
    let mut field = |tag: u8, bytes: Option<&[u8]>| {
        h.update(&[tag]);
        match bytes {
            None => h.update(&[0]),
            Some(b) => {
                h.update(&[1]);
                h.update(&(b.len() as u64).to_le_bytes());
                h.update(b);
            }
        }
    };
    field(b'k', key);
    field(b'v', value);
    for (k, v) in headers {
        field(b'h', Some(k.as_bytes()));
        field(b'x', Some(v));
    }
    h.update(b"t");
    h.update(&timestamp.to_le_bytes());
    h.digest128()
}

/// Running checksum of an ordered record range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RangeChecksum {
    /// Records folded in.
    pub count: u64,
    /// Chained digest (hex in JSON reports via [`RangeChecksum::hex`]).
    pub digest: u128,
}

impl RangeChecksum {
    /// Folds the next record's digest in.
    pub fn push_digest(&mut self, d: u128) {
        let mut buf = [0u8; 32];
        buf[..16].copy_from_slice(&self.digest.to_le_bytes());
        buf[16..].copy_from_slice(&d.to_le_bytes());
        self.digest = xxh3_128(&buf);
        self.count += 1;
    }

    /// Folds a [`MirrorRecord`] in.
    pub fn push(&mut self, r: &MirrorRecord) {
        let mut headers = r
            .headers
            .iter()
            .map(|h| (h.key.as_str(), h.value.as_slice()));
        self.push_digest(record_digest(
            r.key.as_deref(),
            r.value.as_deref(),
            &mut headers,
            r.timestamp,
        ));
    }

    /// Digest as 32 hex digits.
    pub fn hex(&self) -> String {
        format!("{:032x}", self.digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Header, TimestampType};

    fn rec(key: Option<&[u8]>, value: Option<&[u8]>) -> MirrorRecord {
        MirrorRecord {
            offset: 0,
            timestamp: 1,
            timestamp_type: TimestampType::CreateTime,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers: vec![Header {
                key: "h".into(),
                value: b"v".to_vec(),
            }],
        }
    }

    #[test]
    fn null_and_empty_differ_and_order_matters() {
        let digest = |rs: &[MirrorRecord]| {
            let mut c = RangeChecksum::default();
            rs.iter().for_each(|r| c.push(r));
            c
        };
        let a = rec(Some(b"k"), Some(b"v"));
        let tomb = rec(Some(b"k"), None);
        let empty = rec(Some(b"k"), Some(b""));
        assert_ne!(
            digest(std::slice::from_ref(&tomb)),
            digest(std::slice::from_ref(&empty))
        );
        assert_ne!(
            digest(&[rec(None, Some(b"v"))]),
            digest(&[rec(Some(b""), Some(b"v"))])
        );
        assert_ne!(
            digest(&[a.clone(), tomb.clone()]),
            digest(&[tomb.clone(), a.clone()])
        );
        assert_eq!(digest(&[a.clone(), tomb.clone()]), digest(&[a, tomb]));
    }
}
