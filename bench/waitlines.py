#!/usr/bin/env python3
# bench: wait until the files matching GLOB hold at least N lines, for bench/run.
#
# usage: waitlines.py GLOB N TIMEOUT_S
#
# Reads the files incrementally (so polling a growing manifest costs little),
# polls every 5 ms, and prints the wall-clock time (seconds since the epoch)
# at which the N-th line was seen.  Exits 1 on timeout.
import glob, sys, time

pat, n, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
offs, lines = {}, {}
end = time.time() + timeout
while True:
    for m in glob.glob(pat):
        try:
            with open(m, 'rb') as f:
                f.seek(offs.get(m, 0))
                data = f.read()
        except OSError:
            continue
        offs[m] = offs.get(m, 0) + len(data)
        lines[m] = lines.get(m, 0) + data.count(b'\n')
    now = time.time()
    if sum(lines.values()) >= n:
        print('%.6f' % now)
        sys.exit(0)
    if now > end:
        print('timeout: %d of %d lines' % (sum(lines.values()), n), file=sys.stderr)
        sys.exit(1)
    time.sleep(0.005)
