#!/usr/bin/python3
"""Send one QMP command to a QEMU and print its "return" value as JSON.

Usage: qmp.py SOCKET COMMAND [ARGUMENTS-JSON]
Exits 1 with QEMU's error description on stderr if the command failed.
Asynchronous events that arrive before the answer are skipped.
"""
import json
import socket
import sys


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: qmp.py SOCKET COMMAND [ARGUMENTS-JSON]")
    path, command = sys.argv[1], sys.argv[2]
    request = {"execute": command}
    if len(sys.argv) == 4:
        request["arguments"] = json.loads(sys.argv[3])
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    sock.connect(path)
    stream = sock.makefile("rw")

    def answer():
        while True:
            line = stream.readline()
            if not line:
                sys.exit("qmp.py: QEMU closed the connection")
            msg = json.loads(line)
            if "return" in msg or "error" in msg:
                return msg

    json.loads(stream.readline())  # greeting
    stream.write(json.dumps({"execute": "qmp_capabilities"}) + "\n")
    stream.flush()
    answer()
    stream.write(json.dumps(request) + "\n")
    stream.flush()
    msg = answer()
    if "error" in msg:
        print("qmp.py: %s: %s" % (command, msg["error"].get("desc")), file=sys.stderr)
        sys.exit(1)
    print(json.dumps(msg["return"]))


main()
