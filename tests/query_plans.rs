//! Hot queries keep their indexes: `EXPLAIN QUERY PLAN` shows a SEARCH, never
//! a SCAN of a stored table or a temporary B-tree for sorting. (Scanning the
//! JSON list a call passes in, with `json_each`, is the input, not a table;
//! so is a co-routine of rows made from it, or the constant row of one
//! bound value.)

use receiptdb::{GroupType, Member, Store};

/// Every hot query is an index SEARCH with no full scan and no sort step.
#[test]
fn hot_queries_use_their_indexes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("p.db"), "alice").expect("open");
    store
        .set_group(
            "g",
            GroupType::Work,
            &[Member::new("alice"), Member::new("bob")],
        )
        .expect("group");
    let plans = store.hot_query_plans().expect("plans");
    assert!(plans.len() >= 8);
    for (name, lines) in plans {
        assert!(!lines.is_empty(), "{name}: no plan");
        // A co-routine is a subquery's own rows (from the input), not a table.
        let coroutines: Vec<String> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("CO-ROUTINE "))
            .map(|n| format!("SCAN {n}"))
            .collect();
        for l in &lines {
            // A constant row is made from a bound value (one reader's ID).
            let input = l.contains("VIRTUAL TABLE")
                || l == "SCAN CONSTANT ROW"
                || coroutines.iter().any(|c| c == l);
            assert!(
                !l.starts_with("SCAN") || input,
                "{name}: full scan: {lines:?}"
            );
            assert!(
                !l.contains("TEMP B-TREE FOR ORDER BY"),
                "{name}: sorts in a temp b-tree: {lines:?}"
            );
        }
        assert!(
            lines.iter().any(|l| l.starts_with("SEARCH")),
            "{name}: no index search: {lines:?}"
        );
    }
}
