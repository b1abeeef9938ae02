#!/usr/bin/env python3
# bench: latency from close() of a file to its manifest line, for bench/run.
#
# usage: latency.py STAGING MANIFEST_GLOB COUNT INTERVAL_S SEED
#
# Writes COUNT files of 4 KiB (random bytes from SEED) into STAGING, one every
# INTERVAL_S seconds (light load: one file in flight at a time), and stamps
# the monotonic time just after close().  A second thread polls the manifest
# files every millisecond and stamps each new line when it appears.  Prints
# "p50_ms p99_ms max_ms n" for the files whose lines were seen.
import json, os, random, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from waitlines import new_lines  # noqa: E402

stg, mglob, count, interval, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    float(sys.argv[4]), int(sys.argv[5])
rnd = random.Random(seed)
closed, seen = {}, {}
done = threading.Event()


def poll():
    offs = {}
    while not done.is_set():
        lines = new_lines(mglob, offs)
        now = time.monotonic()
        for line in lines:
            try:
                name = os.path.basename(json.loads(line)['path'])
            except (ValueError, KeyError):
                continue
            seen.setdefault(name, now)
        if len(seen) >= count:
            return
        time.sleep(0.001)


t = threading.Thread(target=poll)
t.start()
for i in range(count):
    name = 'lat%06d.dat' % i
    with open(os.path.join(stg, name), 'wb') as f:
        f.write(rnd.randbytes(4096))
    closed[name] = time.monotonic()
    time.sleep(interval)
t.join(timeout=60)
done.set()
t.join()
lat = sorted((seen[n] - closed[n]) * 1000 for n in closed if n in seen)
if not lat:
    print('nan nan nan 0')
    sys.exit(1)
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print('%.1f %.1f %.1f %d' % (pick(0.50), pick(0.99), lat[-1], len(lat)))
