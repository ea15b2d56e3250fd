#!/usr/bin/env python3
"""Chat fan-out capacity from a sweep: for each server, the highest delivered/s among the runs
whose delivery p99 was at most P99_MS and that lost nothing, and the ratio.
Usage: capacity.py DIR P99_MS (reads DIR/sweep-{streamhall,peer}-*.json)."""
import glob, json, os, sys

d, limit = sys.argv[1], float(sys.argv[2])
best = {}
print(f"{'server':<12} {'offered msg/s':>13} {'delivered/s':>12} {'p99 ms':>9} {'lost':>8}")
for who in ('streamhall', 'peer'):
    runs = []
    for f in glob.glob(os.path.join(d, f'sweep-{who}-*.json')):
        r = json.load(open(f))
        total = r['params']['senders'] * r['params']['rate_per_sender']
        runs.append((total, r['figures'].get('delivered_per_sec', 0), r['latencies']['delivery']['p99_ms'], r['counters'].get('lost', 0)))
    for total, dps, p99, lost in sorted(runs):
        print(f'{who:<12} {total:>13.0f} {dps:>12,.0f} {p99:>9.1f} {lost:>8}')
        if p99 <= limit and lost == 0:
            best[who] = max(best.get(who, 0), dps)
s, p = best.get('streamhall'), best.get('peer')
print(f'capacity at p99 <= {limit:.0f} ms: streamhall {s or 0:,.0f}/s, peer {p or 0:,.0f}/s, ratio ' +
      (f'{s / p:.2f}x' if s and p else '-'))
