//! The wall clock, read at the functions' edges: the domain (`ferry_core`) takes the time as a
//! value (`now_ms` arguments), so it stays pure and testable.

/// Milliseconds since the Unix epoch (UTC), the unit of Kafka timestamps and of every `*_ms`
/// field Ferry stores.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_2024_and_in_milliseconds() {
        let now = super::now_ms();
        assert!(now > 1_704_067_200_000, "{now}");
        assert!(now < 4_102_444_800_000, "{now}");
    }
}
