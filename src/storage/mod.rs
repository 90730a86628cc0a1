//! The storage layer: the file (open, create, migrate, check), the
//! connection and its transactions, typed `meta` accessors, typed row
//! loaders and enum ⇄ column conversions. It knows tables, not rules:
//! nothing here decides a receipt or an unread count.

pub(crate) mod columns;
pub(crate) mod db;
pub(crate) mod file;
pub(crate) mod handle;
pub(crate) mod meta;
pub(crate) mod options;
pub(crate) mod rows;
