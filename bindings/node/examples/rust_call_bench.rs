//! The Rust side of `bench/bench.js`: replays setup request lines through a
//! `receiptdb::rpc::Session`, then times one request line in a loop, the same
//! handler the addon and `receiptdb rpc` call. Prints one JSON line.
//!
//! `cargo run --release -p receiptdb-node --example rust_call_bench -- DB USER SCRIPT ITERS ROUNDS`
//! where SCRIPT holds the setup lines and, last, the timed line.

use std::process::ExitCode;
use std::time::Instant;

use receiptdb::rpc::{open_error_line, Session};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: rust_call_bench DB USER SCRIPT ITERS ROUNDS");
        return ExitCode::from(2);
    }
    let (iters, rounds) = match (args[4].parse::<u32>(), args[5].parse::<u32>()) {
        (Ok(i), Ok(r)) if i > 0 && r > 0 => (i, r),
        _ => {
            eprintln!("ITERS and ROUNDS are positive integers");
            return ExitCode::from(2);
        }
    };
    let script = match std::fs::read_to_string(&args[3]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot read {}: {e}", args[3]);
            return ExitCode::from(2);
        }
    };
    let mut session = match Session::open(&args[1], &args[2]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}", open_error_line(&e));
            return ExitCode::from(2);
        }
    };
    let lines: Vec<&str> = script.lines().filter(|l| !l.trim().is_empty()).collect();
    let Some((timed, setup)) = lines.split_last() else {
        eprintln!("the script is empty");
        return ExitCode::from(2);
    };
    for l in setup {
        let out = session.handle_line(l);
        if out.last().is_some_and(|r| r.contains("\"error\"")) {
            eprintln!("setup failed: {out:?}");
            return ExitCode::from(1);
        }
    }
    // Warm up the statement cache and the page cache, as the other two do.
    let mut bytes = 0usize;
    for _ in 0..iters.min(1000) {
        bytes += session
            .handle_line(timed)
            .iter()
            .map(String::len)
            .sum::<usize>();
    }
    let mut per_call = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..iters {
            bytes += session
                .handle_line(timed)
                .iter()
                .map(String::len)
                .sum::<usize>();
        }
        per_call.push(t.elapsed().as_nanos() as f64 / f64::from(iters));
    }
    per_call.sort_by(f64::total_cmp);
    let median = per_call[per_call.len() / 2];
    // `bytes` keeps the optimiser from dropping the work.
    println!(
        "{{\"rustNsPerCall\":{median:.0},\"rounds\":{rounds},\"iters\":{iters},\"bytes\":{bytes}}}"
    );
    ExitCode::SUCCESS
}
