//! Receipt config, groups and members (the audience rule of PROTOCOL.md, Audience is
//! counted in [`super::unread`]).

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};

use super::unread;
use crate::error::{Error, Result};
use crate::model::{
    check_id, ConversationType, GroupType, Member, ReceiptConfig, ReceiptConfigPatch,
};
use crate::storage::db::{Db, Tx};
use crate::storage::meta;
use crate::storage::rows::group_type_of;

/// Most members accepted in one call.
pub const MAX_MEMBERS_PER_CALL: usize = 200_000;

/// Sets the receipt switch and the group types with group receipts.
/// Enabling `Community` or `AVChatRoom` fails with `UNSUPPORTED_GROUP_TYPE`.
pub(crate) fn set_receipt_config(db: &Db, config: &ReceiptConfig) -> Result<()> {
    update_receipt_config(
        db,
        &ReceiptConfigPatch {
            enabled: Some(config.enabled),
            group_types: Some(config.group_types.clone()),
            delivery_receipts: Some(config.delivery_receipts),
            private_reading: Some(config.private_reading),
        },
    )?;
    Ok(())
}

/// Changes the given fields of the receipt config and keeps the others,
/// reading and writing in one write transaction (so two processes
/// changing different fields lose neither change). Returns the new config.
pub(crate) fn update_receipt_config(db: &Db, patch: &ReceiptConfigPatch) -> Result<ReceiptConfig> {
    if let Some(t) = patch
        .group_types
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .find(|t| !t.supports_receipts())
    {
        return Err(Error::UnsupportedGroupType(t.as_str().into()));
    }
    db.write(|tx| {
        let cur = meta::receipt_config(tx.conn)?;
        let mut types = patch.group_types.clone().unwrap_or(cur.group_types);
        types.sort_by_key(|t| t.as_str());
        types.dedup();
        let next = ReceiptConfig {
            enabled: patch.enabled.unwrap_or(cur.enabled),
            group_types: types,
            delivery_receipts: patch.delivery_receipts.unwrap_or(cur.delivery_receipts),
            private_reading: patch.private_reading.unwrap_or(cur.private_reading),
        };
        meta::set_receipt_config(tx.conn, &next)?;
        Ok(next)
    })
}

/// The current receipt config (default: enabled; Work, Public, Meeting).
pub(crate) fn get_receipt_config(db: &Db) -> Result<ReceiptConfig> {
    db.read(meta::receipt_config)
}

/// Creates or replaces a group and its whole member list.
pub(crate) fn set_group(
    db: &Db,
    group_id: &str,
    group_type: GroupType,
    members: &[Member],
) -> Result<()> {
    check_id("groupID", group_id)?;
    let wanted = member_map(members)?;
    db.write(|tx| {
        let known = group_type_of(tx.conn, group_id)?.is_some();
        tx.conn.execute(
            "INSERT INTO groups(group_id, group_type) VALUES (?1, ?2)
             ON CONFLICT(group_id) DO UPDATE SET group_type = excluded.group_type",
            params![group_id, group_type],
        )?;
        let old = current_members(tx.conn, group_id)?;
        let mut changes = Vec::new();
        for (u, jt) in &old {
            if wanted.get(u) != Some(jt) {
                changes.push((u.clone(), Some(*jt), wanted.get(u).copied()));
            }
        }
        for (u, jt) in &wanted {
            if !old.contains_key(u) {
                changes.push((u.clone(), None, Some(*jt)));
            }
        }
        change_members(tx, group_id, changes, known)
    })
}

/// Adds members (or updates their join time) to a known group.
pub(crate) fn add_group_members(db: &Db, group_id: &str, members: &[Member]) -> Result<()> {
    check_id("groupID", group_id)?;
    let wanted = member_map(members)?;
    db.write(|tx| {
        require_group(tx.conn, group_id)?;
        let mut st = tx
            .conn
            .prepare_cached("SELECT join_time FROM members WHERE group_id = ?1 AND user_id = ?2")?;
        let mut changes = Vec::new();
        for (u, jt) in &wanted {
            let old: Option<Option<i64>> = st
                .query_row(params![group_id, u], |r| r.get(0))
                .optional()?;
            if old != Some(*jt) {
                changes.push((u.clone(), old, Some(*jt)));
            }
        }
        drop(st);
        change_members(tx, group_id, changes, true)
    })
}

/// Removes members from a known group; unknown user IDs are ignored.
pub(crate) fn remove_group_members(db: &Db, group_id: &str, user_ids: &[String]) -> Result<()> {
    check_id("groupID", group_id)?;
    if user_ids.len() > MAX_MEMBERS_PER_CALL {
        return Err(Error::invalid(format!(
            "at most {MAX_MEMBERS_PER_CALL} userIDs a call"
        )));
    }
    for u in user_ids {
        check_id("userID", u)?;
    }
    db.write(|tx| {
        require_group(tx.conn, group_id)?;
        let mut st = tx
            .conn
            .prepare_cached("SELECT join_time FROM members WHERE group_id = ?1 AND user_id = ?2")?;
        let mut changes = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for u in user_ids {
            if !seen.insert(u.as_str()) {
                continue;
            }
            if let Some(jt) = st
                .query_row(params![group_id, u], |r| r.get::<_, Option<i64>>(0))
                .optional()?
            {
                changes.push((u.clone(), Some(jt), None));
            }
        }
        drop(st);
        change_members(tx, group_id, changes, true)
    })
}

/// Fails unless receipts could apply in this conversation under the config.
/// Unknown groups pass: their type is not known yet.
pub(crate) fn check_receipts_allowed(
    conn: &Connection,
    ctype: ConversationType,
    target: &str,
) -> Result<()> {
    let cfg = meta::receipt_config(conn)?;
    if !cfg.enabled {
        return Err(Error::ReceiptsDisabled(
            "read receipts are switched off".into(),
        ));
    }
    if ctype == ConversationType::Group {
        if let Some(t) = group_type_of(conn, target)? {
            if !t.supports_receipts() {
                return Err(Error::UnsupportedGroupType(t.as_str().into()));
            }
            if !cfg.group_types.contains(&t) {
                return Err(Error::ReceiptsDisabled(format!(
                    "group type {} is not enabled",
                    t.as_str()
                )));
            }
        }
    }
    Ok(())
}

fn require_group(conn: &Connection, group_id: &str) -> Result<()> {
    if group_type_of(conn, group_id)?.is_none() {
        return Err(Error::invalid(format!(
            "unknown group {group_id:?}: call setGroup first"
        )));
    }
    Ok(())
}

fn member_map(members: &[Member]) -> Result<BTreeMap<String, Option<i64>>> {
    if members.len() > MAX_MEMBERS_PER_CALL {
        return Err(Error::invalid(format!(
            "at most {MAX_MEMBERS_PER_CALL} members a call"
        )));
    }
    let mut m = BTreeMap::new();
    for mem in members {
        check_id("userID", &mem.user_id)?;
        m.insert(mem.user_id.clone(), mem.join_time);
    }
    Ok(m)
}

fn current_members(conn: &Connection, group_id: &str) -> Result<BTreeMap<String, Option<i64>>> {
    let mut st =
        conn.prepare_cached("SELECT user_id, join_time FROM members WHERE group_id = ?1")?;
    let rows = st.query_map(params![group_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let mut m = BTreeMap::new();
    for row in rows {
        let (u, jt) = row?;
        m.insert(u, jt);
    }
    Ok(m)
}

/// One member's change: user, join time before, join time after (`None`:
/// not a member; `Some(None)`: a member since the beginning).
type Change = (String, Option<Option<i64>>, Option<Option<i64>>);

/// Writes a membership delta to the member rows (each change: user, join
/// time before, join time after; `None` not a member), then keeps the counts
/// and lists of the group's messages in step. A member who leaves (or whose
/// join time changes) is kept as a former member with the earliest join
/// time, so the messages they read keep them in their audience (PROTOCOL.md, Audience).
fn change_members(
    tx: &mut Tx<'_>,
    group_id: &str,
    changes: Vec<Change>,
    incremental: bool,
) -> Result<()> {
    let mut out = Vec::with_capacity(changes.len());
    {
        let mut former = tx.conn.prepare_cached(
            "SELECT join_time FROM former_members WHERE group_id = ?1 AND user_id = ?2",
        )?;
        let mut del = tx
            .conn
            .prepare_cached("DELETE FROM members WHERE group_id = ?1 AND user_id = ?2")?;
        let mut ins = tx.conn.prepare_cached(
            "INSERT INTO members(group_id, user_id, join_time) VALUES (?1, ?2, ?3)
             ON CONFLICT(group_id, user_id) DO UPDATE SET join_time = excluded.join_time",
        )?;
        let mut keep = tx.conn.prepare_cached(
            "INSERT INTO former_members(group_id, user_id, join_time) VALUES (?1, ?2, ?3)
             ON CONFLICT(group_id, user_id) DO UPDATE SET join_time =
                CASE WHEN join_time IS NULL OR excluded.join_time IS NULL THEN NULL
                     ELSE MIN(join_time, excluded.join_time) END",
        )?;
        for (u, before, after) in changes {
            let was: Option<Option<i64>> = former
                .query_row(params![group_id, u], |r| r.get(0))
                .optional()?;
            match after {
                None => del.execute(params![group_id, u])?,
                Some(jt) => ins.execute(params![group_id, u, jt])?,
            };
            if let Some(jt) = before {
                keep.execute(params![group_id, u, jt])?;
            }
            out.push(unread::MemberChange {
                user: u,
                before,
                after,
                former: was,
            });
        }
    }
    unread::members_changed(tx, group_id, &out, incremental)
}
