#!/usr/bin/env python3
"""subreaper.py CMD [ARG...]: run CMD as a child subreaper would.

scripts/bench runs every check run and every hyperfine under it. Processes
that CMD leaves behind (a container runtime whose parent was interrupted,
say) are re-parented to this process instead of to PID 1, reaped here, and
killed after a grace period if they outlive CMD; so when this returns,
nothing that CMD started is left, not even as a zombie that would keep a
cgroup busy. SIGINT, SIGTERM and SIGHUP are passed on to CMD. Exits with
CMD's status (128+N for a signal N).
"""
import ctypes
import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
GRACE = 10.0  # seconds the leftovers get after CMD exited, then SIGKILL


def children(me):
    """pids whose parent is this process"""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may hold spaces and parentheses
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == me:
            out.append(int(d))
    return out


def main():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: subreaper.py CMD [ARG...]\n")
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.stderr.write("subreaper.py: prctl(PR_SET_CHILD_SUBREAPER) failed\n")
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(sys.argv[1], sys.argv[1:])
        except OSError as e:
            sys.stderr.write(f"subreaper.py: {sys.argv[1]}: {e}\n")
            os._exit(127)

    def forward(sig, _frame):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, forward)

    status = None
    while status is None:
        try:
            p, st = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if p == pid:
            status = os.waitstatus_to_exitcode(st)

    # the leftovers: reap what exits by itself, kill the rest after GRACE
    me = os.getpid()
    deadline = time.monotonic() + GRACE
    while True:
        try:
            p, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if p != 0:
            continue
        if time.monotonic() > deadline:
            for c in children(me):
                sys.stderr.write(f"subreaper.py: killing leftover process {c}\n")
                try:
                    os.kill(c, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 0.5
        time.sleep(0.02)

    if status is None:
        return 1
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main())
