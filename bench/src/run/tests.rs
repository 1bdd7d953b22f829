use super::report::unix_to_utc;
use crate::mm2;

#[test]
fn dates() {
    assert_eq!(unix_to_utc(0), "1970-01-01 00:00 UTC");
    assert_eq!(unix_to_utc(1_764_115_200), "2025-11-26 00:00 UTC");
}

#[test]
fn mm2_properties_name_the_topics_and_policy() {
    let p = mm2::properties("x", "s:1", "t:2", &["a.b".to_owned()], 12, "lz4");
    assert!(p.contains("xsrc->xdst.topics = a\\.b"));
    assert!(p.contains("IdentityReplicationPolicy"));
    assert!(p.contains("tasks.max = 12"));
}

#[test]
fn the_w2_headline_goes_under_the_w1_line_and_is_replaced_later() {
    use super::report::with_headlines;
    let doc = "# Benchmarks\n\nFerry/MM2 (W1 records/s): 1.26\n\nbody\n";
    let lines = [
        (
            "Ferry/MM2 (W1 records/s):",
            "Ferry/MM2 (W1 records/s): 2.10".to_owned(),
        ),
        ("Ferry/MM2 (W2 p99):", "Ferry/MM2 (W2 p99): 0.90".to_owned()),
    ];
    let once = with_headlines(doc, &lines);
    assert_eq!(
        once,
        "# Benchmarks\n\nFerry/MM2 (W1 records/s): 2.10\nFerry/MM2 (W2 p99): 0.90\n\nbody\n"
    );
    let again = with_headlines(
        &once,
        &[("Ferry/MM2 (W2 p99):", "Ferry/MM2 (W2 p99): 0.50".to_owned())],
    );
    assert!(
        again.contains("Ferry/MM2 (W2 p99): 0.50\n\nbody"),
        "{again}"
    );
    assert_eq!(again.matches("W2 p99").count(), 1);
}
