#!/usr/bin/env python3
"""TLS and SASL check with confluent-kafka (librdkafka).

Usage: security_check.py <mode> <bootstrap> [key=value ...]

Modes:
  scram (ca, user, password, topic, group, denied, visible, records)
      SASL_SSL with SCRAM-SHA-512.
  mtls (ca, cert, key, topic, group, denied, visible, records)
      SSL with a client certificate (PEM files).
Both produce the records (idempotent, acks=all), consume them in a group,
verify each one and the committed offsets, and check the principal the
broker sees: the client lists exactly the topics its ACLs name (visible=a,b),
and writing to or
reading from the denied topic fails with TOPIC_AUTHORIZATION_FAILED.

scram-reauth (ca, user, password, topic, seconds) produces a record every
200 ms for that long against a broker whose SASL sessions expire sooner
(connections.max.reauth.ms): librdkafka must re-authenticate on its
connections (KIP-368) without a disconnect.

Rejections, each with a producer and a consumer bounded by client timeouts
(socket, connection set-up, reconnect back-off), observed through the error
callback as a specific error, not a timeout:
  scram-rejected (ca, user, password)
      _AUTHENTICATION with Kafka's message for SCRAM-SHA-512.
  mechanism-rejected (ca, user, password, mechanism, enabled)
      _AUTHENTICATION: the mechanism is not enabled, with the broker's list.
  mtls-rejected (ca, [cert, key], alert)
      _TRANSPORT with the broker's TLS alert (unknown_ca: "alert unknown
      ca"), received after the client's side of the TLS 1.3 handshake.
  tls-to-plaintext (ca)
      TLS to a PLAINTEXT listener: _TRANSPORT, the connection closed in
      the SSL handshake.
  plaintext-to-tls
      plaintext to an SSL listener: librdkafka logs the connection closed
      by the broker while it waited for its ApiVersions answer, and reports
      _ALL_BROKERS_DOWN.
The producer's record must fail, and the consumer must receive nothing.

Environment: COMPAT_RDKAFKA_DEBUG, if set, is librdkafka's "debug"
property (e.g. security,broker).

Exit status 0 only when the check passed.
"""

import json
import logging
import os
import re
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

SCRAM_FAILED = (
    "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"
)
DEADLINE = 90.0  # seconds, to consume the records
REJECT_DEADLINE = 30.0  # seconds, for a rejection to be reported (ends as soon as it is)
TIMEOUT_MS = "5000"  # the client timeouts of the rejection checks

LOG_LOCK = threading.Lock()


def log(msg):
    with LOG_LOCK:
        print("%s python: %s" % (time.strftime("%H:%M:%S"), msg))
        sys.stdout.flush()


class ClientLog(logging.Handler):
    """Prints librdkafka's log lines (each distinct one once, as a
    rejected client repeats them at every reconnect) and keeps them: some
    rejections are only logged."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines = []
        self.printed = set()

    def emit(self, record):
        line = record.getMessage()
        with LOG_LOCK:
            self.lines.append(line)
            key = re.sub(r"\d+ms", "Nms", line)
            if key in self.printed:
                return
            self.printed.add(key)
            print("librdkafka: %s %s" % (record.levelname, line))
            sys.stdout.flush()


CLIENT_LOG = ClientLog()


LOGGER = logging.getLogger("librdkafka")
LOGGER.propagate = False
LOGGER.setLevel(logging.DEBUG)
LOGGER.addHandler(CLIENT_LOG)


class Check:
    def __init__(self, mode, bootstrap, opts):
        self.mode = mode
        self.bootstrap = bootstrap
        self.opts = opts
        self.problems = []
        self.errors = []  # (client id, KafkaError) from the error callbacks
        self.errors_lock = threading.Lock()

    def opt(self, key):
        if key not in self.opts:
            raise ValueError("mode %s needs %s=..." % (self.mode, key))
        return self.opts[key]

    def on_error(self, client_id):
        printed = set()

        def cb(err):
            key = re.sub(r"\d+ms", "Nms", err.name() + err.str())
            if key not in printed:  # a rejected client repeats its errors
                printed.add(key)
                log("%s: error callback: %s %s" % (client_id, err.name(), err.str()))
            with self.errors_lock:
                self.errors.append((client_id, err))

        return cb

    def security(self, client_id):
        conf = {
            "bootstrap.servers": self.bootstrap,
            "client.id": client_id,
            "logger": LOGGER,
            "error_cb": self.on_error(client_id),
        }
        dbg = os.environ.get("COMPAT_RDKAFKA_DEBUG")
        if dbg:
            conf["debug"] = dbg
        if self.mode in ("scram", "scram-reauth", "scram-rejected", "mechanism-rejected"):
            conf.update(
                {
                    "security.protocol": "SASL_SSL",
                    "sasl.mechanism": self.opts.get("mechanism", "SCRAM-SHA-512"),
                    "sasl.username": self.opt("user"),
                    "sasl.password": self.opt("password"),
                    "ssl.ca.location": self.opt("ca"),
                }
            )
        elif self.mode in ("mtls", "mtls-rejected"):
            conf.update({"security.protocol": "SSL", "ssl.ca.location": self.opt("ca")})
            if "cert" in self.opts:
                conf["ssl.certificate.location"] = self.opt("cert")
                conf["ssl.key.location"] = self.opt("key")
        elif self.mode == "tls-to-plaintext":
            conf.update({"security.protocol": "SSL", "ssl.ca.location": self.opt("ca")})
        elif self.mode == "plaintext-to-tls":
            conf["security.protocol"] = "PLAINTEXT"
        else:
            raise ValueError("unknown mode %s" % self.mode)
        return conf

    def security_errors(self):
        """Errors of the error callbacks that a working secure connection
        never reports."""
        with self.errors_lock:
            return [
                (cid, e)
                for cid, e in self.errors
                if e.code() in (KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError.SASL_AUTHENTICATION_FAILED)
            ]

    # --- produce, consume, principal ------------------------------------------

    @staticmethod
    def value_for(mode, i):
        return "%s-value-%d-%s" % (mode, i, "".join(chr(ord("a") + (i + j) % 26) for j in range(i % 200)))

    def exchange(self):
        topic, group, denied = self.opt("topic"), self.opt("group"), self.opt("denied")
        n = int(self.opts.get("records", "500"))

        admin = AdminClient(self.security("compat-python-%s-admin" % self.mode))
        visible = set(admin.list_topics(timeout=30).topics)
        want = set(self.opt("visible").split(","))
        log("%s: visible topics %s" % (self.mode, sorted(visible)))
        if visible != want:
            self.problems.append(
                "visible topics %s, want exactly %s: the topics the principal's ACLs name" % (sorted(visible), sorted(want))
            )

        sent = {}  # (partition, offset) -> (key, value)
        failed = []
        conf = self.security("compat-python-%s-producer" % self.mode)
        conf.update({"acks": "all", "enable.idempotence": True})
        producer = Producer(conf)

        def delivered(i):
            def cb(err, msg):
                if err is not None:
                    failed.append("record %d: %s" % (i, err))
                    return
                at = (msg.partition(), msg.offset())
                if at in sent:
                    self.problems.append("two records acknowledged at %d/%d" % at)
                sent[at] = ("key-%d" % i, self.value_for(self.mode, i))

            return cb

        for i in range(n):
            producer.produce(topic, key="key-%d" % i, value=self.value_for(self.mode, i), on_delivery=delivered(i))
            producer.poll(0)
        if producer.flush(60) != 0:
            self.problems.append("records still unacknowledged after 60s")
        self.problems.extend(failed[:10])
        log("%s: produced %d records to %s over %d partitions" % (self.mode, len(sent), topic, len({p for p, _ in sent})))

        denied_result = []
        try:
            producer.produce(denied, key="k", value="v", on_delivery=lambda err, msg: denied_result.append(err or msg))
            producer.flush(30)
        except KafkaException as e:
            # librdkafka refuses at once when its metadata already
            # carries the topic's authorization error; otherwise the
            # delivery report does.
            denied_result.append(e.args[0])
        if len(denied_result) != 1:
            self.problems.append("producing to %s: no delivery report within 30s" % denied)
        elif not isinstance(denied_result[0], KafkaError) or denied_result[0].code() != KafkaError.TOPIC_AUTHORIZATION_FAILED:
            self.problems.append("producing to %s: %s, want TOPIC_AUTHORIZATION_FAILED" % (denied, denied_result[0]))
        else:
            log("%s: producing to %s: %s" % (self.mode, denied, denied_result[0]))

        conf = self.security("compat-python-%s-consumer" % self.mode)
        conf.update({"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False})
        consumer = Consumer(conf)
        consumer.subscribe([topic])
        seen = set()
        deadline = time.monotonic() + DEADLINE
        while len(seen) < n and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error() is not None:
                self.problems.append("consume error: %s" % msg.error())
                continue
            at = (msg.partition(), msg.offset())
            want = sent.get(at)
            got = (msg.key().decode() if msg.key() is not None else None, msg.value().decode() if msg.value() is not None else None)
            if want is None:
                self.problems.append("consumed a record at %d/%d that was not produced" % at)
            elif got != want:
                self.problems.append("record at %d/%d: key %s, want %s; value differs: %s" % (at + (got[0], want[0], got[1] != want[1])))
            if at in seen:
                self.problems.append("record at %d/%d consumed twice" % at)
            seen.add(at)
        if len(seen) != n:
            self.problems.append("consumed %d of %d records within %ds" % (len(seen), n, DEADLINE))
        consumer.commit(asynchronous=False)
        ends = {}
        for p, o in sent:
            ends[p] = max(ends.get(p, -1), o + 1)
        committed = consumer.committed([TopicPartition(topic, p) for p in sorted(ends)], timeout=30)
        for tp in committed:
            if tp.error is not None or tp.offset != ends[tp.partition]:
                self.problems.append("committed offset of %s/%d: %d (%s), want %d" % (topic, tp.partition, tp.offset, tp.error, ends[tp.partition]))
        consumer.close()
        log("%s: consumed %d records in group %s and committed" % (self.mode, len(seen), group))

        # librdkafka reports a topic it may not read to a subscription
        # (an assignment of it only waits).
        conf = self.security("compat-python-%s-denied-consumer" % self.mode)
        conf.update({"group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        consumer = Consumer(conf)
        consumer.subscribe([denied])
        refused = False
        deadline = time.monotonic() + 30
        while not refused and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error() is None:
                self.problems.append("read a record of %s without an ACL" % denied)
                break
            if msg.error().code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                log("%s: reading %s: %s" % (self.mode, denied, msg.error()))
                refused = True
            else:
                self.problems.append("reading %s: %s, want TOPIC_AUTHORIZATION_FAILED" % (denied, msg.error()))
                break
        if not refused:
            self.problems.append("reading %s reported no TOPIC_AUTHORIZATION_FAILED within 30s" % denied)
        consumer.close()

        for cid, e in self.security_errors():
            self.problems.append("%s: %s %s" % (cid, e.name(), e.str()))

    # --- re-authentication ----------------------------------------------------------

    def reauth(self):
        """Produces one record every 200 ms for seconds=N seconds while the
        broker's SASL sessions expire sooner (connections.max.reauth.ms):
        librdkafka must re-authenticate on its connections (KIP-368), so
        no connection is lost (the statistics count the disconnects) and
        every record is acknowledged."""
        topic, seconds = self.opt("topic"), float(self.opt("seconds"))
        stats = {}

        def on_stats(raw):
            for b in json.loads(raw).get("brokers", {}).values():
                stats[b["name"]] = (b.get("connects", 0), b.get("disconnects", 0), b.get("state"))

        conf = self.security("compat-python-%s-producer" % self.mode)
        conf.update({"acks": "all", "statistics.interval.ms": 500, "stats_cb": on_stats})
        producer = Producer(conf)
        failed, acked = [], []
        sent = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            producer.produce(topic, key="reauth-%d" % sent, value=self.value_for(self.mode, sent),
                             on_delivery=lambda err, msg: (failed if err else acked).append(err or msg))
            sent += 1
            producer.flush(30)
            time.sleep(0.2)
        producer.flush(30)
        producer.poll(1.0)  # a last statistics report
        log("%s: %d records acknowledged in %.0fs; brokers (connects, disconnects, state): %s" % (self.mode, len(acked), seconds, stats))
        if failed or len(acked) != sent:
            self.problems.append("%d of %d records acknowledged: %s" % (len(acked), sent, failed[:5]))
        for name, (connects, disconnects, state) in stats.items():
            if disconnects > 0:
                self.problems.append("%s: %d disconnects: the session must be renewed on the connection" % (name, disconnects))
        if not stats:
            self.problems.append("no statistics reported")
        for cid, e in self.security_errors():
            self.problems.append("%s: %s %s" % (cid, e.name(), e.str()))

    # --- rejections --------------------------------------------------------------

    # What each rejection reports: the error callback's code and text or,
    # for plaintext to a TLS port, which librdkafka only logs, a log line.
    EXPECTED = {
        # mode: (error code, texts in the error, or None; texts in a log line, or None)
        "scram-rejected": (KafkaError._AUTHENTICATION, [SCRAM_FAILED], None),
        "mechanism-rejected": (
            KafkaError._AUTHENTICATION,
            ["SASL {mechanism} mechanism handshake failed", "Unsupported SASL mechanism", "supported mechanisms: {enabled}"],
            None,
        ),
        # OpenSSL names the broker's alert with spaces: "tlsv1 alert unknown ca".
        "mtls-rejected": (KafkaError._TRANSPORT, ["alert {alert}"], None),
        "tls-to-plaintext": (KafkaError._TRANSPORT, ["SSL connection closed by peer", "in state SSL_HANDSHAKE"], None),
        "plaintext-to-tls": (KafkaError._ALL_BROKERS_DOWN, None, ["Disconnected: connection closed by peer", "in state APIVERSION_QUERY"]),
    }

    def want(self):
        code, texts, logged = self.EXPECTED[self.mode]
        args = dict(self.opts)
        args["alert"] = args.get("alert", "").replace("_", " ")
        texts = [t.format(**args) for t in texts or []]
        logged = [t.format(**args) for t in logged or []]
        return code, texts, logged

    def describe_want(self):
        code, texts, logged = self.want()
        out = KafkaError(code).name()
        if texts:
            out += " with %s" % texts
        if logged:
            out += " and a log line with %s" % logged
        return out

    def found(self, cid):
        """The expected error of client cid, if it has been reported."""
        code, texts, logged = self.want()
        if logged:
            with LOG_LOCK:
                lines = [l for l in CLIENT_LOG.lines if "[%s#" % cid in l]
            if not any(all(t in l for t in logged) for l in lines):
                return None
        with self.errors_lock:
            for c, e in self.errors:
                if c == cid and e.code() == code and all(t in e.str() for t in texts):
                    return e
        return None

    def rejected(self):
        for kind in ("producer", "consumer"):
            cid = "compat-python-%s-%s" % (self.mode, kind)
            conf = self.security(cid)
            conf.update(
                {
                    "socket.timeout.ms": TIMEOUT_MS,
                    "socket.connection.setup.timeout.ms": TIMEOUT_MS,
                    "reconnect.backoff.max.ms": "1000",
                }
            )
            delivered = []
            if kind == "producer":
                conf["message.timeout.ms"] = TIMEOUT_MS
                client = Producer(conf)
                client.produce("compat-security-rejected", value="v", on_delivery=lambda err, msg: delivered.append(err))
            else:
                conf["group.id"] = cid
                client = Consumer(conf)
                client.subscribe(["compat-security-rejected"])
            start = time.monotonic()
            found = None
            deadline = start + REJECT_DEADLINE
            # The producer's record must fail too: nothing gets through.
            while (found is None or (kind == "producer" and not delivered)) and time.monotonic() < deadline:
                msg = client.poll(0.1)
                if kind == "consumer" and msg is not None and msg.error() is None:
                    self.problems.append("%s: consumed a record" % kind)
                found = found or self.found(cid)
            if found is None:
                with self.errors_lock:
                    got = sorted({"%s %s" % (e.name(), re.sub(r"\d+ms", "Nms", e.str())) for c, e in self.errors if c == cid})
                self.problems.append("%s: no %s within %.0fs; got %s" % (kind, self.describe_want(), REJECT_DEADLINE, got))
            else:
                log("%s %s: %s %s (after %.1fs)" % (self.mode, kind, found.name(), found.str(), time.monotonic() - start))
            if kind == "producer":
                if len(delivered) != 1 or delivered[0] is None:
                    self.problems.append("producer: delivery report %s, want a failure" % delivered)
                else:
                    log("%s producer: the record failed: %s" % (self.mode, delivered[0]))
                client.flush(0)
            else:
                client.close()


def main():
    if len(sys.argv) < 3:
        print(
            "usage: security_check.py scram|mtls|scram-reauth|scram-rejected|mechanism-rejected|mtls-rejected|tls-to-plaintext|plaintext-to-tls <bootstrap> [key=value ...]",
            file=sys.stderr,
        )
        return 2
    opts = {}
    for a in sys.argv[3:]:
        k, eq, v = a.partition("=")
        if not eq:
            print("not key=value: %s" % a, file=sys.stderr)
            return 2
        opts[k] = v
    c = Check(sys.argv[1], sys.argv[2], opts)
    start = time.monotonic()
    try:
        if c.mode in ("scram", "mtls"):
            c.exchange()
        elif c.mode == "scram-reauth":
            c.reauth()
        elif c.mode in ("scram-rejected", "mechanism-rejected", "mtls-rejected", "tls-to-plaintext", "plaintext-to-tls"):
            c.rejected()
        else:
            print("unknown mode %s" % c.mode, file=sys.stderr)
            return 2
    except Exception as e:  # reported as a failure with its traceback
        import traceback

        traceback.print_exc(file=sys.stdout)
        c.problems.append("exception: %r" % e)
    ms = (time.monotonic() - start) * 1000
    if not c.problems:
        print("PASS python security %s (%d ms)" % (c.mode, ms))
        return 0
    print("FAIL python security %s: %d problem(s) (%d ms)" % (c.mode, len(c.problems), ms))
    for p in c.problems[:30]:
        print("  " + p)
    return 1


if __name__ == "__main__":
    sys.exit(main())
