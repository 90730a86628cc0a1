/* The C ABI's behaviour test, run by bindings/c/tests/c_abi.rs (plain and
 * under valgrind). Usage: test_ffi DIR  (DIR: an empty, writable directory).
 * Prints one line per failed check and "all N checks passed" at the end;
 * exits 1 if any check failed. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "receiptdb.h"

static int checks, failures;

#define CHECK(cond, what)                                              \
    do {                                                               \
        checks++;                                                      \
        if (!(cond)) {                                                 \
            failures++;                                                \
            printf("FAIL line %d: %s\n", __LINE__, what);              \
        }                                                              \
    } while (0)

static char dir[4096];

static void path_of(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
}

/* Number of lines in `out` if it is well formed (non-empty, every line ends
 * in '\n', no empty line), else -1. */
static int count_lines(const char *out) {
    int n = 0;
    size_t len = strlen(out);
    if (len == 0 || out[len - 1] != '\n') return -1;
    for (const char *p = out; *p; p++) {
        if (*p == '\n') {
            if (p == out || p[-1] == '\n') return -1;
            n++;
        }
    }
    return n;
}

/* The last line (the response) of a well-formed output. */
static const char *last_line(const char *out) {
    size_t len = strlen(out);
    const char *p = out + len - 1; /* the final '\n' */
    while (p > out && p[-1] != '\n') p--;
    return p;
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* Calls, checks the shape (well formed, `lines` lines, the response last with
 * `id`), and returns the output for more checks; the caller frees it. */
static char *call_expect(rdb_store *s, const char *req, int lines, const char *what) {
    char *out = rdb_call(s, req);
    CHECK(out != NULL, what);
    if (!out) return NULL;
    int n = count_lines(out);
    if (n != lines) printf("  %s: got %d lines:\n%s", what, n, out);
    CHECK(n == lines, what);
    if (n > 0) CHECK(strstr(last_line(out), "\"jsonrpc\":\"2.0\"") != NULL, what);
    return out;
}

/* True when the response (the last line) is an error with `code`. */
static int is_error(const char *out, const char *code) {
    char want[64];
    snprintf(want, sizeof want, "\"code\":%s", code);
    const char *last = last_line(out);
    return strstr(last, "\"error\":") != NULL && strstr(last, want) != NULL;
}

/* Copies the value of the first "ID":"..." in `out` into `id`. */
static int first_id(const char *out, char *id, size_t n) {
    const char *p = strstr(out, "\"ID\":\"");
    if (!p) return 0;
    p += 6;
    const char *q = strchr(p, '"');
    if (!q || (size_t)(q - p) >= n) return 0;
    memcpy(id, p, (size_t)(q - p));
    id[q - p] = 0;
    return 1;
}

static void test_null_and_open_failures(void) {
    char *err = (char *)0x1;
    char path[4200];
    rdb_close(NULL);
    rdb_free(NULL);
    CHECK(rdb_version() != NULL && strlen(rdb_version()) > 0, "rdb_version");

    CHECK(rdb_open(NULL, "alice", &err) == NULL, "NULL path fails");
    CHECK(err && strstr(err, "\"code\":-32602") && strstr(err, "INVALID_PARAMS"),
          "NULL path: INVALID_PARAMS object");
    rdb_free(err);

    path_of(path, sizeof path, "nulluser.db");
    err = NULL;
    CHECK(rdb_open(path, NULL, &err) == NULL, "NULL user fails");
    CHECK(err && strstr(err, "\"code\":-32602"), "NULL user: error object");
    rdb_free(err);
    CHECK(rdb_open(NULL, NULL, NULL) == NULL, "NULL everything, NULL error_json");

    err = NULL;
    CHECK(rdb_open("\xff\xfe.db", "alice", &err) == NULL, "non-UTF-8 path fails");
    CHECK(err && strstr(err, "not UTF-8"), "non-UTF-8 path: error object");
    rdb_free(err);

    err = NULL;
    CHECK(rdb_open(path, "", &err) == NULL, "empty user fails");
    CHECK(err && strstr(err, "\"code\":-32602"), "empty user: INVALID_PARAMS");
    rdb_free(err);

    /* A file that is not a store: STORE_CORRUPT, and an object, not a line. */
    path_of(path, sizeof path, "garbage.db");
    FILE *f = fopen(path, "w");
    fputs("this is not a sqlite database, not at all, no header here\n", f);
    fclose(f);
    err = NULL;
    CHECK(rdb_open(path, "alice", &err) == NULL, "garbage file fails");
    CHECK(err && strstr(err, "\"code\":2006") && strstr(err, "STORE_CORRUPT"),
          "garbage file: STORE_CORRUPT");
    CHECK(err && strncmp(err, "{\"code\"", 7) == 0 && !strstr(err, "jsonrpc"),
          "error_json is the error object");
    rdb_free(err);

    err = NULL;
    path_of(path, sizeof path, "no/such/dir/x.db");
    CHECK(rdb_open(path, "alice", &err) == NULL, "missing directory fails");
    CHECK(err && strstr(err, "\"code\":"), "missing directory: error object");
    rdb_free(err);
}

static void test_calls(rdb_store *s) {
    char *out, id_out[128], req[1024];

    out = call_expect(s, NULL, 1, "NULL request");
    CHECK(out && is_error(out, "-32700"), "NULL request: -32700");
    rdb_free(out);
    out = call_expect(NULL, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getReceiptConfig\"}", 1,
                      "NULL store");
    CHECK(out && is_error(out, "-32602"), "NULL store: -32602");
    rdb_free(out);

    out = call_expect(s,
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"setGroup\",\"params\":{\"groupID\":\"team\","
        "\"groupType\":\"Work\",\"members\":[{\"userID\":\"alice\"},{\"userID\":\"bob\"},"
        "{\"userID\":\"carol\"}]}}", 1, "setGroup");
    CHECK(out && strcmp(out, "{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":{}}\n") == 0,
          "setGroup: exactly one response line");
    rdb_free(out);

    out = call_expect(s,
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"createMessage\",\"params\":{\"to\":\"team\","
        "\"conversationType\":\"GROUP\",\"payload\":{\"text\":\"ship it?\"},"
        "\"needReadReceipt\":true}}", 1, "createMessage");
    CHECK(out && first_id(out, id_out, sizeof id_out), "createMessage: an ID");
    rdb_free(out);

    snprintf(req, sizeof req,
             "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"markMessageSent\",\"params\":"
             "{\"ID\":\"%s\",\"sequence\":1,\"time\":1700000000}}", id_out);
    /* Sent: its receipt state starts (0 read, 2 unread), so an event first. */
    out = call_expect(s, req, 2, "markMessageSent");
    CHECK(out && strstr(out, "MESSAGE_READ_RECEIPT_RECEIVED") && strstr(out, "\"unreadCount\":2"),
          "markMessageSent: the receipt event");
    CHECK(out && strstr(last_line(out), "\"status\":\"success\""), "markMessageSent: success");
    rdb_free(out);

    /* bob read it: an event line first, the response last. */
    snprintf(req, sizeof req,
             "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"applyReceiptNotifications\",\"params\":"
             "{\"notifications\":[{\"messageID\":\"%s\",\"userID\":\"bob\"}]}}", id_out);
    out = call_expect(s, req, 2, "applyReceiptNotifications");
    if (out && count_lines(out) == 2) {
        CHECK(strncmp(out, "{\"jsonrpc\":\"2.0\",\"method\":\"MESSAGE_READ_RECEIPT_RECEIVED\"", 56) == 0,
              "the event line comes first");
        CHECK(strstr(out, "\"readCount\":1") && strstr(out, "\"unreadCount\":1"),
              "the event has the merged counts");
        CHECK(strstr(last_line(out), "\"id\":4") && strstr(last_line(out), "\"changed\":["),
              "the response comes last");
    }
    rdb_free(out);

    /* The same again changes nothing: no event. */
    out = call_expect(s, req, 1, "repeat notification");
    CHECK(out && strstr(out, "\"changed\":[]"), "repeat: nothing changed");
    rdb_free(out);

    snprintf(req, sizeof req,
             "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"getGroupMessageReadMemberList\",\"params\":"
             "{\"messageID\":\"%s\",\"filter\":1,\"cursor\":\"\",\"count\":100}}", id_out);
    out = call_expect(s, req, 1, "unread member list");
    CHECK(out && strstr(out, "\"unreadUserIDList\":[\"carol\"]"), "unread: carol");
    rdb_free(out);

    /* A message from bob, and a receipt for it. */
    out = call_expect(s,
        "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"saveMessages\",\"params\":{\"messages\":[{"
        "\"ID\":\"in-1\",\"from\":\"bob\",\"to\":\"team\",\"conversationType\":\"GROUP\","
        "\"sequence\":2,\"time\":1700000001,\"needReadReceipt\":true}]}}", 2, "saveMessages");
    /* An unread message: TOTAL_UNREAD_MESSAGE_COUNT_UPDATED comes first (PROTOCOL.md, Events). */
    CHECK(out && strstr(out, "TOTAL_UNREAD_MESSAGE_COUNT_UPDATED"), "saveMessages: total event");
    CHECK(out && strstr(last_line(out), "\"saved\":1"), "saveMessages: saved");
    rdb_free(out);
    out = call_expect(s,
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"sendMessageReadReceipt\",\"params\":"
        "{\"messageIDs\":[\"in-1\"]}}", 1, "sendMessageReadReceipt");
    CHECK(out && strstr(out, "\"queued\":[\"in-1\"]"), "receipt queued");
    rdb_free(out);

    /* The error codes of docs/PROTOCOL.md, Errors. */
    out = call_expect(s,
        "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"getGroupMessageReadMemberList\",\"params\":"
        "{\"messageID\":\"in-1\",\"filter\":0,\"cursor\":\"\",\"count\":10}}", 1, "10062");
    CHECK(out && is_error(out, "10062") && strstr(out, "RECEIPT_INFO_NOT_FOUND"),
          "an incoming message has no member list: 10062");
    rdb_free(out);
    out = call_expect(s,
        "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"sendMessageReadReceipt\",\"params\":"
        "{\"messageIDs\":[\"nope\"]}}", 1, "2001");
    CHECK(out && is_error(out, "2001") && strstr(out, "MESSAGE_NOT_FOUND"), "unknown ID: 2001");
    rdb_free(out);
    out = call_expect(s,
        "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"getGroupMessageReadMemberList\",\"params\":"
        "{\"messageID\":\"in-1\",\"filter\":7,\"cursor\":\"\",\"count\":10}}", 1, "bad filter");
    CHECK(out && is_error(out, "-32602"), "bad filter: -32602");
    rdb_free(out);
    out = call_expect(s, "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"noSuchMethod\"}", 1,
                      "unknown method");
    CHECK(out && is_error(out, "-32601") && strstr(out, "\"id\":11"), "unknown method: -32601");
    rdb_free(out);

    /* Bad input: an error line each, and the store goes on. */
    out = call_expect(s, "{not json", 1, "bad JSON");
    CHECK(out && is_error(out, "-32700") && strstr(out, "\"id\":null"), "bad JSON: -32700");
    rdb_free(out);
    out = call_expect(s, "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"\xff\xfe\"}", 1, "not UTF-8");
    CHECK(out && is_error(out, "-32700"), "not UTF-8: -32700");
    rdb_free(out);
    out = call_expect(s, "", 1, "empty");
    CHECK(out && is_error(out, "-32700"), "empty: -32700");
    rdb_free(out);
    out = call_expect(s, " \t ", 1, "blank");
    CHECK(out && is_error(out, "-32700"), "blank: -32700");
    rdb_free(out);
    out = call_expect(s, "{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"getReceiptConfig\"}\n", 1,
                      "trailing newline");
    CHECK(out && strstr(out, "\"result\":{") && strstr(out, "\"enabled\":true"), "a trailing newline is fine");
    rdb_free(out);

    /* Huge: a 1 MiB request is read whole (here a method that ignores the
       padding: payloads are capped at 64 KiB); over the 64 MiB line limit is
       INVALID_PARAMS. */
    size_t big = 1 << 20;
    char *huge = malloc(big + 256);
    int k = snprintf(huge, 256,
        "{\"jsonrpc\":\"2.0\",\"id\":14,\"method\":\"getReceiptConfig\",\"params\":{\"pad\":\"");
    memset(huge + k, 'x', big);
    strcpy(huge + k + big, "\"}}");
    out = call_expect(s, huge, 1, "1 MiB request");
    CHECK(out && strstr(out, "\"id\":14") && strstr(out, "\"result\":{") && strstr(out, "\"enabled\""),
          "1 MiB request: ok");
    rdb_free(out);
    free(huge);
    size_t over = (64u << 20) + 16;
    huge = malloc(over + 1);
    memset(huge, ' ', over);
    huge[over] = 0;
    out = call_expect(s, huge, 1, "over 64 MiB");
    CHECK(out && is_error(out, "-32602") && strstr(out, "limit"), "over 64 MiB: -32602");
    rdb_free(out);
    free(huge);

    out = call_expect(s,
        "{\"jsonrpc\":\"2.0\",\"id\":15,\"method\":\"findMessage\",\"params\":"
        "{\"messageID\":\"in-1\"}}", 1, "still usable");
    CHECK(out && strstr(out, "\"receiptSentState\":\"pending\""), "store still usable");
    rdb_free(out);
}

/* Four threads on one store. */
#define THREADS 4
#define PER_THREAD 10

struct worker { rdb_store *s; int n; int bad; char msg_id[128]; };

static void *work(void *arg) {
    struct worker *w = arg;
    char req[512];
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(req, sizeof req,
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"createMessage\",\"params\":"
                 "{\"to\":\"dave\",\"conversationType\":\"C2C\",\"payload\":{\"t\":%d}}}",
                 w->n * 1000 + i, w->n);
        char *out = rdb_call(w->s, req);
        if (!out || count_lines(out) != 1 || !strstr(out, "\"result\":{")) w->bad++;
        rdb_free(out);
        /* And one reader each for the same message: the union must hold all. */
        snprintf(req, sizeof req,
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"applyReceiptNotifications\","
                 "\"params\":{\"notifications\":[{\"messageID\":\"%s\",\"userID\":\"u%d\"}]}}",
                 w->n * 1000 + 500 + i, w->msg_id, w->n);
        out = rdb_call(w->s, req);
        if (!out || count_lines(out) < 1 || !strstr(last_line(out), "\"result\":{")) w->bad++;
        rdb_free(out);
    }
    return NULL;
}

static void test_threads(rdb_store *s) {
    char *out, id[128], req[1024];
    out = call_expect(s,
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"setGroup\",\"params\":{\"groupID\":\"crew\","
        "\"groupType\":\"Work\",\"members\":[{\"userID\":\"alice\"},{\"userID\":\"u0\"},"
        "{\"userID\":\"u1\"},{\"userID\":\"u2\"},{\"userID\":\"u3\"},{\"userID\":\"u4\"}]}}",
        1, "threads: setGroup");
    rdb_free(out);
    out = call_expect(s,
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"saveMessages\",\"params\":{\"messages\":[{"
        "\"ID\":\"crew-1\",\"from\":\"alice\",\"to\":\"crew\",\"conversationType\":\"GROUP\","
        "\"sequence\":1,\"time\":1700000000,\"needReadReceipt\":true}]}}", 1, "threads: save");
    rdb_free(out);
    strcpy(id, "crew-1");

    pthread_t t[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i].s = s;
        w[i].n = i;
        w[i].bad = 0;
        strcpy(w[i].msg_id, id);
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    int bad = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        bad += w[i].bad;
    }
    CHECK(bad == 0, "threads: every call got its one response");

    out = call_expect(s,
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"getMessageList\",\"params\":"
        "{\"conversationID\":\"C2Cdave\",\"count\":100}}", 1, "threads: list");
    int n = out ? count_of(out, "\"ID\":\"") : -1;
    if (n != THREADS * PER_THREAD) printf("  threads: %d messages\n", n);
    CHECK(n == THREADS * PER_THREAD, "threads: no lost createMessage");
    CHECK(out && strstr(out, "\"isCompleted\":true"), "threads: one page holds them all");
    rdb_free(out);

    snprintf(req, sizeof req,
             "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"getGroupMessageReadMemberList\",\"params\":"
             "{\"messageID\":\"%s\",\"filter\":0,\"cursor\":\"\",\"count\":100}}", id);
    out = call_expect(s, req, 1, "threads: readers");
    CHECK(out && strstr(out, "\"readUserIDList\":[\"u0\",\"u1\",\"u2\",\"u3\"]"),
          "threads: no lost reader");
    rdb_free(out);
}

/* An encrypted store: the right key opens it, a wrong one is WRONG_KEY;
   deleting is refused while it is open and removes it once closed. */
static void test_key_and_delete(void) {
    char path[4200], *err = NULL;
    path_of(path, sizeof path, "secret.db");
    rdb_store *s = rdb_open_with_key(path, "alice", "pass phrase", &err);
    CHECK(s != NULL && err == NULL, "open encrypted");
    if (!s) return;
    char *out = call_expect(s,
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getReceiptConfig\"}", 1, "keyed call");
    rdb_free(out);
    CHECK(rdb_delete_store(path, "alice", "pass phrase", &err) == -1, "delete while open fails");
    CHECK(err && strstr(err, "\"code\":2009") && strstr(err, "STORE_BUSY"), "delete while open: STORE_BUSY");
    rdb_free(err);
    err = NULL;
    rdb_close(s);
    CHECK(rdb_open_with_key(path, "alice", "wrong", &err) == NULL, "a wrong key fails");
    CHECK(err && strstr(err, "\"code\":2013") && strstr(err, "WRONG_KEY"), "wrong key: WRONG_KEY");
    rdb_free(err);
    err = NULL;
    CHECK(rdb_delete_store(path, "alice", "pass phrase", &err) == 1 && err == NULL, "delete once closed");
    CHECK(rdb_delete_store(path, "alice", NULL, &err) == 0 && err == NULL, "nothing left to delete");
    CHECK(rdb_delete_store(NULL, "alice", NULL, NULL) == -1, "NULL path: -1, no crash");
}

int main(int argc, char **argv) {
    char path[4200], *err = NULL;
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);

    test_null_and_open_failures();

    path_of(path, sizeof path, "alice.db");
    rdb_store *s = rdb_open(path, "alice", &err);
    CHECK(s != NULL && err == NULL, "open alice");
    if (!s) {
        printf("cannot open: %s\n", err ? err : "(no error)");
        return 1;
    }
    test_calls(s);
    test_threads(s);
    rdb_close(s);

    /* OWNER_MISMATCH: alice's file is not bob's. */
    err = NULL;
    CHECK(rdb_open(path, "bob", &err) == NULL, "another owner is refused");
    CHECK(err && strstr(err, "\"code\":2005") && strstr(err, "OWNER_MISMATCH"),
          "another owner: OWNER_MISMATCH");
    rdb_free(err);

    /* Reopened, the data is there. */
    err = NULL;
    s = rdb_open(path, "alice", &err);
    CHECK(s != NULL, "reopen alice");
    if (s) {
        char *out = call_expect(s,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"findMessage\",\"params\":"
            "{\"messageID\":\"crew-1\"}}", 1, "reopen: find");
        CHECK(out && strstr(out, "\"readCount\":4"), "reopen: the readers persisted");
        rdb_free(out);
        rdb_close(s);
    }
    rdb_free(err);

    test_key_and_delete();

    if (failures) {
        printf("%d of %d checks failed\n", failures, checks);
        return 1;
    }
    printf("all %d checks passed\n", checks);
    return 0;
}
