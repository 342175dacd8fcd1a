#!/usr/bin/env python3
"""Exactly-once consume-transform-produce check with confluent-kafka.

A plain producer writes the input records to a topic with three partitions.
A consumer in a group (enable.auto.commit=false,
isolation.level=read_committed) and a transactional producer then run the
loop: for each consumed batch, begin a transaction, produce one transformed
record per input record to the output topic (the value upper cased, the
input topic/partition/offset and the transaction's tag in headers),
send_offsets_to_transaction with the consumer's group metadata, and commit;
every tenth transaction is flushed and aborted instead, after which the
consumer seeks back to the group's committed offsets and processes those
records again. After every transaction the group's committed offsets must
equal those of the last committed transaction.

Verification: a read_committed reader of the output sees exactly one record
per input record and none written by an aborted transaction; a
read_uncommitted reader sees the aborted copies too; the group's committed
offsets equal the input's end offsets.

Usage: txn_check.py <bootstrap> <topic-prefix> (further arguments are
ignored). Environment: COMPAT_TXN_RECORDS (default 3000).

Exit status 0 only when every check passed.
"""

import os
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 3
ABORT_EVERY = 10
DEADLINE = 180.0
BATCH = 100


class CheckError(Exception):
    pass


def check(ok, msg):
    if not ok:
        raise CheckError(msg)


class TxnCheck:
    def __init__(self, bootstrap, prefix, records):
        self.bootstrap = bootstrap
        self.inp = prefix + "-python-txn-in"
        self.out = prefix + "-python-txn-out"
        self.group = prefix + "-python-txn-group"
        self.txn_id = prefix + "-python-txn"
        self.records = records
        self.deadline = time.monotonic() + DEADLINE
        self.aborted = set()

    def check_deadline(self, what):
        check(time.monotonic() < self.deadline, "deadline of %ds passed while %s" % (DEADLINE, what))

    def run(self):
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for f in admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in (self.inp, self.out)]).values():
            f.result(60)
        ends = self.produce_input()
        committed = self.transform(ends)
        check(committed == ends, "committed offsets %s, input end offsets %s" % (committed, ends))
        self.check_group_offsets(ends)
        self.write_ends()
        self.verify(True)
        self.verify(False)

    def produce_input(self):
        p = Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "enable.idempotence": False, "linger.ms": 5})
        errors = []

        def report(err, msg):
            if err is not None:
                errors.append(err)

        for i in range(self.records):
            p.produce(self.inp, key=b"k%d" % i, value=b"value-%d" % i, partition=i % PARTITIONS, on_delivery=report)
            p.poll(0)
        check(p.flush(60) == 0, "input records not delivered")
        check(not errors, "input delivery errors: %s" % errors[:5])
        print("produced %d input records to %s" % (self.records, self.inp), flush=True)
        return {p: (self.records + PARTITIONS - 1 - p) // PARTITIONS for p in range(PARTITIONS)}

    def group_committed(self, consumer):
        tps = [TopicPartition(self.inp, p) for p in range(PARTITIONS)]
        out = {}
        for tp in consumer.committed(tps, timeout=30):
            check(tp.error is None, "committed of %s: %s" % (tp, tp.error))
            if tp.offset >= 0:
                out[tp.partition] = tp.offset
        return out

    def transform(self, ends):
        consumer = Consumer({
            "bootstrap.servers": self.bootstrap,
            "group.id": self.group,
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
        })
        producer = Producer({
            "bootstrap.servers": self.bootstrap,
            "transactional.id": self.txn_id,
            "acks": "all",
            "enable.idempotence": True,
        })
        committed = {}
        txns = aborts = 0
        try:
            producer.init_transactions(60)
            consumer.subscribe([self.inp])
            while committed != ends:
                self.check_deadline("transforming; committed %s" % committed)
                msgs = consumer.consume(num_messages=BATCH, timeout=0.2)
                batch = []
                for m in msgs:
                    if m.error() is not None:
                        raise KafkaException(m.error())
                    batch.append(m)
                if not batch:
                    continue
                txns += 1
                tag = "txn-%d" % txns
                abort = txns % ABORT_EVERY == 0
                producer.begin_transaction()
                nxt = {}
                for m in batch:
                    src = "%s/%d/%d" % (m.topic(), m.partition(), m.offset())
                    producer.produce(self.out, key=m.key(), value=m.value().upper(), partition=m.partition(),
                                     headers=[("src", src.encode()), ("txn", tag.encode())])
                    nxt[m.partition()] = m.offset() + 1
                    producer.poll(0)
                offsets = [TopicPartition(self.inp, p, o) for p, o in sorted(nxt.items())]
                producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 60)
                if abort:
                    # The records reach the log before the abort, so that
                    # read_committed readers have aborted data to skip.
                    check(producer.flush(60) == 0, "%s: records not flushed before the abort" % tag)
                    producer.abort_transaction(60)
                    aborts += 1
                    self.aborted.add(tag)
                    # As an application does: go back to the last committed
                    # offsets and process those records again.
                    last = self.group_committed(consumer)
                    for tp in consumer.assignment():
                        consumer.seek(TopicPartition(tp.topic, tp.partition, last.get(tp.partition, OFFSET_BEGINNING)))
                else:
                    producer.commit_transaction(60)
                    committed.update(nxt)
                # The group's offsets move only with a committed transaction.
                now = self.group_committed(consumer)
                check(now == committed, "after %s (%s): group offsets %s, want %s"
                      % (tag, "aborted" if abort else "committed", now, committed))
        finally:
            consumer.close()
            producer.flush(10)
        print("%d transactions, %d aborted; committed offsets %s" % (txns, aborts, committed), flush=True)
        check(aborts > 0, "no transaction was aborted")
        return committed

    def check_group_offsets(self, ends):
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        from confluent_kafka import ConsumerGroupTopicPartitions
        fut = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(self.group)])[self.group]
        got = {tp.partition: tp.offset for tp in fut.result(60).topic_partitions if tp.topic == self.inp}
        check(got == ends, "group offsets %s, input end offsets %s" % (got, ends))

    def write_ends(self):
        p = Producer({"bootstrap.servers": self.bootstrap, "acks": "all"})
        for part in range(PARTITIONS):
            p.produce(self.out, value=b"end", partition=part)
        check(p.flush(60) == 0, "end records not delivered")

    def verify(self, committed_only):
        iso = "read_committed" if committed_only else "read_uncommitted"
        c = Consumer({
            "bootstrap.servers": self.bootstrap,
            "group.id": self.group + "-verify-" + iso,  # required by librdkafka; never joined
            "enable.auto.commit": False,
            "isolation.level": iso,
        })
        seen = {}
        ended = set()
        try:
            c.assign([TopicPartition(self.out, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
            while len(ended) < PARTITIONS:
                self.check_deadline("reading %s %s" % (self.out, iso))
                for m in c.consume(num_messages=500, timeout=0.2):
                    if m.error() is not None:
                        raise KafkaException(m.error())
                    hs = dict(m.headers() or [])
                    if m.value() == b"end" and "src" not in hs:
                        ended.add(m.partition())
                        continue
                    src, tag = hs["src"].decode(), hs["txn"].decode()
                    _, part, off = src.split("/")
                    i = int(off) * PARTITIONS + int(part)
                    check(m.value() == b"VALUE-%d" % i, "%s: value %r" % (src, m.value()))
                    check(m.partition() == int(part), "%s landed in partition %d" % (src, m.partition()))
                    seen.setdefault(src, []).append(tag)
        finally:
            c.close()
        copies = 0
        for i in range(self.records):
            src = "%s/%d/%d" % (self.inp, i % PARTITIONS, i // PARTITIONS)
            tags = seen.get(src)
            check(tags, "%s: no output record (%s)" % (src, iso))
            copies += len(tags)
            if committed_only:
                check(len(tags) == 1, "%s: %d copies read_committed (transactions %s)" % (src, len(tags), tags))
                check(tags[0] not in self.aborted, "%s: read_committed copy from aborted %s" % (src, tags[0]))
        check(len(seen) == self.records, "%d distinct input records in the output, want %d" % (len(seen), self.records))
        if committed_only:
            print("read_committed: exactly one copy of each of %d input records" % self.records, flush=True)
        else:
            check(copies > self.records, "read_uncommitted saw no aborted copies")
            print("read_uncommitted: %d records, %d of them from aborted transactions" % (copies, copies - self.records), flush=True)


def main():
    if len(sys.argv) < 3:
        print("usage: txn_check.py <bootstrap> <topic-prefix>", file=sys.stderr)
        return 2
    records = int(os.environ.get("COMPAT_TXN_RECORDS", "3000"))
    start = time.monotonic()
    try:
        TxnCheck(sys.argv[1], sys.argv[2], records).run()
    except (CheckError, KafkaException) as e:
        print("FAIL: %s" % e, flush=True)
        return 1
    print("PASS: confluent-kafka transactional consume-transform-produce in %.1fs" % (time.monotonic() - start), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
