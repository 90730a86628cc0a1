"""receiptdb from Python through its C ABI, with ctypes (no build step).

    cargo build --release -p receiptdb-ffi
    python3 examples/python_ctypes.py [DB]

The library is target/release/libreceiptdb_ffi.so, or $RECEIPTDB_FFI_LIB.
"""
import ctypes
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.environ.get("RECEIPTDB_FFI_LIB") or os.path.join(
    HERE, "..", "target", "release", "libreceiptdb_ffi.so")

lib = ctypes.CDLL(LIB)
# Returned strings are c_void_p, not c_char_p: ctypes would copy a c_char_p and
# lose the pointer, and only rdb_free may free it.
lib.rdb_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
lib.rdb_open.restype = ctypes.c_void_p
lib.rdb_call.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
lib.rdb_call.restype = ctypes.c_void_p
lib.rdb_free.argtypes = [ctypes.c_void_p]
lib.rdb_free.restype = None
lib.rdb_close.argtypes = [ctypes.c_void_p]
lib.rdb_close.restype = None
lib.rdb_version.argtypes = []
lib.rdb_version.restype = ctypes.c_char_p


def take(ptr):
    """The library's string as Python text; frees it."""
    try:
        return ctypes.string_at(ptr).decode("utf-8")
    finally:
        lib.rdb_free(ptr)


class Store:
    """One receiptdb store; call() returns (events, response) as dicts."""

    def __init__(self, path, user_id):
        err = ctypes.c_void_p()
        self._h = lib.rdb_open(path.encode(), user_id.encode(), ctypes.byref(err))
        if not self._h:
            raise RuntimeError(json.loads(take(err)))
        self._id = 0

    def call(self, method, params=None):
        self._id += 1
        req = {"jsonrpc": "2.0", "id": self._id, "method": method}
        if params is not None:
            req["params"] = params
        out = take(lib.rdb_call(self._h, json.dumps(req).encode()))
        lines = [json.loads(line) for line in out.splitlines()]
        return lines[:-1], lines[-1]

    def close(self):
        lib.rdb_close(self._h)
        self._h = None


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.mkdtemp(), "alice.db")
    print("receiptdb", lib.rdb_version().decode())
    store = Store(path, "alice")
    steps = [
        ("setGroup", {"groupID": "team", "groupType": "Work",
                      "members": [{"userID": u} for u in ("alice", "bob", "carol")]}),
        ("saveMessages", {"messages": [
            {"ID": "m1", "from": "alice", "to": "team", "conversationType": "GROUP",
             "sequence": 1, "time": 1700000000, "needReadReceipt": True},
            {"ID": "m2", "from": "bob", "to": "team", "conversationType": "GROUP",
             "sequence": 2, "time": 1700000060, "needReadReceipt": True}]}),
        ("sendMessageReadReceipt", {"messageIDs": ["m2"]}),
        ("applyReceiptNotifications",
         {"notifications": [{"messageID": "m1", "groupID": "team", "userID": "bob"}]}),
        ("getGroupMessageReadMemberList",
         {"messageID": "m1", "filter": 1, "cursor": "", "count": 100}),
    ]
    for method, params in steps:
        events, response = store.call(method, params)
        for e in events:
            print("event", e["method"], json.dumps(e["params"]))
        print(method, json.dumps(response.get("result", response.get("error"))))
    store.close()
    try:
        Store(path, "mallory")
    except RuntimeError as e:
        print("open as mallory:", e.args[0]["data"]["name"])


if __name__ == "__main__":
    main()
