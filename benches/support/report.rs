//! Reading criterion's results back for the ratio tables the benches print.

use std::path::PathBuf;

/// The median of one function of one group, in nanoseconds, from
/// criterion's estimates of this run.
pub fn median_ns(group: &str, func: &str) -> Option<f64> {
    let p = PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
        .join("criterion")
        .join(group)
        .join(func)
        .join("new/estimates.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
    v["median"]["point_estimate"].as_f64()
}

/// A duration in the unit that suits it.
pub fn fmt_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}
