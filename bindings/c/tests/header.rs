//! The hand-written header is the contract: this fails when `receiptdb.h`
//! and the `extern "C"` functions of `src/lib.rs` drift apart (names, return
//! types, parameter names and types).

use std::collections::BTreeMap;

/// One function: return type, then (parameter name, type), types normalised
/// to C spelling with no spaces around `*`.
type Sig = (String, Vec<(String, String)>);

fn norm(c_type: &str) -> String {
    let t = c_type.split_whitespace().collect::<Vec<_>>().join(" ");
    t.replace(" *", "*").replace("* ", "*")
}

fn strip_c_comments(src: &str) -> String {
    let mut out = String::new();
    let mut rest = src;
    while let Some(i) = rest.find("/*") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find("*/").expect("unclosed comment") + i + 2;
        rest = &rest[end..];
    }
    out.push_str(rest);
    out.lines()
        .map(|l| l.split("//").next().unwrap())
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Splits `type name` (C) at the name.
fn split_c_decl(decl: &str) -> (String, String) {
    let decl = decl.trim();
    let at = decl
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    (norm(&decl[..at]), decl[at..].to_string())
}

fn header_functions(src: &str) -> BTreeMap<String, Sig> {
    let body = strip_c_comments(src)
        .replace("extern \"C\" {", "")
        .replace('}', "");
    let mut fns = BTreeMap::new();
    for decl in body.split(';').map(str::trim) {
        if decl.is_empty() || decl.starts_with("typedef") {
            continue;
        }
        let open = decl
            .find('(')
            .unwrap_or_else(|| panic!("not a function: {decl}"));
        let close = decl.rfind(')').unwrap();
        let (ret, name) = split_c_decl(&decl[..open]);
        let params_src = decl[open + 1..close].trim();
        let params = if params_src == "void" {
            Vec::new()
        } else {
            params_src
                .split(',')
                .map(|p| {
                    let (t, n) = split_c_decl(p);
                    (n, t)
                })
                .collect()
        };
        assert!(
            fns.insert(name.clone(), (ret, params)).is_none(),
            "{name} declared twice"
        );
    }
    fns
}

/// A Rust FFI type in C spelling.
fn rust_to_c(t: &str) -> String {
    let t = t.trim();
    if let Some(inner) = t.strip_prefix("*const ") {
        return norm(&format!("const {}*", rust_to_c(inner)));
    }
    if let Some(inner) = t.strip_prefix("*mut ") {
        return norm(&format!("{}*", rust_to_c(inner)));
    }
    match t {
        "c_char" => "char".into(),
        "c_int" => "int".into(),
        "()" => "void".into(),
        other => other.into(),
    }
}

fn rust_functions(src: &str) -> BTreeMap<String, Sig> {
    let mut fns = BTreeMap::new();
    let mut rest = src;
    while let Some(i) = rest.find("extern \"C\" fn ") {
        let before = &rest[..i];
        let after = &rest[i + "extern \"C\" fn ".len()..];
        let attr_line = before.lines().rev().nth(1).unwrap_or("");
        let open = after.find('(').unwrap();
        let name = after[..open].trim().to_string();
        assert!(
            attr_line.trim() == "#[no_mangle]",
            "{name}: #[no_mangle] must be the line above"
        );
        let close = after.find(')').unwrap();
        let params = after[open + 1..close]
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (n, t) = p.split_once(':').unwrap();
                (n.trim().to_string(), rust_to_c(t))
            })
            .collect();
        let tail = &after[close + 1..];
        let brace = tail.find('{').unwrap();
        let ret = match tail[..brace].trim().strip_prefix("->") {
            Some(t) => rust_to_c(t),
            None => "void".into(),
        };
        fns.insert(name, (ret, params));
        rest = &after[close..];
    }
    fns
}

#[test]
fn header_declares_exactly_the_rust_exports() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let header = std::fs::read_to_string(format!("{dir}/receiptdb.h")).unwrap();
    let rust = std::fs::read_to_string(format!("{dir}/src/lib.rs")).unwrap();
    let h = header_functions(&header);
    let r = rust_functions(&rust);
    assert_eq!(h, r, "receiptdb.h (left) and src/lib.rs (right) disagree");
    for f in ["rdb_open", "rdb_call", "rdb_free", "rdb_close"] {
        assert!(h.contains_key(f), "docs/EMBEDDING.md function {f} missing");
    }
    // docs/EMBEDDING.md spells these out; the header must keep them.
    assert_eq!(
        h["rdb_open"],
        (
            "rdb_store*".to_string(),
            vec![
                ("path".into(), "const char*".into()),
                ("user_id".into(), "const char*".into()),
                ("error_json".into(), "char**".into()),
            ]
        )
    );
    assert_eq!(h["rdb_call"].0, "char*");
    assert!(header.contains("typedef struct rdb_store rdb_store;"));
}

#[test]
fn the_parsers_see_a_drift() {
    let h = header_functions("char *rdb_call(rdb_store *store, const char *request_json);");
    let r = rust_functions(
        "#[no_mangle]\npub unsafe extern \"C\" fn rdb_call(store: *mut rdb_store, request: *const c_char) -> *mut c_char {",
    );
    assert_ne!(h, r, "a renamed parameter must show");
    let r2 = rust_functions(
        "#[no_mangle]\npub unsafe extern \"C\" fn rdb_call(store: *mut rdb_store, request_json: *const c_char) -> *mut c_char {",
    );
    assert_eq!(h, r2);
}
