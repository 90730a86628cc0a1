//! The `receiptdb` command: `rpc`, `sim` and `check`. It holds the
//! command-line dependencies (`clap`, `indicatif`), so neither the store
//! crate nor the simulator crate needs them.

use std::io::{self, BufReader, BufWriter};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use receiptdb::rpc;

mod sim;

#[derive(Parser)]
#[command(
    name = "receiptdb",
    version,
    about = "Local-first read-receipt store on SQLite"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve JSON-RPC 2.0 on standard input and output, one object a line.
    Rpc {
        /// The store file.
        #[arg(long)]
        db: PathBuf,
        /// The logged-in user who owns the store.
        #[arg(long)]
        user: String,
    },
    /// Run the sync-conflict simulator.
    Sim(Box<sim::SimArgs>),
    /// Run SQLite's full integrity check on a store and report.
    Check {
        /// The store file.
        #[arg(long)]
        db: PathBuf,
        /// The owner (optional: checked when given).
        #[arg(long)]
        user: Option<String>,
        /// Also recount every stored counter from its definition (`verify`).
        #[arg(long)]
        deep: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Rpc { db, user } => {
            let mut session = match rpc::Session::open(&db, &user) {
                Ok(s) => s,
                Err(e) => {
                    println!("{}", rpc::open_error_line(&e));
                    return ExitCode::from(2);
                }
            };
            let stdin = io::stdin();
            let out = BufWriter::new(io::stdout().lock());
            match rpc::serve(&mut session, BufReader::new(stdin.lock()), out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("receiptdb rpc: i/o error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::Sim(args) => sim::run_cli(&args),
        Cmd::Check { db, user, deep } => check(&db, user.as_deref(), deep),
    }
}

fn check(db: &PathBuf, user: Option<&str>, deep: bool) -> ExitCode {
    match receiptdb::check_file(db, user) {
        Ok(lines) if lines == ["ok"] => {
            println!("ok: {} passes the integrity check", db.display());
            if deep {
                return deep_check(db, user);
            }
            ExitCode::SUCCESS
        }
        Ok(lines) => {
            println!("CORRUPT: {}", db.display());
            for l in lines {
                println!("  {l}");
            }
            ExitCode::from(1)
        }
        Err(e) => {
            println!("{}: {} ({})", e.name(), e, db.display());
            ExitCode::from(if matches!(e, receiptdb::Error::StoreCorrupt(_)) {
                1
            } else {
                2
            })
        }
    }
}

/// `check --deep`: every counter recounted; each mismatch on a line.
fn deep_check(db: &PathBuf, user: Option<&str>) -> ExitCode {
    match receiptdb::verify_file(db, user) {
        Ok(r) if r.is_ok() => {
            println!(
                "ok: {} passes the deep check ({} checks)",
                db.display(),
                r.checks.len()
            );
            ExitCode::SUCCESS
        }
        Ok(r) => {
            println!("MISMATCH: {}", db.display());
            for m in &r.mismatches {
                println!(
                    "  {}: {}: stored {}, recounted {}",
                    m.check, m.subject, m.stored, m.recounted
                );
            }
            ExitCode::from(1)
        }
        Err(e) => {
            println!("{}: {} ({})", e.name(), e, db.display());
            ExitCode::from(2)
        }
    }
}
