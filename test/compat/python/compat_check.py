#!/usr/bin/env python3
"""Compatibility check with confluent-kafka (librdkafka).

For every compression codec: create a topic with three partitions, produce a
deterministic set of records with acks=all, read everything back from the
beginning without a consumer group and verify each record byte for byte and
in offset order (key, value, headers, CreateTime timestamp).

Usage: compat_check.py <bootstrap> <topic-prefix> [codec,codec,...]

Environment: COMPAT_RECORDS (default 10000) records per codec;
COMPAT_RDKAFKA_DEBUG, if set, is passed as librdkafka's "debug" property.

Exit status 0 only when every codec passed.
"""

import logging
import os
import sys
import time

from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_CREATE_TIME,
    Consumer,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

ALL_CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PARTITIONS = 3
BASE_TIMESTAMP = 1_700_000_000_000
VALUE_SIZES = [0, 1, 17, 100, 255, 700, 2048, 333, 64, 5000]
PRODUCE_TIMEOUT = 180.0
CONSUME_TIMEOUT = 180.0


def key_for(i):
    if i % 7 == 3:
        return None
    if i % 11 == 5:
        return b""
    return b"key-%d" % i + bytes([i & 0xFF, 0, 0xFF])


def value_for(i):
    if i % 97 == 13:
        return None
    size = VALUE_SIZES[i % len(VALUE_SIZES)]
    out = bytearray(size)
    for j in range(size):
        if j % 64 < 48:
            out[j] = ord("a") + (i + j) % 26
        else:
            out[j] = ((i * 31 + j * 17) ^ (j >> 3)) & 0xFF
    return bytes(out)


def headers_for(i):
    hs = []
    n = i % 4
    if n >= 1:
        hs.append(("h-a", b"v%d" % i))
    if n >= 2:
        hs.append(("h-b", None if i % 5 == 0 else b""))
    if n >= 3:
        # A repeated key: order and duplicates must both survive.
        hs.append(("h-a", bytes([0, 0xFF, i & 0xFF])))
    return hs


def timestamp_for(i):
    return BASE_TIMESTAMP + 3 * i


def describe(b):
    if b is None:
        return "null"
    if len(b) <= 32:
        return "[%d]%s" % (len(b), b.hex())
    return "[%d bytes, starts %s]" % (len(b), b[:16].hex())


class ClientLog(logging.Handler):
    """Collects librdkafka's log lines: they are printed as they come, and
    protocol errors (a response the client cannot parse) fail the check even
    when the client recovers from them by retrying."""

    FATAL_FACILITIES = ("PROTOERR", "BADMSG", "PROTOUFLOW")

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.protocol_errors = []

    def emit(self, record):
        line = record.getMessage()
        print("librdkafka: %s %s" % (record.levelname, line))
        fac = line.split(" ", 1)[0]
        if fac in self.FATAL_FACILITIES:
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


def create_topic(bootstrap, topic):
    admin = AdminClient(common_conf(bootstrap, "compat-python-admin"))
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)],
        operation_timeout=30,
        request_timeout=60,
    )
    futures[topic].result(timeout=90)


def run_codec(bootstrap, topic, codec, records):
    CLIENT_LOG.protocol_errors.clear()
    problems = run_codec_checks(bootstrap, topic, codec, records)
    for line in CLIENT_LOG.protocol_errors:
        problems.append("client protocol error: %s" % line)
    return problems


def run_codec_checks(bootstrap, topic, codec, records):
    problems = []
    create_topic(bootstrap, topic)

    # Produce.
    conf = common_conf(bootstrap, "compat-python-producer")
    conf.update(
        {
            "acks": "all",
            "compression.type": codec,
            # Plain (non-idempotent) producer, stated explicitly.
            "enable.idempotence": False,
            "linger.ms": 5,
            "message.timeout.ms": int(PRODUCE_TIMEOUT * 1000),
        }
    )
    producer = Producer(conf)
    md = producer.list_topics(topic, timeout=30)
    tmd = md.topics.get(topic)
    if tmd is None or tmd.error is not None:
        raise RuntimeError("metadata for %s: %s" % (topic, tmd.error if tmd else "missing"))
    if len(tmd.partitions) != PARTITIONS:
        raise RuntimeError("topic %s has %d partitions, want %d" % (topic, len(tmd.partitions), PARTITIONS))

    acked = [None] * records  # index -> (partition, offset)
    errors = []

    def on_delivery(err, msg, i):
        if err is not None:
            errors.append("record %d: delivery failed: %s" % (i, err))
            return
        acked[i] = (msg.partition(), msg.offset())

    for i in range(records):
        kwargs = dict(
            key=key_for(i),
            value=value_for(i),
            timestamp=timestamp_for(i),
            on_delivery=lambda err, msg, i=i: on_delivery(err, msg, i),
        )
        hs = headers_for(i)
        if hs:
            kwargs["headers"] = hs
        while True:
            try:
                producer.produce(topic, **kwargs)
                break
            except BufferError:
                producer.poll(0.1)  # local queue full: serve delivery reports, then retry
        producer.poll(0)
    remaining = producer.flush(PRODUCE_TIMEOUT)
    if remaining:
        raise RuntimeError("%d records still undelivered after %.0fs" % (remaining, PRODUCE_TIMEOUT))
    if errors:
        return errors

    by_partition = {p: [] for p in range(PARTITIONS)}
    for i, a in enumerate(acked):
        if a is None:
            problems.append("record %d: no delivery report" % i)
            continue
        p, off = a
        if p not in by_partition:
            problems.append("record %d: acked partition %d" % (i, p))
            continue
        by_partition[p].append((off, i))
    for p, lst in by_partition.items():
        # Send order within a partition must equal offset order.
        for j in range(1, len(lst)):
            if lst[j][0] <= lst[j - 1][0]:
                problems.append(
                    "partition %d: record %d acked at offset %d after record %d at %d"
                    % (p, lst[j][1], lst[j][0], lst[j - 1][1], lst[j - 1][0])
                )
        lst.sort()
        # A fresh topic written without transactions has dense offsets from 0.
        if [off for off, _ in lst] != list(range(len(lst))):
            problems.append("partition %d: acked offsets are not 0..%d" % (p, len(lst) - 1))
    if problems:
        return problems

    # Consume everything back. librdkafka requires group.id for a Consumer
    # even when partitions are assigned manually and nothing is committed.
    conf = common_conf(bootstrap, "compat-python-consumer")
    conf.update(
        {
            "group.id": "compat-python-unused",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "check.crcs": True,
            "enable.partition.eof": False,
        }
    )
    consumer = Consumer(conf)
    try:
        for p in range(PARTITIONS):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            want = len(by_partition[p])
            if low != 0:
                problems.append("partition %d: low watermark %d, want 0" % (p, low))
            if high != want:
                problems.append("partition %d: high watermark %d, want %d" % (p, high, want))

        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        nxt = {p: 0 for p in range(PARTITIONS)}
        received = 0
        deadline = time.monotonic() + CONSUME_TIMEOUT
        while received < records:
            if time.monotonic() > deadline:
                problems.append(
                    "timed out after %.0fs: received %d of %d records (per-partition progress %s)"
                    % (CONSUME_TIMEOUT, received, records, nxt)
                )
                break
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                if msg.error() is not None:
                    problems.append("consume error: %s" % msg.error())
                    if msg.error().fatal() or len(problems) > 50:
                        return problems
                    continue
                p = msg.partition()
                lst = by_partition[p]
                j = nxt[p]
                if j >= len(lst):
                    problems.append("partition %d: unexpected extra record at offset %d" % (p, msg.offset()))
                    continue
                want_off, i = lst[j]
                nxt[p] = j + 1
                received += 1
                where = "partition %d offset %d (record %d)" % (p, msg.offset(), i)
                if msg.offset() != want_off:
                    problems.append("%s: got offset %d, want %d" % (where, msg.offset(), want_off))
                if msg.key() != key_for(i):
                    problems.append("%s: key %s, want %s" % (where, describe(msg.key()), describe(key_for(i))))
                if msg.value() != value_for(i):
                    problems.append("%s: value %s, want %s" % (where, describe(msg.value()), describe(value_for(i))))
                got_h = msg.headers() or []
                if got_h != headers_for(i):
                    problems.append("%s: headers %r, want %r" % (where, got_h, headers_for(i)))
                ts = msg.timestamp()
                if ts != (TIMESTAMP_CREATE_TIME, timestamp_for(i)):
                    problems.append("%s: timestamp %r, want (CreateTime, %d)" % (where, ts, timestamp_for(i)))
        # Nothing more may follow the last record.
        for msg in consumer.consume(num_messages=100, timeout=0.2):
            if msg.error() is None:
                problems.append(
                    "partition %d: unexpected extra record at offset %d" % (msg.partition(), msg.offset())
                )
    finally:
        consumer.close()
    return problems


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    bootstrap, prefix = argv[1], argv[2]
    codecs = argv[3].split(",") if len(argv) == 4 else ALL_CODECS
    records = int(os.environ.get("COMPAT_RECORDS", "10000"))
    failed = []
    for codec in codecs:
        topic = "%s-python-%s" % (prefix, codec)
        start = time.monotonic()
        try:
            problems = run_codec(bootstrap, topic, codec, records)
        except (KafkaException, RuntimeError) as e:
            problems = ["exception: %r" % (e,)]
        ms = int((time.monotonic() - start) * 1000)
        if problems:
            failed.append(codec)
            print("FAIL python codec=%s topic=%s: %d problem(s) (%d ms)" % (codec, topic, len(problems), ms))
            for p in problems[:20]:
                print("  " + p)
            if len(problems) > 20:
                print("  ... %d more" % (len(problems) - 20))
        else:
            print("PASS python codec=%s topic=%s records=%d (%d ms)" % (codec, topic, records, ms))
        sys.stdout.flush()
    print(
        "python summary: %d passed, %d failed%s"
        % (len(codecs) - len(failed), len(failed), (" %s" % failed) if failed else "")
    )
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
