#!/usr/bin/env python3
"""The reference server with one planted bug, for `receiptdb sim --server-cmd`.

The bug: the server never recognises a repeated receipt. SIM-SERVER.md says
that when "the user's receipt for it is already held" the server does
nothing; this server instead takes the repeat as a fresh read: it appends the
user to the message's readers once more and notifies the sender, so the
`readCount` it sends counts receipt *requests* rather than distinct readers.
(Its `readers` answer still names each user once, so the server's own account
of who read what stays right; only the figures it sends are inflated.)

Repeats are common under the simulator's faults (duplicated and lost packets,
lost acks, crashes make devices send a batch again), and the first inflated
notification a device applies puts it *ahead* of the server, which the
simulator's running check reports as an invariant violation (exit status 1).

Everything else is examples/servers/reference_server.py, imported from this
directory:

    receiptdb sim --server-cmd "python3 examples/servers/buggy_server.py"
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import reference_server  # noqa: E402


class BuggyServer(reference_server.Server):
    name = "python buggy server (repeats counted again)"

    def is_held(self, msg, user):
        # BUG: should be `user in msg.readers`; a repeat becomes a new read.
        return False


if __name__ == "__main__":
    reference_server.serve(BuggyServer())
