#!/usr/bin/env python3
# bench: wait until the files matching GLOB hold at least N lines, for bench/run.
#
# usage: waitlines.py GLOB N TIMEOUT_S
#
# Reads the files incrementally (so polling a growing manifest costs little),
# polls every 5 ms, and prints the wall-clock time (seconds since the epoch)
# at which the N-th line was seen.  Exits 1 on timeout.
import glob, sys, time


def new_lines(pat, offs):
    """The whole lines appended to the files matching pat since the last
    call (offs: file -> bytes consumed, updated)."""
    out = []
    for m in glob.glob(pat):
        try:
            with open(m, 'rb') as f:
                f.seek(offs.get(m, 0))
                data = f.read()
        except OSError:
            continue
        cut = data.rfind(b'\n') + 1
        offs[m] = offs.get(m, 0) + cut
        out.extend(data[:cut].splitlines())
    return out


if __name__ == '__main__':
    pat, n, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    offs, seen = {}, 0
    end = time.time() + timeout
    while True:
        seen += len(new_lines(pat, offs))
        now = time.time()
        if seen >= n:
            print('%.6f' % now)
            sys.exit(0)
        if now > end:
            print('timeout: %d of %d lines' % (seen, n), file=sys.stderr)
            sys.exit(1)
        time.sleep(0.005)
