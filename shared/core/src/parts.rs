//! Documents larger than one DynamoDB item, split into parts.
//!
//! A DynamoDB item holds at most 400 KB (attribute names and values together). A migration's
//! state document or report grows with its groups and partitions: at 1,000 partitions the
//! validation report alone is about 400 KB. The state store therefore keeps a document inline
//! in its item while it fits, and splits a larger one into parts of at most
//! [`MAX_PART_BYTES`], each in an item of its own, that [`split`] cuts and concatenation
//! restores.
//!
//! ## Invariants (proptested)
//! * Concatenating the parts in order gives the document back, byte for byte.
//! * Every part is non-empty and at most `max_bytes` long (UTF-8 bytes), and is valid UTF-8:
//!   a part never ends inside a character.
//! * A document of at most `max_bytes` is one part (an empty document: no part).

/// The largest part, in UTF-8 bytes: 400 KB per item minus room for the keys and the other
/// attributes (`PK`, `SK`, version, timestamps), with a margin.
pub const MAX_PART_BYTES: usize = 350_000;

/// Splits `doc` into parts of at most `max_bytes` (at least 4: one character of UTF-8 must
/// fit), cutting only at character boundaries.
///
/// # Panics
/// If `max_bytes < 4`.
pub fn split(doc: &str, max_bytes: usize) -> Vec<&str> {
    assert!(max_bytes >= 4, "a part must hold one UTF-8 character");
    let mut parts = Vec::with_capacity(doc.len().div_ceil(max_bytes));
    let mut rest = doc;
    while !rest.is_empty() {
        let mut end = rest.len().min(max_bytes);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (part, tail) = rest.split_at(end);
        parts.push(part);
        rest = tail;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_documents_are_one_part_and_large_ones_are_cut_at_characters() {
        assert!(split("", 10).is_empty());
        assert_eq!(split("abc", 10), ["abc"]);
        assert_eq!(split("abcdefghij", 10), ["abcdefghij"]);
        assert_eq!(split("abcdefghijk", 10), ["abcdefghij", "k"]);
        // "é" is two bytes: the cut moves before it.
        assert_eq!(split("abcdeé", 6), ["abcde", "é"]);
    }

    proptest! {
        #[test]
        fn parts_concatenate_to_the_document_and_respect_the_limit(
            doc in "\\PC{0,400}",
            max in 4usize..64,
        ) {
            let parts = split(&doc, max);
            prop_assert_eq!(parts.concat(), doc.clone());
            for p in &parts {
                prop_assert!(!p.is_empty());
                prop_assert!(p.len() <= max);
            }
            if doc.len() <= max {
                prop_assert!(parts.len() <= 1);
            }
        }
    }
}
