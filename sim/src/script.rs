//! Scripted actions of a scenario: what can happen at a chosen step.

use serde::{Deserialize, Serialize};

/// A scripted action at a given step. Users, clients and groups are numbered
/// from 0 (user `u0`, group `g0`; client `i` is `c<i>` in reports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "action",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Action {
    /// User `from` sends a message to group `group` or to user `to`.
    Send {
        /// Sender (user number).
        from: usize,
        /// Target group, for a group message.
        #[serde(default)]
        group: Option<usize>,
        /// Target user, for a one-to-one message.
        #[serde(default)]
        to: Option<usize>,
        /// Whether it asks for read receipts (default true).
        #[serde(default = "yes")]
        receipt: bool,
    },
    /// The client's user reads every message it holds and has not read.
    Read {
        /// Client number.
        client: usize,
    },
    /// The client crashes now and reopens its store after `downFor` steps.
    Crash {
        /// Client number.
        client: usize,
        /// Steps down (default 1).
        #[serde(default = "one")]
        down_for: u64,
    },
    /// The client goes offline for `steps` steps.
    Offline {
        /// Client number.
        client: usize,
        /// Steps offline.
        steps: u64,
    },
    /// These clients are cut off from the server for `steps` steps.
    Partition {
        /// Client numbers.
        clients: Vec<usize>,
        /// Steps partitioned.
        steps: u64,
    },
    /// Ends every partition and offline period now.
    Heal,
    /// The server replays the oldest snapshots it sent the client.
    Stale {
        /// Client number.
        client: usize,
    },
    /// The client marks a conversation read (`setMessageRead`): up to
    /// `sequence`, or without it up to the newest message it holds. The
    /// conversation is the one of the client's newest held message not sent
    /// by its user when `conversation` is left out; nothing happens when
    /// there is none.
    MarkRead {
        /// Client number.
        client: usize,
        /// Conversation ID as the client sees it (`C2Cu1`, `GROUPg0`).
        #[serde(default)]
        conversation: Option<String>,
        /// Read position; the newest held message when left out.
        #[serde(default)]
        sequence: Option<i64>,
    },
    /// The client marks every conversation read (`setAllMessageRead`).
    MarkAllRead {
        /// Client number.
        client: usize,
    },
    /// The client asks the server for a full sync.
    Sync {
        /// Client number.
        client: usize,
    },
    /// A message is recalled: new receipts for it are rejected.
    Recall {
        /// Message number (`m<n>`); the newest message when left out.
        #[serde(default)]
        message: Option<u64>,
    },
    /// A user joins a group (join time: now).
    Join {
        /// Group number.
        group: usize,
        /// User number.
        user: usize,
    },
    /// A user leaves a group.
    Leave {
        /// Group number.
        group: usize,
        /// User number.
        user: usize,
    },
}

fn yes() -> bool {
    true
}

fn one() -> u64 {
    1
}

/// An [`Action`] and the step it happens at (before that step's traffic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptStep {
    /// Step number, from 0.
    pub at: u64,
    /// What happens.
    #[serde(flatten)]
    pub action: Action,
}

impl Action {
    /// Checks the action's numbers against the scenario's sizes.
    pub(crate) fn check(&self, clients: usize, users: usize, groups: usize) -> Result<(), String> {
        let client = |c: usize| {
            (c < clients)
                .then_some(())
                .ok_or(format!("client {c} does not exist (0..{})", clients))
        };
        let user = |u: usize| {
            (u < users)
                .then_some(())
                .ok_or(format!("user {u} does not exist (0..{users})"))
        };
        let group = |g: usize| {
            (g < groups)
                .then_some(())
                .ok_or(format!("group {g} does not exist (0..{})", groups))
        };
        match self {
            Action::Send {
                from, group: g, to, ..
            } => {
                user(*from)?;
                match (g, to) {
                    (Some(g), None) => group(*g),
                    (None, Some(t)) if t == from => Err("a user cannot message itself".into()),
                    (None, Some(t)) => user(*t),
                    _ => Err("send needs exactly one of group and to".into()),
                }
            }
            Action::Read { client: c }
            | Action::Stale { client: c }
            | Action::Sync { client: c }
            | Action::MarkAllRead { client: c }
            | Action::MarkRead { client: c, .. } => client(*c),
            Action::Crash { client: c, .. } | Action::Offline { client: c, .. } => client(*c),
            Action::Partition { clients, .. } => clients.iter().try_for_each(|c| client(*c)),
            Action::Heal | Action::Recall { .. } => Ok(()),
            Action::Join { group: g, user: u } | Action::Leave { group: g, user: u } => {
                group(*g)?;
                user(*u)
            }
        }
    }
}
