#!/usr/bin/env python3
"""The broker's CPU per transaction under a fixed, scheduler-like transactional load, to compare
broker settings (scripts/kafka.sh) without the whole pipeline's noise.

    bench/broker_txn.py [--txns 400] [--records 30] [--followers 6] [--partitions 1]
                        [--positions offsets|record|none] [--set KEY=VALUE ...] [--settle 5]

Starts a fresh broker (scripts/kafka.sh start, with the --set settings; KAFKA_JVM_OPTS from the
environment), then one transactional producer commits TXNS transactions, each with its consumed
offsets (send_offsets_to_transaction; --positions: a record instead, or nothing) and RECORDS records of 700 bytes over 3 topics of
PARTITIONS partitions (as the scheduler's jobs, job-events and placements; Barge creates them
with 1, earlier versions with 3), while FOLLOWERS read_committed
consumers follow those topics (as the agents, audit and the API do). Prints the broker's CPU
(user + system, /proc) per transaction and its busiest threads. Needs python3-confluent-kafka.
On a shared machine, run the variants to compare alternately, twice or more."""
import argparse
import collections
import os
import subprocess
import sys
import tempfile
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from proc_cpu import threads  # noqa: E402  (CPU seconds per thread name)
KAFKA = os.path.join(HERE, '..', 'scripts', 'kafka.sh')
TOPICS = ['jobs', 'job-events', 'placements']


def follow(b, i, stop):
    c = Consumer({'bootstrap.servers': b, 'group.id': f'follower-{i}', 'isolation.level': 'read_committed',
                  'fetch.wait.max.ms': 500, 'auto.offset.reset': 'earliest', 'enable.auto.commit': False})
    c.subscribe(TOPICS)
    while not stop.is_set():
        c.poll(0.1)
    c.close()


def run(b, pid, a):
    admin = AdminClient({'bootstrap.servers': b})
    for f in admin.create_topics([NewTopic(t, a.partitions, 1) for t in TOPICS + ['input', 'positions']]).values():
        f.result()
    p = Producer({'bootstrap.servers': b, 'transactional.id': 'broker-txn', 'linger.ms': 5,
                  'compression.type': 'lz4', 'acks': 'all', 'enable.idempotence': True, 'retry.backoff.ms': 5})
    p.init_transactions()
    group = Consumer({'bootstrap.servers': b, 'group.id': 'scheduler', 'enable.auto.commit': False})
    stop = threading.Event()
    ths = [threading.Thread(target=follow, args=(b, i, stop)) for i in range(a.followers)]
    for t in ths:
        t.start()
    time.sleep(a.settle)  # the followers have joined and are fetching
    value = b'x' * 700

    def txn(k):
        p.begin_transaction()
        if a.positions == 'offsets':
            p.send_offsets_to_transaction([TopicPartition('input', k % a.partitions, k)], group.consumer_group_metadata())
        elif a.positions == 'record':  # the input position as one more record of the transaction
            p.produce('positions', key=b'scheduler', value=str(k).encode())
        for r in range(a.records):
            p.produce(TOPICS[r % 3], key=str(k * a.records + r).encode(), value=value)
        p.commit_transaction()

    for k in range(20):  # warm-up
        txn(k)
    t0, h0 = time.time(), collections.Counter(threads(pid))
    for k in range(20, 20 + a.txns):
        txn(k)
    t1, h1 = time.time(), collections.Counter(threads(pid))
    stop.set()
    for t in ths:
        t.join()
    group.close()
    h1.subtract(h0)
    cpu = sum(h1.values())
    print(f'{a.txns} transactions x {a.records} records, positions by {a.positions}, {a.followers} followers, 3 topics of {a.partitions} partition(s): {t1 - t0:.1f} s '
          f'({a.txns / (t1 - t0):.0f}/s); broker CPU {cpu:.2f} s = {cpu * 1000 / a.txns:.2f} ms per transaction; '
          f'load {os.getloadavg()[0]:.1f}')
    print('  busiest threads (ms per transaction): ' +
          ', '.join(f'{k} {v * 1000 / a.txns:.2f}' for k, v in h1.most_common(6)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--txns', type=int, default=400)
    ap.add_argument('--records', type=int, default=30)
    ap.add_argument('--followers', type=int, default=6)
    ap.add_argument('--partitions', type=int, default=1)
    ap.add_argument('--set', action='append', default=[], metavar='KEY=VALUE')
    ap.add_argument('--settle', type=float, default=5.0, metavar='S',
                    help='seconds for the followers to start fetching before the warm-up (default 5)')
    ap.add_argument('--positions', choices=('offsets', 'record', 'none'), default='offsets',
                    help='how each transaction keeps its input position: offsets = send_offsets_to_transaction '
                         '(TxnOffsetCommit, as Barge does), record = one record in a topic of its own, none = not at all')
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix='broker-txn-') as d:
        sets = [x for s in a.set for x in ('--set', s)]
        subprocess.run([KAFKA, 'start', '--dir', d] + sets, check=True, stdout=subprocess.DEVNULL)
        try:
            with open(os.path.join(d, 'bootstrap')) as f, open(os.path.join(d, 'pid')) as g:
                run(f.read().strip(), g.read().strip(), a)
        finally:
            subprocess.run([KAFKA, 'stop', '--dir', d], stdout=subprocess.DEVNULL)


if __name__ == '__main__':
    main()
