//! Failed sends and recalls seen by clients: the default run exercises
//! both and passes; each planted bug is caught by the invariant it must
//! break, while the same run without it passes; with no failed sends and
//! no recalls, none is counted.

mod support;

use receiptdb_sim::{Action, FaultKind, Invariant, Mutation, Rates, Scenario};
use support::{caught, run};

#[test]
fn the_default_run_fails_sends_and_shows_recalls_and_passes() {
    let r = run(None);
    assert!(r.passed, "{r}");
    let c = &r.counters;
    assert!(c.failed_sends > 5 && c.failed_asked > 0, "{r}");
    assert!(c.failed_checks > c.failed_sends, "{r}");
    assert!(c.recalls_learned > 10 && c.recall_refusals > 0, "{r}");
    assert!(c.frozen_checks > 10, "{r}");
}

#[test]
fn count_failed_is_caught_by_the_read_state_check() {
    caught(
        Mutation::CountFailed,
        Invariant::ReadState,
        "held in messages are above readSequence",
    );
}

#[test]
fn recall_thaw_is_caught_by_the_recall_check() {
    caught(
        Mutation::RecallThaw,
        Invariant::Recalled,
        "its figures moved after the recall reached this device",
    );
}

/// A scripted recall of a group message a member has read, a receipt for
/// it sent after the recall reached the reader, and a leave that would
/// lower the sender's unread count: the recall is everywhere, the receipt
/// is refused as expected and the figures stay frozen.
#[test]
fn a_scripted_recall_freezes_figures_and_refuses_receipts() {
    // 4 clients: users u0, u1, u2; client 3 is u0's second device.
    let rates = Rates {
        read: 0.0,
        failed_send: 0.0,
        ..Rates::default()
    };
    let send = |from, group| Action::Send {
        from,
        group,
        to: None,
        receipt: true,
    };
    let r = Scenario::builder()
        .seed(5)
        .clients(4)
        .groups(1)
        .members(3)
        .messages(0)
        .steps(30)
        .faults([])
        .rates(rates)
        .step(0, send(0, Some(0))) // m1
        .step(0, send(0, Some(0))) // m2
        .step(2, Action::Read { client: 1 })
        .step(6, Action::Recall { message: Some(1) })
        .step(6, Action::Recall { message: Some(2) })
        .step(9, Action::Read { client: 2 })
        .step(12, Action::Leave { group: 0, user: 2 })
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(r.passed, "{r}");
    let c = &r.counters;
    // Every device of u0, u1, u2 learns of both recalls.
    assert_eq!(c.recalls_learned, 8, "{r}");
    assert!(c.recall_refusals >= 1, "u2 read after the recall: {r}");
    assert!(c.frozen_checks >= 4, "{r}");
    assert_eq!(c.failed_sends, 0, "{r}");
}

#[test]
fn without_failed_sends_or_recalls_none_is_counted() {
    let rates = Rates {
        failed_send: 0.0,
        ..Rates::default()
    };
    let r = Scenario::builder()
        .seed(3)
        .clients(4)
        .groups(1)
        .members(3)
        .messages(60)
        .steps(120)
        .faults(
            FaultKind::ALL
                .into_iter()
                .filter(|k| *k != FaultKind::Reject),
        )
        .rates(rates)
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(r.passed, "{r}");
    let c = &r.counters;
    assert_eq!((c.failed_sends, c.failed_asked), (0, 0), "{r}");
    assert_eq!((c.recalls_learned, c.recall_refusals), (0, 0), "{r}");
}
