//! Simulated power loss (README.md, Guarantees): a crash VFS (`crash_vfs/`, registered as
//! the process's default VFS) cuts the power after N write/sync calls, then
//! keeps, reverts or tears every region written since its file's last sync.
//! Each run copies a template store, runs a workload over every write path
//! through the public API, cuts, reopens with the plain VFS and checks:
//!
//! - corrupt: the store does not open, or `check_file` is not `["ok"]`;
//! - lost: an acknowledged call (it returned Ok before the cut) whose
//!   effect is not visible (each call's effect is checked concretely).
//!
//! `Durability::Full` loses nothing and is never corrupt; `Normal` is never
//! corrupt and its losses are measured; `UnsafeOff` and a VFS whose xSync
//! lies must lose something (the harness can fail). Injected EIO and ENOSPC
//! give a clear error, lose nothing, and the same store works again.
//! Cut points spread evenly over the I/O calls a run without cuts makes.
//! `scripts/test.sh` runs the suite a second time on encrypted stores
//! (`RECEIPTDB_TEST_KEY`).

mod common;
mod crash_vfs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{user_ids, OWNER};
use crash_vfs::{CutStats, Fault, Plan};
use receiptdb::{
    ConversationType, Durability, Error, GroupType, IncomingMessage, Member, MemberFilter,
    MessageStatus, OpenOptions, PushedReadReport, ReadReport, ReceiptNotification,
    ReceiptSentState, Snapshot, SnapshotReceipt, Store,
};
use rusqlite::{Connection, OpenFlags};

/// An effect that must be visible after a power cut once its call returned Ok.
#[derive(Debug, Clone)]
enum Check {
    /// `receiptSentState` is pending or acked (`acked`: acked).
    Sent(String, bool),
    /// These users are in the read list and `readCount` is at least this.
    Readers(String, Vec<String>, u64),
    /// `readReceiptInfo.isPeerRead` (a C2C receipt).
    ReceiptPeerRead(String),
    /// The message's `isPeerRead` (the peer's read position covers it).
    PeerRead(String),
    /// `readSequence` is at least this.
    ReadSeq(String, i64),
    /// `peerReadSequence` is at least this.
    PeerSeq(String, i64),
    /// A read report at least this high is pending, unless a later
    /// acknowledged call cleared it ([`Check::ReportCleared`]).
    Report(String, i64),
    /// No read report at or below this is pending.
    ReportCleared(String, i64),
    /// The user is (or is not) a member of the group, unless a later
    /// acknowledged call changed that.
    Member(String, String, bool),
    /// The message is held.
    Held(String),
    /// The conversation's unread count is exactly this.
    Unread(String, u64),
    /// The file is at the current schema version (checked before reopening).
    Schema,
}

type Call = Box<dyn Fn(&Store, &Path) -> receiptdb::Result<Vec<Check>>>;

/// One call of a workload, with the write path it exercises.
struct Step {
    path: &'static str,
    call: Call,
    /// What the call may change that an earlier check depends on: a call
    /// cut before it returned may still have committed (see `later` in
    /// [`verify`]).
    undoes: Vec<Check>,
}

impl Step {
    fn undoes(mut self, c: Vec<Check>) -> Step {
        self.undoes = c;
        self
    }
}

/// A template store and what to do to a copy of it.
struct Work {
    template: PathBuf,
    /// Checks that the open itself acknowledges (the upgrade).
    open_checks: Vec<Check>,
    /// Durable before the run: true whatever happens.
    always: Vec<Check>,
    steps: Vec<Step>,
}

/// What one run did before the power went out.
#[derive(Default)]
struct Outcome {
    /// Acknowledged calls, in order: (path, checks).
    acked: Vec<(&'static str, Vec<Check>)>,
    /// Acknowledged calls before the last full checkpoint.
    checkpointed: usize,
    /// What the call cut before it returned may have changed.
    in_flight: Vec<Check>,
    /// The path that was running when the cut came ("open", "close", ...).
    cut_in: Option<&'static str>,
    /// Injected errors seen by calls: (path, error name, message).
    errors: Vec<(&'static str, &'static str, String)>,
}

/// What the reopened store showed.
#[derive(Default)]
struct Verdict {
    corrupt: Option<String>,
    /// Failed checks: (index of the acknowledged call, description).
    lost: Vec<(usize, String)>,
}

impl Verdict {
    /// How many of the last acknowledged calls are lost (from the first lost one).
    fn lost_calls(&self, acked: usize) -> usize {
        self.lost.iter().map(|l| l.0).min().map_or(0, |i| acked - i)
    }
}

fn ids(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

fn msg(id: String, from: &str, to: &str, group: bool, seq: i64) -> IncomingMessage {
    IncomingMessage {
        id,
        conversation_type: Some(if group {
            ConversationType::Group
        } else {
            ConversationType::C2C
        }),
        from: from.into(),
        to: to.into(),
        time: 1000 + seq,
        sequence: seq,
        status: Some(MessageStatus::Success),
        need_read_receipt: true,
        ..Default::default()
    }
}

fn step(
    path: &'static str,
    call: impl Fn(&Store, &Path) -> receiptdb::Result<Vec<Check>> + 'static,
) -> Step {
    Step {
        path,
        call: Box::new(call),
        undoes: vec![],
    }
}

fn send(list: Vec<String>) -> Step {
    step("sendMessageReadReceipt", move |s, _| {
        s.send_message_read_receipt(&list)?;
        Ok(list
            .iter()
            .map(|id| Check::Sent(id.clone(), false))
            .collect())
    })
}

fn set_read(conv: &'static str, seq: i64) -> Step {
    step("setMessageRead", move |s, _| {
        let before = s.get_conversation(conv)?.read_sequence;
        let now = s.set_message_read(conv, Some(seq))?;
        let mut c = vec![Check::ReadSeq(conv.into(), now)];
        if now > before {
            c.push(Check::Report(conv.into(), now));
        }
        Ok(c)
    })
}

fn ack_receipts() -> Step {
    step("ackReceipts", |s, _| {
        let Some(b) = s.get_pending_receipts(Some(1))?.into_iter().next() else {
            return Ok(vec![]);
        };
        let acked = s.ack_receipts(&b.batch_id, &[])?;
        assert!(acked, "the batch just handed out is acked");
        Ok(b.message_ids
            .iter()
            .map(|id| Check::Sent(id.clone(), true))
            .collect())
    })
}

/// A second connection checkpoints the WAL (so cuts land in checkpoints
/// and in the WAL restart after them). Not an acknowledged call; when it
/// returns Ok the WAL was copied back in full and synced.
fn checkpoint() -> Step {
    step("checkpoint", |_, path| {
        let c = common::raw_connection(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        let (busy, log, done): (i64, i64, i64) =
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        if busy != 0 || log != done {
            return Err(Error::internal(format!(
                "partial checkpoint {busy} {log} {done}"
            )));
        }
        Ok(vec![])
    })
}

/// The main workload's template: groups, in and out messages, group and C2C.
/// With `checkpoints`, a second connection checkpoints now and then.
fn main_work(dir: &Path, checkpoints: bool) -> Work {
    let template = dir.join("template.db");
    let s = common::open_store(&template, OWNER).unwrap();
    let mut team: Vec<Member> = ["alice", "bob", "carol", "dave"].map(Member::new).to_vec();
    team.extend(user_ids(30).into_iter().map(Member::new));
    s.set_group("team", GroupType::Work, &team).unwrap();
    s.set_group(
        "club",
        GroupType::Work,
        &["alice", "bob", "erin"].map(Member::new),
    )
    .unwrap();
    let mut msgs = Vec::new();
    for i in 0..40 {
        msgs.push(msg(format!("gi{i}"), "bob", "team", true, i as i64 + 1));
    }
    for i in 0..20 {
        msgs.push(msg(format!("ci{i}"), "bob", OWNER, false, i as i64 + 1));
        msgs.push(msg(format!("go{i}"), OWNER, "team", true, 100 + i as i64));
        msgs.push(msg(format!("co{i}"), OWNER, "bob", false, 100 + i as i64));
    }
    s.save_messages(&msgs).unwrap();
    drop(s);

    let mut steps = vec![];
    for r in 0..4usize {
        let ri = r as i64;
        steps.push(send(ids("gi", 5 * r..5 * r + 5)));
        let (go, readers) = (
            format!("go{}", 4 * r),
            vec!["carol".into(), "dave".into(), format!("u{:03}", 20 + r)],
        );
        steps.push(step("applyReceiptNotifications", move |s, _| {
            s.apply_receipt_notifications(&[ReceiptNotification {
                message_id: go.clone(),
                group_id: Some("team".into()),
                reader_ids: Some(readers.clone()),
                ..Default::default()
            }])?;
            Ok(vec![Check::Readers(go.clone(), readers.clone(), 3)])
        }));
        steps.push(set_read("GROUPteam", 10 + 5 * ri));
        steps.push(
            step("ackReadReports", move |s, _| {
                let upto = 10 + 5 * ri;
                s.ack_read_reports(&[ReadReport {
                    conversation_id: "GROUPteam".into(),
                    read_sequence: upto,
                    read_time: None,
                    private: false,
                }])?;
                Ok(vec![Check::ReportCleared("GROUPteam".into(), upto)])
            })
            .undoes(vec![Check::ReportCleared("GROUPteam".into(), 10 + 5 * ri)]),
        );
        steps.push(
            step("applySnapshot", move |s, _| {
                let readers: Vec<String> =
                    (3 + 3 * r..6 + 3 * r).map(|u| format!("u{u:03}")).collect();
                let gos = ids("go", 4 * r + 1..4 * r + 4);
                let seq = 12 + 5 * ri;
                s.apply_snapshot(&Snapshot {
                    conversation_id: "GROUPteam".into(),
                    receipts: gos
                        .iter()
                        .map(|id| SnapshotReceipt {
                            message_id: id.clone(),
                            read_count: Some(3 + r as u64),
                            reader_ids: Some(readers.clone()),
                            ..Default::default()
                        })
                        .collect(),
                    read_sequence: Some(seq),
                    ..Default::default()
                })?;
                let mut c: Vec<Check> = gos
                    .iter()
                    .map(|id| Check::Readers(id.clone(), readers.clone(), 3 + r as u64))
                    .collect();
                c.push(Check::ReadSeq("GROUPteam".into(), seq));
                c.push(Check::ReportCleared("GROUPteam".into(), seq));
                Ok(c)
            })
            .undoes(vec![Check::ReportCleared("GROUPteam".into(), 12 + 5 * ri)]),
        );
        steps.push(ack_receipts());
        steps.push(step("addGroupMembers", move |s, _| {
            let m = Member {
                user_id: format!("newbie{r}"),
                join_time: Some(1105),
            };
            s.add_group_members("team", std::slice::from_ref(&m))?;
            Ok(vec![Check::Member("team".into(), m.user_id, true)])
        }));
        steps.push(send(ids("ci", 5 * r..5 * r + 5)));
        if checkpoints {
            steps.push(checkpoint());
        }
        steps.push(
            step("removeGroupMembers", move |s, _| {
                let gone = format!("u{:03}", 29 - r);
                s.remove_group_members("team", std::slice::from_ref(&gone))?;
                Ok(vec![Check::Member("team".into(), gone, false)])
            })
            .undoes(vec![Check::Member(
                "team".into(),
                format!("u{:03}", 29 - r),
                false,
            )]),
        );
        steps.push(set_read("C2Cbob", 4 + 6 * ri));
        steps.push(
            step("applyReadReports", move |s, _| {
                let (read, peer) = (6 + 6 * ri, 101 + 2 * ri);
                s.apply_read_reports(&[PushedReadReport {
                    conversation_id: "C2Cbob".into(),
                    read_sequence: Some(read),
                    peer_read_sequence: Some(peer),
                    ..Default::default()
                }])?;
                let mut c = vec![
                    Check::ReadSeq("C2Cbob".into(), read),
                    Check::PeerSeq("C2Cbob".into(), peer),
                    Check::ReportCleared("C2Cbob".into(), read),
                ];
                c.extend(ids("co", 0..2 + 2 * r).into_iter().map(Check::PeerRead));
                Ok(c)
            })
            .undoes(vec![Check::ReportCleared("C2Cbob".into(), 6 + 6 * ri)]),
        );
        steps.push(step("applyReceiptNotifications", move |s, _| {
            let cos = ids("co", 5 + 2 * r..7 + 2 * r);
            let notes: Vec<ReceiptNotification> = cos
                .iter()
                .map(|id| ReceiptNotification {
                    message_id: id.clone(),
                    user_id: Some("bob".into()),
                    ..Default::default()
                })
                .collect();
            s.apply_receipt_notifications(&notes)?;
            Ok(cos.into_iter().map(Check::ReceiptPeerRead).collect())
        }));
        let old = if r == 0 {
            "erin".to_string()
        } else {
            format!("y{}", r - 1)
        };
        let club = vec![
            Check::Member("club".into(), format!("y{r}"), true),
            Check::Member("club".into(), old, false),
        ];
        steps.push(
            step("setGroup", {
                let club = club.clone();
                move |s, _| {
                    let members = [
                        Member::new("alice"),
                        Member::new("bob"),
                        Member::new(format!("y{r}")),
                    ];
                    s.set_group("club", GroupType::Work, &members)?;
                    Ok(club.clone())
                }
            })
            .undoes(club),
        );
        steps.push(step("applySnapshot", move |s, _| {
            let news: Vec<IncomingMessage> = (0..2)
                .map(|k| {
                    msg(
                        format!("ci{}", 20 + 2 * r + k),
                        "bob",
                        OWNER,
                        false,
                        21 + 2 * ri + k as i64,
                    )
                })
                .collect();
            let co = format!("co{}", 13 + r);
            s.apply_snapshot(&Snapshot {
                conversation_id: "C2Cbob".into(),
                messages: news.clone(),
                receipts: vec![SnapshotReceipt {
                    message_id: co.clone(),
                    is_peer_read: Some(true),
                    ..Default::default()
                }],
                ..Default::default()
            })?;
            let mut c: Vec<Check> = news.into_iter().map(|m| Check::Held(m.id)).collect();
            c.push(Check::ReceiptPeerRead(co));
            Ok(c)
        }));
        if checkpoints && r % 2 == 1 {
            steps.push(checkpoint());
        }
    }
    Work {
        template,
        open_checks: vec![],
        always: vec![
            Check::Held("gi39".into()),
            Check::Held("co19".into()),
            Check::Member("team".into(), "u000".into(), true),
        ],
        steps,
    }
}

/// The upgrade: the committed schema-1 fixture, opened (the migration runs
/// under the cuts), then a few calls on the upgraded store.
fn upgrade_work(dir: &Path) -> Work {
    let template = dir.join("v1.db");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1.db"),
        &template,
    )
    .unwrap();
    common::encrypt_if_keyed(&template, OWNER);
    let mut always: Vec<Check> = [
        "b1", "b2", "b3", "b4", "b5", "a1", "a2", "g1", "g2", "g3", "g4", "g5", "t1",
    ]
    .map(|id| Check::Held(id.into()))
    .to_vec();
    always.extend(["g3", "g4", "b1", "b3"].map(|id| Check::Sent(id.into(), false)));
    always.push(Check::Readers("g2".into(), vec!["carol".into()], 2));
    always.push(Check::ReadSeq("C2Cbob".into(), 3));
    always.push(Check::Unread("C2Cbob".into(), 2));
    always.push(Check::Unread("GROUPtown".into(), 1));
    let steps = vec![
        send(ids("b", 4..6)),
        step("applyReceiptNotifications", |s, _| {
            s.apply_receipt_notifications(&[ReceiptNotification {
                message_id: "g1".into(),
                group_id: Some("team".into()),
                reader_ids: Some(vec!["carol".into()]),
                ..Default::default()
            }])?;
            Ok(vec![Check::Readers(
                "g1".into(),
                vec!["bob".into(), "carol".into()],
                2,
            )])
        }),
        step("saveMessages", |s, _| {
            let mut m = msg("later1".into(), OWNER, "team", true, 7);
            m.time = 700;
            s.save_messages(&[m])?;
            Ok(vec![
                Check::Held("later1".into()),
                Check::Readers("later1".into(), vec!["bob".into(), "carol".into()], 2),
            ])
        }),
        set_read("GROUPteam", 5),
        ack_receipts(),
        step("addGroupMembers", |s, _| {
            s.add_group_members("team", &[Member::new("erin")])?;
            Ok(vec![Check::Member("team".into(), "erin".into(), true)])
        }),
    ];
    Work {
        template,
        open_checks: vec![Check::Schema],
        always,
        steps,
    }
}

fn opts(d: Durability) -> OpenOptions {
    common::keyed(OpenOptions::new().durability(d))
}

fn sidecar(path: &Path, ext: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(ext);
    PathBuf::from(p)
}

/// Copies the template to `dir/store.db` and runs the workload with the
/// layer armed. With `retry`, a call that fails from an injected fault is
/// retried once on the same store and must then succeed.
fn run(work: &Work, dir: &Path, plan: Plan, d: Durability, retry: bool) -> Outcome {
    let path = dir.join("store.db");
    for ext in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(sidecar(&path, ext));
    }
    std::fs::copy(&work.template, &path).unwrap();
    crash_vfs::arm(plan);
    let mut out = Outcome::default();
    let store = std::cell::RefCell::new(None);
    let opened = attempt(&mut out, retry, "open", &|| {
        *store.borrow_mut() = Some(Store::open_with(&path, OWNER, opts(d))?);
        Ok(work.open_checks.clone())
    });
    let store = store.into_inner();
    match (opened, store) {
        (Some(c), Some(store)) => {
            out.acked.push(("open", c));
            for st in &work.steps {
                let checks = attempt(&mut out, retry, st.path, &|| (st.call)(&store, &path));
                let returned = checks.is_some();
                if let Some(c) = checks {
                    if st.path == "checkpoint" {
                        out.checkpointed = out.acked.len();
                    } else {
                        out.acked.push((st.path, c));
                    }
                }
                if crash_vfs::was_cut() {
                    out.cut_in = Some(st.path);
                    if !returned {
                        out.in_flight = st.undoes.clone();
                    }
                    break;
                }
            }
            drop(store);
            if crash_vfs::was_cut() && out.cut_in.is_none() {
                out.cut_in = Some("close");
            }
        }
        _ => out.cut_in = Some("open"),
    }
    out
}

/// Runs one call; with `retry`, once more if an injected fault failed it
/// (it must then succeed: the same store is usable once the fault clears).
fn attempt(
    out: &mut Outcome,
    retry: bool,
    what: &'static str,
    f: &dyn Fn() -> receiptdb::Result<Vec<Check>>,
) -> Option<Vec<Check>> {
    let fired = crash_vfs::fired();
    match f() {
        Ok(c) => Some(c),
        Err(_) if crash_vfs::was_cut() => None,
        Err(e) if retry && crash_vfs::fired() > fired => {
            out.errors.push((what, e.name(), e.to_string()));
            match f() {
                Ok(c) => Some(c),
                Err(_) if crash_vfs::was_cut() => None,
                Err(e2) => {
                    panic!("{what}: still failing after the fault cleared: {e2} (first: {e})")
                }
            }
        }
        Err(e) => panic!("{what} failed without a cut or fault: {} {e}", e.name()),
    }
}

/// Cuts the power, reopens with the plain VFS and checks every
/// acknowledged call and the durable facts.
fn verify(work: &Work, dir: &Path, out: &Outcome, d: Durability, seed: u64) -> (Verdict, CutStats) {
    crash_vfs::cut_now();
    let cut = crash_vfs::power_cut(seed);
    let path = dir.join("store.db");
    let mut v = Verdict::default();
    let schema = common::raw_connection(&path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .and_then(|c| c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)));
    let store = match Store::open_with(&path, OWNER, opts(d)) {
        Ok(s) => s,
        Err(e) => {
            v.corrupt = Some(format!("reopen: {} {e}", e.name()));
            return (v, cut);
        }
    };
    let db = common::raw_connection(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    for (i, (what, checks)) in out.acked.iter().enumerate() {
        // What later calls did: the acknowledged ones, and the one the cut
        // came in, which may have committed or not.
        let mut later: Vec<&Check> = out.acked[i + 1..].iter().flat_map(|a| &a.1).collect();
        later.extend(&out.in_flight);
        for c in checks {
            let ok = if matches!(c, Check::Schema) {
                matches!(schema, Ok(n) if n == receiptdb::SCHEMA_VERSION)
            } else {
                holds(c, &store, &db, &later).unwrap_or(false)
            };
            if !ok {
                v.lost.push((i, format!("{what}: {c:?}")));
            }
        }
    }
    for c in &work.always {
        if !holds(c, &store, &db, &[]).unwrap_or(false) {
            v.lost.push((0, format!("durable before the run: {c:?}")));
        }
    }
    drop(db);
    match store.verify() {
        Ok(r) if r.is_ok() => {}
        r => v.corrupt = Some(format!("the deep check: {r:?}")),
    }
    drop(store);
    match receiptdb::check_file_with_key(&path, Some(OWNER), common::test_key().as_deref()) {
        Ok(r) if r == ["ok"] => {}
        r => v.corrupt = Some(format!("check_file: {r:?}")),
    }
    (v, cut)
}

fn holds(c: &Check, s: &Store, db: &Connection, later: &[&Check]) -> receiptdb::Result<bool> {
    let find = |id: &str| s.find_message(id);
    Ok(match c {
        Check::Sent(id, acked) => {
            let st = find(id)?.and_then(|m| m.receipt_sent_state);
            st == Some(ReceiptSentState::Acked) || (!acked && st == Some(ReceiptSentState::Pending))
        }
        Check::Readers(id, users, count) => {
            let info = find(id)?.and_then(|m| m.read_receipt_info);
            let page = s.get_group_message_read_member_list(id, MemberFilter::Read, "", 100)?;
            let list = page.read_user_id_list.unwrap_or_default();
            info.is_some_and(|i| i.read_count >= *count) && users.iter().all(|u| list.contains(u))
        }
        Check::ReceiptPeerRead(id) => find(id)?
            .and_then(|m| m.read_receipt_info)
            .is_some_and(|i| i.is_peer_read),
        Check::PeerRead(id) => find(id)?.is_some_and(|m| m.is_peer_read),
        Check::ReadSeq(conv, seq) => s.get_conversation(conv)?.read_sequence >= *seq,
        Check::PeerSeq(conv, seq) => s.get_conversation(conv)?.peer_read_sequence >= Some(*seq),
        Check::Report(conv, seq) => {
            let cleared = later
                .iter()
                .any(|l| matches!(l, Check::ReportCleared(c2, upto) if c2 == conv && upto >= seq));
            cleared
                || s.get_pending_read_reports()?
                    .iter()
                    .any(|r| &r.conversation_id == conv && r.read_sequence >= *seq)
        }
        Check::ReportCleared(conv, upto) => !s
            .get_pending_read_reports()?
            .iter()
            .any(|r| &r.conversation_id == conv && r.read_sequence <= *upto),
        Check::Member(group, user, present) => {
            let n: i64 = db
                .query_row(
                    "SELECT count(*) FROM members WHERE group_id = ?1 AND user_id = ?2",
                    [group, user],
                    |r| r.get(0),
                )
                .map_err(Error::from)?;
            let undone = later.iter().any(
                |l| matches!(l, Check::Member(g, u, p) if g == group && u == user && p != present),
            );
            (n == 1) == *present || undone
        }
        Check::Held(id) => find(id)?.is_some(),
        Check::Unread(conv, n) => s.get_conversation(conv)?.unread_count == *n,
        Check::Schema => true,
    })
}

/// Results over many cut points.
#[derive(Default)]
struct Tally {
    runs: usize,
    corrupt: Vec<String>,
    /// Per run: how many of the last acknowledged calls were lost.
    lost: Vec<usize>,
    first_losses: Vec<String>,
    /// Losses of calls acknowledged before a full checkpoint that completed.
    checkpointed_lost: Vec<String>,
    cut_in: BTreeMap<&'static str, usize>,
    /// I/O calls of the run without a cut.
    ops: u64,
    /// Acknowledged calls checked, over all runs.
    checked: usize,
    /// Unsynced regions the cuts kept, reverted, tore.
    regions: [u64; 3],
    errors: BTreeMap<(&'static str, &'static str), usize>,
}

impl Tally {
    fn lost_runs(&self) -> usize {
        self.lost.iter().filter(|n| **n > 0).count()
    }
    fn summary(&self, name: &str) -> String {
        let max = self.lost.iter().max().copied().unwrap_or(0);
        let mean = self.lost.iter().sum::<usize>() as f64 / self.lost.len().max(1) as f64;
        let mut hist = BTreeMap::<usize, usize>::new();
        for n in &self.lost {
            *hist.entry(*n).or_default() += 1;
        }
        format!(
            "{name}: {} cuts over {} I/O calls, {} acknowledged calls checked, {} corrupt, \
             {} runs lost calls (max {max}, mean {mean:.2} of the last acknowledged calls; \
             runs by calls lost {hist:?}); regions kept/reverted/torn {:?}; cut in {:?}",
            self.runs,
            self.ops,
            self.checked,
            self.corrupt.len(),
            self.lost_runs(),
            self.regions,
            self.cut_in
        )
    }
}

/// Runs the workload once without a cut (every check must hold, and the
/// I/O calls are counted), then `cuts` times with cut points spread over
/// that count (or, with `fault`, with the fault injected there).
fn sweep(
    work: &Work,
    d: Durability,
    cuts: u64,
    lying: bool,
    fault: Option<Fault>,
    seed: u64,
) -> Tally {
    let dir = common::temp_dir();
    let clean = Plan {
        cut_after: None,
        lying_sync: false,
        fault: None,
    };
    let out = run(work, dir.path(), clean, d, false);
    let total = crash_vfs::ops();
    assert!(total > 50, "the workload does I/O ({total} calls)");
    assert_eq!(
        out.acked.len(),
        work.steps.iter().filter(|s| s.path != "checkpoint").count() + 1
    );
    let (v, _) = verify(work, dir.path(), &out, d, seed);
    assert!(
        v.corrupt.is_none() && v.lost.is_empty(),
        "a run without a cut fails its checks: {:?} {:?}",
        v.corrupt,
        v.lost
    );
    let mut t = Tally {
        ops: total,
        ..Tally::default()
    };
    for k in 0..cuts {
        let at = k * total / (cuts - 1).max(1);
        let plan = match fault {
            None => Plan {
                cut_after: Some(at),
                lying_sync: lying,
                fault: None,
            },
            // Half the runs cut the power soon after the fault (what a
            // failed write or sync left unsynced is then at stake), half
            // close cleanly first.
            Some(f) => Plan {
                cut_after: (k % 2 == 0).then_some(at + 3 + k * 7 % 40),
                lying_sync: false,
                fault: Some((f, at)),
            },
        };
        let out = run(work, dir.path(), plan, d, fault.is_some());
        let (v, cut) = verify(
            work,
            dir.path(),
            &out,
            d,
            seed ^ (k + 1).wrapping_mul(0x2545_F491_4F6C_DD1D),
        );
        t.runs += 1;
        t.checked += out.acked.len();
        for (sum, n) in t.regions.iter_mut().zip([cut.kept, cut.reverted, cut.torn]) {
            *sum += n;
        }
        *t.cut_in
            .entry(out.cut_in.unwrap_or("after the run"))
            .or_default() += 1;
        for e in &out.errors {
            *t.errors.entry((e.0, e.1)).or_default() += 1;
            if t.errors.len() <= 3 && t.errors[&(e.0, e.1)] == 1 {
                println!("  {fault:?} at {at}: {} -> {} ({})", e.0, e.1, e.2);
            }
        }
        if let Some(c) = &v.corrupt {
            t.corrupt.push(format!("cut after {at}: {c}"));
        }
        if let Some(l) = v.lost.iter().find(|l| l.0 < out.checkpointed) {
            t.checkpointed_lost.push(format!(
                "cut after {at}: {l:?} (checkpoint after call {})",
                out.checkpointed
            ));
        }
        let lost = v.lost_calls(out.acked.len());
        if lost > 0 && t.first_losses.len() < 3 {
            t.first_losses.push(format!(
                "cut after {at} (in {:?}): {:?}",
                out.cut_in,
                &v.lost[..v.lost.len().min(3)]
            ));
        }
        t.lost.push(lost);
    }
    t
}

const WRITE_PATHS: [&str; 11] = [
    "sendMessageReadReceipt",
    "applyReceiptNotifications",
    "applySnapshot",
    "setMessageRead",
    "applyReadReports",
    "ackReadReports",
    "ackReceipts",
    "setGroup",
    "addGroupMembers",
    "removeGroupMembers",
    "checkpoint",
];

#[test]
fn full_durability_loses_nothing_over_600_cuts() {
    let _g = crash_vfs::serial();
    let t0 = Instant::now();
    let dir = common::temp_dir();
    let work = main_work(dir.path(), true);
    let t = sweep(&work, Durability::Full, 600, false, None, 0xF011);
    println!("{} [{:.1?}]", t.summary("Full"), t0.elapsed());
    assert!(t.corrupt.is_empty(), "corrupt under Full: {:?}", t.corrupt);
    assert_eq!(
        t.lost_runs(),
        0,
        "acknowledged calls lost under Full: {:?}",
        t.first_losses
    );
    for p in WRITE_PATHS {
        assert!(
            t.cut_in.get(p).copied().unwrap_or(0) >= 3,
            "few cuts in {p}: {:?}",
            t.cut_in
        );
    }
}

#[test]
fn full_durability_upgrade_from_v1_survives_cuts() {
    let _g = crash_vfs::serial();
    let t0 = Instant::now();
    let dir = common::temp_dir();
    let work = upgrade_work(dir.path());
    let t = sweep(&work, Durability::Full, 150, false, None, 0x0916);
    println!(
        "{} [{:.1?}]",
        t.summary("Full, upgrade from v1"),
        t0.elapsed()
    );
    assert!(
        t.corrupt.is_empty(),
        "corrupt upgrade under Full: {:?}",
        t.corrupt
    );
    assert_eq!(
        t.lost_runs(),
        0,
        "lost in the upgrade under Full: {:?}",
        t.first_losses
    );
    assert!(
        t.cut_in.get("open").copied().unwrap_or(0) >= 10,
        "cuts in the migration: {:?}",
        t.cut_in
    );
}

/// Normal: never corrupt, and nothing acknowledged before a checkpoint that
/// completed is lost (the WAL is synced only by a checkpoint); what a cut
/// loses is measured and printed, with checkpoints now and then and with
/// none but SQLite's automatic one (every 1,000 WAL pages).
#[test]
fn normal_durability_is_never_corrupt_and_loses_only_what_no_checkpoint_synced() {
    let _g = crash_vfs::serial();
    let dir = common::temp_dir();
    for (name, checkpoints, cuts) in [
        ("Normal, a checkpoint every ~13 calls", true, 300),
        ("Normal, automatic checkpoints only", false, 150),
    ] {
        let t0 = Instant::now();
        let work = main_work(dir.path(), checkpoints);
        let t = sweep(&work, Durability::Normal, cuts, false, None, 0x404A);
        println!("{} [{:.1?}]", t.summary(name), t0.elapsed());
        for l in &t.first_losses {
            println!("  e.g. {l}");
        }
        assert!(
            t.corrupt.is_empty(),
            "corrupt under {name}: {:?}",
            t.corrupt
        );
        assert!(
            t.checkpointed_lost.is_empty(),
            "{name}: lost a checkpointed call: {:?}",
            t.checkpointed_lost
        );
    }
}

#[test]
fn controls_unsafe_off_and_a_lying_fsync_lose_acknowledged_calls() {
    let _g = crash_vfs::serial();
    let dir = common::temp_dir();
    let work = main_work(dir.path(), true);
    for (name, d, lying) in [
        ("UnsafeOff", Durability::UnsafeOff, false),
        ("Full with a lying xSync", Durability::Full, true),
    ] {
        let t0 = Instant::now();
        let t = sweep(&work, d, 60, lying, None, 0xC0DE);
        println!("{} [{:.1?}]", t.summary(name), t0.elapsed());
        for l in &t.first_losses {
            println!("  e.g. {l}");
        }
        assert!(
            t.lost_runs() > 0 || !t.corrupt.is_empty(),
            "{name}: the harness saw no loss"
        );
        assert!(t.lost_runs() > 0, "{name}: no acknowledged call lost");
    }
}

#[test]
fn injected_io_errors_are_clear_lose_nothing_and_the_store_recovers() {
    let _g = crash_vfs::serial();
    let dir = common::temp_dir();
    let work = main_work(dir.path(), true);
    for (fault, names) in [
        (Fault::Enospc, &["STORAGE_FULL"][..]),
        (Fault::WriteEio, &["IO_ERROR"][..]),
        (Fault::SyncEio, &["IO_ERROR"][..]),
    ] {
        let t0 = Instant::now();
        let t = sweep(&work, Durability::Full, 60, false, Some(fault), 0xE10);
        println!(
            "{} [{:.1?}]; errors {:?}",
            t.summary(&format!("{fault:?}")),
            t0.elapsed(),
            t.errors
        );
        assert!(t.corrupt.is_empty(), "{fault:?}: corrupt: {:?}", t.corrupt);
        assert_eq!(t.lost_runs(), 0, "{fault:?}: lost: {:?}", t.first_losses);
        let calls: usize = t.errors.values().sum();
        assert!(calls >= 10, "{fault:?}: only {calls} calls saw the fault");
        for (path, name) in t.errors.keys() {
            assert!(
                names.contains(name),
                "{fault:?} in {path}: {name}, expected one of {names:?}"
            );
        }
    }
}
