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
