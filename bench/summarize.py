#!/usr/bin/env python3
# bench: turn bench/run's raw rows into the Markdown tables of its summary.
#
# usage: summarize.py RAW.tsv LATENCY.tsv SCALE.tsv (missing files are skipped)
import os, statistics, sys
from collections import defaultdict

raw, lat, scale = sys.argv[1:4]
rows = defaultdict(list)
meta = {}
if os.path.exists(raw):
    for line in open(raw):
        w, d, m, r, secs, files, nbytes, cpu, mh, wh = line.rstrip('\n').split('\t')
        rows[(w, d, m)].append((float(secs), int(files), int(nbytes), cpu, mh, wh))

def rate(key):
    """median, min, max of files/s and MB/s"""
    fs = sorted(f / s for s, f, b, *_ in rows[key])
    ms = sorted(b / s / 1e6 for s, f, b, *_ in rows[key])
    return (statistics.median(fs), fs[0], fs[-1],
            statistics.median(ms), ms[0], ms[-1])

order = ['once', 'once-base', 'once-rows', 'once-rows-base', 'daemon',
         'daemon-base', 'cp', 'rsync', 'naive']
wls = sorted({k[0] for k in rows}, key='SML'.find)
dests = [d for d in ['same', 'ext4', 'tmpfs'] if any(k[1] == d for k in rows)]
if rows:
    print('## Throughput (median of %d rounds, min-max)' %
          max(len(v) for v in rows.values()))
    print()
    print('| workload | dest | method | files | files/s | MB/s | CPU s/GB |')
    print('|---|---|---|---:|---:|---:|---:|')
    for w in wls:
        for d in dests:
            for m in order:
                k = (w, d, m)
                if k not in rows:
                    continue
                f, f0, f1, b, b0, b1 = rate(k)
                cpus = [float(c) / (nb / 1e9) for s, fl, nb, c, *_ in rows[k]
                        if c != '-']
                cpu = '%.1f' % statistics.median(cpus) if cpus else '-'
                print('| %s | %s | %s | %d | %.0f (%.0f-%.0f) | %.1f (%.1f-%.1f) | %s |'
                      % (w, d, m, rows[k][0][1], f, f0, f1, b, b0, b1, cpu))
    print()
    print('## Ratios (ingestd rate / baseline rate, medians)')
    print()
    print('| workload | dest | ingestd | / cp+sync | / rsync+sync | / naive |')
    print('|---|---|---|---:|---:|---:|')
    for w in wls:
        for d in dests:
            for mine in ('once', 'once-base', 'once-rows', 'once-rows-base',
                         'daemon', 'daemon-base'):
                if (w, d, mine) not in rows:
                    continue
                mr = rate((w, d, mine))[0]
                cells = []
                for base in ('cp', 'rsync', 'naive'):
                    k = (w, d, base)
                    cells.append('%.2fx' % (mr / rate(k)[0]) if k in rows else '-')
                print('| %s | %s | %s | %s |' % (w, d, mine, ' | '.join(cells)))
    print()
    pairs = [(w, d, m) for w in wls for d in dests
             for m in ('once', 'once-rows', 'daemon')
             if (w, d, m) in rows and (w, d, m + '-base') in rows]
    if pairs:
        print('## This build against --base-build (rate ratio, medians)')
        print()
        print('| workload | dest | mode | new / base |')
        print('|---|---|---|---:|')
        for w, d, m in pairs:
            print('| %s | %s | %s | %.2fx |' % (w, d, m, rate((w, d, m))[0] /
                  rate((w, d, m + '-base'))[0]))
        print()
    hw = [(k, int(mh), int(wh)) for k, v in rows.items() if k[2] == 'daemon'
          for s, f, b, c, mh, wh in v if mh != '-']
    if hw:
        print('## Peak RSS (VmHWM, daemon runs)')
        print()
        print('| workload | dest | master MiB (max) | worker MiB (max) |')
        print('|---|---|---:|---:|')
        for w in wls:
            for d in dests:
                v = [(mh, wh) for k, mh, wh in hw if k[:2] == (w, d)]
                if v:
                    print('| %s | %s | %.1f | %.1f |' % (w, d,
                          max(x[0] for x in v) / 1024, max(x[1] for x in v) / 1024))
        print()
if os.path.exists(lat) and os.path.getsize(lat) > 0:
    print('## Latency close() -> manifest line (close-write, light load)')
    print()
    print('| dest | p50 ms | p99 ms | max ms | files |')
    print('|---|---:|---:|---:|---:|')
    for line in open(lat):
        _, d, res = line.rstrip('\n').split('\t')
        print('| %s | %s |' % (d, ' | '.join(res.split())))
    print()
if os.path.exists(scale) and os.path.getsize(scale) > 0:
    print('## Scale')
    print()
    for line in open(scale):
        f = line.rstrip('\n').split('\t')
        print('- %s: %s' % (f[0], ' / '.join(f[1:])))
    print()
