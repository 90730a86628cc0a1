//! The conformance corpus runner: every `tests/conformance/*.jsonl` file is
//! one behaviour, a script of request lines and the exact lines (events,
//! then the response) each one gives. One runner, any transport: the
//! in-process handler and `receiptdb rpc` (`tests/conformance.rs`), the C
//! ABI (`bindings/c/tests/conformance.rs`); Node has a port of this file
//! (`bindings/node/test/conformance.test.js`). The format is in
//! `tests/conformance/README.md`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One way to send a request line and get the lines it gives back.
pub trait Transport {
    /// Sends one request line (no newline); returns every line written for
    /// it (events first, then the response).
    fn call(&mut self, line: &str) -> Vec<String>;
}

/// One request and what it must give.
#[derive(Debug, Clone)]
pub struct Step {
    /// 1-based line number of the request in its file.
    pub line: usize,
    pub request: String,
    pub expected: Vec<String>,
}

/// One corpus file.
#[derive(Debug, Clone)]
pub struct Script {
    pub path: PathBuf,
    /// The store's owner (`# user: NAME`, default `alice`).
    pub user: String,
    /// Transports this file is not run on, with the reason the file gives.
    pub skip: BTreeMap<String, String>,
    pub steps: Vec<Step>,
}

impl Script {
    /// The file name, for messages.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// The corpus folder of this repository.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|p| p.join("tests/conformance"))
        .find(|p| p.join("README.md").is_file())
        .expect("tests/conformance/README.md above the crate")
}

/// Parses one corpus file.
pub fn parse(path: &Path) -> Result<Script, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut script = Script {
        path: path.to_path_buf(),
        user: "alice".into(),
        skip: BTreeMap::new(),
        steps: Vec::new(),
    };
    for (i, raw) in text.lines().enumerate() {
        let at = || format!("{}:{}", path.display(), i + 1);
        if let Some(c) = raw.strip_prefix('#') {
            let c = c.trim();
            if let Some(u) = c.strip_prefix("user:") {
                script.user = u.trim().to_string();
            } else if let Some(rest) = c.strip_prefix("skip ") {
                let (who, why) = rest
                    .split_once(':')
                    .ok_or_else(|| format!("{}: `# skip TRANSPORT: why`", at()))?;
                if why.trim().is_empty() {
                    return Err(format!("{}: a skip says why", at()));
                }
                script
                    .skip
                    .insert(who.trim().to_string(), why.trim().to_string());
            }
        } else if let Some(r) = raw.strip_prefix("> ") {
            script.steps.push(Step {
                line: i + 1,
                request: r.to_string(),
                expected: Vec::new(),
            });
        } else if let Some(r) = raw.strip_prefix("< ") {
            let step = script
                .steps
                .last_mut()
                .ok_or_else(|| format!("{}: an answer before any request", at()))?;
            serde_json::from_str::<Value>(r).map_err(|e| format!("{}: {e}", at()))?;
            step.expected.push(r.to_string());
        } else if !raw.trim().is_empty() {
            return Err(format!("{}: a line starts with >, <, # or is blank", at()));
        }
    }
    if script.steps.is_empty() {
        return Err(format!("{}: no request", path.display()));
    }
    Ok(script)
}

/// Every corpus file, sorted by name.
pub fn load_all() -> Vec<Script> {
    let dir = corpus_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read the corpus folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| parse(p).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Compares `got` with `want`: equal JSON, except that the string `"<any>"`
/// matches any value and `"<NAME>"` (letters, digits, `_`) matches any value
/// the first time and binds it, then only that value. Returns the first
/// difference as `path: want …, got …`.
pub fn matches(
    want: &Value,
    got: &Value,
    path: &str,
    bound: &mut BTreeMap<String, Value>,
) -> Result<(), String> {
    if let Value::String(s) = want {
        if s == "<any>" {
            return Ok(());
        }
        if let Some(name) = placeholder(s) {
            return match bound.get(name) {
                Some(v) if v == got => Ok(()),
                Some(v) => Err(format!("{path}: want <{name}> = {v}, got {got}")),
                None => {
                    bound.insert(name.to_string(), got.clone());
                    Ok(())
                }
            };
        }
    }
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => matches(wv, gv, &format!("{path}.{k}"), bound)?,
                    None => return Err(format!("{path}.{k}: want {wv}, got nothing")),
                }
            }
            if let Some(k) = g.keys().find(|k| !w.contains_key(*k)) {
                return Err(format!("{path}.{k}: want nothing, got {}", g[k]));
            }
            Ok(())
        }
        (Value::Array(w), Value::Array(g)) => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                matches(wv, gv, &format!("{path}[{i}]"), bound)?;
            }
            if w.len() != g.len() {
                return Err(format!("{path}: want {} items, got {}", w.len(), g.len()));
            }
            Ok(())
        }
        _ if want == got => Ok(()),
        _ => Err(format!("{path}: want {want}, got {got}")),
    }
}

fn placeholder(s: &str) -> Option<&str> {
    let name = s.strip_prefix('<')?.strip_suffix('>')?;
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(name)
}

/// A request with every bound `"<NAME>"` replaced by its value.
fn substitute(request: &str, bound: &BTreeMap<String, Value>) -> String {
    let mut out = request.to_string();
    for (name, v) in bound {
        out = out.replace(&format!("\"<{name}>\""), &v.to_string());
    }
    out
}

/// Runs one script; the first difference names the file, the line and the
/// step's request.
pub fn run(script: &Script, t: &mut dyn Transport) -> Result<(), String> {
    let mut bound = BTreeMap::new();
    for (n, step) in script.steps.iter().enumerate() {
        let request = substitute(&step.request, &bound);
        let got = t.call(&request);
        let fail = |what: String| {
            format!(
                "{}:{} (step {}): {what}\n  request: {request}\n  got:\n    {}",
                script.name(),
                step.line,
                n + 1,
                got.join("\n    ")
            )
        };
        if got.len() != step.expected.len() {
            return Err(fail(format!(
                "want {} lines, got {}",
                step.expected.len(),
                got.len()
            )));
        }
        for (k, (w, g)) in step.expected.iter().zip(&got).enumerate() {
            let wv: Value = serde_json::from_str(w).map_err(|e| fail(e.to_string()))?;
            let gv: Value = serde_json::from_str(g)
                .map_err(|e| fail(format!("line {} is not JSON: {e}", k + 1)))?;
            matches(&wv, &gv, &format!("line {}: $", k + 1), &mut bound).map_err(fail)?;
        }
    }
    Ok(())
}

/// Runs every file not skipped for `transport`, each on a fresh store made
/// by `open(dir, user)` in a new temporary folder; panics listing every
/// failing file. Returns how many files ran.
pub fn run_corpus(
    transport: &str,
    mut open: impl FnMut(&Path, &str) -> Box<dyn Transport>,
) -> usize {
    let mut failures = Vec::new();
    let mut ran = 0;
    for script in load_all() {
        if script.skip.contains_key(transport) {
            continue;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let mut t = open(dir.path(), &script.user);
        if let Err(e) = run(&script, t.as_mut()) {
            failures.push(e);
        }
        ran += 1;
    }
    assert!(
        failures.is_empty(),
        "{transport}: {} of {ran} corpus files failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    ran
}

/// Rewrites every corpus file with the answers `open` gives, keeping the
/// comments, the requests and every expected line that still matches (so
/// placeholders stay). For recording a new file; review the diff.
pub fn bless(mut open: impl FnMut(&Path, &str) -> Box<dyn Transport>) {
    for script in load_all() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut t = open(dir.path(), &script.user);
        let text = std::fs::read_to_string(&script.path).expect("read");
        let mut out = String::new();
        let mut bound = BTreeMap::new();
        let mut steps = script.steps.iter();
        for raw in text.lines() {
            if raw.starts_with("< ") {
                continue;
            }
            out.push_str(raw);
            out.push('\n');
            if raw.starts_with("> ") {
                let step = steps.next().expect("a step per request");
                let got = t.call(&substitute(&step.request, &bound));
                for (k, g) in got.iter().enumerate() {
                    let keep = step.expected.get(k).filter(|w| {
                        let wv: Value = serde_json::from_str(w).unwrap_or(Value::Null);
                        let gv: Value = serde_json::from_str(g).unwrap_or(Value::Null);
                        let mut b = bound.clone();
                        let ok = matches(&wv, &gv, "$", &mut b).is_ok();
                        if ok {
                            bound = b;
                        }
                        ok
                    });
                    let line = match keep {
                        Some(w) => w.clone(),
                        None => {
                            let v: Value = serde_json::from_str(g).unwrap_or(Value::Null);
                            let v = made_up(v);
                            let mut b = bound.clone();
                            if matches(
                                &v,
                                &serde_json::from_str(g).unwrap_or(Value::Null),
                                "$",
                                &mut b,
                            )
                            .is_ok()
                            {
                                bound = b;
                            }
                            v.to_string()
                        }
                    };
                    out.push_str("< ");
                    out.push_str(&line);
                    out.push('\n');
                }
            }
        }
        std::fs::write(&script.path, out).expect("write");
    }
}

/// What a store makes up for itself, as placeholders: a `createMessage` ID
/// (`OWNER-<16 hex>-N`) becomes `"<mN>"` (a string holding one, `"<any>"`),
/// and an unsent message's wall-clock `time` becomes `"<any>"`.
fn made_up(v: Value) -> Value {
    match v {
        Value::Object(mut m) => {
            let unsent = m.get("status").and_then(Value::as_str) == Some("unSend");
            for (k, x) in m.iter_mut() {
                *x = if unsent && k == "time" {
                    Value::String("<any>".into())
                } else {
                    made_up(x.take())
                };
            }
            Value::Object(m)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(made_up).collect()),
        Value::String(s) => match made_id(&s) {
            Some(n) => Value::String(format!("<m{n}>")),
            None if s.split([' ', ':', ',']).any(|w| made_id(w).is_some()) => {
                Value::String("<any>".into())
            }
            None => Value::String(s),
        },
        other => other,
    }
}

/// `N` of an ID `createMessage` made (`OWNER-<16 hex>-N`).
fn made_id(s: &str) -> Option<&str> {
    let mut parts = s.rsplitn(3, '-');
    let n = parts.next()?;
    let hex = parts.next()?;
    let owner = parts.next()?;
    (!owner.is_empty()
        && !owner.contains([' ', ':', ','])
        && hex.len() == 16
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit()))
    .then_some(n)
}
