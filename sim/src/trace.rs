//! The trace of one run (`--trace FILE.jsonl`): every packet sent, lost,
//! duplicated, delayed and delivered, every server request, every store call
//! with its outcome, every event and fault, one JSON object a line; and the
//! cause chain of a violation read back from it (the packet that brought the
//! violating state, what made the server send it, what made the client send
//! what the server answered).
//!
//! Tracing is off unless asked for: a run records nothing, and the trace is
//! made by running the (shrunk) failing scenario again, which replays exactly.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::Value;

/// Where trace entries go, when tracing (shared by the world, its network
/// and its clients; a run lives on one thread).
pub(crate) type Trace = Option<Rc<RefCell<Vec<Value>>>>;

/// Appends an entry, built only when tracing.
pub(crate) fn note(t: &Trace, entry: impl FnOnce() -> Value) {
    if let Some(t) = t {
        t.borrow_mut().push(entry());
    }
}

/// The message or conversation a violation is about: the first `m<digits>`,
/// `GROUP…` or `C2C…` word of its detail.
pub(crate) fn subject_of(detail: &str) -> Option<String> {
    for w in detail.split(|c: char| !c.is_ascii_alphanumeric()) {
        let msg = w.len() > 1 && w.starts_with('m') && w[1..].chars().all(|c| c.is_ascii_digit());
        if msg || w.starts_with("GROUP") || w.starts_with("C2C") {
            return Some(w.to_string());
        }
    }
    None
}

fn mentions(e: &Value, subject: &str) -> bool {
    ["messages", "conversations"].iter().any(|k| {
        e.get(k)
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(subject)))
    })
}

fn str_of<'a>(e: &'a Value, k: &str) -> &'a str {
    e.get(k).and_then(Value::as_str).unwrap_or("?")
}

/// The cause chain of a violation at `client` about `subject`, newest
/// first: the last packet delivered to the client that names the subject,
/// where it came from, and what made that happen.
pub(crate) fn cause_chain(log: &[Value], client: &str, subject: &str, detail: &str) -> Vec<String> {
    let delivered = |e: &Value| {
        str_of(e, "kind") == "deliver" && str_of(e, "to") == client && mentions(e, subject)
    };
    // A wrong figure: the packet that first carried that very value.
    let bad = read_count_in(detail).and_then(|n| {
        log.iter().position(|e| {
            delivered(e)
                && e.get("figures")
                    .and_then(Value::as_array)
                    .is_some_and(|fs| {
                        fs.iter().any(|f| {
                            f.get(0).and_then(Value::as_str) == Some(subject)
                                && f.get(1).and_then(Value::as_u64) == Some(n)
                        })
                    })
        })
    });
    let Some(d) = bad.or_else(|| log.iter().rposition(delivered)) else {
        return vec![format!("no packet delivered to {client} names {subject}")];
    };
    let mut out = Vec::new();
    let mut packet = log[d].get("packet").and_then(Value::as_u64);
    out.push(format!(
        "{subject} {} {client} in packet #{} ({}) delivered at step {}",
        if bad.is_some() {
            "got that readCount at"
        } else {
            "last reached"
        },
        packet.unwrap_or(0),
        str_of(&log[d], "what"),
        log[d].get("step").and_then(Value::as_u64).unwrap_or(0)
    ));
    // Follow packets back through the server requests that sent them.
    for _ in 0..4 {
        let Some(p) = packet else { break };
        let Some(s) = log.iter().position(|e| {
            str_of(e, "kind") == "send" && e.get("packet").and_then(Value::as_u64) == Some(p)
        }) else {
            break;
        };
        let e = &log[s];
        let dup = log.iter().any(|x| {
            str_of(x, "kind") == "duplicate" && x.get("packet").and_then(Value::as_u64) == Some(p)
        });
        out.push(format!(
            "packet #{p} was sent by {} at step {} ({}){}",
            str_of(e, "from"),
            e.get("step").and_then(Value::as_u64).unwrap_or(0),
            str_of(e, "cause"),
            if dup {
                "; the network delivered it twice"
            } else {
                ""
            }
        ));
        packet = None;
        let Some(req) = e.get("request").and_then(Value::as_u64) else {
            break;
        };
        if let Some(r) = log.iter().find(|x| {
            str_of(x, "kind") == "server-in" && x.get("seq").and_then(Value::as_u64) == Some(req)
        }) {
            out.push(format!(
                "request #{req} to the server at step {}: {}",
                r.get("step").and_then(Value::as_u64).unwrap_or(0),
                str_of(r, "about")
            ));
            packet = r.get("packet").and_then(Value::as_u64);
        }
    }
    out
}

/// The `readCount N` a violation's detail shows, if it names one.
fn read_count_in(detail: &str) -> Option<u64> {
    // "readCount of m3 fell from 2 to 1": the value it fell to.
    if let Some(fell) = detail.split(" fell from ").nth(1) {
        let to = fell.split(" to ").nth(1)?;
        return to.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok();
    }
    let rest = detail.split("readCount ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}
