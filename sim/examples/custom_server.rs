//! Your own server inside the simulated network, through the `SyncServer`
//! trait. `TallyServer` is the reference server with one planted bug, a
//! classic one: it counts receipt *requests* instead of distinct readers, so
//! a batch the network delivers twice is counted twice. The simulator
//! catches it (a client ends up showing more readers than the server has)
//! and shrinks the failure.
//!
//! Run: `cargo run --release -p receiptdb-sim --example custom_server`
//! (exit status 1: the bug was caught, as it should be).

use std::collections::BTreeMap;
use std::process::ExitCode;

use receiptdb_sim::{
    Answer, Clock, FaultKind, Input, Packet, Query, ReferenceServer, Scenario, ServerChoice,
    ServerError, Setup, SyncServer, ToClient,
};

/// The reference server, except that `readCount` in notifications is a
/// running tally of receipts received per message.
#[derive(Default)]
pub struct TallyServer {
    inner: ReferenceServer,
    tally: BTreeMap<String, u64>,
}

impl SyncServer for TallyServer {
    fn start(&mut self, setup: &Setup) -> Result<String, ServerError> {
        self.inner.start(setup)?;
        Ok("tally (planted bug)".into())
    }

    fn handle(&mut self, at: Clock, input: &Input) -> Result<Vec<Packet>, ServerError> {
        let mut packets = self.inner.handle(at, input)?;
        if let Input::Receipts { message_ids, .. } = input {
            let rejected: Vec<String> = packets
                .iter()
                .filter_map(|p| match &p.body {
                    ToClient::Ack { rejected, .. } => Some(rejected),
                    _ => None,
                })
                .flatten()
                .map(|r| r.message_id.clone())
                .collect();
            // The bug: every receipt that was not refused adds one, repeats too.
            for id in message_ids.iter().filter(|id| !rejected.contains(id)) {
                *self.tally.entry(id.clone()).or_insert(0) += 1;
            }
        }
        for p in &mut packets {
            if let ToClient::Notify { notifications } = &mut p.body {
                for n in notifications {
                    if let Some(t) = self.tally.get(&n.message_id) {
                        n.read_count = Some(*t);
                    }
                }
            }
        }
        Ok(packets)
    }

    fn query(&mut self, at: Clock, query: &Query) -> Result<Answer, ServerError> {
        self.inner.query(at, query)
    }
}

/// The scenario the example (and its test) runs: small, with duplicates.
pub fn scenario(server: ServerChoice) -> Result<Scenario, receiptdb::Error> {
    Scenario::builder()
        .seed(3)
        .clients(6)
        .groups(2)
        .members(4)
        .messages(200)
        .steps(300)
        .faults([FaultKind::Delay, FaultKind::Duplicate, FaultKind::Drop])
        .server(server)
        .build()
}

fn main() -> ExitCode {
    let sc = match scenario(ServerChoice::custom(TallyServer::default)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match sc.run() {
        Ok(report) => {
            println!("{report}");
            if report.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
