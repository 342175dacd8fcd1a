#!/usr/bin/env python3
"""SASL/OAUTHBEARER check with confluent-kafka (librdkafka).

The access token comes from oauth_cb, which reads it from a file.

With the good token, over SASL_PLAINTEXT and SASL_SSL: an admin client
creates a topic, an idempotent producer writes records with acks=all, and
a consumer reads them all back in order.

With the expired token (handed to librdkafka with a lifetime in the future,
so that the client sends it and the broker judges it): a producer must see
an authentication error carrying the broker's {"status":"invalid_token"}
within a deadline, rather than hang.

Usage: oauth_check.py <sasl-plaintext-bootstrap> <sasl-ssl-bootstrap>
<ca-pem> <good-token-file> <expired-token-file> <topic-prefix>

Exit status 0 only when every check passed.
"""

import base64
import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

RECORDS = 200
DEADLINE = 60.0


class CheckError(Exception):
    pass


def check(ok, msg):
    if not ok:
        raise CheckError(msg)


def token_cb(path, lifetime=None):
    """An oauth_cb returning the token in path; its expiry is the token's
    own unless lifetime (seconds from now) is given."""

    def cb(_config):
        with open(path) as f:
            tok = f.read().strip()
        if lifetime is not None:
            return tok, time.time() + lifetime
        payload = tok.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return tok, float(claims["exp"])

    return cb


def base(bootstrap, protocol, ca, cb):
    conf = {
        "bootstrap.servers": bootstrap,
        "security.protocol": protocol,
        "sasl.mechanisms": "OAUTHBEARER",
        "oauth_cb": cb,
    }
    if protocol == "SASL_SSL":
        conf["ssl.ca.location"] = ca
    return conf


def produce_consume(bootstrap, protocol, ca, token_file, topic):
    admin = AdminClient(base(bootstrap, protocol, ca, token_cb(token_file)))
    # oauth_cb runs from poll: serve it while the request is in flight.
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    deadline = time.monotonic() + DEADLINE
    fut = futures[topic]
    while not fut.done():
        check(time.monotonic() < deadline, f"{protocol}: create_topics did not finish")
        admin.poll(0.1)
    fut.result()

    conf = base(bootstrap, protocol, ca, token_cb(token_file))
    conf.update({"acks": "all", "enable.idempotence": True})
    producer = Producer(conf)
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)

    for i in range(RECORDS):
        producer.produce(topic, key=f"k{i}", value=f"value-{i}", partition=0, on_delivery=on_delivery)
        producer.poll(0)
    left = producer.flush(DEADLINE)
    check(left == 0, f"{protocol}: {left} records not delivered")
    check(not errors, f"{protocol}: delivery errors {errors[:3]}")

    conf = base(bootstrap, protocol, ca, token_cb(token_file))
    conf.update({"group.id": topic + "-group", "enable.auto.commit": False})
    consumer = Consumer(conf)
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = []
    deadline = time.monotonic() + DEADLINE
    try:
        while len(got) < RECORDS:
            check(time.monotonic() < deadline, f"{protocol}: consumed {len(got)} of {RECORDS} records before the deadline")
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            check(msg.error() is None, f"{protocol}: consume error {msg.error()}")
            check(msg.offset() == len(got), f"{protocol}: offset {msg.offset()} where {len(got)} was expected")
            got.append(msg.value().decode())
    finally:
        consumer.close()
    check(got == [f"value-{i}" for i in range(RECORDS)], f"{protocol}: records differ")
    print(f"{protocol}: produced and consumed {RECORDS} records as the token's principal", flush=True)


def expired(bootstrap, token_file, topic):
    seen = []

    def on_error(err):
        seen.append(err)

    conf = base(bootstrap, "SASL_PLAINTEXT", None, token_cb(token_file, lifetime=3600))
    conf["error_cb"] = on_error
    producer = Producer(conf)
    producer.produce(topic, value=b"must not be written")
    start = time.monotonic()
    while True:
        producer.poll(0.1)
        auth = [e for e in seen if e.code() == KafkaError._AUTHENTICATION]
        if auth:
            msg = auth[0].str()
            check('{"status":"invalid_token"}' in msg, f"authentication error without invalid_token: {msg}")
            print(f"expired token: refused after {int((time.monotonic() - start) * 1000)} ms: {msg}", flush=True)
            break
        check(time.monotonic() - start < DEADLINE, f"no authentication error within {DEADLINE}s; errors {[e.str() for e in seen]}")
    # Nothing was delivered.
    check(producer.flush(0) == 1, "the record of the refused client was delivered")
    producer.purge()


def main():
    if len(sys.argv) < 7:
        print(__doc__, file=sys.stderr)
        return 2
    plain, ssl, ca, good, expired_file, prefix = sys.argv[1:7]
    try:
        produce_consume(plain, "SASL_PLAINTEXT", ca, good, prefix + "-python-oauth-plain")
        produce_consume(ssl, "SASL_SSL", ca, good, prefix + "-python-oauth-ssl")
        expired(plain, expired_file, prefix + "-python-oauth-expired")
    except Exception as e:  # noqa: BLE001 - report any failure
        print(f"FAIL: {e!r}", file=sys.stderr, flush=True)
        return 1
    print("PASS: confluent-kafka OAUTHBEARER", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
