//! # The deterministic sync-conflict simulator
//!
//! `receiptdb sim` (and this crate, for scripted scenarios) runs a reference
//! server and several client devices, each a real [`Store`](receiptdb::Store) on
//! its own SQLite file, over a seeded, faulty network: delays, reordering,
//! duplicates, losses with retries, stale snapshots, partitions, offline
//! periods, crashes (the `Store` is dropped at a random point and its file
//! reopened), recalled messages (the server rejects their receipts and
//! pushes the recall to the devices) and sends that fail (held `status:
//! fail` by the sending device only). Some users have two devices, so read
//! state also syncs between a user's own devices (`selfRead`).
//!
//! Invariants are checked while the run goes, not only at the end:
//! - every message's event stream is monotone (`readCount` never falls,
//!   `unreadCount` never rises, `isPeerRead` is never lost), across crashes too;
//! - no receipt whose queueing returned is lost by a crash;
//! - the outbox never hands out an ID twice, never changes or loses a batch;
//! - no client is ever ahead of the server (checked every few steps);
//! - a failed send never gets figures, a receipt or an unread count, and a
//!   recalled message's figures stay as they were when the recall arrived;
//! - after the network heals and everything is delivered and synced, every
//!   client agrees with the server: counts, reader and unread member lists,
//!   sent states, and the last event of each message.
//!
//! The same scenario and seed always give the same [`Report`]. A failing run
//! is shrunk to the shortest failing step prefix.
//!
//! ```
//! use receiptdb_sim::{Action, FaultKind, Scenario};
//!
//! # fn main() -> Result<(), receiptdb::Error> {
//! let report = Scenario::builder()
//!     .seed(7)
//!     .clients(4)
//!     .groups(1)
//!     .members(3)
//!     .messages(12)
//!     .steps(40)
//!     .faults([FaultKind::Drop, FaultKind::Stale, FaultKind::Crash])
//!     .step(5, Action::Send { from: 0, group: Some(0), to: None, receipt: true })
//!     .step(12, Action::Crash { client: 1, down_for: 3 })
//!     .run()?;
//! assert!(report.passed, "{report}");
//! # Ok(()) }
//! ```
//!
//! See `docs/SIM.md` for the model, the JSON scenario format and the report.
//! It uses only the public API of the `receiptdb` store crate, as an embedder
//! would; the command line (`SimArgs`, `run_cli`, the progress bar) is in
//! `receiptdb-cli`.
#![deny(missing_docs)]

mod beyond;
mod check;
mod client;
mod delivery;
mod delivery_check;
mod external;
mod fail;
mod failed;
mod failed_recalled;
mod failed_sends;
mod html;
mod ledger;
mod lww_display;
mod mark_actions;
mod marks;
mod network;
mod outbox;
mod progress;
mod protocol;
mod queries;
mod read_state;
mod reading;
mod recalls;
mod replays;
mod report;
mod rng;
mod run;
mod scenario;
mod script;
mod seen;
mod server;
mod serving;
mod sweep;
mod sync_state;
mod trace;
mod truth;
mod workload;
mod world;

pub use external::{ProcessServer, DEFAULT_TIMEOUT_MS};
pub use html::timeline_html;
pub use ledger::{Ledger, LedgerGroup, LedgerMessage};
pub use protocol::{
    Clock, Device, GroupSetup, Input, MarkState, MemberSetup, NewMessage, Packet, Query, Setup,
    ToClient, PROTOCOL_VERSION,
};
pub use report::{run_command_of, Counters, Invariant, Phase, Report, Shrunk, Violation};
pub use scenario::{parse_faults, FaultKind, Mutation, Rates, Scenario, ScenarioBuilder};
pub use script::{Action, ScriptStep};
pub use server::{
    Answer, ReferenceServer, ServerChoice, ServerError, ServerFactory, SyncServer, NOT_ALLOWED,
    RECALLED,
};
pub use sweep::{sweep, SeedFailure, SeedRange, Shard, SweepSummary};

pub use progress::{Progress, ProgressPhase};
