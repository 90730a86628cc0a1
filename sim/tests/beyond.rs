//! The read state beyond the seed (deliveries, read times, unread marks,
//! private reading): the default run exercises each of them and passes,
//! and each planted bug of its merges is caught by the invariant it must
//! break, while the same run without the bug passes.

mod support;

use receiptdb_sim::{Invariant, Mutation, Rates, Scenario};
use support::{caught, run};

#[test]
fn the_default_run_exercises_the_read_state_beyond_the_seed_and_passes() {
    let r = run(None);
    assert!(r.passed, "{r}");
    let c = &r.counters;
    assert!(c.delivery_acks > 100, "{r}");
    assert!(c.delivery_checks > 1000, "{r}");
    assert!(
        c.unread_marks > 20 && c.mark_acks > 0 && c.mark_checks > 0,
        "{r}"
    );
    assert!(c.private_switches > 5 && c.private_skipped > 0, "{r}");
}

#[test]
fn delivered_lww_is_caught_by_the_monotone_check() {
    caught(
        Mutation::DeliveredLww,
        Invariant::Monotone,
        "deliveredCount of",
    );
}

#[test]
fn readtime_latest_is_caught_by_the_monotone_check() {
    caught(
        Mutation::ReadtimeLatest,
        Invariant::Monotone,
        "(the earliest must win)",
    );
}

#[test]
fn mark_arrival_is_caught_by_convergence() {
    caught(
        Mutation::MarkArrival,
        Invariant::Convergence,
        "markedUnread",
    );
}

#[test]
fn without_marks_or_private_reading_nothing_is_marked_or_skipped() {
    let rates = Rates {
        mark_unread: 0.0,
        private_reading: 0.0,
        ..Rates::default()
    };
    let r = Scenario::builder()
        .seed(3)
        .clients(4)
        .groups(1)
        .members(3)
        .messages(60)
        .steps(120)
        .rates(rates)
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(r.passed, "{r}");
    assert_eq!(r.counters.unread_marks, 0, "{r}");
    assert_eq!(r.counters.private_skipped, 0, "{r}");
    assert!(r.counters.delivery_acks > 0, "{r}");
}
