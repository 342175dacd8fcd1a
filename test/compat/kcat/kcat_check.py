#!/usr/bin/env python3
"""Compatibility check with kcat (the Debian package, linked with librdkafka).

For every compression codec: create a topic with three partitions (with
confluent-kafka's AdminClient, since kcat cannot create topics), produce
records with `kcat -P -X acks=all -z <codec>`, one kcat run per partition
so that each run's line order is the partition's offset order, then read the
whole topic back with `kcat -C -J` and verify every record byte for byte
and in order, and check that `kcat -C -e` sees the end of every partition: key, value, headers and timestamp type. kcat cannot set a
record's timestamp, so timestamps are only checked to be CreateTime, within
the produce run's wall-clock window and non-decreasing in each partition.

The three runs cover kcat's input modes:
  partition 0: -K: -Z  (empty key part -> null key, empty value -> null value)
  partition 1: -K:     (empty key part -> empty key, values containing ':')
  partition 2: no -K   (null keys, the whole line is the value)

Usage: kcat_check.py <bootstrap> <topic-prefix> [codec,codec,...]

Environment: COMPAT_RECORDS (default 10000) records per codec; KCAT (default
"kcat") the kcat binary.

Exit status 0 only when every codec passed.
"""

import json
import os
import shutil
import subprocess
import sys
import time

from confluent_kafka.admin import AdminClient, NewTopic

ALL_CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PARTITIONS = 3
VALUE_SIZES = [1, 17, 100, 255, 700, 2048, 333, 64, 5000, 3]
KCAT_TIMEOUT = 120
EOF_TIMEOUT = 30
# Printable ASCII except the ':' key delimiter (values may still contain it
# where the mode allows), including JSON-special characters.
ALPHABET = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != ":")


def text(i, size, salt):
    n = len(ALPHABET)
    return "".join(ALPHABET[(i * 7 + j * salt + (j >> 4)) % n] for j in range(size))


def record_for(i):
    """Returns (partition, input line, key, value) for record i; key and value
    are str or None as kcat is expected to deliver them."""
    p = i % PARTITIONS
    size = VALUE_SIZES[i % len(VALUE_SIZES)]
    if p == 0:
        if i % 7 == 3:
            key = None  # empty key part with -Z
        else:
            key = "key-%d" % i
        if i % 13 == 6:
            value = None  # empty value with -Z
        else:
            value = text(i, size, 5)
        line = "%s:%s" % (key or "", value or "")
    elif p == 1:
        key = "" if i % 5 == 2 else "k%d" % i
        value = "%s:%s" % (text(i, size // 2 + 1, 3), text(i, size - size // 2, 11))
        line = "%s:%s" % (key, value)
    else:
        key = None
        value = "v%d " % i + text(i, size, 13)
        line = value
    return p, line, key, value


def headers_for(codec, p):
    """-H arguments and the headers kcat is expected to attach to every record."""
    hs = [
        ("codec", codec),
        ("partition", str(p)),
        ("dup", "first"),
        ("empty", ""),
        ("dup", "second"),
    ]
    args = []
    for k, v in hs:
        args += ["-H", "%s=%s" % (k, v)]
    if p != 2:
        args += ["-H", "nullvalue"]  # no '=': a header with a null value
        hs.append(("nullvalue", None))
    return args, hs


def create_topic(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": "compat-kcat-admin"})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)],
        operation_timeout=30,
        request_timeout=60,
    )
    futures[topic].result(timeout=90)


def run(cmd, stdin=None, timeout=KCAT_TIMEOUT):
    """Runs kcat; returns (exit code or None on timeout, stdout, stderr)."""
    try:
        res = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return None, e.stdout or b"", (e.stderr or b"").decode("utf-8", "replace")
    return res.returncode, res.stdout, res.stderr.decode("utf-8", "replace")


def error_lines(stderr):
    """kcat's and librdkafka's error lines ("% ERROR: ...", "%3|...")."""
    return [ln for ln in stderr.splitlines() if "ERROR" in ln or ln.startswith(("%3|", "%2|", "%1|", "%0|"))]


def tail(text, n=15):
    lines = text.strip().splitlines()
    return "\n    ".join(lines[-n:])


def run_codec(kcat, bootstrap, topic, codec, records):
    problems = []
    create_topic(bootstrap, topic)

    # Metadata as kcat sees it.
    rc, out, err = run([kcat, "-b", bootstrap, "-L", "-J", "-t", topic])
    if rc != 0:
        return ["kcat -L exited %d: %s" % (rc, err.strip())]
    md = json.loads(out)
    tmd = [t for t in md.get("topics", []) if t.get("topic") == topic]
    if len(tmd) != 1 or len(tmd[0].get("partitions", [])) != PARTITIONS:
        return ["kcat -L: unexpected metadata for %s: %s" % (topic, out.decode()[:500])]

    expected = {p: [] for p in range(PARTITIONS)}
    lines = {p: [] for p in range(PARTITIONS)}
    for i in range(records):
        p, line, key, value = record_for(i)
        lines[p].append(line)
        expected[p].append((i, key, value))

    # Produce: one kcat run per partition.
    t0 = time.time()
    expected_headers = {}
    for p in range(PARTITIONS):
        hargs, hs = headers_for(codec, p)
        expected_headers[p] = hs
        cmd = [kcat, "-b", bootstrap, "-P", "-t", topic, "-p", str(p), "-z", codec, "-X", "acks=all",
               "-X", "enable.idempotence=false"] + hargs
        if p == 0:
            cmd += ["-K", ":", "-Z"]
        elif p == 1:
            cmd += ["-K", ":"]
        data = ("\n".join(lines[p]) + "\n").encode("ascii")
        rc, _, err = run(cmd, stdin=data)
        if rc is None:
            problems.append("kcat -P partition %d: no exit within %ds:\n    %s" % (p, KCAT_TIMEOUT, tail(err)))
        elif rc != 0 or error_lines(err):
            problems.append("kcat -P partition %d exited %d:\n    %s" % (p, rc, tail(err)))
    t1 = time.time()
    if problems:
        return problems

    # Consume the whole topic.
    # Read the whole topic: -c stops after the expected count, so missing
    # records show up as a time-out and extra ones as a count mismatch in the
    # end-of-partition check below. The records read are verified even when
    # kcat fails.
    rc, out, err = run([kcat, "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-c", str(records), "-J",
                        "-X", "check.crcs=true"])
    if rc is None:
        problems.append("kcat -C -c %d did not exit within %ds; stderr:\n    %s" % (records, KCAT_TIMEOUT, tail(err)))
    elif rc != 0 or error_lines(err):
        problems.append("kcat -C exited %d:\n    %s" % (rc, tail(err)))

    # End of partitions: from the last record of each partition, kcat -e must
    # read exactly that record and then see the end of every partition.
    rc, eof_out, eof_err = run([kcat, "-b", bootstrap, "-C", "-t", topic, "-o", "-1", "-e", "-J"], timeout=EOF_TIMEOUT)
    if rc is None:
        problems.append("kcat -C -o -1 -e did not reach the end of every partition within %ds; stderr:\n    %s"
                        % (EOF_TIMEOUT, tail(eof_err)))
    elif rc != 0 or error_lines(eof_err):
        problems.append("kcat -C -o -1 -e exited %d:\n    %s" % (rc, tail(eof_err)))
    else:
        last = sorted((m["partition"], m["offset"]) for m in (json.loads(ln) for ln in eof_out.splitlines() if ln.strip()))
        want_last = [(p, len(expected[p]) - 1) for p in range(PARTITIONS)]
        if last != want_last:
            problems.append("kcat -C -o -1 -e read (partition, offset) %s, want %s" % (last, want_last))

    got = {p: [] for p in range(PARTITIONS)}
    for raw in out.splitlines():
        if not raw.strip():
            continue
        try:
            m = json.loads(raw)
        except ValueError as e:
            problems.append("kcat -C printed a non-JSON line (%s): %r" % (e, raw[:200]))
            continue
        p = m.get("partition")
        if p not in got:
            problems.append("record from unexpected partition: %r" % raw[:200])
            continue
        got[p].append(m)

    lo, hi = int(t0 * 1000) - 1000, int(t1 * 1000) + 1000
    for p in range(PARTITIONS):
        want, have = expected[p], got[p]
        if len(have) != len(want):
            problems.append("partition %d: read %d records, want %d" % (p, len(have), len(want)))
        last_ts = None
        for j, m in enumerate(have[: len(want)]):
            i, key, value = want[j]
            where = "partition %d offset %s (record %d)" % (p, m.get("offset"), i)
            if m.get("offset") != j:
                problems.append("%s: offset %s, want %d" % (where, m.get("offset"), j))
            if m.get("key") != key:
                problems.append("%s: key %r, want %r" % (where, m.get("key"), key))
            if m.get("payload") != value:
                problems.append("%s: value %r, want %r" % (where, (m.get("payload") or "")[:80], (value or "")[:80]))
            hdrs = m.get("headers") or []
            pairs = list(zip(hdrs[0::2], hdrs[1::2]))
            if pairs != expected_headers[p]:
                problems.append("%s: headers %r, want %r" % (where, pairs, expected_headers[p]))
            ts = m.get("ts")
            if m.get("tstype") != "create" or not isinstance(ts, int) or not lo <= ts <= hi:
                problems.append("%s: timestamp %s %r, want create within [%d, %d]" % (where, m.get("tstype"), ts, lo, hi))
            elif last_ts is not None and ts < last_ts:
                problems.append("%s: timestamp %d before the previous record's %d" % (where, ts, last_ts))
            else:
                last_ts = ts
            if len(problems) > 200:
                return problems
    return problems


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    bootstrap, prefix = argv[1], argv[2]
    codecs = argv[3].split(",") if len(argv) == 4 else ALL_CODECS
    records = int(os.environ.get("COMPAT_RECORDS", "10000"))
    kcat = os.environ.get("KCAT", "kcat")
    if shutil.which(kcat) is None:
        print("kcat not found (%s): run test/compat/install.sh" % kcat, file=sys.stderr)
        return 2
    failed = []
    for codec in codecs:
        topic = "%s-kcat-%s" % (prefix, codec)
        start = time.monotonic()
        try:
            problems = run_codec(kcat, bootstrap, topic, codec, records)
        except Exception as e:  # report and go on with the next codec
            problems = ["exception: %r" % (e,)]
        ms = int((time.monotonic() - start) * 1000)
        if problems:
            failed.append(codec)
            print("FAIL kcat codec=%s topic=%s: %d problem(s) (%d ms)" % (codec, topic, len(problems), ms))
            for p in problems[:20]:
                print("  " + p)
            if len(problems) > 20:
                print("  ... %d more" % (len(problems) - 20))
        else:
            print("PASS kcat codec=%s topic=%s records=%d (%d ms)" % (codec, topic, records, ms))
        sys.stdout.flush()
    print(
        "kcat summary: %d passed, %d failed%s"
        % (len(codecs) - len(failed), len(failed), (" %s" % failed) if failed else "")
    )
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
