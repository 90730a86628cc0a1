//! The world's side of the server: the handshake, handing it one input at
//! a time (traced and numbered, its failures reported with its stderr),
//! turning its answers into packets on the network (with stale replays of
//! older snapshots, `replays.rs`), counting what its acks show, the
//! packets that reach it becoming inputs, and the error when a server
//! cannot even be made.

use std::collections::BTreeSet;

use super::fail::{tag, Fail};
use super::network::{Node, Packet, Payload, SyncPart};
use super::protocol::{
    Clock, Device, GroupSetup, Input, MemberSetup, Setup, ToClient, PROTOCOL_VERSION,
};
use super::report::Invariant;
use super::scenario::FaultKind;
use super::server::ServerError;
use super::trace::note;
use super::world::World;
use receiptdb::Error;
use serde_json::json;

impl World<'_> {
    /// The handshake: the server learns the users, devices and rosters.
    pub(super) fn start_server(&mut self) -> std::result::Result<(), Fail> {
        let l = &self.ledger;
        let setup = Setup {
            protocol: PROTOCOL_VERSION,
            seed: self.sc.seed,
            users: l.users.clone(),
            devices: self
                .clients
                .iter()
                .map(|c| Device {
                    device: c.idx,
                    user_id: l.users[c.user].clone(),
                })
                .collect(),
            groups: l
                .groups
                .iter()
                .map(|g| GroupSetup {
                    group_id: g.id.clone(),
                    group_type: g.gtype,
                    members: g
                        .members
                        .iter()
                        .map(|(u, jt)| MemberSetup {
                            user_id: l.users[*u].clone(),
                            join_time: *jt,
                        })
                        .collect(),
                })
                .collect(),
        };
        let name = self.server.start(&setup);
        self.server_name = name.map_err(|e| self.server_error("the handshake", e))?;
        Ok(())
    }

    /// A server failure, with what it was doing and its diagnostics.
    pub(super) fn server_error(&mut self, doing: &str, e: ServerError) -> Fail {
        let mut what = format!("the server failed {doing} at step {}: {e}", self.now);
        if let Some(d) = self.server.diagnostics().filter(|d| !d.trim().is_empty()) {
            what.push_str(&format!(
                "\n--- its stderr (last lines) ---\n{}",
                tail(&d, 20)
            ));
        }
        server_fail(what)
    }

    /// Hands one input to the server and puts its answer on the network.
    pub(super) fn serve(&mut self, input: Input) -> std::result::Result<(), Fail> {
        let at = self.clock();
        self.requests += 1;
        let seq = self.requests;
        let carrying = self.carrying.take();
        note(&self.trace, || {
            json!({"kind": "server-in", "step": at.step, "seq": seq, "about": describe(&input),
                   "packet": carrying, "input": serde_json::to_value(&input).unwrap_or_default()})
        });
        let cause = std::mem::replace(
            &mut self.net.cause,
            (
                format!("answering request #{seq}: {}", describe(&input)),
                Some(seq),
            ),
        );
        let r = self.serve_now(at, input);
        self.net.cause = cause;
        r
    }

    fn serve_now(&mut self, at: Clock, input: Input) -> std::result::Result<(), Fail> {
        let packets = match self.server.handle(at, &input) {
            Ok(p) => p,
            Err(e) => return Err(self.server_error(&describe(&input), e)),
        };
        let now = self.now;
        let stale = !self.quiet && self.sc.faults.contains(&FaultKind::Stale);
        let mut stale_done: BTreeSet<(usize, String)> = BTreeSet::new();
        for p in packets {
            let d = p.to;
            if d >= self.clients.len() {
                let e = ServerError(format!(
                    "it sent a {} packet to device {d}, and there are only {} devices (0..{})",
                    p.body.kind(),
                    self.clients.len(),
                    self.clients.len()
                ));
                return Err(self.server_error(&describe(&input), e));
            }
            let payload = match p.body {
                ToClient::Messages { messages } => Payload::Messages(messages),
                ToClient::Notify { notifications } => Payload::Notify(notifications),
                ToClient::Ack { batch_id, rejected } => {
                    self.count_ack(d, &input, &rejected);
                    Payload::Ack { batch_id, rejected }
                }
                ToClient::ReadAck { reports } => {
                    self.count_read_ack(d, &reports);
                    Payload::ReadAck(reports)
                }
                ToClient::ReadPush { reports } => Payload::ReadPush(reports),
                ToClient::DeliveryAck { batch_id } => Payload::DeliveryAck(batch_id),
                ToClient::MarkAck { reports } => Payload::MarkAck(reports),
                ToClient::Snapshot {
                    snapshot,
                    upto,
                    part,
                    parts,
                } => {
                    let key = (d, snapshot.conversation_id.clone());
                    // Before the fresh one is remembered: a stale replay
                    // is one of the older answers.
                    if stale
                        && stale_done.insert(key.clone())
                        && self.rng.chance(self.sc.rates.stale)
                    {
                        let pick = self.rng.index(4);
                        if let Some(o) = self.replays.old(&key, pick) {
                            self.fault(FaultKind::Stale);
                            let extra = self.rng.range(0, self.sc.rates.max_delay);
                            self.net.send_after(now, extra, snapshot_packet(d, o));
                        }
                    }
                    self.replays.remember(key, &snapshot);
                    Payload::Snapshot(Box::new(snapshot), Some(SyncPart { upto, part, parts }))
                }
            };
            self.net.send(
                now,
                Packet {
                    src: Node::Server,
                    dst: Node::Client(d),
                    payload,
                },
            );
        }
        Ok(())
    }

    /// Counts a receipt batch's answer: refused, accepted, or repeats.
    fn count_ack(&mut self, d: usize, input: &Input, rejected: &[receiptdb::Rejection]) {
        let Input::Receipts { message_ids, .. } = input else {
            return;
        };
        let user = self.clients[d].user;
        self.c.receipts_rejected += rejected.len() as u64;
        for id in message_ids {
            if rejected.iter().any(|r| r.message_id == *id) {
                continue;
            }
            if self.accepted.insert((user, id.clone())) {
                self.c.receipts_accepted += 1;
            } else {
                self.c.receipts_repeated += 1;
            }
        }
    }

    /// Counts the read positions a `readAck` shows moved on the server.
    fn count_read_ack(&mut self, d: usize, reports: &[receiptdb::ReadReport]) {
        let user = self.clients[d].user;
        for r in reports {
            let held = self
                .acked_pos
                .entry((user, r.conversation_id.clone()))
                .or_insert(0);
            if r.read_sequence > *held {
                *held = r.read_sequence;
                self.c.read_reports_moved += 1;
            }
        }
    }

    /// A packet reached the server: it becomes an input.
    pub(super) fn server_receive(&mut self, p: Packet) -> std::result::Result<(), Fail> {
        let Node::Client(device) = p.src else {
            return Ok(());
        };
        let input = match p.payload {
            Payload::Receipts { batch_id, ids } => {
                // What reaches the server was queued: never a private read.
                let cl = &self.clients[device];
                if let Some(id) = ids.iter().find(|id| !cl.ever_queued(id)) {
                    let f = Fail::new(
                        Invariant::Private,
                        format!("a receipt for {id} reached the server, but this device never queued one"),
                    );
                    return Err(tag(&cl.name, f));
                }
                Input::Receipts {
                    device,
                    batch_id,
                    message_ids: ids,
                }
            }
            Payload::ReadReports(reports) => Input::ReadReports { device, reports },
            Payload::Deliveries { batch_id, ids } => Input::Deliveries {
                device,
                batch_id,
                message_ids: ids,
            },
            Payload::MarkReports(reports) => Input::MarkReports { device, reports },
            Payload::SyncRequest(since) => Input::Sync { device, since },
            _ => return Ok(()),
        };
        self.serve(input)
    }
}

/// A failure of the server (it broke the protocol): ends the run.
fn server_fail(what: String) -> Fail {
    Fail::new(Invariant::Server, what)
}

/// A packet carrying an old snapshot (a stale replay) from the server to `client`.
pub(super) fn snapshot_packet(client: usize, snap: receiptdb::Snapshot) -> Packet {
    Packet {
        src: Node::Server,
        dst: Node::Client(client),
        payload: Payload::Snapshot(Box::new(snap), None),
    }
}

/// What an input was, for a report: "the receipts of device 3 (batch b7)".
fn describe(input: &Input) -> String {
    match input {
        Input::Message { message } => format!("the message {}", message.message_id),
        Input::Receipts {
            device, batch_id, ..
        } => format!("the receipts of device {device} (batch {batch_id})"),
        Input::ReadReports { device, .. } => format!("the read reports of device {device}"),
        Input::Deliveries {
            device, batch_id, ..
        } => format!("the delivery acks of device {device} (batch {batch_id})"),
        Input::MarkReports { device, .. } => format!("the unread marks of device {device}"),
        Input::Sync { device, .. } => format!("the sync of device {device}"),
        Input::Join {
            group_id, user_id, ..
        } => format!("{user_id} joining {group_id}"),
        Input::Leave { group_id, user_id } => format!("{user_id} leaving {group_id}"),
        Input::Recall { message_id } => format!("the recall of {message_id}"),
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A setup error for a server that could not even be made.
pub(super) fn no_server(e: ServerError) -> Error {
    Error::InvalidParams(format!("cannot start the server: {e}"))
}
