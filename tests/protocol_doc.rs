//! docs/PROTOCOL.md is the user's reference of the JSON-RPC surface. These
//! tests keep it in step with the code: the method match of src/rpc.rs must
//! serve exactly `receiptdb::rpc::METHODS` (the one method list), and every
//! method and event listed there, every error name and code of src/error.rs
//! and every symbolic name src/rpc.rs writes must be documented there.
//!
//! Heading convention of the doc: each method has a heading line
//! "### `methodName`" and each event a heading line "### `EVENT_NAME`".

use std::collections::BTreeSet;
use std::path::Path;

/// Fewer methods than this in src/rpc.rs means the parser below broke.
const MIN_SERVED_METHODS: usize = 15;

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn doc() -> String {
    read("docs/PROTOCOL.md")
}

/// Whether `doc` has the heading line "### `name`" (text may follow it).
fn has_heading(doc: &str, name: &str) -> bool {
    let want = format!("### `{name}`");
    doc.lines().any(|l| {
        let l = l.trim_end();
        l == want || l.starts_with(&format!("{want} "))
    })
}

/// Removes `//` line comments (outside string literals) so commented-out
/// code is not taken for code.
fn strip_line_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    for line in src.lines() {
        let mut in_str = false;
        let mut escaped = false;
        let mut cut = line.len();
        let bytes = line.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if in_str {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_str = false;
                }
            } else if b == b'"' {
                in_str = true;
            } else if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
                cut = i;
                break;
            }
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

/// The text between the `{` that follows `anchor` and its matching `}`.
fn block_after<'a>(src: &'a str, anchor: &str) -> Option<&'a str> {
    let start = src.find(anchor)? + anchor.len();
    let open = start + src[start..].find('{')?;
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    let mut in_char = false;
    for (i, c) in src[open..].char_indices() {
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        if in_char {
            if c == '\'' {
                in_char = false;
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            // A char literal like '{' (not a lifetime: those have no closing quote soon).
            '\'' if src[open + i..].chars().nth(2) == Some('\'') => in_char = true,
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&src[open + 1..open + i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// Reads one string literal starting at `s[0] == '"'`; returns it and the rest.
fn string_literal(s: &str) -> Option<(&str, &str)> {
    let body = s.strip_prefix('"')?;
    let end = body.find('"')?;
    Some((&body[..end], &body[end + 1..]))
}

/// Brace depth change of a line, ignoring braces inside string and char literals.
fn brace_delta(line: &str) -> i64 {
    let mut d = 0;
    let mut in_str = false;
    let mut escaped = false;
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
        } else if c == '"' {
            in_str = true;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            i += 2;
        } else if c == '{' {
            d += 1;
        } else if c == '}' {
            d -= 1;
        }
        i += 1;
    }
    d
}

/// The string-literal patterns of the top-level arms of a match body, e.g.
/// `"setGroup" =>` and `"subscribe" | "unsubscribe" =>` (also when rustfmt
/// puts each `| "name"` on its own line).
fn string_arms(block: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0i64;
    let mut pattern = String::new();
    for line in block.lines() {
        let t = line.trim();
        if depth == 0 {
            if t.starts_with('"') {
                pattern = t.to_string();
            } else if t.starts_with('|') && !pattern.is_empty() {
                pattern.push(' ');
                pattern.push_str(t);
            } else {
                pattern.clear();
            }
            if let Some(lits) = arm_literals(&pattern) {
                names.extend(lits);
                pattern.clear();
            }
        }
        depth += brace_delta(line);
    }
    names
}

/// `"a" | "b" => …` gives `["a", "b"]`; anything else (or an unfinished
/// pattern) gives `None`.
fn arm_literals(pattern: &str) -> Option<Vec<String>> {
    let mut lits = Vec::new();
    let mut cur = pattern.trim_start();
    loop {
        let (lit, after) = string_literal(cur)?;
        lits.push(lit.to_string());
        let after = after.trim_start();
        if let Some(more) = after.strip_prefix('|') {
            cur = more.trim_start();
        } else if after.starts_with("=>") {
            return Some(lits);
        } else {
            return None;
        }
    }
}

fn is_method_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
}

/// Every method name `receiptdb rpc` serves, from the match in `Session::call`.
fn served_methods() -> BTreeSet<String> {
    let src = strip_line_comments(&read("src/rpc.rs"));
    let block = block_after(&src, "match method").expect(
        "src/rpc.rs: no `match method { … }` found: the parser of this test needs updating",
    );
    let names: BTreeSet<String> = string_arms(block).into_iter().collect();
    let bad: Vec<_> = names.iter().filter(|n| !is_method_name(n)).collect();
    assert!(
        bad.is_empty(),
        "the parser took these for method names: {bad:?}"
    );
    names
}

/// `Variant => value` pairs of the match in `fn <name>(&self)` of src/error.rs.
fn error_arms(src: &str, func: &str) -> Vec<(String, String)> {
    let block = block_after(src, &format!("fn {func}(&self)"))
        .unwrap_or_else(|| panic!("src/error.rs: no `fn {func}(&self)` found"));
    let block = block_after(block, "match self")
        .unwrap_or_else(|| panic!("src/error.rs: `fn {func}` has no `match self {{ … }}`"));
    let mut out = Vec::new();
    for arm in block.split(',') {
        let Some((pat, val)) = arm.split_once("=>") else {
            continue;
        };
        let pat = pat.trim();
        let Some(variant) = pat.strip_prefix("Error::") else {
            continue;
        };
        let variant: String = variant
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        out.push((variant, val.trim().trim_matches('"').to_string()));
    }
    out
}

#[test]
fn every_served_method_has_a_heading() {
    let methods = served_methods();
    assert!(
        methods.len() >= MIN_SERVED_METHODS,
        "found only {} methods in src/rpc.rs ({methods:?}): the parser broke",
        methods.len()
    );
    for expected in ["setGroup", "subscribe", "unsubscribe", "applySnapshot"] {
        assert!(
            methods.contains(expected),
            "the parser missed {expected:?} in src/rpc.rs (found {methods:?})"
        );
    }
    let listed: BTreeSet<String> = receiptdb::rpc::METHODS
        .iter()
        .map(|m| m.to_string())
        .collect();
    assert_eq!(
        methods, listed,
        "the handler's match in src/rpc.rs and receiptdb::rpc::METHODS differ"
    );
    let doc = doc();
    let missing: Vec<_> = methods.iter().filter(|m| !has_heading(&doc, m)).collect();
    assert!(
        missing.is_empty(),
        "methods served by src/rpc.rs with no \"### `name`\" heading in docs/PROTOCOL.md: {missing:?}"
    );
}

#[test]
fn every_listed_method_and_event_has_a_heading() {
    let doc = doc();
    let missing: Vec<_> = receiptdb::rpc::METHODS
        .iter()
        .chain(receiptdb::rpc::DEFAULT_EVENTS)
        .chain(receiptdb::rpc::OPTIONAL_EVENTS)
        .filter(|m| !has_heading(&doc, m))
        .collect();
    assert!(
        missing.is_empty(),
        "names of receiptdb::rpc with no \"### `name`\" heading in docs/PROTOCOL.md: {missing:?}"
    );
}

#[test]
fn every_error_name_is_documented_with_its_code() {
    let src = strip_line_comments(&read("src/error.rs"));
    let names = error_arms(&src, "name");
    let codes = error_arms(&src, "code");
    assert!(
        names.len() >= 9 && codes.len() == names.len(),
        "src/error.rs parsed to {} names and {} codes: the parser broke",
        names.len(),
        codes.len()
    );
    let doc = doc();
    let mut missing = Vec::new();
    for (variant, name) in &names {
        let code = codes
            .iter()
            .find(|(v, _)| v == variant)
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| panic!("Error::{variant} has a name but no code"));
        code.parse::<i64>()
            .unwrap_or_else(|_| panic!("Error::{variant}: code {code:?} is not a number"));
        // A table row (or any line) naming both.
        let ok = doc
            .lines()
            .any(|l| l.contains(&format!("`{name}`")) && l.contains(&code));
        if !ok {
            missing.push(format!("{name} ({code})"));
        }
    }
    assert!(
        missing.is_empty(),
        "error names of src/error.rs with no line in docs/PROTOCOL.md giving the name and code: {missing:?}"
    );
}

#[test]
fn every_symbolic_name_the_rpc_writes_is_documented() {
    // Event names (forwarded and opt-in) and the names of the JSON-RPC
    // protocol errors: every SCREAMING_CASE string literal of src/rpc.rs.
    let src = strip_line_comments(&read("src/rpc.rs"));
    let mut names = BTreeSet::new();
    let mut rest = src.as_str();
    while let Some(q) = rest.find('"') {
        match string_literal(&rest[q..]) {
            Some((lit, after)) => {
                if lit.len() > 3
                    && lit
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                {
                    names.insert(lit.to_string());
                }
                rest = after;
            }
            None => break,
        }
    }
    for expected in ["MESSAGE_READ_RECEIPT_RECEIVED", "LAGGED", "PARSE_ERROR"] {
        assert!(
            names.contains(expected),
            "the scan of src/rpc.rs missed {expected} (found {names:?})"
        );
    }
    let doc = doc();
    let missing: Vec<_> = names
        .iter()
        .filter(|n| !doc.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "names written by src/rpc.rs that docs/PROTOCOL.md never mentions: {missing:?}"
    );
}

#[test]
fn the_line_limit_is_the_one_the_rpc_enforces() {
    let src = read("src/rpc.rs");
    let line = src
        .lines()
        .find(|l| l.contains("const MAX_LINE_BYTES"))
        .expect("src/rpc.rs has no MAX_LINE_BYTES");
    let expr = line
        .split('=')
        .nth(1)
        .expect("MAX_LINE_BYTES has no value")
        .trim()
        .trim_end_matches(';');
    let bytes: u64 = expr
        .split('*')
        .map(|f| {
            f.trim()
                .replace('_', "")
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("cannot evaluate MAX_LINE_BYTES = {expr}"))
        })
        .product();
    let doc = doc();
    let mib = format!("{} MiB", bytes / (1024 * 1024));
    assert!(
        doc.contains(&bytes.to_string()) || (bytes % (1024 * 1024) == 0 && doc.contains(&mib)),
        "docs/PROTOCOL.md does not state the line limit of src/rpc.rs ({bytes} bytes, {mib})"
    );
}

#[test]
fn the_parsers_of_this_test_work() {
    let sample = r#"
        match method {
            "one" => { let x = "not an arm"; x }
            "two" | "three" => {
                match y { "inner" => 1, _ => 2 }
            }
            // "commented" => {}
            "four"
            | "five" => {}
            "six"
            _ => return Ok(None),
        }
    "#;
    let s = strip_line_comments(sample);
    let block = block_after(&s, "match method").expect("block");
    let arms: BTreeSet<String> = string_arms(block).into_iter().collect();
    let want: BTreeSet<String> = ["one", "two", "three", "four", "five"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(arms, want);
    assert!(has_heading("x\n### `setGroup`\ny", "setGroup"));
    assert!(!has_heading("### `setGroupX`", "setGroup"));
    assert!(!has_heading("see `setGroup`", "setGroup"));
}
