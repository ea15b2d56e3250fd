#!/usr/bin/env python3
"""Prints streamhall's figures beside a peer's from two streamhall-load JSON reports of the
same scenario, and the ratio. Usage: ratio.py STREAMHALL.json PEER.json FIGURE... where a
FIGURE is `figures.NAME`, `counters.NAME` or `latencies.NAME.p99_ms` (higher is better unless
the name ends in `_ms` or `kib_per_conn`, which are shown as peer/streamhall). PEER.json `-`
prints streamhall's figures alone."""
import json, sys

def get(report, path):
    v = report
    for k in path.split('.'):
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return v

def fmt(v):
    if v is None:
        return '-'
    if abs(v) >= 1e9:
        return f'{v/1e9:.2f} G'
    if abs(v) >= 1e6:
        return f'{v/1e6:.2f} M'
    if abs(v) >= 1e4:
        return f'{v:,.0f}'
    return f'{v:.2f}'

sh, peer = (json.load(open(p)) if p != '-' else {} for p in sys.argv[1:3])
name = peer.get('peer') or 'peer'
print(f"{'figure':<34} {'streamhall':>12} {name:>12} {'ratio':>8}")
for path in sys.argv[3:]:
    a, b = get(sh, path), get(peer, path)
    lower_better = path.endswith('_ms') or path.endswith('kib_per_conn')
    ratio = None
    if a is not None and b is not None and a > 0 and b > 0:
        ratio = b / a if lower_better else a / b
    r = f'{ratio:.2f}x' if ratio is not None else '-'
    print(f'{path:<34} {fmt(a):>12} {fmt(b):>12} {r:>8}')
