//! Typed reading of the functions' `FERRY_*` settings (environment variables).
//!
//! Every function reads its configuration once at cold start through a [`Settings`] reader, so
//! the common settings are parsed the same way everywhere and every error names the variable:
//!
//! * values are trimmed, and an empty value counts as unset;
//! * booleans accept `true`/`false`, `1`/`0`, `yes`/`no` (any case);
//! * numbers have a default and a lower bound;
//! * the shared settings have one reader each: [`Settings::table`] (`FERRY_TABLE`),
//!   [`Settings::replication_policy`] (`FERRY_REPLICATION_POLICY`), [`Settings::topic_filter`]
//!   (`FERRY_TOPICS_INCLUDE` / `FERRY_TOPICS_EXCLUDE`), [`Settings::group_filter`]
//!   (`FERRY_GROUPS_INCLUDE` / `FERRY_GROUPS_EXCLUDE`) and [`Settings::metrics_namespace`]
//!   (`FERRY_METRICS_NAMESPACE`, default `Ferry`).
//!
//! The reader takes any lookup function, so tests pass a map ([`lookup_from_pairs`]) instead of
//! touching the process environment.

use crate::policy::{GroupFilter, ReplicationPolicy, TopicFilter};
use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;
use thiserror::Error;

/// A missing or invalid setting; the message always names the variable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SettingError {
    /// A required variable is unset or empty.
    #[error("missing required setting {name}")]
    Missing {
        /// Variable name.
        name: String,
    },
    /// A variable has a value that cannot be used.
    #[error("invalid setting {name}: {reason}")]
    Invalid {
        /// Variable name (or names, for settings read together).
        name: String,
        /// Why, including the offending value where it is not a secret.
        reason: String,
    },
}

impl SettingError {
    /// An invalid-value error for `name`.
    pub fn invalid(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

/// Reads settings through a lookup function (the process environment in production).
pub struct Settings<F> {
    get: F,
}

impl<F> std::fmt::Debug for Settings<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Settings")
    }
}

impl<F: Fn(&str) -> Option<String>> Settings<F> {
    /// Reads through `get` (tests pass a map).
    pub fn new(get: F) -> Self {
        Self { get }
    }

    /// The trimmed value of `name`, `None` when unset or empty.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The trimmed value of `name`, or [`SettingError::Missing`].
    pub fn required(&self, name: &str) -> Result<String, SettingError> {
        self.optional(name).ok_or_else(|| SettingError::Missing {
            name: name.to_owned(),
        })
    }

    /// The value of `name`, or `default` when unset.
    pub fn string_or(&self, name: &str, default: &str) -> String {
        self.optional(name).unwrap_or_else(|| default.to_owned())
    }

    /// A boolean: `true`/`false`, `1`/`0`, `yes`/`no` in any case; `default` when unset.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, SettingError> {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(SettingError::invalid(
                    name,
                    format!("{v:?} is not true/false"),
                )),
            },
        }
    }

    /// A number of at least `min`; `default` when unset.
    pub fn number<T>(&self, name: &str, default: T, min: T) -> Result<T, SettingError>
    where
        T: FromStr + PartialOrd + Copy + Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => match v.parse::<T>() {
                Ok(n) if n >= min => Ok(n),
                _ => Err(SettingError::invalid(
                    name,
                    format!("{v:?} is not a whole number >= {min}"),
                )),
            },
        }
    }

    /// A value parsed by `parse` (`None` = invalid, described by `expected`); `default` when
    /// unset.
    pub fn parsed<T>(
        &self,
        name: &str,
        default: T,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, SettingError> {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => parse(&v)
                .ok_or_else(|| SettingError::invalid(name, format!("{v:?} is not {expected}"))),
        }
    }

    /// `FERRY_TABLE`: the DynamoDB state table (required).
    pub fn table(&self) -> Result<String, SettingError> {
        self.required("FERRY_TABLE")
    }

    /// `FERRY_METRICS_NAMESPACE`: the CloudWatch namespace of EMF metrics (default `Ferry`).
    pub fn metrics_namespace(&self) -> String {
        self.string_or("FERRY_METRICS_NAMESPACE", "Ferry")
    }

    /// `FERRY_REPLICATION_POLICY`: `identity` (default) or `prefix:<alias>`.
    pub fn replication_policy(&self) -> Result<ReplicationPolicy, SettingError> {
        ReplicationPolicy::parse(
            &self
                .optional("FERRY_REPLICATION_POLICY")
                .unwrap_or_default(),
        )
        .map_err(|e| SettingError::invalid("FERRY_REPLICATION_POLICY", e.to_string()))
    }

    /// `FERRY_TOPICS_INCLUDE` / `FERRY_TOPICS_EXCLUDE`: comma-separated full-match regexes.
    pub fn topic_filter(&self) -> Result<TopicFilter, SettingError> {
        TopicFilter::from_lists(
            &self.optional("FERRY_TOPICS_INCLUDE").unwrap_or_default(),
            &self.optional("FERRY_TOPICS_EXCLUDE").unwrap_or_default(),
        )
        .map_err(|e| {
            SettingError::invalid("FERRY_TOPICS_INCLUDE/FERRY_TOPICS_EXCLUDE", e.to_string())
        })
    }

    /// `FERRY_GROUPS_INCLUDE` / `FERRY_GROUPS_EXCLUDE`: comma-separated full-match regexes.
    pub fn group_filter(&self) -> Result<GroupFilter, SettingError> {
        GroupFilter::from_lists(
            &self.optional("FERRY_GROUPS_INCLUDE").unwrap_or_default(),
            &self.optional("FERRY_GROUPS_EXCLUDE").unwrap_or_default(),
        )
        .map_err(|e| {
            SettingError::invalid("FERRY_GROUPS_INCLUDE/FERRY_GROUPS_EXCLUDE", e.to_string())
        })
    }
}

/// A lookup function over fixed `(name, value)` pairs, for tests of configuration readers.
pub fn lookup_from_pairs(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Clone {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings<impl Fn(&str) -> Option<String>> {
        Settings::new(lookup_from_pairs(pairs))
    }

    #[test]
    fn empty_values_are_unset_and_values_are_trimmed() {
        let s = settings(&[("A", "  "), ("B", " x ")]);
        assert_eq!(s.optional("A"), None);
        assert_eq!(s.optional("B").as_deref(), Some("x"));
        assert_eq!(
            s.required("A").unwrap_err().to_string(),
            "missing required setting A"
        );
        assert_eq!(s.string_or("C", "d"), "d");
    }

    #[test]
    fn flags_accept_the_usual_spellings() {
        let s = settings(&[("T", "TRUE"), ("F", "no"), ("ONE", "1"), ("BAD", "maybe")]);
        assert!(s.flag("T", false).unwrap());
        assert!(!s.flag("F", true).unwrap());
        assert!(s.flag("ONE", false).unwrap());
        assert!(s.flag("UNSET", true).unwrap());
        let err = s.flag("BAD", false).unwrap_err().to_string();
        assert!(err.contains("BAD") && err.contains("maybe"), "{err}");
    }

    #[test]
    fn numbers_have_defaults_and_lower_bounds() {
        let s = settings(&[("N", "7"), ("LOW", "0"), ("X", "1.5")]);
        assert_eq!(s.number("N", 1i64, 1).unwrap(), 7);
        assert_eq!(s.number("UNSET", 3u32, 1).unwrap(), 3);
        assert!(s
            .number("LOW", 3u32, 1)
            .unwrap_err()
            .to_string()
            .contains("LOW"));
        assert!(s
            .number("X", 3i64, 0)
            .unwrap_err()
            .to_string()
            .contains("X"));
    }

    #[test]
    fn shared_settings_name_their_variables() {
        let s = settings(&[
            ("FERRY_REPLICATION_POLICY", "weird"),
            ("FERRY_TOPICS_INCLUDE", "("),
            ("FERRY_GROUPS_EXCLUDE", "("),
        ]);
        assert!(s.table().unwrap_err().to_string().contains("FERRY_TABLE"));
        assert!(s
            .replication_policy()
            .unwrap_err()
            .to_string()
            .contains("FERRY_REPLICATION_POLICY"));
        assert!(s
            .topic_filter()
            .unwrap_err()
            .to_string()
            .contains("FERRY_TOPICS"));
        assert!(s
            .group_filter()
            .unwrap_err()
            .to_string()
            .contains("FERRY_GROUPS"));
        let defaults = settings(&[]);
        assert_eq!(
            defaults.replication_policy().unwrap(),
            ReplicationPolicy::Identity
        );
        assert_eq!(defaults.metrics_namespace(), "Ferry");
        assert!(defaults.topic_filter().unwrap().matches("orders"));
        assert!(!defaults.group_filter().unwrap().matches("ferry-esm-orders"));
    }

    #[test]
    fn parsed_values_say_what_was_expected() {
        let s = settings(&[("MODE", "deep")]);
        let err = s
            .parsed("MODE", 0, "lag/full", |v| (v == "lag").then_some(1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("MODE") && err.contains("lag/full"), "{err}");
    }
}
