//! The ledger: what the harness decides and every server is told of. The
//! users and their devices, the group rosters (membership is the control
//! plane: the harness changes it and tells the server), and every message
//! sent (its ID, sequence, time and recipients). The audience rules
//! (PROTOCOL.md, Audience) live here too, so the checks and a Rust server
//! count a message's readers the same way.

use std::collections::{BTreeMap, BTreeSet};

use receiptdb::{ConversationType, GroupType, IncomingMessage, MessageStatus};

use super::protocol::{NewMessage, Setup};

/// A group: its ID, type and members.
#[derive(Debug, Clone)]
pub struct LedgerGroup {
    /// The group ID (`g0`, `g1`, …).
    pub id: String,
    /// Its type (receipts are on for every type the simulator uses).
    pub gtype: GroupType,
    /// Member (user number) → join time (`None`: since the beginning).
    pub members: BTreeMap<usize, Option<i64>>,
}

/// A message as the ledger knows it.
#[derive(Debug, Clone)]
pub struct LedgerMessage {
    /// Its ID (`m1`, `m2`, … in send order).
    pub id: String,
    /// The group it was sent to, or `None` for a one-to-one message.
    pub group: Option<usize>,
    /// The sender (user number).
    pub from: usize,
    /// The peer of a one-to-one message.
    pub to: Option<usize>,
    /// Send time (unix seconds).
    pub time: i64,
    /// Its sequence in its conversation (1, 2, …).
    pub seq: i64,
    /// Whether it asks for read receipts.
    pub receipt: bool,
    /// Users who were sent the message (its sender included).
    pub recipients: BTreeSet<usize>,
    /// Recalled: the server must reject receipts for it from now on.
    pub recalled: bool,
}

/// Users, rosters and messages of one run. See the module doc.
#[derive(Debug, Clone)]
pub struct Ledger {
    /// User IDs (`u0`, `u1`, …), by user number.
    pub users: Vec<String>,
    /// Groups, by group number.
    pub groups: Vec<LedgerGroup>,
    /// Messages, by message number (`m{n+1}` is number `n`).
    pub msgs: Vec<LedgerMessage>,
    by_id: BTreeMap<String, usize>,
    seqs: BTreeMap<String, i64>,
    /// (user, conversation ID as that user sees it) → message numbers.
    views: BTreeMap<(usize, String), Vec<usize>>,
    /// (group, user) → earliest join time of a member who left (PROTOCOL.md,
    /// Audience: leaving keeps a read).
    former: BTreeMap<(usize, usize), Option<i64>>,
}

impl Ledger {
    /// A ledger with these users and groups and no messages.
    pub fn new(users: Vec<String>, groups: Vec<LedgerGroup>) -> Ledger {
        Ledger {
            users,
            groups,
            msgs: Vec::new(),
            by_id: BTreeMap::new(),
            seqs: BTreeMap::new(),
            views: BTreeMap::new(),
            former: BTreeMap::new(),
        }
    }

    /// The number of message `id`.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// The number of user `id`.
    pub fn user_of(&self, id: &str) -> Option<usize> {
        self.users.iter().position(|u| u == id)
    }

    /// The number of group `id`.
    pub fn group_of(&self, id: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.id == id)
    }

    /// The conversation ID of message `m` in `user`'s store.
    pub fn conv_for(&self, m: &LedgerMessage, user: usize) -> String {
        match (m.group, m.to) {
            (Some(g), _) => format!("GROUP{}", self.groups[g].id),
            (None, Some(to)) => {
                let other = if user == m.from { to } else { m.from };
                format!("C2C{}", self.users[other])
            }
            (None, None) => String::new(),
        }
    }

    /// Records a message from `from` to a group or a user at `time`; `None`
    /// when the sender is not a member of the group.
    pub fn send(
        &mut self,
        from: usize,
        group: Option<usize>,
        to: Option<usize>,
        receipt: bool,
        time: i64,
    ) -> Option<usize> {
        let (recipients, key) = match (group, to) {
            (Some(g), None) => {
                let grp = self.groups.get(g)?;
                if !grp.members.contains_key(&from) {
                    return None;
                }
                let mut r: BTreeSet<usize> = grp.members.keys().copied().collect();
                r.insert(from);
                (r, format!("GROUP{}", grp.id))
            }
            (None, Some(t)) if t != from && t < self.users.len() => {
                let (a, b) = (from.min(t), from.max(t));
                ([from, t].into_iter().collect(), format!("C2C:{a}:{b}"))
            }
            _ => return None,
        };
        let seq = self.seqs.entry(key).or_insert(0);
        *seq += 1;
        let idx = self.msgs.len();
        let m = LedgerMessage {
            id: format!("m{}", idx + 1),
            group,
            from,
            to,
            time,
            seq: *seq,
            receipt,
            recipients,
            recalled: false,
        };
        for &u in &m.recipients {
            let conv = self.conv_for(&m, u);
            self.views.entry((u, conv)).or_default().push(idx);
        }
        self.by_id.insert(m.id.clone(), idx);
        self.msgs.push(m);
        Some(idx)
    }

    /// Message `idx` as the transport hands it to `user`'s clients.
    pub fn incoming(&self, idx: usize, user: usize) -> IncomingMessage {
        let m = &self.msgs[idx];
        let (ctype, to) = match (m.group, m.to) {
            (Some(g), _) => (ConversationType::Group, self.groups[g].id.clone()),
            (None, t) => (ConversationType::C2C, self.users[t.unwrap_or(0)].clone()),
        };
        IncomingMessage {
            id: m.id.clone(),
            conversation_id: Some(self.conv_for(m, user)),
            conversation_type: Some(ctype),
            from: self.users[m.from].clone(),
            to,
            time: m.time,
            sequence: m.seq,
            status: Some(MessageStatus::Success),
            need_read_receipt: m.receipt,
            // Once recalled, every copy the server hands out says so.
            is_revoked: m.recalled,
            ..Default::default()
        }
    }

    /// The audience of a message now (PROTOCOL.md, Audience): members who
    /// joined by its time, minus its sender; the peer for one-to-one messages.
    pub fn audience(&self, m: &LedgerMessage) -> BTreeSet<usize> {
        match (m.group, m.to) {
            (Some(g), _) => self.groups[g]
                .members
                .iter()
                .filter(|(u, jt)| **u != m.from && jt.is_none_or(|t| t <= m.time))
                .map(|(u, _)| *u)
                .collect(),
            (None, Some(t)) => [t].into_iter().collect(),
            (None, None) => BTreeSet::new(),
        }
    }

    /// The read list of a group message with these `readers` (PROTOCOL.md,
    /// Audience): readers who were members (now or before they left) by its
    /// time, never its sender.
    pub fn read_list(&self, m: &LedgerMessage, readers: &BTreeSet<usize>) -> BTreeSet<usize> {
        let Some(g) = m.group else {
            return BTreeSet::new();
        };
        let by_time = |jt: &Option<i64>| jt.is_none_or(|t| t <= m.time);
        readers
            .iter()
            .filter(|u| **u != m.from)
            .filter(|u| {
                self.groups[g].members.get(u).is_some_and(by_time)
                    || self.former.get(&(g, **u)).is_some_and(by_time)
            })
            .copied()
            .collect()
    }

    /// The unread list of a group message: the audience still in the group
    /// minus the readers.
    pub fn unread_list(&self, m: &LedgerMessage, readers: &BTreeSet<usize>) -> BTreeSet<usize> {
        self.audience(m)
            .into_iter()
            .filter(|u| !readers.contains(u))
            .collect()
    }

    /// The receipt figures of a message with these `readers`: read count,
    /// unread count, peer read.
    pub fn figures(&self, m: &LedgerMessage, readers: &BTreeSet<usize>) -> (u64, u64, bool) {
        if m.group.is_none() {
            let read = m.to.is_some_and(|t| readers.contains(&t));
            return if read { (1, 0, true) } else { (0, 1, false) };
        }
        (
            self.read_list(m, readers).len() as u64,
            self.unread_list(m, readers).len() as u64,
            false,
        )
    }

    /// Whether `user` may send a receipt for message `m` at all: it asks
    /// for one, `user` received it and did not send it.
    pub fn may_read(&self, m: &LedgerMessage, user: usize) -> bool {
        m.receipt && m.from != user && m.recipients.contains(&user)
    }

    /// Conversations `user` has messages in, as that user sees them.
    pub fn convs_of(&self, user: usize) -> Vec<String> {
        self.views
            .range((user, String::new())..)
            .take_while(|((u, _), _)| *u == user)
            .map(|((_, c), _)| c.clone())
            .collect()
    }

    /// Messages of one conversation as `user` sees them, in send order.
    pub fn view(&self, user: usize, conv: &str) -> &[usize] {
        self.views
            .get(&(user, conv.to_string()))
            .map_or(&[], Vec::as_slice)
    }

    /// The peer of a C2C conversation `conv` (`C2Cu<k>`).
    pub fn c2c_peer(&self, conv: &str) -> Option<usize> {
        let id = conv.strip_prefix("C2C")?;
        self.user_of(id)
    }

    /// Unread count of `conv` for `user` at read position `pos`: the `in`
    /// messages (all have `status: success`) above it.
    pub fn unread_at(&self, user: usize, conv: &str, pos: i64) -> u64 {
        self.view(user, conv)
            .iter()
            .filter(|&&i| self.msgs[i].from != user && self.msgs[i].seq > pos)
            .count() as u64
    }

    /// Recalls message `idx`; false when it already was.
    pub fn recall(&mut self, idx: usize) -> bool {
        match self.msgs.get_mut(idx) {
            Some(m) if !m.recalled => {
                m.recalled = true;
                true
            }
            _ => false,
        }
    }

    /// Adds `user` to group `g` at `time`; false when already a member.
    pub fn join(&mut self, g: usize, user: usize, time: i64) -> bool {
        match self.groups.get_mut(g) {
            Some(grp) if !grp.members.contains_key(&user) => {
                grp.members.insert(user, Some(time));
                true
            }
            _ => false,
        }
    }

    /// Removes `user` from group `g`; false when not a member or when the
    /// group would drop below two members.
    pub fn leave(&mut self, g: usize, user: usize) -> bool {
        match self.groups.get_mut(g) {
            Some(grp) if grp.members.len() > 2 => match grp.members.remove(&user) {
                Some(jt) => {
                    let kept = self.former.entry((g, user)).or_insert(jt);
                    *kept = match (*kept, jt) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        _ => None,
                    };
                    true
                }
                None => false,
            },
            _ => false,
        }
    }
}

impl Ledger {
    /// A ledger from a [`Setup`] (for a Rust server that keeps one).
    pub fn from_setup(setup: &Setup) -> Result<Ledger, String> {
        let users = setup.users.clone();
        let mut groups = Vec::new();
        for g in &setup.groups {
            let mut members = BTreeMap::new();
            for m in &g.members {
                let u = users
                    .iter()
                    .position(|x| *x == m.user_id)
                    .ok_or_else(|| format!("group {}: unknown member {}", g.group_id, m.user_id))?;
                members.insert(u, m.join_time);
            }
            groups.push(LedgerGroup {
                id: g.group_id.clone(),
                gtype: g.group_type,
                members,
            });
        }
        Ok(Ledger::new(users, groups))
    }

    /// Group and user numbers of two IDs.
    pub fn group_user(&self, group: &str, user: &str) -> Result<(usize, usize), String> {
        let g = self
            .group_of(group)
            .ok_or_else(|| format!("unknown group {group}"))?;
        let u = self
            .user_of(user)
            .ok_or_else(|| format!("unknown user {user}"))?;
        Ok((g, u))
    }

    /// Records a message the harness announced (a Rust server's copy of
    /// the ledger); its number. The ID must be the next one.
    pub fn record(&mut self, nm: &NewMessage) -> Result<usize, String> {
        let from = self
            .user_of(&nm.from)
            .ok_or_else(|| format!("unknown sender {}", nm.from))?;
        let group = match &nm.group_id {
            Some(g) => Some(
                self.group_of(g)
                    .ok_or_else(|| format!("unknown group {g}"))?,
            ),
            None => None,
        };
        let to = match &nm.peer_id {
            Some(p) => Some(self.user_of(p).ok_or_else(|| format!("unknown peer {p}"))?),
            None => None,
        };
        let idx = self
            .send(from, group, to, nm.need_read_receipt, nm.time)
            .ok_or_else(|| format!("{}: not a message the ledger accepts", nm.message_id))?;
        if self.msgs[idx].id != nm.message_id || self.msgs[idx].seq != nm.sequence {
            return Err(format!(
                "{}: out of order (expected {} sequence {})",
                nm.message_id, self.msgs[idx].id, self.msgs[idx].seq
            ));
        }
        Ok(idx)
    }

    /// Message `idx` as the harness announces it.
    pub fn announce(&self, idx: usize) -> NewMessage {
        let m = &self.msgs[idx];
        NewMessage {
            message_id: m.id.clone(),
            from: self.users[m.from].clone(),
            group_id: m.group.map(|g| self.groups[g].id.clone()),
            peer_id: m.to.map(|t| self.users[t].clone()),
            time: m.time,
            sequence: m.seq,
            need_read_receipt: m.receipt,
            recipients: m
                .recipients
                .iter()
                .map(|u| self.users[*u].clone())
                .collect(),
        }
    }
}
