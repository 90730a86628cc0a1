//! A self-contained HTML timeline of a traced run (`--html FILE.html`): a
//! lane per client and one for the server, time going down a step a row,
//! packets as arrows from the sender's lane at the step sent to the
//! receiver's at the step delivered (lost ones end in a cross), crashes and
//! faults marked, and the violating step highlighted, with the states of
//! the violating message on that client before and after it. Plain SVG and
//! CSS, no script: it opens from a file anywhere.

use std::fmt::Write;

use serde_json::Value;

use super::report::Report;
use super::trace::subject_of;

const LANE: u64 = 120;
const ROW: u64 = 26;
const TOP: u64 = 50;
const LEFT: u64 = 70;
/// Most packets drawn (a long passing run would make a huge page).
const MAX_ARROWS: usize = 20_000;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn u(e: &Value, k: &str) -> Option<u64> {
    e.get(k).and_then(Value::as_u64)
}

fn s<'a>(e: &'a Value, k: &str) -> &'a str {
    e.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The lane of a node name (`server`, `c3`, or a client name `c3/u1`).
fn lane(name: &str) -> Option<u64> {
    if name == "server" {
        return Some(0);
    }
    let n = name.strip_prefix('c')?.split('/').next()?;
    n.parse::<u64>().ok().map(|i| i + 1)
}

fn x_of(l: u64) -> u64 {
    LEFT + l * LANE
}

fn y_of(step: u64, first: u64) -> u64 {
    TOP + (step - first.min(step)) * ROW
}

/// The timeline page of `report`'s trace; `None` when it holds none.
pub fn timeline_html(report: &Report) -> Option<String> {
    let log = report.trace.as_ref()?;
    let sc = report
        .shrunk
        .as_ref()
        .map_or(&report.scenario, |z| &z.scenario);
    let violation = log.iter().find(|e| s(e, "kind") == "violation");
    let v = violation.and_then(|e| e.get("violation"));
    let vstep = v.and_then(|v| u(v, "step"));
    let first = log.iter().filter_map(|e| u(e, "step")).min().unwrap_or(0);
    let last = log
        .iter()
        .filter_map(|e| u(e, "step").max(u(e, "at")))
        .max()
        .unwrap_or(0);
    let lanes = sc.clients as u64 + 1;
    let width = LEFT + lanes * LANE + 40;
    let height = y_of(last, first) + ROW * 2;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" id="timeline">"#
    );
    svg.push_str(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#456"/></marker></defs>"##);
    if let Some(st) = vstep {
        let _ = write!(
            svg,
            r#"<rect id="violation-step" class="violation" x="0" y="{}" width="{width}" height="{ROW}"><title>violation at step {st}</title></rect>"#,
            y_of(st, first) - ROW / 2
        );
    }
    for step in first..=last {
        let y = y_of(step, first);
        let _ = write!(
            svg,
            r#"<text class="step" x="8" y="{}">step {step}</text>"#,
            y + 4
        );
    }
    for l in 0..lanes {
        let x = x_of(l);
        let name = if l == 0 {
            "server".to_string()
        } else {
            format!("c{}", l - 1)
        };
        let _ = write!(
            svg,
            r#"<g class="lane" data-lane="{name}"><line x1="{x}" y1="{}" x2="{x}" y2="{height}"/><text x="{x}" y="20" text-anchor="middle">{name}</text></g>"#,
            TOP - 16
        );
    }
    // Sends: packet → (from, to, step, what); deliveries and losses by packet.
    let mut arrows = 0;
    for e in log.iter().filter(|e| s(e, "kind") == "send") {
        if arrows >= MAX_ARROWS {
            break;
        }
        let (Some(p), Some(st)) = (u(e, "packet"), u(e, "step")) else {
            continue;
        };
        let (Some(a), Some(b)) = (lane(s(e, "from")), lane(s(e, "to"))) else {
            continue;
        };
        let what = s(e, "what");
        let title = esc(&format!(
            "packet #{p} {what} {} -> {} sent at step {st} ({}) {}",
            s(e, "from"),
            s(e, "to"),
            s(e, "cause"),
            e.get("messages").map(Value::to_string).unwrap_or_default()
        ));
        let (x1, y1) = (x_of(a), y_of(st, first));
        let ends: Vec<&Value> = log
            .iter()
            .filter(|x| u(x, "packet") == Some(p) && matches!(s(x, "kind"), "deliver" | "lost"))
            .collect();
        for end in ends {
            arrows += 1;
            let est = u(end, "step").unwrap_or(st);
            let (x2, y2) = (x_of(b), y_of(est, first));
            if s(end, "kind") == "lost" {
                let (mx, my) = ((x1 + x2) / 2, (y1 + y2) / 2 + ROW / 3);
                let _ = write!(
                    svg,
                    r#"<g class="packet lost"><line x1="{x1}" y1="{y1}" x2="{mx}" y2="{my}"/><text x="{mx}" y="{my}" class="cross">✕</text><title>{title}; lost ({})</title></g>"#,
                    esc(s(end, "why"))
                );
            } else {
                let _ = write!(
                    svg,
                    r#"<g class="packet {}"><line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" marker-end="url(#arrow)"/><title>{title}; delivered at step {est}</title></g>"#,
                    what.replace(' ', "-")
                );
            }
        }
    }
    for e in log
        .iter()
        .filter(|e| matches!(s(e, "kind"), "crash" | "fault"))
    {
        let st = u(e, "step").unwrap_or(0);
        let y = y_of(st, first);
        if s(e, "kind") == "crash" {
            let x = lane(s(e, "client")).map_or(LEFT, x_of);
            let _ = write!(
                svg,
                r#"<g class="fault crash"><circle cx="{x}" cy="{y}" r="7"/><title>{} crashed at step {st}, down {} steps</title></g>"#,
                esc(s(e, "client")),
                u(e, "downFor").unwrap_or(0)
            );
        } else if s(e, "fault") != "crash" {
            let _ = write!(
                svg,
                r#"<g class="fault"><rect x="{}" y="{}" width="8" height="8"/><title>fault {} at step {st}</title></g>"#,
                LEFT - 20,
                y - 4,
                esc(s(e, "fault"))
            );
        }
    }
    svg.push_str("</svg>");

    let mut page = String::new();
    let title = format!("receiptdb sim timeline, seed {}", sc.seed);
    let _ = write!(
        page,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body>",
        esc(&title)
    );
    let _ = write!(page, "<h1>{}</h1>", esc(&title));
    let _ = write!(
        page,
        "<p class=\"run\">{}</p>",
        esc(&crate::report::run_command_of(sc))
    );
    match v {
        Some(v) => {
            let detail = s(v, "detail");
            let client = s(v, "client");
            let _ = write!(
                page,
                "<section id=\"violation\"><h2>Violation: {} at step {}</h2><p class=\"detail\">{}{}</p>",
                esc(s(v, "invariant")),
                vstep.unwrap_or(0),
                esc(detail),
                if client.is_empty() {
                    String::new()
                } else {
                    format!(" (client {})", esc(client))
                }
            );
            if !report.cause.is_empty() {
                page.push_str("<h3>Cause</h3><ol class=\"cause\">");
                for c in &report.cause {
                    let _ = write!(page, "<li>{}</li>", esc(c));
                }
                page.push_str("</ol>");
            }
            states_table(&mut page, log, client, detail, vstep.unwrap_or(0));
            page.push_str("</section>");
        }
        None => page.push_str("<section id=\"passed\"><h2>The run passed</h2></section>"),
    }
    page.push_str("<p class=\"legend\">Lanes: the server, then each client. Arrows: packets (hover for what they carry); ✕: lost; red circles: crashes; squares: other faults; the red band: the violating step.</p>");
    page.push_str(&svg);
    page.push_str("</body></html>\n");
    Some(page)
}

/// The states of the violating subject on the violating client, before and
/// after the violating step: the events it emitted and the figures packets
/// brought.
fn states_table(page: &mut String, log: &[Value], client: &str, detail: &str, vstep: u64) {
    let Some(subject) = detail.lines().next().and_then(subject_of) else {
        return;
    };
    let short = client.split('/').next().unwrap_or(client);
    let _ = write!(
        page,
        "<h3>{} on {} before and after</h3><table id=\"states\"><tr><th>step</th><th>when</th><th>what</th><th>state</th></tr>",
        esc(&subject),
        esc(short)
    );
    let mut step = 0;
    for e in log {
        if s(e, "kind") == "step" {
            step = u(e, "step").unwrap_or(step);
        }
        let mine = match s(e, "kind") {
            "event" => s(e, "client").split('/').next() == Some(short),
            "deliver" => s(e, "to") == short,
            _ => false,
        };
        let names = e
            .get("messages")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(&subject)));
        if !mine || !names {
            continue;
        }
        let at = u(e, "step").unwrap_or(step);
        let state = match s(e, "kind") {
            "event" => format!(
                "readCount {} unreadCount {} isPeerRead {}",
                e.get("readCount").unwrap_or(&Value::Null),
                e.get("unreadCount").unwrap_or(&Value::Null),
                e.get("isPeerRead").unwrap_or(&Value::Null)
            ),
            _ => e
                .get("figures")
                .and_then(Value::as_array)
                .and_then(|fs| {
                    fs.iter()
                        .find(|f| f.get(0).and_then(Value::as_str) == Some(&subject))
                })
                .map_or(String::new(), |f| format!("figures {f}")),
        };
        let when = if at < vstep { "before" } else { "after" };
        let what = if s(e, "kind") == "event" {
            "event".to_string()
        } else {
            format!("packet #{} {}", u(e, "packet").unwrap_or(0), s(e, "what"))
        };
        let _ = write!(
            page,
            "<tr class=\"{when}\"><td>{at}</td><td>{when}</td><td>{}</td><td>{}</td></tr>",
            esc(&what),
            esc(&state)
        );
    }
    // The state the check saw at the violating step (for a final check,
    // everything above came before it).
    let _ = write!(
        page,
        "<tr class=\"after\"><td>{vstep}</td><td>at the violation</td><td>the check</td><td>{}</td></tr>",
        esc(detail)
    );
    page.push_str("</table>");
}

const CSS: &str = "body{font:14px system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:18px}.run{font-family:monospace;font-size:12px;color:#555}
#violation{border:2px solid #c33;padding:8px 12px;margin:12px 0;background:#fff5f5}
#passed{border:2px solid #3a3;padding:8px 12px}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}
tr.after{background:#fdd}.legend{color:#555;font-size:12px}
.lane line{stroke:#bbb;stroke-width:1}.lane text{font-weight:bold}
.step{font-size:10px;fill:#888}.violation{fill:#fcc;opacity:.7}
.packet line{stroke:#456;stroke-width:1}.packet.notify line{stroke:#06c}
.packet.snapshot line,.packet.stale-snapshot line{stroke:#693}.packet.stale-snapshot line{stroke-dasharray:4 2}
.packet.lost line{stroke:#c33;stroke-dasharray:3 3}.cross{fill:#c33;font-size:12px}
.crash circle{fill:#c33}.fault rect{fill:#e90}";
