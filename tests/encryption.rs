//! Encryption at rest (SQLCipher): a store opened with a key keeps every
//! byte of its file and WAL unreadable without it; a wrong key, a missing
//! one and a key for a plain store are clear errors that change nothing;
//! the owner check holds with a key; backups of an encrypted store are
//! encrypted with its key and restore with it.

mod common;

use common::{file_bytes, path_in, temp_dir, OWNER};
use receiptdb::{ConversationType, Error, IncomingMessage, OpenOptions, Store};

const SECRET: &str = "the-secret-message-text";

fn c2c_in(id: &str, seq: i64) -> IncomingMessage {
    IncomingMessage {
        id: id.into(),
        conversation_type: Some(ConversationType::C2C),
        from: "bob".into(),
        to: OWNER.into(),
        time: seq,
        sequence: seq,
        need_read_receipt: true,
        payload: Some(serde_json::json!({ "text": SECRET })),
        ..Default::default()
    }
}

fn keyed(k: &str) -> OpenOptions {
    OpenOptions::new().key(k)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Neither the database nor its WAL holds the message text, the owner or
/// SQLite's header; the same key reads everything back.
#[test]
fn an_encrypted_store_is_unreadable_without_its_key() {
    let dir = temp_dir();
    let path = path_in(&dir, "store.db");
    let store = Store::open_with(&path, OWNER, keyed("pw one")).expect("create encrypted");
    store.save_messages(&[c2c_in("m1", 1)]).expect("save");
    let wal = path_in(&dir, "store.db-wal");
    for p in [&path, &wal] {
        let bytes = file_bytes(p);
        assert!(!bytes.is_empty(), "{} is empty", p.display());
        for needle in [SECRET.as_bytes(), b"alice", b"SQLite format 3"] {
            assert!(
                !contains(&bytes, needle),
                "{} holds {needle:?}",
                p.display()
            );
        }
    }
    drop(store);
    let again = Store::open_with(&path, OWNER, keyed("pw one")).expect("reopen");
    let m = again.find_message("m1").expect("find").expect("held");
    assert_eq!(m.payload["text"], SECRET);
    assert!(again.verify().expect("verify").mismatches.is_empty());
}

/// A wrong key is WRONG_KEY (2013), a missing one STORE_CORRUPT naming the
/// key, a key for a plain store WRONG_KEY; none of them changes a byte.
#[test]
fn wrong_missing_and_needless_keys_are_refused_unchanged() {
    let dir = temp_dir();
    let enc = path_in(&dir, "enc.db");
    let plain = path_in(&dir, "plain.db");
    drop(Store::open_with(&enc, OWNER, keyed("right")).expect("create"));
    drop(Store::open(&plain, OWNER).expect("create plain"));
    let before = (file_bytes(&enc), file_bytes(&plain));

    let e = Store::open_with(&enc, OWNER, keyed("wrong"))
        .err()
        .expect("wrong key");
    assert!(matches!(e, Error::WrongKey(_)), "{e}");
    assert_eq!((e.code(), e.name()), (2013, "WRONG_KEY"));
    let e = Store::open(&enc, OWNER).err().expect("no key");
    assert_eq!(e.name(), "STORE_CORRUPT", "{e}");
    assert!(e.to_string().contains("key"), "{e}");
    let e = Store::open_with(&plain, OWNER, keyed("any"))
        .err()
        .expect("needless key");
    assert!(matches!(e, Error::WrongKey(_)), "{e}");
    assert_eq!((file_bytes(&enc), file_bytes(&plain)), before);
    for side in ["enc.db-wal", "enc.db-shm", "plain.db-wal"] {
        assert!(!path_in(&dir, side).exists(), "{side} appeared");
    }
    // The owner check reads through the key.
    assert!(matches!(
        Store::open_with(&enc, "mallory", keyed("right")),
        Err(Error::OwnerMismatch)
    ));
    Store::open_with(&enc, OWNER, keyed("right")).expect("the right key still opens");
}

/// A backup of an encrypted store is encrypted with the same key, opens
/// with it, and restores into the store.
#[test]
fn backups_of_an_encrypted_store_stay_encrypted() {
    let dir = temp_dir();
    let path = path_in(&dir, "store.db");
    let store = Store::open_with(&path, OWNER, keyed("k")).expect("create");
    store.save_messages(&[c2c_in("m1", 1)]).expect("save");
    store.backup("copy.db").expect("backup");
    let copy = path_in(&dir, "copy.db");
    let bytes = file_bytes(&copy);
    assert!(!contains(&bytes, SECRET.as_bytes()));
    assert!(!contains(&bytes, b"SQLite format 3"));
    assert!(matches!(
        Store::open_with(&copy, OWNER, keyed("other")),
        Err(Error::WrongKey(_))
    ));
    store.save_messages(&[c2c_in("m2", 2)]).expect("save");
    store.restore("copy.db").expect("restore");
    assert!(store.find_message("m2").expect("find").is_none());
    assert!(store.find_message("m1").expect("find").is_some());
    drop(store);
    let reopened = Store::open_with(&copy, OWNER, keyed("k")).expect("copy opens");
    assert!(reopened.find_message("m1").expect("find").is_some());
}

/// Re-keying an open store: the new key opens it (with everything), the
/// old one no longer does; a plain store is converted to an encrypted one
/// and back, closed, with nothing lost.
#[test]
fn rekey_and_convert() {
    let dir = temp_dir();
    let path = path_in(&dir, "store.db");
    let store = Store::open_with(&path, OWNER, keyed("old")).expect("create");
    store.save_messages(&[c2c_in("m1", 1)]).expect("save");
    store.rekey("new").expect("rekey");
    store.save_messages(&[c2c_in("m2", 2)]).expect("save after");
    drop(store);
    assert!(matches!(
        Store::open_with(&path, OWNER, keyed("old")),
        Err(Error::WrongKey(_))
    ));
    let s = Store::open_with(&path, OWNER, keyed("new")).expect("new key");
    assert!(s.find_message("m1").expect("find").is_some());
    assert!(s.find_message("m2").expect("find").is_some());
    drop(s);

    let plain = path_in(&dir, "plain.db");
    let p = Store::open(&plain, OWNER).expect("plain");
    p.save_messages(&[c2c_in("p1", 1)]).expect("save");
    let e = receiptdb::change_key(&plain, OWNER, None, Some("k")).expect_err("open");
    assert!(matches!(e, Error::StoreBusy), "{e}");
    drop(p);
    receiptdb::change_key(&plain, OWNER, None, Some("k")).expect("encrypt");
    assert!(!contains(&file_bytes(&plain), SECRET.as_bytes()));
    let s = Store::open_with(&plain, OWNER, keyed("k")).expect("encrypted now");
    assert!(s.find_message("p1").expect("find").is_some());
    drop(s);
    receiptdb::change_key(&plain, OWNER, Some("k"), None).expect("decrypt");
    let s = Store::open(&plain, OWNER).expect("plain again");
    assert!(s.find_message("p1").expect("find").is_some());
    assert!(s.verify().expect("verify").mismatches.is_empty());
}

/// A raw 256-bit key (`x'` + 64 hex digits + `'`, SQLCipher's raw key
/// form, for apps that keep a random key in the OS keychain) is used as it
/// is, with no passphrase derivation: the file is as unreadable, the same
/// raw key reopens it, another raw key or the same text as a passphrase
/// does not. (The keyed crash and power-loss runs use one: a derivation per
/// connection would make their thousands of reopens take an hour.)
#[test]
fn a_raw_key_encrypts_without_derivation() {
    let raw = "x'2DD29CA851E7B56E4697B0E1F08507293D761A05CE4D1B628663F411A8086D99'";
    let other = "x'0000000000000000000000000000000000000000000000000000000000000001'";
    let dir = temp_dir();
    let path = path_in(&dir, "store.db");
    let store = Store::open_with(&path, OWNER, keyed(raw)).expect("create");
    store.save_messages(&[c2c_in("m1", 1)]).expect("save");
    drop(store);
    let bytes = file_bytes(&path);
    for needle in [SECRET.as_bytes(), b"alice", b"SQLite format 3"] {
        assert!(!contains(&bytes, needle), "holds {needle:?}");
    }
    let again = Store::open_with(&path, OWNER, keyed(raw)).expect("reopen");
    assert!(again.find_message("m1").expect("find").is_some());
    drop(again);
    for wrong in [
        other,
        "2DD29CA851E7B56E4697B0E1F08507293D761A05CE4D1B628663F411A8086D99",
    ] {
        match Store::open_with(&path, OWNER, keyed(wrong)) {
            Err(Error::WrongKey(_)) => {}
            Err(e) => panic!("{wrong}: {e}"),
            Ok(_) => panic!("{wrong} opened the store"),
        }
    }
    assert_eq!(file_bytes(&path), bytes, "refused opens change nothing");
}
