//! Scripting a custom simulation with the library API.
//!
//! Run with `cargo run --release --example sim_custom [SEED]`.
//!
//! Two users chat; `u0` has two devices (clients 0 and 2). `u0` reads on
//! one device and crashes before the receipt leaves; the other device must
//! learn the read through `selfRead`. A message is recalled before it is
//! read: the recall reaches the devices, so the receipt is refused
//! (`MESSAGE_RECALLED`, or the server's rejection when the recall push was
//! lost). The random workload and faults run
//! around the script, and the report says whether every invariant held.

use std::process::ExitCode;

use receiptdb_sim::{Action, FaultKind, Rates, Scenario};

fn main() -> ExitCode {
    let seed = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let send = |from, to| Action::Send {
        from,
        group: None,
        to: Some(to),
        receipt: true,
    };
    let scenario = Scenario::builder()
        .seed(seed)
        .clients(3)
        .groups(1)
        .members(2)
        .messages(40)
        .steps(120)
        .faults([
            FaultKind::Delay,
            FaultKind::Reorder,
            FaultKind::Drop,
            FaultKind::Stale,
            FaultKind::Crash,
        ])
        .rates(Rates {
            stale: 0.5,
            ..Rates::default()
        })
        .step(0, send(1, 0))
        .step(0, send(1, 0))
        .step(1, Action::Recall { message: Some(2) })
        .step(5, Action::Read { client: 0 })
        .step(
            5,
            Action::Crash {
                client: 0,
                down_for: 4,
            },
        )
        .step(30, Action::Sync { client: 2 })
        .step(31, Action::Stale { client: 2 })
        .build();
    let report = match scenario.and_then(|s| s.run()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot run the scenario: {e}");
            return ExitCode::from(2);
        }
    };
    println!("{report}");
    if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
