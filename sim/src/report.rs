//! What a run found: counters, faults injected, convergence, and the first
//! violated invariant. Everything here is a function of the scenario alone,
//! so the same seed gives the same report (wall-clock figures are kept out;
//! the command line prints them on a separate, labelled line).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::scenario::{FaultKind, Mutation, Rates, Scenario};
use super::server::ServerChoice;

/// The invariants the simulator checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Invariant {
    /// A message's event stream went backwards (`readCount` fell,
    /// `unreadCount` rose, `isPeerRead` was lost), within or across crashes.
    Monotone,
    /// A receipt whose queueing (or ack) had returned was missing after a crash.
    Durability,
    /// The outbox handed out an ID twice, changed a handed-out batch, or lost one.
    Outbox,
    /// After quiescence a client disagrees with the server.
    Convergence,
    /// A message's last event disagrees with its stored receipt state.
    EventState,
    /// A store call failed.
    StoreError,
    /// A client claimed more than the server knows (a higher `readCount`, a
    /// lower `unreadCount`, a peer read or an `acked` receipt the server lacks).
    Soundness,
    /// The clients did not settle within the step cap after the network healed.
    Liveness,
    /// A conversation's unread count differs from its definition, the total
    /// from the sum, or a read position went down.
    ReadState,
    /// A store's deep check (`verify`) found a stored counter that differs
    /// from its recount.
    Counters,
    /// The server broke the protocol (docs/SIM-SERVER.md): it exited, hung,
    /// answered something malformed or addressed a device that does not
    /// exist. `receiptdb sim` exits with status 2.
    Server,
    /// A conversation read privately queued a receipt, or one that is not
    /// private skipped one, or a receipt reached the server that its
    /// device never queued.
    Private,
    /// A failed send (`status: fail`) got receipt figures, an event, a
    /// queued receipt or delivery ack, or reached a device or server that
    /// never should have had it.
    Failed,
    /// A recalled message's figures changed after its recall reached the
    /// device, a receipt was queued for it, or `MESSAGE_RECALLED` named a
    /// message the device was never told was recalled.
    Recalled,
}

impl Invariant {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::Monotone => "monotone events",
            Invariant::Durability => "no acknowledged receipt lost",
            Invariant::Outbox => "outbox integrity",
            Invariant::Convergence => "convergence",
            Invariant::EventState => "events agree with state",
            Invariant::StoreError => "store call succeeded",
            Invariant::Soundness => "never ahead of the server",
            Invariant::Liveness => "quiescence reached",
            Invariant::ReadState => "conversation read state",
            Invariant::Counters => "stored counters equal their recount",
            Invariant::Server => "the server kept the protocol",
            Invariant::Private => "private reading",
            Invariant::Failed => "failed sends",
            Invariant::Recalled => "recalled messages",
        }
    }
}

/// When a violation was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// The faulty phase.
    Run,
    /// After healing, while delivering what is left.
    Quiesce,
    /// The final comparison with the server.
    Final,
}

/// The first violated invariant of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    /// Which invariant.
    pub invariant: Invariant,
    /// The phase it was found in.
    pub phase: Phase,
    /// The step it was found at.
    pub step: u64,
    /// The client that showed it, if one did.
    pub client: Option<String>,
    /// What exactly was wrong.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.phase {
            Phase::Run => "run",
            Phase::Quiesce => "quiescence",
            Phase::Final => "final check",
        };
        write!(
            f,
            "[{}] at step {} ({phase}",
            self.invariant.name(),
            self.step
        )?;
        if let Some(c) = &self.client {
            write!(f, ", client {c}")?;
        }
        write!(f, "): {}", self.detail)
    }
}

/// The smallest failing scenario shrinking found: the same seed and the
/// same violated invariant, with fewer steps (a prefix of the run) and, where
/// they still fail, fewer clients, groups, messages and fault kinds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Shrunk {
    /// Run only this many steps (`--prefix N`) and it still fails.
    pub prefix: u64,
    /// Runs the search took.
    pub runs: u64,
    /// The violation of the smallest failing scenario.
    pub violation: Violation,
    /// The smallest failing scenario (its `prefix` set): what the replay
    /// command runs.
    pub scenario: Scenario,
}

/// Counters of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Faulty-phase steps run.
    pub steps: u64,
    /// Messages the server accepted.
    pub messages: u64,
    /// Group membership changes.
    pub membership_changes: u64,
    /// Packets sent / delivered / lost (dropped, partitioned, or to a client
    /// that was down or offline).
    pub packets_sent: u64,
    /// Packets delivered.
    pub packets_delivered: u64,
    /// Packets lost.
    pub packets_lost: u64,
    /// Store calls made.
    pub store_ops: u64,
    /// Events received.
    pub events: u64,
    /// Receipt items in those events (each checked for monotonicity).
    pub event_items: u64,
    /// Events missed by a lagging subscription.
    pub lagged: u64,
    /// Receipts queued by `sendMessageReadReceipt`.
    pub receipts_queued: u64,
    /// Receipts the server took (a new reader).
    pub receipts_accepted: u64,
    /// Repeated receipts the server ignored.
    pub receipts_repeated: u64,
    /// Receipts the server rejected.
    pub receipts_rejected: u64,
    /// Receipt batches sent (retries included).
    pub batches_sent: u64,
    /// Acks that the store took.
    pub acks_applied: u64,
    /// Acks that the store ignored as repeated.
    pub acks_repeated: u64,
    /// Notifications applied.
    pub notifications: u64,
    /// Snapshots applied (stale replays included).
    pub snapshots: u64,
    /// Stores reopened after a crash.
    pub reopens: u64,
    /// Receipt states checked after reopening.
    pub durability_checks: u64,
    /// Message states checked for soundness while running.
    pub soundness_checks: u64,
    /// Message states compared with the server at the end.
    pub final_checks: u64,
    /// `setMessageRead` / `setAllMessageRead` calls.
    pub marks: u64,
    /// Read reports sent to the server (retries included).
    pub read_reports_sent: u64,
    /// Read positions the server's read acks showed moving (a lost ack is not seen).
    pub read_reports_moved: u64,
    /// Read acks applied (`ackReadReports`).
    pub read_acks: u64,
    /// Pushed read positions applied (`applyReadReports`).
    pub read_pushes: u64,
    /// Conversations whose unread count was checked against its definition.
    pub read_state_checks: u64,
    /// Delivery batches sent (retries included).
    pub delivery_batches_sent: u64,
    /// Delivery batches the store took as acked.
    pub delivery_acks: u64,
    /// Delivered figures and read times compared with the server.
    pub delivery_checks: u64,
    /// `markConversationUnread` calls.
    pub unread_marks: u64,
    /// Mark reports sent (retries included).
    pub mark_reports_sent: u64,
    /// Pending mark reports cleared by the server's acks.
    pub mark_acks: u64,
    /// Unread marks compared with the server's registers at the end.
    pub mark_checks: u64,
    /// Private reading switched on or off.
    pub private_switches: u64,
    /// Receipts not queued because the conversation reads privately.
    pub private_skipped: u64,
    /// Sends that failed (held `status: fail` on the sending device).
    pub failed_sends: u64,
    /// Failed sends named in a `sendMessageReadReceipt` (none may be queued).
    pub failed_asked: u64,
    /// Failed sends checked (status, figures, not anywhere else).
    pub failed_checks: u64,
    /// Recalls a device learned of (a push or a sync with `isRevoked`).
    pub recalls_learned: u64,
    /// `sendMessageReadReceipt` answers `MESSAGE_RECALLED`, handled.
    pub recall_refusals: u64,
    /// Frozen figures of recalled messages compared with the first ones.
    pub frozen_checks: u64,
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The scenario that ran.
    pub scenario: Scenario,
    /// Users behind the clients.
    pub users: usize,
    /// Faults injected, by kind (random and scripted).
    pub faults: BTreeMap<FaultKind, u64>,
    /// Counters.
    pub counters: Counters,
    /// Steps from healing the network to a quiet, fully synced state.
    pub converge_steps: Option<u64>,
    /// No invariant was violated.
    pub passed: bool,
    /// The first violated invariant.
    pub violation: Option<Violation>,
    /// The shortest failing step prefix, when the run failed and shrinking was on.
    pub shrunk: Option<Shrunk>,
    /// How the violating state came about, newest first: the packet that
    /// brought it, who sent it and why (read from a traced rerun of the
    /// smallest failing scenario).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cause: Vec<String>,
    /// Whether `trace` holds a trace (asked for with `Scenario::trace`).
    #[serde(skip)]
    pub traced: bool,
    /// The trace of the (smallest) failing run, or of the run when it
    /// passed: one JSON object per entry (`--trace FILE.jsonl`).
    #[serde(skip)]
    pub trace: Option<Vec<serde_json::Value>>,
}

/// `all`, `none`, or the enabled fault kinds separated by commas.
fn fault_list(sc: &Scenario) -> String {
    if sc.faults.len() == FaultKind::ALL.len() {
        return "all".into();
    }
    if sc.faults.is_empty() {
        return "none".into();
    }
    let names: Vec<&str> = sc.faults.iter().map(|f| f.name()).collect();
    names.join(",")
}

impl Report {
    /// The command that replays the shortest failing prefix.
    pub fn replay_command(&self) -> Option<String> {
        let s = self.shrunk.as_ref()?;
        Some(run_command_of(&s.scenario))
    }

    /// The command that runs this report's scenario again (its prefix, if any).
    pub fn run_command(&self) -> String {
        run_command_of(&self.scenario)
    }
}

/// The `receiptdb sim` command line that runs `sc` (seed, sizes, faults,
/// prefix, mutation, and its scenario file when it came from one).
pub fn run_command_of(sc: &Scenario) -> String {
    let mut cmd = format!(
        "receiptdb sim --seed {} --clients {} --groups {} --members {} --messages {} --steps {} --faults {}",
        sc.seed,
        sc.clients,
        sc.groups,
        sc.members,
        sc.messages,
        sc.steps,
        fault_list(sc),
    );
    if let Some(p) = sc.prefix {
        cmd.push_str(&format!(" --prefix {p}"));
    }
    match sc.mutate {
        Some(Mutation::Lww) => cmd.push_str(" --mutate lww"),
        Some(Mutation::Tally) => cmd.push_str(" --mutate tally"),
        Some(Mutation::DeliveredLww) => cmd.push_str(" --mutate delivered-lww"),
        Some(Mutation::ReadtimeLatest) => cmd.push_str(" --mutate readtime-latest"),
        Some(Mutation::MarkArrival) => cmd.push_str(" --mutate mark-arrival"),
        Some(Mutation::CountFailed) => cmd.push_str(" --mutate count-failed"),
        Some(Mutation::RecallThaw) => cmd.push_str(" --mutate recall-thaw"),
        None => {}
    }
    if let ServerChoice::Command {
        cmd: server,
        timeout_ms,
    } = &sc.server
    {
        cmd.push_str(&format!(" --server-cmd {}", shell_word(server)));
        if let Some(t) = timeout_ms {
            cmd.push_str(&format!(" --server-timeout-ms {t}"));
        }
    }
    match &sc.source {
        Some(path) => {
            cmd.push_str(" --scenario ");
            cmd.push_str(&shell_word(path));
        }
        // Made in code: the script and rates have no file to name.
        None if !sc.script.is_empty() || sc.rates != Rates::default() => {
            cmd.push_str(" --scenario FILE.json");
        }
        None => {}
    }
    if let ServerChoice::Custom(_) = &sc.server {
        cmd.push_str("  (with your SyncServer: run this scenario through the trait)");
    }
    cmd
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sc = &self.scenario;
        let c = &self.counters;
        writeln!(f, "receiptdb sim: seed {}", sc.seed)?;
        writeln!(
            f,
            "parameters: clients {} (users {}, {} with two devices), groups {}, members {}, messages {}, steps {}{}, mode {}",
            sc.clients,
            self.users,
            sc.clients / 3,
            sc.groups,
            sc.members,
            sc.messages,
            sc.steps,
            sc.prefix.map(|p| format!(" (prefix {p})")).unwrap_or_default(),
            match sc.mutate {
                Some(Mutation::Lww) => "lww (mutated)",
                Some(Mutation::Tally) => "tally (mutated)",
                Some(Mutation::DeliveredLww) => "delivered-lww (mutated)",
                Some(Mutation::ReadtimeLatest) => "readtime-latest (mutated)",
                Some(Mutation::MarkArrival) => "mark-arrival (mutated)",
                Some(Mutation::CountFailed) => "count-failed (mutated)",
                Some(Mutation::RecallThaw) => "recall-thaw (mutated)",
                None => "lattice",
            }
        )?;
        writeln!(
            f,
            "faults enabled: {}; scripted actions: {}",
            fault_list(sc),
            sc.script.len()
        )?;
        let injected: Vec<String> = FaultKind::ALL
            .iter()
            .map(|k| format!("{} {}", k.name(), self.faults.get(k).copied().unwrap_or(0)))
            .collect();
        writeln!(f, "faults injected: {}", injected.join(", "))?;
        writeln!(
            f,
            "traffic: {} messages, {} membership changes, packets {} sent / {} delivered / {} lost",
            c.messages, c.membership_changes, c.packets_sent, c.packets_delivered, c.packets_lost
        )?;
        writeln!(
            f,
            "receipts: {} queued, {} accepted, {} repeated, {} rejected; {} batches sent, {} acks applied, {} repeated acks",
            c.receipts_queued,
            c.receipts_accepted,
            c.receipts_repeated,
            c.receipts_rejected,
            c.batches_sent,
            c.acks_applied,
            c.acks_repeated
        )?;
        writeln!(
            f,
            "sync: {} notifications, {} snapshots applied; {} reopens after crashes ({} receipt states re-checked)",
            c.notifications, c.snapshots, c.reopens, c.durability_checks
        )?;
        writeln!(
            f,
            "events: {} events, {} receipt items checked for monotonicity, {} lagged; {} states checked against the server while running",
            c.events, c.event_items, c.lagged, c.soundness_checks
        )?;
        writeln!(
            f,
            "read state: {} marks, {} read reports sent ({} moved the server), {} read acks, {} pushed positions applied; {} unread counts checked against their definition",
            c.marks, c.read_reports_sent, c.read_reports_moved, c.read_acks, c.read_pushes, c.read_state_checks
        )?;
        writeln!(
            f,
            "beyond: {} delivery batches sent, {} acked; {} delivered figures and read times checked; {} unread marks, {} mark reports sent, {} acked, {} compared; {} private switches, {} receipts skipped",
            c.delivery_batches_sent,
            c.delivery_acks,
            c.delivery_checks,
            c.unread_marks,
            c.mark_reports_sent,
            c.mark_acks,
            c.mark_checks,
            c.private_switches,
            c.private_skipped
        )?;
        writeln!(
            f,
            "failed and recalled: {} failed sends, {} named in receipt calls, {} checks; {} recalls learned by devices, {} MESSAGE_RECALLED answers, {} frozen figures checked",
            c.failed_sends,
            c.failed_asked,
            c.failed_checks,
            c.recalls_learned,
            c.recall_refusals,
            c.frozen_checks
        )?;
        match self.converge_steps {
            Some(n) => writeln!(
                f,
                "convergence: quiet and synced {n} steps after healing; {} message states compared",
                c.final_checks
            )?,
            None => writeln!(f, "convergence: not reached")?,
        }
        let steps = (c.steps + self.converge_steps.unwrap_or(0)).max(1);
        writeln!(
            f,
            "throughput: {} store calls in {} steps ({:.1} calls/step, {:.2} receipts accepted/step)",
            c.store_ops,
            steps,
            c.store_ops as f64 / steps as f64,
            c.receipts_accepted as f64 / steps as f64
        )?;
        match &self.violation {
            None => write!(f, "result: PASS"),
            Some(v) => {
                writeln!(f, "result: FAIL (seed {})", sc.seed)?;
                writeln!(f, "first violation: {v}")?;
                if !self.cause.is_empty() {
                    writeln!(f, "cause (in the smallest failing run, newest first):")?;
                    for c in &self.cause {
                        writeln!(f, "  <- {c}")?;
                    }
                }
                match &self.shrunk {
                    Some(s) => {
                        let z = &s.scenario;
                        writeln!(
                            f,
                            "shrunk (in {} runs): steps {} -> {}, clients {} -> {}, groups {} -> {}, messages {} -> {}, faults {} -> {}",
                            s.runs,
                            sc.effective_steps(),
                            s.prefix,
                            sc.clients,
                            z.clients,
                            sc.groups,
                            z.groups,
                            sc.messages,
                            z.messages,
                            fault_list(sc),
                            fault_list(z)
                        )?;
                        writeln!(f, "smallest failing run: {}", s.violation)?;
                        write!(f, "replay: {}", self.replay_command().unwrap_or_default())
                    }
                    None => write!(
                        f,
                        "shortest failing prefix: not searched\nreplay: {}",
                        self.run_command()
                    ),
                }
            }
        }
    }
}

/// `s` as one shell word: as it is when it is plain, else single-quoted.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A receipt sent state by its protocol name (`none`, `pending`, `acked`).
pub(crate) fn state_name(s: Option<receiptdb::ReceiptSentState>) -> String {
    s.and_then(|s| serde_json::to_value(s).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "null".into())
}
