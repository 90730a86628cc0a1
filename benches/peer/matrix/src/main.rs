//! One run of the peer workload (benches/peer/README.md) on
//! matrix-sdk-sqlite 0.18's `SqliteStateStore`, printed as one JSON line.
//! `peer-matrix DIR`: a fresh store in DIR (which must not exist).
use std::collections::BTreeMap;
use std::time::Instant;

use matrix_sdk_base::ruma::events::receipt::{
    Receipt, ReceiptEventContent, ReceiptThread, ReceiptType,
};
use matrix_sdk_base::ruma::{
    owned_room_id, EventId, MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId, OwnedUserId,
    RoomId, UInt, UserId,
};
use matrix_sdk_base::store::{StateChanges, StateStore};
use matrix_sdk_sqlite::SqliteStateStore;

/// Messages (rooms here: matrix keeps one read receipt per user, room and
/// thread) in the batch, and readers of each: 10 × 10,000 = 100,000.
const BATCH_MESSAGES: usize = 10;
const READERS: usize = 10_000;
const SINGLE_SAVES: usize = 200;
const COUNTS: usize = 9;

fn user(i: usize) -> OwnedUserId {
    UserId::parse(format!("@u{i:06}:example.org")).unwrap_or_else(|e| panic!("user id: {e}"))
}

fn event(name: &str) -> OwnedEventId {
    EventId::parse(format!("${name}")).unwrap_or_else(|e| panic!("event id: {e}"))
}

fn room(i: usize) -> OwnedRoomId {
    RoomId::parse(format!("!room{i}:example.org")).unwrap_or_else(|e| panic!("room id: {e}"))
}

fn receipts(event_id: &OwnedEventId, readers: impl Iterator<Item = usize>) -> ReceiptEventContent {
    let users = readers
        .map(|i| {
            let ts = MilliSecondsSinceUnixEpoch(UInt::from(1_000_000u32 + i as u32));
            (user(i), Receipt::new(ts))
        })
        .collect();
    let mut by_type = BTreeMap::new();
    by_type.insert(ReceiptType::Read, users);
    ReceiptEventContent(BTreeMap::from([(event_id.clone(), by_type)]))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| panic!("usage: peer-matrix DIR"));
    let store = SqliteStateStore::open(&dir, None)
        .await
        .unwrap_or_else(|e| panic!("open: {e}"));

    // A batch of 100,000 receipts in one call.
    let mut changes = StateChanges::default();
    for m in 0..BATCH_MESSAGES {
        changes.add_receipts(&room(m), receipts(&event(&format!("batch{m}")), 0..READERS));
    }
    let t = Instant::now();
    store
        .save_changes(&changes)
        .await
        .unwrap_or_else(|e| panic!("batch: {e}"));
    let batch_ms = t.elapsed().as_secs_f64() * 1e3;

    // Listing all 10,000 readers of one message.
    let (r0, e0) = (room(0), event("batch0"));
    let list = |store: &SqliteStateStore| {
        let (r0, e0) = (r0.clone(), e0.clone());
        let store = store.clone();
        async move {
            store
                .get_event_room_receipt_events(
                    &r0,
                    ReceiptType::Read,
                    ReceiptThread::Unthreaded,
                    &e0,
                )
                .await
                .unwrap_or_else(|e| panic!("list: {e}"))
        }
    };
    let t = Instant::now();
    let all = list(&store).await;
    let list_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(all.len(), READERS, "every reader listed");

    // A read count: matrix stores none, so it is the listing's length.
    let mut counts = Vec::new();
    for _ in 0..COUNTS {
        let t = Instant::now();
        let n = list(&store).await.len();
        counts.push(t.elapsed().as_secs_f64() * 1e6);
        assert_eq!(n, READERS);
    }

    // One receipt a call, each its own transaction (SQLite's default
    // synchronous=FULL in WAL: matrix-sdk-sqlite 0.18 sets no other).
    let single_room = owned_room_id!("!single:example.org");
    let single_event = event("single");
    let mut singles = Vec::new();
    for i in 0..SINGLE_SAVES {
        let mut changes = StateChanges::default();
        changes.add_receipts(
            &single_room,
            receipts(&single_event, READERS + i..READERS + i + 1),
        );
        let t = Instant::now();
        store
            .save_changes(&changes)
            .await
            .unwrap_or_else(|e| panic!("single: {e}"));
        singles.push(t.elapsed().as_secs_f64() * 1e6);
    }
    println!(
        "{}",
        serde_json::json!({
            "side": "matrix-sdk-sqlite 0.18",
            "batch_ms": batch_ms,
            "list_ms": list_ms,
            "count_us": median(counts),
            "single_us": median(singles),
        })
    );
}
