#!/usr/bin/env python3
"""Requests the broker served per job during one bench/throughput.sh run, by client and API.

The broker must log every request: run the benchmark with
    BARGE_KAFKA_LOG4J=scripts/kafka/log4j2-requests.properties bench/throughput.sh --no-slurm --tasks N ...
(the logging itself costs the broker CPU: use these runs to count, not to time), then
    bench/kafka_requests.py WORK/barge-N N
The run's window is that of the CPU snapshots (cpu-before.json, cpu-after.json in WORK/barge-N).
Agents are summed under one name; localTimeMs is the broker's own handling time of a request."""
import collections
import datetime
import json
import os
import re
import sys

LINE = re.compile(r'^\[(\S+)\] DEBUG Completed request:(.*) \(kafka.request.logger\)$')


def client_name(r):
    c = r['requestHeader'].get('clientId') or '?'
    c = re.sub(r'agent.*', 'agent*', c)
    return ('controller:' + c) if r.get('listener') == 'CONTROLLER' else c


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    d, n = sys.argv[1], int(sys.argv[2])
    t0 = os.stat(os.path.join(d, 'cpu-before.json')).st_mtime
    t1 = os.stat(os.path.join(d, 'cpu-after.json')).st_mtime
    count, local = collections.Counter(), collections.Counter()
    with open(os.path.join(d, 'kafka', 'kafka.log'), errors='replace') as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            ts = datetime.datetime.strptime(m.group(1), '%Y-%m-%dT%H:%M:%S,%f')
            ts = ts.replace(tzinfo=datetime.timezone.utc).timestamp()
            if not t0 <= ts <= t1:
                continue
            try:
                r = json.loads(m.group(2))
            except ValueError:
                continue
            k = (client_name(r), r['requestHeader']['requestApiKeyName'])
            count[k] += 1
            local[k] += float(r.get('localTimeMs', 0))
    print(f'{t1 - t0:.1f} s window, {n} jobs: requests per job by client and API\n')
    print('| client | API | requests/job | broker handling ms/job |\n|---|---|---:|---:|')
    for (c, a), v in count.most_common():
        print(f'| {c} | {a} | {v / n:.3f} | {local[(c, a)] / n:.3f} |')
    by = collections.Counter()
    for (c, _), v in count.items():
        by[c] += v
    print('\nBy client: ' + ', '.join(f'{c} {v / n:.2f}' for c, v in by.most_common()))
    print(f'All: {sum(count.values()) / n:.2f} requests/job')


if __name__ == '__main__':
    main()
