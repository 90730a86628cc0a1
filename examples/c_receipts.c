/* receiptdb from C: open a store, save messages, send a receipt, take in what
 * the server says, read a member list, and print every line that comes back.
 *
 *   cargo build --release -p receiptdb-ffi
 *   cc -I bindings/c examples/c_receipts.c -L target/release -lreceiptdb_ffi \
 *      -Wl,-rpath,"$PWD/target/release" -o c_receipts && ./c_receipts /tmp/alice.db
 */
#include <stdio.h>

#include "receiptdb.h"

/* One request; print the lines (events first, the response last), free them. */
static void call(rdb_store *store, const char *request) {
    char *lines = rdb_call(store, request);
    printf(">> %s\n%s", request, lines);
    rdb_free(lines);
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "receipts-example.db";
    char *error = NULL;
    rdb_store *store = rdb_open(path, "alice", &error);
    if (!store) {
        fprintf(stderr, "cannot open %s: %s\n", path, error);
        rdb_free(error);
        return 1;
    }
    printf("receiptdb %s\n", rdb_version());
    call(store, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"setGroup\",\"params\":{"
                "\"groupID\":\"team\",\"groupType\":\"Work\",\"members\":["
                "{\"userID\":\"alice\"},{\"userID\":\"bob\"},{\"userID\":\"carol\"}]}}");
    /* What the transport delivered: alice's message (sent from this device)
       and one from bob; both want read receipts. */
    call(store, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"saveMessages\",\"params\":{\"messages\":["
                "{\"ID\":\"m1\",\"from\":\"alice\",\"to\":\"team\",\"conversationType\":\"GROUP\","
                "\"sequence\":1,\"time\":1700000000,\"needReadReceipt\":true,\"payload\":{\"text\":\"ship it?\"}},"
                "{\"ID\":\"m2\",\"from\":\"bob\",\"to\":\"team\",\"conversationType\":\"GROUP\","
                "\"sequence\":2,\"time\":1700000060,\"needReadReceipt\":true,\"payload\":{\"text\":\"yes\"}}]}}");
    /* alice read bob's message: the receipt goes to the durable outbox. */
    call(store, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"sendMessageReadReceipt\","
                "\"params\":{\"messageIDs\":[\"m2\"]}}");
    /* The server says bob read alice's message: an event, then the response. */
    call(store, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"applyReceiptNotifications\",\"params\":"
                "{\"notifications\":[{\"messageID\":\"m1\",\"groupID\":\"team\",\"userID\":\"bob\"}]}}");
    /* Who has not read it yet? */
    call(store, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"getGroupMessageReadMemberList\",\"params\":"
                "{\"messageID\":\"m1\",\"filter\":1,\"cursor\":\"\",\"count\":100}}");
    rdb_close(store);
    return 0;
}
