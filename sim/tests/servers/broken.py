"""Tiny broken servers for the simulator's tests: `python3 broken.py MODE`.

Each answers the handshake correctly (except `old-protocol` and
`exit-at-hello`), then misbehaves on the first request after it, the way
MODE says. A correct server never does any of this; the harness must end the
run with exit status 2 and a clear report, never hang, panic or pass.
"""
import json
import sys
import time

mode = sys.argv[1]
print("broken server starting in mode", mode, file=sys.stderr, flush=True)


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


hello = sys.stdin.readline()
if mode == "exit-at-hello":
    print("giving up before the handshake", file=sys.stderr, flush=True)
    sys.exit(3)
say({"protocol": 2 if mode == "old-protocol" else 3, "name": "broken-" + mode})
req = json.loads(sys.stdin.readline() or "{}")
print("got request", req.get("seq"), req.get("kind"), file=sys.stderr, flush=True)
if mode == "exit":
    sys.exit(4)
elif mode == "hang":
    time.sleep(60)
elif mode == "not-json":
    sys.stdout.write("this is not json at all\n")
elif mode == "unknown-kind":
    say({"packets": [{"to": 0, "kind": "teleport", "where": "mars"}]})
elif mode == "wrong-type":
    say({"packets": [{"to": "zero", "kind": "readAck", "reports": []}]})
elif mode == "bad-device":
    say({"packets": [{"to": 999, "kind": "readAck", "reports": []}]})
elif mode == "no-packets":
    say({"pakets": []})
elif mode == "error":
    say({"error": "database unavailable"})
sys.stdout.flush()
# Stay alive until stdin closes, so only the bad line is to blame.
for _ in sys.stdin:
    pass
