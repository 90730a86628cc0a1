/*
 * receiptdb.h - the C ABI of receiptdb (docs/EMBEDDING.md).
 *
 * A store is one SQLite file holding one user's read receipts. You talk to it
 * in JSON-RPC 2.0, exactly as to `receiptdb rpc`: each rdb_call takes one
 * request (a line of docs/PROTOCOL.md's Methods, without the newline) and returns the lines
 * that `receiptdb rpc` writes for it: events first, the response last.
 *
 * Build: cargo build --release -p receiptdb-ffi
 *   -> target/release/libreceiptdb_ffi.so (shared), libreceiptdb_ffi.a (static;
 *      link it with -lcrypto -lpthread -ldl -lm: SQLCipher's crypto is OpenSSL's).
 *
 * Strings: every string in and out is UTF-8 and NUL-terminated.
 * Ownership: every char * this library returns is yours and must be freed
 *   with rdb_free, never with free() (it comes from Rust's allocator).
 * Errors: no function panics across the boundary or aborts the host; bad
 *   input gets an error line (or, for rdb_open, NULL and an error object).
 *   A Rust panic inside the library becomes error code -32603 (INTERNAL).
 * Shutdown order: let every rdb_call on a store return, then rdb_close it
 *   once; free the returned strings with rdb_free at any time, before or after.
 */
#ifndef RECEIPTDB_H
#define RECEIPTDB_H

#ifdef __cplusplus
extern "C" {
#endif

/* An open store. Opaque: only pointers to it exist, made by rdb_open and
   destroyed by rdb_close. */
typedef struct rdb_store rdb_store;

/*
 * Opens (creating if absent) the store file at `path` for the user `user_id`.
 *
 * Returns the store, or NULL on failure. On failure, if `error_json` is not
 * NULL, *error_json is set to a JSON-RPC error object (the `error` member of
 * the line `receiptdb rpc` writes when it cannot open a store), e.g.
 *   {"code":2005,"message":"the store belongs to another user",
 *    "data":{"name":"OWNER_MISMATCH"}}
 * to free with rdb_free. On success *error_json is set to NULL.
 * A NULL or non-UTF-8 `path` or `user_id` is a failure (code -32602,
 * INVALID_PARAMS), not a crash. `error_json` may be NULL.
 *
 * Thread safety: may be called from any thread. Open each file once and share
 * the handle between threads (see rdb_call).
 */
rdb_store *rdb_open(const char *path, const char *user_id, char **error_json);

/*
 * rdb_open for an encrypted store: `key` is its passphrase (SQLCipher; a new
 * store is created encrypted with it), NULL for a store that is not
 * encrypted. A wrong key, or a key for a store that is not encrypted, fails
 * with code 2013 (WRONG_KEY) and writes nothing.
 */
rdb_store *rdb_open_with_key(const char *path, const char *user_id, const char *key,
                             char **error_json);

/*
 * Deletes the closed store at `path` for good (logout): its -wal, -shm and
 * database. Returns 1 when a store was deleted, 0 when nothing was at `path`,
 * -1 on failure with *error_json (if not NULL) a JSON-RPC error object to
 * free with rdb_free: 2009 (STORE_BUSY) while any store, in this process or
 * another, has it open; 2005 (OWNER_MISMATCH) for another user's store.
 * `key` is its passphrase if encrypted, else NULL.
 */
int rdb_delete_store(const char *path, const char *user_id, const char *key, char **error_json);

/*
 * Runs one JSON-RPC request on `store`.
 *
 * Returns every line the request produces, each ending in '\n': the events it
 * caused (JSON-RPC notifications, no `id`) first, then exactly one response
 * (`result` or `error`), as `receiptdb rpc` writes them. Free it with rdb_free.
 * Never NULL. Bad input is an error line, with `id` null:
 *   - not JSON, not UTF-8, empty or blank, or `request_json` NULL: -32700;
 *   - longer than 64 MiB: -32602 (INVALID_PARAMS);
 *   - `store` NULL: -32602 (INVALID_PARAMS).
 * (`receiptdb rpc` skips a blank line; rdb_call answers it with -32700, so
 * every call has a response.) Events: those `receiptdb rpc` forwards by
 * default (PROTOCOL.md, Events), and the others after a `subscribe` request on
 * this store; each store handle has its own subscriptions.
 *
 * Thread safety: a store may be called from several threads at once; the calls
 * run one at a time, each seeing the effects of those before it. Do not call
 * a store after (or while) it is closed.
 */
char *rdb_call(rdb_store *store, const char *request_json);

/*
 * Frees a string this library returned (from rdb_call or rdb_open's
 * error_json). NULL is a no-op. Each string is freed once.
 *
 * Thread safety: any thread, any time, independent of the store's state.
 */
void rdb_free(char *s);

/*
 * Closes `store` and frees it; every change a call reported as a success is
 * already durable, so closing only releases memory and the file. NULL is a
 * no-op. Close each store once, after every call on it has returned.
 *
 * Thread safety: any thread, but no call on the same store may be running
 * or follow.
 */
void rdb_close(rdb_store *store);

/*
 * The library's version, e.g. "0.1.0". A static string: do not free it.
 *
 * Thread safety: any thread, any time.
 */
const char *rdb_version(void);

#ifdef __cplusplus
}
#endif

#endif /* RECEIPTDB_H */
