/* Two stores on one file in one process, through the C ABI; run by
 * bindings/c/tests/two_stores.rs (plain and under valgrind).
 *
 * POSIX record locks belong to the process and the file: closing any
 * descriptor of the file drops all of the process's locks on it. If a store
 * ever opened or closed the file outside SQLite, a visiting process closing
 * its own store would find no other lock, checkpoint and delete the
 * -wal/-shm this process still writes to, and later acknowledged writes
 * would be invisible to others and lost at kill -9.
 *
 * Usage:
 *   two_stores hold PATH N
 *     The holder. Opens PATH as alice, saves h0, opens PATH as alice again
 *     (a second store while the first has its WAL open), then saves h1..hN
 *     alternately through the two handles (N = 0: until killed), printing
 *     "ack hI" and flushing after each acknowledged save. After each save it
 *     checks the other handle sees it. Now and then it tries to open PATH as
 *     mallory (must fail with OWNER_MISMATCH, 2005), and now and then opens
 *     and closes a third alice store. With N > 0 it closes both stores and
 *     prints "done N".
 *   two_stores visit PATH NEWEST OWN SEQ
 *     A visitor. Opens PATH as alice, prints "visible NEWEST" or
 *     "invisible NEWEST" (findMessage), saves message OWN with sequence SEQ,
 *     prints "ack OWN", closes.
 * A broken call prints "FAIL ..." to stderr and exits 1. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "receiptdb.h"

static const char *OWNER = "alice";
static long next_request_id = 1;

static void fail(const char *what, const char *detail) {
    fprintf(stderr, "FAIL %s: %s\n", what, detail ? detail : "(none)");
    exit(1);
}

/* The last line (the response) of a call's output ("" if malformed). */
static const char *last_line(const char *out) {
    size_t len = strlen(out);
    if (len == 0 || out[len - 1] != '\n') return "";
    const char *p = out + len - 1; /* the final '\n' */
    while (p > out && p[-1] != '\n') p--;
    return p;
}

static rdb_store *open_or_fail(const char *path, const char *user) {
    char *err = NULL;
    rdb_store *s = rdb_open(path, user, &err);
    if (!s) fail("rdb_open", err);
    if (err) fail("rdb_open succeeded but set error_json", err);
    return s;
}

/* Saves one incoming C2C message from bob; exits unless it was saved. */
static void save(rdb_store *s, const char *id, long seq) {
    char req[512];
    snprintf(req, sizeof req,
             "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"saveMessages\",\"params\":"
             "{\"messages\":[{\"ID\":\"%s\",\"conversationType\":\"C2C\",\"from\":\"bob\","
             "\"to\":\"%s\",\"time\":%ld,\"sequence\":%ld}]}}",
             next_request_id++, id, OWNER, seq, seq);
    char *out = rdb_call(s, req);
    if (!strstr(last_line(out), "\"result\":{\"saved\":1}")) fail("saveMessages", out);
    rdb_free(out);
}

/* 1 if `id` is found, 0 if findMessage answers null; exits on an error. */
static int find(rdb_store *s, const char *id) {
    char req[512], want[256];
    snprintf(req, sizeof req,
             "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"findMessage\",\"params\":"
             "{\"messageID\":\"%s\"}}",
             next_request_id++, id);
    char *out = rdb_call(s, req);
    const char *last = last_line(out);
    snprintf(want, sizeof want, "\"ID\":\"%s\"", id);
    int found;
    if (strstr(last, "\"result\":null")) {
        found = 0;
    } else if (strstr(last, "\"result\":{") && strstr(last, want)) {
        found = 1;
    } else {
        fail("findMessage", out);
        found = 0;
    }
    rdb_free(out);
    return found;
}

static void refused_as_mallory(const char *path) {
    char *err = NULL;
    rdb_store *s = rdb_open(path, "mallory", &err);
    if (s) {
        rdb_close(s);
        fail("open as mallory", "succeeded");
    }
    if (!err || !strstr(err, "\"code\":2005") || !strstr(err, "OWNER_MISMATCH"))
        fail("open as mallory: not OWNER_MISMATCH", err);
    rdb_free(err);
}

static int hold(const char *path, long n) {
    char id[64];
    long limit = n > 0 ? n : 1000000;
    struct timespec pause = {0, 2 * 1000 * 1000}; /* 2 ms */
    rdb_store *a = open_or_fail(path, OWNER);
    save(a, "h0", 1);
    rdb_store *b = open_or_fail(path, OWNER);
    if (!find(b, "h0")) fail("second store", "does not see h0");
    printf("ack h0\n");
    fflush(stdout);
    for (long i = 1; i <= limit; i++) {
        if (i % 7 == 0) refused_as_mallory(path);
        if (i % 11 == 0) rdb_close(open_or_fail(path, OWNER));
        rdb_store *s = i % 2 == 0 ? a : b;
        rdb_store *other = i % 2 == 0 ? b : a;
        snprintf(id, sizeof id, "h%ld", i);
        save(s, id, i + 1);
        printf("ack %s\n", id);
        fflush(stdout);
        if (!find(other, id)) fail("the other store does not see", id);
        nanosleep(&pause, NULL);
    }
    rdb_close(b);
    rdb_close(a);
    printf("done %ld\n", n);
    return 0;
}

static int visit(const char *path, const char *newest, const char *own, long seq) {
    rdb_store *s = open_or_fail(path, OWNER);
    printf("%s %s\n", find(s, newest) ? "visible" : "invisible", newest);
    save(s, own, seq);
    printf("ack %s\n", own);
    fflush(stdout);
    rdb_close(s);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "hold") == 0) return hold(argv[2], atol(argv[3]));
    if (argc == 6 && strcmp(argv[1], "visit") == 0)
        return visit(argv[2], argv[3], argv[4], atol(argv[5]));
    fprintf(stderr,
            "usage: %s hold PATH N\n"
            "       %s visit PATH NEWEST OWN SEQ\n",
            argv[0], argv[0]);
    return 2;
}
