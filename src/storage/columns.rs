//! Enum ⇄ column conversions. A stored value outside the enum is damage:
//! reading it fails (`STORE_CORRUPT` through [`crate::error::Error`]'s conversion)
//! instead of falling back to a default.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::model::{ConversationType, GroupType, MessageStatus, ReceiptSentState};

fn bad(what: &str) -> FromSqlError {
    FromSqlError::Other(format!("not a stored {what}").into())
}

impl ToSql for ConversationType {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.prefix()))
    }
}

impl FromSql for ConversationType {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        match v.as_str()? {
            "C2C" => Ok(ConversationType::C2C),
            "GROUP" => Ok(ConversationType::Group),
            _ => Err(bad("conversation type")),
        }
    }
}

impl ToSql for MessageStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for MessageStatus {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        match v.as_str()? {
            "unSend" => Ok(MessageStatus::UnSend),
            "success" => Ok(MessageStatus::Success),
            "fail" => Ok(MessageStatus::Fail),
            _ => Err(bad("message status")),
        }
    }
}

impl ToSql for GroupType {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for GroupType {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        GroupType::parse(v.as_str()?).map_err(|_| bad("group type"))
    }
}

/// `sent_state`: 0 none, 1 pending, 2 acked.
impl ToSql for ReceiptSentState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let n: i64 = match self {
            ReceiptSentState::None => 0,
            ReceiptSentState::Pending => 1,
            ReceiptSentState::Acked => 2,
        };
        Ok(ToSqlOutput::from(n))
    }
}

impl FromSql for ReceiptSentState {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        match v.as_i64()? {
            0 => Ok(ReceiptSentState::None),
            1 => Ok(ReceiptSentState::Pending),
            2 => Ok(ReceiptSentState::Acked),
            _ => Err(bad("receipt sent state")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn bad_stored_values_are_errors_not_defaults() {
        let c = Connection::open_in_memory().expect("db");
        let get = |sql: &str| c.query_row(sql, [], |r| r.get::<_, ReceiptSentState>(0));
        assert_eq!(get("SELECT 2").ok(), Some(ReceiptSentState::Acked));
        let err = get("SELECT 3").expect_err("3 is no sent state");
        assert!(matches!(
            crate::error::Error::from(err),
            crate::error::Error::StoreCorrupt(_)
        ));
        let st = c.query_row("SELECT 'sent'", [], |r| r.get::<_, MessageStatus>(0));
        assert!(st.is_err());
        let ct = c.query_row("SELECT 'X'", [], |r| r.get::<_, ConversationType>(0));
        assert!(ct.is_err());
    }
}
