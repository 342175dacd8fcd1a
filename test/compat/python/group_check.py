#!/usr/bin/env python3
"""Consumer group check with confluent-kafka (librdkafka).

Two consumers join one group on a topic with four partitions. Once both own
partitions, the records are produced; each consumer processes a fixed number
of records of each of its partitions (3/5 or 2/5 of it, half of all records
per consumer), commits the offsets after them synchronously, and waits for
the other; both close. A third consumer then joins the same group and
must start exactly at the committed offset of every partition and read to
the end: the committed prefix from phase one and the records of phase two
cover every record exactly once.

Usage: group_check.py <bootstrap> <topic-prefix> [ignored...]

Environment: COMPAT_GROUP_PROTOCOL, librdkafka's group.protocol: classic
(the default) or consumer (KIP-848); COMPAT_GROUP_RECORDS (default 2000);
COMPAT_RDKAFKA_DEBUG, if set, is passed as librdkafka's "debug" property
(e.g. cgrp,protocol).

Exit status 0 only when the check passed.
"""

import logging
import os
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 4
DEADLINE = 90.0  # seconds, per phase
POLL = 0.1  # seconds


LOG_LOCK = threading.Lock()


def log(msg):
    with LOG_LOCK:
        print("%s python: %s" % (time.strftime("%H:%M:%S"), msg))
        sys.stdout.flush()


class ClientLog(logging.Handler):
    """Prints librdkafka's log lines and collects protocol errors (a
    response the client cannot parse), which fail the check even when the
    client recovers from them."""

    FATAL_FACILITIES = ("PROTOERR", "BADMSG", "PROTOUFLOW")

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.protocol_errors = []

    def emit(self, record):
        line = record.getMessage()
        print("librdkafka: %s %s" % (record.levelname, line))
        if line.split(" ", 1)[0] in self.FATAL_FACILITIES:
            self.protocol_errors.append(line)


CLIENT_LOG = ClientLog()
LOGGER = logging.getLogger("librdkafka")
LOGGER.propagate = False
LOGGER.setLevel(logging.DEBUG)
LOGGER.addHandler(CLIENT_LOG)


def common_conf(bootstrap, client_id):
    conf = {"bootstrap.servers": bootstrap, "client.id": client_id, "logger": LOGGER}
    dbg = os.environ.get("COMPAT_RDKAFKA_DEBUG")
    if dbg:
        conf["debug"] = dbg
    return conf


class Check:
    def __init__(self, bootstrap, prefix, records, protocol):
        self.bootstrap = bootstrap
        self.protocol = protocol
        self.topic = "%s-python-group-%s" % (prefix, protocol)
        self.group = self.topic + "-group"
        self.records = records
        self.problems = []
        self.sent = {}  # partition -> {offset: value}
        self.go = threading.Event()
        # Set when phase one fails: every member stops.
        self.abort = threading.Event()
        self.members = []

    def cap(self, p):
        """How many records of partition p phase one processes: 3/5 of
        partitions 0 and 3 and 2/5 of partitions 1 and 2. Whether the
        assignor gives a member partitions {0, 1} or {0, 2}, each member of
        the group of two processes half of all records."""
        return self.records // PARTITIONS * (3 if p in (0, 3) else 2) // 5

    def consumer_conf(self, client_id):
        conf = common_conf(self.bootstrap, client_id)
        conf.update(
            {
                "group.id": self.group,
                "group.protocol": self.protocol,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                # Small fetches: many fetch and poll rounds.
                "max.partition.fetch.bytes": 2048,
            }
        )
        return conf

    def run(self):
        admin = AdminClient(common_conf(self.bootstrap, "compat-python-group-admin"))
        fs = admin.create_topics(
            [NewTopic(self.topic, num_partitions=PARTITIONS, replication_factor=1)],
            operation_timeout=30,
            request_timeout=60,
        )
        fs[self.topic].result(timeout=90)

        committed = self.phase_one()
        if self.problems:
            return
        # What the broker stored must be what the commits acknowledged.
        c = Consumer(self.consumer_conf("compat-python-group-verify"))
        try:
            tps = c.committed([TopicPartition(self.topic, p) for p in range(PARTITIONS)], timeout=30)
        finally:
            c.close()
        stored = {}
        for tp in tps:
            if tp.error is not None:
                self.problems.append("committed(): partition %d: %s" % (tp.partition, tp.error))
            elif tp.offset >= 0:
                stored[tp.partition] = tp.offset
        if stored != committed:
            self.problems.append(
                "committed offsets read back %s differ from the acknowledged commits %s" % (stored, committed)
            )
            return
        self.phase_two(committed)

    def phase_one(self):
        start = time.monotonic()
        members = [Member(self, "a"), Member(self, "b")]
        self.members = members
        threads = [threading.Thread(target=m.run, name="member-" + m.name) for m in members]
        for t in threads:
            t.start()
        try:
            deadline = time.monotonic() + DEADLINE
            while True:
                a, b = members[0].assignment, members[1].assignment
                if a and b and len(a | b) == PARTITIONS and len(a) + len(b) == PARTITIONS:
                    log("group of two formed after %d ms: a owns %s, b owns %s" % (ms(start), sorted(a), sorted(b)))
                    break
                if members[0].error or members[1].error or time.monotonic() > deadline:
                    self.problems.append(
                        "the two members did not share the partitions: a owns %s (%s), b owns %s (%s)"
                        % (sorted(a), members[0].error, sorted(b), members[1].error)
                    )
                    self.abort.set()
                    return {}
                time.sleep(0.02)  # poll interval
            # The topic is empty until now: whatever the members read from
            # here on is processed.
            self.go.set()
            self.produce()
        except BaseException:
            self.abort.set()
            raise
        finally:
            for t in threads:
                t.join(DEADLINE + 30)
        if any(t.is_alive() for t in threads):
            self.problems.append("phase one consumers did not stop")
            return {}
        committed = {}
        for m in members:
            if m.error:
                self.problems.append("member %s: %s" % (m.name, m.error))
                continue
            if not m.assignment_at_go:
                self.problems.append("member %s owned no partitions while consuming" % m.name)
            if m.rebalances_while_processing:
                self.problems.append(
                    "member %s saw %d rebalance(s) while consuming" % (m.name, m.rebalances_while_processing)
                )
            for (p, off), value in m.values.items():
                want = self.sent[p].get(off)
                if value != want:
                    self.problems.append("member %s partition %d offset %d: value %r, want %r" % (m.name, p, off, value, want))
            for p, offs in m.processed.items():
                # Nothing was committed before: each partition is read from 0.
                if offs != list(range(len(offs))):
                    self.problems.append("member %s partition %d: processed offsets %s..." % (m.name, p, offs[:10]))
                if p not in m.assignment_at_go:
                    self.problems.append("member %s processed partition %d it did not own" % (m.name, p))
            for p, off in m.committed.items():
                if p in committed:
                    self.problems.append("partition %d committed by both members" % p)
                committed[p] = off
            log(
                "member %s owned %s, processed %d records of partitions %s, committed %s"
                % (m.name, sorted(m.assignment_at_go), m.count, sorted(m.processed), m.committed)
            )
        for p in range(PARTITIONS):
            if committed.get(p) != self.cap(p):
                self.problems.append("partition %d: committed %s in phase one, want %d" % (p, committed.get(p), self.cap(p)))
        log("phase one done in %d ms: committed %s" % (ms(start), dict(sorted(committed.items()))))
        return committed

    def produce(self):
        conf = common_conf(self.bootstrap, "compat-python-group-producer")
        conf.update({"acks": "all", "linger.ms": 5, "enable.idempotence": False})
        producer = Producer(conf)
        errors = []
        got = {}

        def on_delivery(err, msg, value):
            if err is not None:
                errors.append(err)
                return
            got.setdefault(msg.partition(), {})[msg.offset()] = value

        for i in range(self.records):
            value = "value-%d" % i
            while True:
                try:
                    producer.produce(
                        self.topic,
                        key=b"key-%d" % i,
                        value=value.encode(),
                        partition=i % PARTITIONS,
                        on_delivery=lambda err, msg, v=value: on_delivery(err, msg, v),
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
        left = producer.flush(60)
        if left or errors:
            raise RuntimeError("produce: %d undelivered, errors %s" % (left, errors[:3]))
        per = self.records // PARTITIONS
        for p in range(PARTITIONS):
            if sorted(got.get(p, {})) != list(range(per)):
                raise RuntimeError("partition %d: produced offsets are not 0..%d" % (p, per - 1))
        self.sent = got
        log("produced %d records" % self.records)

    def phase_two(self, committed):
        start = time.monotonic()
        read = {}  # partition -> [(offset, value)]
        c = Consumer(self.consumer_conf("compat-python-group-resume"))
        try:
            c.subscribe([self.topic])
            deadline = time.monotonic() + DEADLINE
            while not self.reached_end(read, committed):
                if time.monotonic() > deadline:
                    self.problems.append("phase two did not reach the end of every partition: read %s" % summary(read))
                    return
                msg = c.poll(POLL)
                if msg is None:
                    continue
                if msg.error():
                    self.problems.append("phase two: %s" % msg.error())
                    return
                read.setdefault(msg.partition(), []).append((msg.offset(), msg.value().decode()))
        finally:
            c.close()
        for p in range(PARTITIONS):
            frm = committed.get(p, 0)
            end = len(self.sent[p])
            rs = read.get(p, [])
            if rs and rs[0][0] != frm:
                self.problems.append(
                    "partition %d: the resumed consumer started at offset %d, committed %d" % (p, rs[0][0], frm)
                )
                continue
            if [o for o, _ in rs] != list(range(frm, end)):
                self.problems.append(
                    "partition %d: the resumed consumer read %d records, want offsets %d..%d exactly once"
                    % (p, len(rs), frm, end - 1)
                )
            for o, v in rs:
                if v != self.sent[p].get(o):
                    self.problems.append("partition %d offset %d: value %r" % (p, o, v))
                    break
        log("phase two done in %d ms: read %s" % (ms(start), summary(read)))

    def reached_end(self, read, committed):
        for p in range(PARTITIONS):
            end = len(self.sent[p])
            if committed.get(p, 0) == end:
                continue
            rs = read.get(p)
            if not rs or rs[-1][0] < end - 1:
                return False
        return True


class Member:
    """One consumer of phase one, polling on its own thread."""

    def __init__(self, check, name):
        self.check = check
        self.name = name
        # Set once the caps are processed and committed.
        self.done = threading.Event()
        self.assignment = frozenset()
        self.assignment_at_go = None
        self.processed = {}  # partition -> [offsets in processing order]
        self.values = {}  # (partition, offset) -> value
        self.committed = {}
        self.count = 0
        self.finished = False
        self.error = None
        self.rebalances_while_processing = 0

    def fail(self, error):
        self.error = error
        self.check.abort.set()

    def on_change(self, what):
        def cb(consumer, parts):
            log("%s: %s %s" % (self.name, what, sorted(tp.partition for tp in parts)))
            if self.check.go.is_set() and not self.finished and parts:
                self.rebalances_while_processing += 1

        return cb

    def run(self):
        chk = self.check
        try:
            c = Consumer(chk.consumer_conf("compat-python-" + self.name))
        except KafkaException as e:
            self.fail(repr(e))
            return
        try:
            c.subscribe(
                [chk.topic],
                on_assign=self.on_change("assigned"),
                on_revoke=self.on_change("revoked"),
                on_lost=self.on_change("lost"),
            )
            deadline = time.monotonic() + DEADLINE
            while not chk.abort.is_set() and not all(m.done.is_set() for m in chk.members):
                if time.monotonic() > deadline:
                    self.fail("timed out after %d records" % self.count)
                    return
                msgs = c.consume(num_messages=37, timeout=POLL)
                self.assignment = frozenset(tp.partition for tp in c.assignment())
                for m in msgs:
                    if m.error():
                        self.fail("consume: %s" % m.error())
                        return
                if not chk.go.is_set():
                    if msgs:
                        self.fail("got %d records before any were produced" % len(msgs))
                        return
                    continue
                if self.assignment_at_go is None:
                    self.assignment_at_go = self.assignment
                if self.finished:
                    # Waiting for the other member; records past the caps
                    # are ignored.
                    continue
                for m in msgs:
                    offs = self.processed.setdefault(m.partition(), [])
                    if len(offs) < chk.cap(m.partition()):
                        offs.append(m.offset())
                        self.values[(m.partition(), m.offset())] = m.value().decode()
                        self.count += 1
                if all(len(self.processed.get(p, [])) >= chk.cap(p) for p in self.assignment_at_go):
                    offsets = [
                        TopicPartition(chk.topic, p, offs[-1] + 1) for p, offs in sorted(self.processed.items())
                    ]
                    result = c.commit(offsets=offsets, asynchronous=False)
                    for tp in result:
                        if tp.error is not None:
                            self.fail("commit: partition %d: %s" % (tp.partition, tp.error))
                            return
                        self.committed[tp.partition] = tp.offset
                    log("%s: processed %d records, committed %s" % (self.name, self.count, self.committed))
                    self.finished = True
                    self.done.set()
        except (KafkaException, RuntimeError) as e:
            self.fail(repr(e))
        finally:
            c.close()


def ms(start):
    return int((time.monotonic() - start) * 1000)


def summary(read):
    return "{%s}" % ", ".join(
        "%d: %d records from %d" % (p, len(rs), rs[0][0]) for p, rs in sorted(read.items())
    )


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    records = int(os.environ.get("COMPAT_GROUP_RECORDS", "2000"))
    protocol = os.environ.get("COMPAT_GROUP_PROTOCOL", "classic")
    chk = Check(argv[1], argv[2], records, protocol)
    start = time.monotonic()
    try:
        chk.run()
    except (KafkaException, RuntimeError) as e:
        chk.problems.append("exception: %r" % (e,))
    for line in CLIENT_LOG.protocol_errors:
        chk.problems.append("client protocol error: %s" % line)
    if chk.problems:
        print("FAIL python group.protocol=%s topic=%s: %d problem(s) (%d ms)" % (protocol, chk.topic, len(chk.problems), ms(start)))
        for p in chk.problems[:30]:
            print("  " + p)
        if len(chk.problems) > 30:
            print("  ... %d more" % (len(chk.problems) - 30))
    else:
        print("PASS python group.protocol=%s topic=%s records=%d (%d ms)" % (protocol, chk.topic, records, ms(start)))
    sys.stdout.flush()
    return 0 if not chk.problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
