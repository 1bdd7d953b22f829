//! Java properties text, the format of the topic configs MSK's topic API carries (Base64 of
//! `key=value` lines; see `ferry_aws::msk` and the local MSK API of `ferry-local`).
//!
//! [`to_properties`] writes sorted `key=value` lines with Java properties escapes;
//! [`parse_properties`] reads the subset topic configs need: one entry per line, `=`, `:` or
//! whitespace as separator, `#`/`!` comments, backslash escapes (no line continuations).

use std::collections::BTreeMap;

/// `configs` as properties text, one `key=value` line each, sorted by key.
pub fn to_properties(configs: &BTreeMap<String, String>) -> String {
    let mut text = String::new();
    for (k, v) in configs {
        text.push_str(&escape(k, true));
        text.push('=');
        text.push_str(&escape(v, false));
        text.push('\n');
    }
    text
}

/// Java's properties whitespace (separators and leading blanks).
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

fn escape(s: &str, key: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0c' => out.push_str("\\f"),
            '=' | ':' | ' ' if key => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == 0 => out.push_str("\\ "),
            '#' | '!' if key && i == 0 => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The entries of properties text (see the module doc); a later entry wins.
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim_start_matches(is_blank);
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let mut key = String::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => key.push(unescape(chars.next())),
                '=' | ':' => break,
                c if is_blank(c) => {
                    while chars.next_if(|c| is_blank(*c)).is_some() {}
                    chars.next_if(|c| matches!(c, '=' | ':'));
                    break;
                }
                c => key.push(c),
            }
        }
        while chars.next_if(|c| is_blank(*c)).is_some() {}
        let mut value = String::new();
        while let Some(c) = chars.next() {
            value.push(if c == '\\' { unescape(chars.next()) } else { c });
        }
        out.insert(key, value);
    }
    out
}

fn unescape(c: Option<char>) -> char {
    match c {
        Some('n') => '\n',
        Some('r') => '\r',
        Some('t') => '\t',
        Some('f') => '\x0c',
        Some(c) => c,
        None => '\\',
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_configs_round_trip(configs in prop::collection::btree_map(".*", ".*", 0..6)) {
            prop_assert_eq!(parse_properties(&to_properties(&configs)), configs);
        }
    }

    #[test]
    fn round_trips_awkward_values() {
        let configs: BTreeMap<String, String> = [
            ("cleanup.policy", "compact,delete"),
            ("odd key=1", "a=b: c\\d\nnext"),
            ("#hash", " space"),
            ("empty", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(parse_properties(&to_properties(&configs)), configs);
    }

    #[test]
    fn reads_java_separators_and_comments() {
        let c = parse_properties("# comment\n! other\n a = 1\nb:2\nc 3\n\nd=\n");
        let want: BTreeMap<String, String> = [("a", "1"), ("b", "2"), ("c", "3"), ("d", "")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(c, want);
    }
}
