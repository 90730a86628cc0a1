//! Receipt config, groups and members, and the audience rule of SPEC §1.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};
use crate::model::{check_id, conversation_id, ConversationType, GroupType, Member, ReceiptConfig};
use crate::store::{Store, Tx};

/// Moves the local unread estimate of a group's messages by ±1 for one member.
pub(crate) const MEMBER_DELTA: &str = "UPDATE receipts SET local_unread = local_unread + ?4
     WHERE local_unread IS NOT NULL
       AND rid IN (SELECT rid FROM messages
                   WHERE conversation_id = ?1 AND is_out = 1 AND need_receipt = 1
                     AND sender <> ?2 AND (?3 IS NULL OR ?3 <= time))
       AND NOT EXISTS (SELECT 1 FROM readers r WHERE r.rid = receipts.rid AND r.user_id = ?2)";

/// Most members accepted in one call.
pub const MAX_MEMBERS_PER_CALL: usize = 200_000;

impl Store {
    /// Sets the receipt switch and the group types with group receipts.
    /// Enabling `Community` or `AVChatRoom` fails with `UNSUPPORTED_GROUP_TYPE`.
    pub fn set_receipt_config(&self, config: &ReceiptConfig) -> Result<()> {
        self.update_receipt_config(Some(config.enabled), Some(&config.group_types))?;
        Ok(())
    }

    /// Changes the given fields of the receipt config and keeps the others,
    /// reading and writing in one write transaction (so two processes
    /// changing different fields lose neither change). Returns the new config.
    pub fn update_receipt_config(
        &self,
        enabled: Option<bool>,
        group_types: Option<&[GroupType]>,
    ) -> Result<ReceiptConfig> {
        if let Some(t) = group_types
            .unwrap_or(&[])
            .iter()
            .find(|t| !t.supports_receipts())
        {
            return Err(Error::UnsupportedGroupType(t.as_str().into()));
        }
        self.write(|tx| {
            let cur = load_config(tx.conn)?;
            let mut types = group_types.map_or(cur.group_types, <[GroupType]>::to_vec);
            types.sort_by_key(|t| t.as_str());
            types.dedup();
            let next = ReceiptConfig {
                enabled: enabled.unwrap_or(cur.enabled),
                group_types: types,
            };
            let json = serde_json::to_string(&next).map_err(|e| Error::Sqlite(e.to_string()))?;
            tx.conn.execute(
                "INSERT INTO meta(key, value) VALUES ('receipt_config', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![json],
            )?;
            Ok(next)
        })
    }

    /// The current receipt config (default: enabled; Work, Public, Meeting).
    pub fn get_receipt_config(&self) -> Result<ReceiptConfig> {
        self.read(load_config)
    }

    /// Creates or replaces a group and its whole member list.
    pub fn set_group(
        &self,
        group_id: &str,
        group_type: GroupType,
        members: &[Member],
    ) -> Result<()> {
        check_id("groupID", group_id)?;
        let wanted = member_map(members)?;
        self.write(|tx| {
            let known = group_type_of(tx.conn, group_id)?.is_some();
            tx.conn.execute(
                "INSERT INTO groups(group_id, group_type) VALUES (?1, ?2)
                 ON CONFLICT(group_id) DO UPDATE SET group_type = excluded.group_type",
                params![group_id, group_type.as_str()],
            )?;
            let old = current_members(tx.conn, group_id)?;
            let removed: Vec<_> = old
                .iter()
                .filter(|(u, jt)| wanted.get(*u) != Some(jt))
                .map(|(u, jt)| (u.clone(), *jt))
                .collect();
            let added: Vec<_> = wanted
                .iter()
                .filter(|(u, jt)| old.get(*u) != Some(jt))
                .map(|(u, jt)| (u.clone(), *jt))
                .collect();
            change_members(tx, group_id, &removed, &added, known)
        })
    }

    /// Adds members (or updates their join time) to a known group.
    pub fn add_group_members(&self, group_id: &str, members: &[Member]) -> Result<()> {
        check_id("groupID", group_id)?;
        let wanted = member_map(members)?;
        self.write(|tx| {
            require_group(tx.conn, group_id)?;
            let old = current_members(tx.conn, group_id)?;
            let mut removed = Vec::new();
            let mut added = Vec::new();
            for (u, jt) in &wanted {
                match old.get(u) {
                    Some(o) if o == jt => {}
                    Some(o) => {
                        removed.push((u.clone(), *o));
                        added.push((u.clone(), *jt));
                    }
                    None => added.push((u.clone(), *jt)),
                }
            }
            change_members(tx, group_id, &removed, &added, true)
        })
    }

    /// Removes members from a known group; unknown user IDs are ignored.
    pub fn remove_group_members(&self, group_id: &str, user_ids: &[String]) -> Result<()> {
        check_id("groupID", group_id)?;
        if user_ids.len() > MAX_MEMBERS_PER_CALL {
            return Err(Error::invalid(format!(
                "at most {MAX_MEMBERS_PER_CALL} userIDs a call"
            )));
        }
        for u in user_ids {
            check_id("userID", u)?;
        }
        self.write(|tx| {
            require_group(tx.conn, group_id)?;
            let mut st = tx.conn.prepare_cached(
                "SELECT join_time FROM members WHERE group_id = ?1 AND user_id = ?2",
            )?;
            let mut removed = Vec::new();
            for u in user_ids {
                if let Some(jt) = st
                    .query_row(params![group_id, u], |r| r.get::<_, Option<i64>>(0))
                    .optional()?
                {
                    removed.push((u.clone(), jt));
                }
            }
            removed.sort();
            removed.dedup();
            change_members(tx, group_id, &removed, &[], true)
        })
    }
}

pub(crate) fn load_config(conn: &Connection) -> Result<ReceiptConfig> {
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'receipt_config'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    match v {
        None => Ok(ReceiptConfig::default()),
        Some(s) => serde_json::from_str(&s)
            .map_err(|_| Error::StoreCorrupt("unreadable receipt config".into())),
    }
}

/// The group's type, or `None` when the group is unknown.
pub(crate) fn group_type_of(conn: &Connection, group_id: &str) -> Result<Option<GroupType>> {
    let t: Option<String> = conn
        .prepare_cached("SELECT group_type FROM groups WHERE group_id = ?1")?
        .query_row(params![group_id], |r| r.get(0))
        .optional()?;
    t.map(|s| GroupType::parse(&s)).transpose()
}

/// Fails unless receipts could apply in this conversation under the config.
/// Unknown groups pass: their type is not known yet.
pub(crate) fn check_receipts_allowed(
    conn: &Connection,
    ctype: ConversationType,
    target: &str,
) -> Result<()> {
    let cfg = load_config(conn)?;
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

/// |audience| − |readers in audience| of a group message, or `None` when the
/// group's members are unknown.
pub(crate) fn local_unread(
    conn: &Connection,
    group_id: &str,
    time: i64,
    sender: &str,
    rid: i64,
) -> Result<Option<i64>> {
    if group_type_of(conn, group_id)?.is_none() {
        return Ok(None);
    }
    let n = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM members m
             WHERE m.group_id = ?1 AND (m.join_time IS NULL OR m.join_time <= ?2)
               AND m.user_id <> ?3
               AND NOT EXISTS (SELECT 1 FROM readers r WHERE r.rid = ?4 AND r.user_id = m.user_id)",
        )?
        .query_row(params![group_id, time, sender, rid], |r| r.get(0))?;
    Ok(Some(n))
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

/// Applies a membership delta and keeps every message's local unread
/// estimate exact; `unread_count` then takes the min (it never rises).
fn change_members(
    tx: &mut Tx<'_>,
    group_id: &str,
    removed: &[(String, Option<i64>)],
    added: &[(String, Option<i64>)],
    incremental: bool,
) -> Result<()> {
    let conv = conversation_id(ConversationType::Group, group_id);
    {
        let mut del = tx
            .conn
            .prepare_cached("DELETE FROM members WHERE group_id = ?1 AND user_id = ?2")?;
        let mut ins = tx.conn.prepare_cached(
            "INSERT INTO members(group_id, user_id, join_time) VALUES (?1, ?2, ?3)
             ON CONFLICT(group_id, user_id) DO UPDATE SET join_time = excluded.join_time",
        )?;
        let mut upd = tx.conn.prepare_cached(MEMBER_DELTA)?;
        for (u, jt) in removed {
            del.execute(params![group_id, u])?;
            if incremental {
                upd.execute(params![conv, u, jt, -1])?;
                crate::unread_index::member_removed(tx, &conv, u)?;
            }
        }
        for (u, jt) in added {
            ins.execute(params![group_id, u, jt])?;
            if incremental {
                upd.execute(params![conv, u, jt, 1])?;
                crate::unread_index::member_added(tx, &conv, u, *jt)?;
            }
        }
    }
    if !incremental {
        recompute_local_unread(tx.conn, &conv, group_id)?;
    }
    let mut st = tx.conn.prepare_cached(
        "UPDATE receipts SET unread_count = local_unread
         WHERE rid IN (SELECT rid FROM messages
                       WHERE conversation_id = ?1 AND is_out = 1 AND need_receipt = 1
                         AND status <> 'unSend')
           AND local_unread IS NOT NULL
           AND (unread_count IS NULL OR unread_count > local_unread)
         RETURNING rid",
    )?;
    let rids = st.query_map(params![conv], |r| r.get::<_, i64>(0))?;
    for rid in rids {
        tx.receipt_changed.insert(rid?);
    }
    Ok(())
}

/// Full recount for every receipt message of a group whose members just became known.
fn recompute_local_unread(conn: &Connection, conv: &str, group_id: &str) -> Result<()> {
    let mut st = conn.prepare_cached(
        "SELECT rid, time, sender FROM messages
         WHERE conversation_id = ?1 AND is_out = 1 AND need_receipt = 1",
    )?;
    let msgs: Vec<(i64, i64, String)> = st
        .query_map(params![conv], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut upd = conn.prepare_cached("UPDATE receipts SET local_unread = ?2 WHERE rid = ?1")?;
    for (rid, time, sender) in msgs {
        let n = local_unread(conn, group_id, time, &sender, rid)?;
        upd.execute(params![rid, n])?;
    }
    Ok(())
}
