#!/usr/bin/env python3
"""Schema registry over HTTPS with HTTP Basic authentication, through
confluent-kafka's SchemaRegistryClient.

With the good credentials: register an Avro schema, fetch it back by id
and as the subject's latest version, and list the subjects. With a wrong
password, an unknown user and no credentials at all: every call must be
refused with HTTP 401 / error_code 401. A user without the required role
must be refused with HTTP 403.

Usage: registry_auth_check.py <https-url> <ca.pem> <user:password> <subject> <user-without-role:password>

Exit status 0 only when the check passed.
"""

import json
import sys
import time

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

SCHEMA = json.dumps({
    "type": "record", "name": "Prescription", "namespace": "compat.registry.auth",
    "fields": [{"name": "id", "type": "string"}, {"name": "dose_mg", "type": "int"}],
})


def log(msg):
    print("%s python registry auth: %s" % (time.strftime("%H:%M:%S"), msg))
    sys.stdout.flush()


def client(url, ca, user_info):
    conf = {"url": url, "ssl.ca.location": ca}
    if user_info is not None:
        conf["basic.auth.user.info"] = user_info
    return SchemaRegistryClient(conf)


def expect_refused(name, sr, subject, status):
    for what, call in [
        ("register", lambda: sr.register_schema(subject, Schema(SCHEMA, "AVRO"))),
        ("get_subjects", lambda: sr.get_subjects()),
        ("get_latest_version", lambda: sr.get_latest_version(subject)),
    ]:
        try:
            call()
        except SchemaRegistryError as e:
            if e.http_status_code != status or e.error_code != status:
                raise SystemExit("%s: %s: got HTTP %s error_code %s (%s), want %d" % (name, what, e.http_status_code, e.error_code, e.error_message, status))
            log("%s: %s refused with %d" % (name, what, status))
            continue
        raise SystemExit("%s: %s succeeded" % (name, what))


def main():
    url, ca, user_info, subject, no_role = sys.argv[1:6]
    user = user_info.split(":", 1)[0]

    sr = client(url, ca, user_info)
    schema_id = sr.register_schema(subject, Schema(SCHEMA, "AVRO"))
    log("registered %s as id %d" % (subject, schema_id))
    got = sr.get_schema(schema_id)
    if json.loads(got.schema_str) != json.loads(SCHEMA) or got.schema_type != "AVRO":
        raise SystemExit("get_schema(%d) = %r" % (schema_id, got.schema_str))
    latest = sr.get_latest_version(subject)
    if latest.schema_id != schema_id or latest.version != 1:
        raise SystemExit("latest version of %s: id %d version %d" % (subject, latest.schema_id, latest.version))
    if subject not in sr.get_subjects():
        raise SystemExit("%s not listed" % subject)
    log("fetched it back by id and as the latest version")

    # Fresh clients: SchemaRegistryClient caches what it fetched.
    expect_refused("wrong password", client(url, ca, user + ":wrong-password"), subject, 401)
    expect_refused("unknown user", client(url, ca, "nobody:" + user_info.split(":", 1)[1]), subject, 401)
    expect_refused("no credentials", client(url, ca, None), subject, 401)
    expect_refused("no role", client(url, ca, no_role), subject, 403)
    log("ok")


if __name__ == "__main__":
    main()
