//! The `receiptdb` command: `rpc`, `sim`, `check`, `delete` and `rekey`. It holds the
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
        /// The environment variable holding the passphrase of an encrypted
        /// store (a key on the command line would show in `ps`).
        #[arg(long, value_name = "NAME")]
        key_env: Option<String>,
    },
    /// Delete a closed store for good (logout): its database, -wal and
    /// -shm. Refused while any process has it open.
    Delete {
        /// The store file.
        #[arg(long)]
        db: PathBuf,
        /// The owner.
        #[arg(long)]
        user: String,
        /// The environment variable holding its passphrase, if encrypted.
        #[arg(long, value_name = "NAME")]
        key_env: Option<String>,
    },
    /// Encrypt, decrypt or re-key a closed store.
    Rekey {
        /// The store file.
        #[arg(long)]
        db: PathBuf,
        /// The owner.
        #[arg(long)]
        user: String,
        /// The variable holding the current passphrase (none: not encrypted).
        #[arg(long, value_name = "NAME")]
        from_key_env: Option<String>,
        /// The variable holding the new passphrase (none: decrypt).
        #[arg(long, value_name = "NAME")]
        to_key_env: Option<String>,
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
        /// The environment variable holding its passphrase, if encrypted.
        #[arg(long, value_name = "NAME")]
        key_env: Option<String>,
    },
}

/// The passphrase in the environment variable `name`, if one was named.
fn key_from_env(name: Option<&str>) -> Result<Option<String>, String> {
    match name {
        None => Ok(None),
        Some(n) => std::env::var(n)
            .map(Some)
            .map_err(|_| format!("the environment variable {n} is not set (or not UTF-8)")),
    }
}

/// Prints a failure of a one-shot command and picks its exit code.
fn failed(e: &receiptdb::Error, db: &std::path::Path) -> ExitCode {
    println!("{}: {} ({})", e.name(), e, db.display());
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Rpc { db, user, key_env } => {
            let key = match key_from_env(key_env.as_deref()) {
                Ok(k) => k,
                Err(m) => {
                    eprintln!("receiptdb rpc: {m}");
                    return ExitCode::from(2);
                }
            };
            let mut opts = receiptdb::OpenOptions::new();
            if let Some(k) = key {
                opts = opts.key(k);
            }
            let opened = receiptdb::Store::open_with(&db, &user, opts)
                .map(|s| rpc::Session::new(std::sync::Arc::new(s)));
            let mut session = match opened {
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
        Cmd::Check {
            db,
            user,
            deep,
            key_env,
        } => match key_from_env(key_env.as_deref()) {
            Ok(key) => check(&db, user.as_deref(), deep, key.as_deref()),
            Err(m) => {
                eprintln!("receiptdb check: {m}");
                ExitCode::from(2)
            }
        },
        Cmd::Delete { db, user, key_env } => {
            let key = match key_from_env(key_env.as_deref()) {
                Ok(k) => k,
                Err(m) => {
                    eprintln!("receiptdb delete: {m}");
                    return ExitCode::from(2);
                }
            };
            match receiptdb::delete_store_with_key(&db, &user, key.as_deref()) {
                Ok(true) => {
                    println!("deleted: {}", db.display());
                    ExitCode::SUCCESS
                }
                Ok(false) => {
                    println!("nothing to delete: {}", db.display());
                    ExitCode::SUCCESS
                }
                Err(e) => failed(&e, &db),
            }
        }
        Cmd::Rekey {
            db,
            user,
            from_key_env,
            to_key_env,
        } => {
            let keys = key_from_env(from_key_env.as_deref())
                .and_then(|f| Ok((f, key_from_env(to_key_env.as_deref())?)));
            let (from, to) = match keys {
                Ok(k) => k,
                Err(m) => {
                    eprintln!("receiptdb rekey: {m}");
                    return ExitCode::from(2);
                }
            };
            match receiptdb::change_key(&db, &user, from.as_deref(), to.as_deref()) {
                Ok(()) => {
                    println!("rekeyed: {}", db.display());
                    ExitCode::SUCCESS
                }
                Err(e) => failed(&e, &db),
            }
        }
    }
}

fn check(db: &PathBuf, user: Option<&str>, deep: bool, key: Option<&str>) -> ExitCode {
    match receiptdb::check_file_with_key(db, user, key) {
        Ok(lines) if lines == ["ok"] => {
            println!("ok: {} passes the integrity check", db.display());
            if deep {
                return deep_check(db, user, key);
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
fn deep_check(db: &PathBuf, user: Option<&str>, key: Option<&str>) -> ExitCode {
    match receiptdb::verify_file_with_key(db, user, key) {
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
        Err(e) => failed(&e, db),
    }
}
