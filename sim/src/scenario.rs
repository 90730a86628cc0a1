//! What to simulate: parameters, fault kinds and rates, the JSON scenario
//! format, and the builder of the library API.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use receiptdb::{Error, Result};

use super::script::{Action, ScriptStep};
use super::server::ServerChoice;

/// One kind of fault the simulator can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FaultKind {
    /// Packets take 1..=`maxDelay` steps instead of 1 (links stay FIFO).
    Delay,
    /// Some packets leave their link's FIFO order and overtake others.
    Reorder,
    /// Some packets are delivered twice.
    Duplicate,
    /// Some packets are lost; clients retry batches, syncs repair the rest.
    Drop,
    /// The server sometimes also answers a sync with an old snapshot.
    Stale,
    /// Groups of clients are cut off from the server for a while.
    Partition,
    /// A client goes offline: it reads locally but sends and receives nothing.
    Offline,
    /// A client process dies at a random point (its `Store` is dropped) and
    /// reopens its file later.
    Crash,
    /// The sender recalls a message; the server then rejects new receipts for it.
    Reject,
}

impl FaultKind {
    /// Every fault kind, in report order.
    pub const ALL: [FaultKind; 9] = [
        FaultKind::Delay,
        FaultKind::Reorder,
        FaultKind::Duplicate,
        FaultKind::Drop,
        FaultKind::Stale,
        FaultKind::Partition,
        FaultKind::Offline,
        FaultKind::Crash,
        FaultKind::Reject,
    ];

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Delay => "delay",
            FaultKind::Reorder => "reorder",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Drop => "drop",
            FaultKind::Stale => "stale",
            FaultKind::Partition => "partition",
            FaultKind::Offline => "offline",
            FaultKind::Crash => "crash",
            FaultKind::Reject => "reject",
        }
    }

    /// Parses a fault name.
    pub fn parse(s: &str) -> Result<FaultKind> {
        FaultKind::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = FaultKind::ALL.iter().map(|f| f.name()).collect();
                Error::InvalidParams(format!(
                    "unknown fault {s:?} (known: all, none, {})",
                    names.join(", ")
                ))
            })
    }
}

/// Parses a fault list: `all`, `none`, or names separated by commas; a name
/// prefixed with `-` removes that kind (`all,-crash`).
pub fn parse_faults(list: &str) -> Result<BTreeSet<FaultKind>> {
    let mut set = BTreeSet::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match item {
            "all" => set.extend(FaultKind::ALL),
            "none" => set.clear(),
            _ => match item.strip_prefix('-') {
                Some(name) => {
                    set.remove(&FaultKind::parse(name)?);
                }
                None => {
                    set.insert(FaultKind::parse(item)?);
                }
            },
        }
    }
    Ok(set)
}

/// A deliberate bug to plant in the clients, to show the checks catch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mutation {
    /// Last writer wins: the client displays each `out` message's receipt
    /// figures from its own cache, where every receipt notification and
    /// snapshot figure overwrites the last (as a naive app caches server
    /// figures) instead of the store's merged ones; the monotone events,
    /// soundness and convergence checks read that cache.
    Lww,
    /// Running tally: the client reports a conversation's unread count as
    /// its own bookkeeping (+1 per new `in` message, 0 when it marks the
    /// conversation read) instead of the store's read-position-based count.
    Tally,
    /// The client shows `deliveredCount` / `isPeerDelivered` from its own
    /// cache, each notification or snapshot overwriting the last.
    #[serde(rename = "delivered-lww")]
    DeliveredLww,
    /// The client shows each reader's read time from its own cache, the
    /// latest time it was told winning instead of the earliest.
    #[serde(rename = "readtime-latest")]
    ReadtimeLatest,
    /// The client shows a conversation's unread mark from the news that
    /// arrived last (a mark sets it, an unmark or a read to the end clears
    /// it) instead of merging marks and reads by time.
    #[serde(rename = "mark-arrival")]
    MarkArrival,
    /// The client's shown unread count also counts the failed sends it
    /// holds in the conversation (a send that failed is not unread).
    #[serde(rename = "count-failed")]
    CountFailed,
    /// The displayed figures of a recalled message keep taking the
    /// notifications and snapshot figures that arrive after the recall
    /// (joined, so they never go back) instead of staying frozen.
    #[serde(rename = "recall-thaw")]
    RecallThaw,
}

/// How often things happen. Probabilities are per step (per client where it
/// says so) and must lie in 0..=1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Rates {
    /// Largest packet delay in steps with `delay` (1..=50).
    pub max_delay: u64,
    /// Chance a packet leaves FIFO order (`reorder`).
    pub reorder: f64,
    /// Chance a packet is delivered twice (`duplicate`).
    pub duplicate: f64,
    /// Chance a packet is lost (`drop`).
    pub drop: f64,
    /// Chance a sync answer also replays an old snapshot (`stale`).
    pub stale: f64,
    /// Chance per step that a partition starts (`partition`).
    pub partition: f64,
    /// Chance per client and step of going offline (`offline`).
    pub offline: f64,
    /// Chance per client and step of crashing (`crash`).
    pub crash: f64,
    /// Chance per step that a message is recalled (`reject`).
    pub recall: f64,
    /// Longest partition, offline period or crash downtime, in steps.
    pub max_outage: u64,
    /// Chance per client and step that its user reads messages.
    pub read: f64,
    /// Chance per step of a group membership change (a join or a leave).
    pub churn: f64,
    /// Share of new messages that are one-to-one (the rest go to groups).
    pub c2c_share: f64,
    /// Share of new messages that ask for read receipts.
    pub receipt_share: f64,
    /// Each client syncs every this many steps (with a per-client phase).
    pub sync_every: u64,
    /// A handed-out batch not acked after this many steps is sent again.
    pub retry_after: u64,
    /// Chance per client and step that its user marks or unmarks a
    /// conversation as unread.
    pub mark_unread: f64,
    /// Chance per client and step that its user switches private reading
    /// of a conversation.
    pub private_reading: f64,
    /// Share of the random workload's messages whose send fails: the
    /// server never gets them, the sending device holds them `status: fail`.
    pub failed_send: f64,
}

impl Default for Rates {
    fn default() -> Self {
        Rates {
            max_delay: 4,
            reorder: 0.3,
            duplicate: 0.05,
            drop: 0.05,
            stale: 0.3,
            partition: 0.01,
            offline: 0.004,
            crash: 0.005,
            recall: 0.01,
            max_outage: 12,
            read: 0.15,
            churn: 0.01,
            c2c_share: 0.4,
            receipt_share: 0.9,
            sync_every: 25,
            retry_after: 8,
            mark_unread: 0.01,
            private_reading: 0.003,
            failed_send: 0.02,
        }
    }
}

impl Rates {
    fn validate(&self) -> Result<()> {
        let probs = [
            ("reorder", self.reorder),
            ("duplicate", self.duplicate),
            ("drop", self.drop),
            ("stale", self.stale),
            ("partition", self.partition),
            ("offline", self.offline),
            ("crash", self.crash),
            ("recall", self.recall),
            ("read", self.read),
            ("churn", self.churn),
            ("c2cShare", self.c2c_share),
            ("receiptShare", self.receipt_share),
            ("markUnread", self.mark_unread),
            ("privateReading", self.private_reading),
            ("failedSend", self.failed_send),
        ];
        for (name, p) in probs {
            if !(0.0..=1.0).contains(&p) {
                return Err(invalid(format!("rates.{name} must be within 0..=1")));
            }
        }
        if !(1..=50).contains(&self.max_delay) {
            return Err(invalid("rates.maxDelay must be 1..=50"));
        }
        if !(1..=10_000).contains(&self.max_outage) {
            return Err(invalid("rates.maxOutage must be 1..=10000"));
        }
        if !(1..=10_000).contains(&self.sync_every) {
            return Err(invalid("rates.syncEvery must be 1..=10000"));
        }
        if !(1..=10_000).contains(&self.retry_after) {
            return Err(invalid("rates.retryAfter must be 1..=10000"));
        }
        Ok(())
    }
}

/// A whole simulation: the JSON scenario format of `receiptdb sim --scenario`.
/// Every field is optional in JSON; missing ones take the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Scenario {
    /// Seed of every random choice.
    pub seed: u64,
    /// Client devices (2..=64); every third one is a second device of a user.
    pub clients: usize,
    /// Groups (0..=16).
    pub groups: usize,
    /// Initial members of each group (2..=users).
    pub members: usize,
    /// Messages the random workload sends over the run (at most).
    pub messages: usize,
    /// Steps of the faulty phase, before the network heals and the clients
    /// are brought to quiescence.
    pub steps: u64,
    /// Fault kinds injected at random (scripted actions happen regardless).
    pub faults: BTreeSet<FaultKind>,
    /// Rates of faults and of the workload.
    pub rates: Rates,
    /// A planted bug, for mutation testing.
    pub mutate: Option<Mutation>,
    /// Scripted actions.
    pub script: Vec<ScriptStep>,
    /// Run only the first `prefix` steps (then heal and converge), exactly as
    /// the full run would have run them. Used to shrink failures.
    pub prefix: Option<u64>,
    /// On failure, look for the shortest failing step prefix (default true).
    pub shrink: bool,
    /// The scenario file this came from, for the replay line of a report
    /// (not part of the JSON format).
    #[serde(skip)]
    pub source: Option<String>,
    /// The server the clients talk to (not part of the JSON format:
    /// `--server-cmd`, or [`ScenarioBuilder::server`]).
    #[serde(skip)]
    pub server: ServerChoice,
    /// Keep a trace of the (smallest) failing run, or of the run when it
    /// passes, in [`Report::trace`](crate::Report::trace) (not part of the
    /// JSON format: `--trace FILE.jsonl`).
    #[serde(skip)]
    pub trace: bool,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            seed: 42,
            clients: 10,
            groups: 4,
            members: 5,
            messages: 1000,
            steps: 1500,
            faults: FaultKind::ALL.into_iter().collect(),
            rates: Rates::default(),
            mutate: None,
            script: Vec::new(),
            prefix: None,
            shrink: true,
            source: None,
            server: ServerChoice::Reference,
            trace: false,
        }
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidParams(msg.into())
}

impl Scenario {
    /// A builder starting from the defaults.
    pub fn builder() -> ScenarioBuilder {
        ScenarioBuilder {
            scenario: Scenario::default(),
        }
    }

    /// Parses the JSON scenario format and validates it. A file without
    /// `members` gets the default lowered to the number of users, as
    /// `--clients` alone does on the command line.
    pub fn from_json(text: &str) -> Result<Scenario> {
        let (mut s, members_given) = Scenario::parse_json(text)?;
        if !members_given {
            s.fit_default_members();
        }
        s.validate()?;
        Ok(s)
    }

    /// The scenario of a JSON text, unvalidated, and whether it set `members`
    /// (the command line applies its options on top, then the rule of
    /// [`fit_default_members`](Scenario::fit_default_members), then validates).
    pub fn parse_json(text: &str) -> Result<(Scenario, bool)> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| invalid(format!("bad scenario JSON: {e}")))?;
        let members_given = v.get("members").is_some();
        let s: Scenario =
            serde_json::from_value(v).map_err(|e| invalid(format!("bad scenario JSON: {e}")))?;
        Ok((s, members_given))
    }

    /// The one rule for a `members` nobody gave: the default, lowered to the
    /// number of users when there are fewer.
    pub fn fit_default_members(&mut self) {
        self.members = self.members.min(self.users());
    }

    /// How many users the clients belong to: every third client is the
    /// second device of one of the first users.
    pub fn users(&self) -> usize {
        self.clients - self.clients / 3
    }

    /// The steps this run executes (`prefix` when set and shorter).
    pub fn effective_steps(&self) -> u64 {
        self.prefix.map_or(self.steps, |p| p.min(self.steps))
    }

    /// Checks every bound; the error says which field is wrong.
    pub fn validate(&self) -> Result<()> {
        if !(2..=64).contains(&self.clients) {
            return Err(invalid("clients must be 2..=64"));
        }
        if self.groups > 16 {
            return Err(invalid("groups must be 0..=16"));
        }
        let users = self.users();
        if self.groups > 0 && !(2..=users).contains(&self.members) {
            return Err(invalid(format!(
                "members must be 2..={users} (the number of users for {} clients)",
                self.clients
            )));
        }
        if self.messages > 50_000 {
            return Err(invalid("messages must be 0..=50000"));
        }
        if self.steps > 1_000_000 {
            return Err(invalid("steps must be 0..=1000000"));
        }
        self.rates.validate()?;
        for (i, s) in self.script.iter().enumerate() {
            s.action
                .check(self.clients, self.users(), self.groups)
                .map_err(|e| invalid(format!("script[{i}]: {e}")))?;
        }
        Ok(())
    }
}

/// Builds a [`Scenario`] step by step; see [`Scenario::builder`].
#[derive(Debug, Clone)]
pub struct ScenarioBuilder {
    scenario: Scenario,
}

impl ScenarioBuilder {
    /// The server to run against (default: the reference server).
    pub fn server(mut self, server: ServerChoice) -> Self {
        self.scenario.server = server;
        self
    }
    /// The seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.scenario.seed = seed;
        self
    }
    /// Client devices.
    pub fn clients(mut self, n: usize) -> Self {
        self.scenario.clients = n;
        self
    }
    /// Groups.
    pub fn groups(mut self, n: usize) -> Self {
        self.scenario.groups = n;
        self
    }
    /// Initial members of each group.
    pub fn members(mut self, n: usize) -> Self {
        self.scenario.members = n;
        self
    }
    /// Messages of the random workload.
    pub fn messages(mut self, n: usize) -> Self {
        self.scenario.messages = n;
        self
    }
    /// Steps of the faulty phase.
    pub fn steps(mut self, n: u64) -> Self {
        self.scenario.steps = n;
        self
    }
    /// The fault kinds injected at random.
    pub fn faults(mut self, kinds: impl IntoIterator<Item = FaultKind>) -> Self {
        self.scenario.faults = kinds.into_iter().collect();
        self
    }
    /// The rates.
    pub fn rates(mut self, rates: Rates) -> Self {
        self.scenario.rates = rates;
        self
    }
    /// Plants a bug in the clients.
    pub fn mutate(mut self, m: Mutation) -> Self {
        self.scenario.mutate = Some(m);
        self
    }
    /// Adds a scripted action at step `at`.
    pub fn step(mut self, at: u64, action: Action) -> Self {
        self.scenario.script.push(ScriptStep { at, action });
        self
    }
    /// Runs only the first `n` steps.
    pub fn prefix(mut self, n: u64) -> Self {
        self.scenario.prefix = Some(n);
        self
    }
    /// Whether to shrink a failure to its shortest failing prefix.
    pub fn shrink(mut self, on: bool) -> Self {
        self.scenario.shrink = on;
        self
    }
    /// The validated scenario.
    pub fn build(self) -> Result<Scenario> {
        self.scenario.validate()?;
        Ok(self.scenario)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_lists_parse() {
        assert_eq!(parse_faults("all").ok().map(|s| s.len()), Some(9));
        assert_eq!(parse_faults("none").ok().map(|s| s.len()), Some(0));
        let s = parse_faults("all,-crash").ok().unwrap_or_default();
        assert!(!s.contains(&FaultKind::Crash) && s.contains(&FaultKind::Drop));
        assert!(parse_faults("delay,bogus").is_err());
    }

    #[test]
    fn json_round_trips_with_script() {
        let text = r#"{"seed": 3, "clients": 4, "groups": 1, "members": 3,
            "faults": ["drop", "stale"],
            "script": [{"at": 2, "action": "crash", "client": 1, "downFor": 3},
                       {"at": 4, "action": "send", "from": 0, "to": 1}]}"#;
        let s = Scenario::from_json(text);
        assert!(s.is_ok(), "{s:?}");
        let s = s.unwrap_or_default();
        assert_eq!(s.script.len(), 2);
        assert_eq!(
            s.script[0].action,
            Action::Crash {
                client: 1,
                down_for: 3
            }
        );
        let back = serde_json::to_string(&s).unwrap_or_default();
        assert_eq!(Scenario::from_json(&back).ok(), Some(s));
        assert!(Scenario::from_json(r#"{"clientz": 3}"#).is_err());
        assert!(
            Scenario::from_json(r#"{"script": [{"at": 1, "action": "crash", "client": 99}]}"#)
                .is_err()
        );
    }
}
