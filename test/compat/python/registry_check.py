#!/usr/bin/env python3
"""Schema registry check with confluent-kafka's SchemaRegistryClient and its
Avro, JSON Schema and Protobuf serializers.

For each format: create a topic, produce N prescription records through a
SerializingProducer whose value serializer registers the schema itself
(auto.register.schemas), evolve the schema compatibly (Avro: a field with a
default; JSON Schema: an optional property in a closed content model;
Protobuf: a field with a new number), produce N more records with the new
version, then read the whole topic back and decode every record with the
matching deserializer: the first N carry the first schema id, the rest the
second, and every field must be what was produced. The subject must list
versions [1, 2]; an incompatible change (a field's type changed) must be
refused with HTTP 409 / error_code 409, after which the subject still has
two versions.

Protobuf: the serializer registers base64 FileDescriptorProtos; the check
also requires the .proto source of version 1 to be found as that same
schema, and registers version 2 as .proto source before the serializer
registers it as a descriptor (same id), so that the deserializer reads the
source-registered schema back in its serialized form.

The Protobuf messages are built at run time from FileDescriptorProtos
(protobuf's descriptor_pb2), so no protoc is needed; the schemas are the
ones in PROTO_V1 / PROTO_V2 below.

Usage: registry_check.py <bootstrap> <registry-url> <topic-prefix> [avro,json,protobuf]

Environment: COMPAT_REGISTRY_RECORDS (default 200) records per schema
version; COMPAT_RDKAFKA_DEBUG is passed as librdkafka's "debug" property.

Exit status 0 only when the check passed.
"""

import json
import logging
import os
import struct
import sys
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext, StringSerializer
from confluent_kafka import SerializingProducer
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PARTITIONS = 3
DEADLINE = 60.0  # seconds, per wait
STATUSES = ["PRESCRIBED", "DISPENSED", "REFILLED", "CANCELLED"]


def log(msg):
    print("%s python registry: %s" % (time.strftime("%H:%M:%S"), msg))
    sys.stdout.flush()


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


class ClientLog(logging.Handler):
    """Prints librdkafka's log lines and collects protocol errors."""

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


def kafka_conf(bootstrap, client_id):
    conf = {"bootstrap.servers": bootstrap, "client.id": client_id, "logger": LOGGER}
    dbg = os.environ.get("COMPAT_RDKAFKA_DEBUG")
    if dbg:
        conf["debug"] = dbg
    return conf


def record(i, version):
    """The i-th prescription (0-based) as a dict; version 2 adds refills."""
    r = {
        "prescription_id": "rx-%06d" % i,
        "patient_id": 100000 + (i * 7919) % 50000,
        "status": STATUSES[i % len(STATUSES)],
        "dose_mg": 2.5 * (1 + i % 40),
    }
    if version == 2:
        r["refills"] = i % 6
    return r


# --- Avro ---------------------------------------------------------------------

AVRO_V1 = {
    "type": "record",
    "name": "Prescription",
    "namespace": "dev.skein.compat.rx",
    "fields": [
        {"name": "prescription_id", "type": "string"},
        {"name": "patient_id", "type": "long"},
        {"name": "status", "type": "string"},
        {"name": "dose_mg", "type": "double"},
    ],
}
AVRO_V2 = dict(AVRO_V1, fields=AVRO_V1["fields"] + [{"name": "refills", "type": "int", "default": 0}])
# Incompatible with V2: patient_id long -> string cannot be resolved.
AVRO_BAD = dict(
    AVRO_V2,
    fields=[dict(f, type="string") if f["name"] == "patient_id" else f for f in AVRO_V2["fields"]],
)

# --- JSON Schema ----------------------------------------------------------------


def json_schema(version, patient_type="integer"):
    props = {
        "prescription_id": {"type": "string"},
        "patient_id": {"type": patient_type},
        "status": {"type": "string", "enum": STATUSES},
        "dose_mg": {"type": "number"},
    }
    if version == 2:
        props["refills"] = {"type": "integer", "minimum": 0}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Prescription",
        "type": "object",
        "properties": props,
        "required": ["prescription_id", "patient_id", "status", "dose_mg"],
        # A closed content model: adding an optional property is then a
        # backward compatible change.
        "additionalProperties": False,
    }


# --- Protobuf -----------------------------------------------------------------

PROTO_V1 = """syntax = "proto3";
package dev.skein.compat.rx;

message Prescription {
  string prescription_id = 1;
  int64 patient_id = 2;
  string status = 3;
  double dose_mg = 4;
}
"""
PROTO_V2 = PROTO_V1.replace("  double dose_mg = 4;\n", "  double dose_mg = 4;\n  int32 refills = 5;\n")

F = descriptor_pb2.FieldDescriptorProto
PROTO_FIELDS = [
    ("prescription_id", 1, F.TYPE_STRING),
    ("patient_id", 2, F.TYPE_INT64),
    ("status", 3, F.TYPE_STRING),
    ("dose_mg", 4, F.TYPE_DOUBLE),
]


def proto_class(version, bad=False):
    """The Prescription message class of PROTO_V1 (version 1) or PROTO_V2,
    built in a pool of its own; bad turns prescription_id into an int64
    (incompatible)."""
    fields = list(PROTO_FIELDS)
    if version == 2:
        fields.append(("refills", 5, F.TYPE_INT32))
    if bad:
        fields[0] = ("prescription_id", 1, F.TYPE_INT64)
    fdp = descriptor_pb2.FileDescriptorProto(
        name="dev/skein/compat/rx/prescription.proto", package="dev.skein.compat.rx", syntax="proto3"
    )
    msg = fdp.message_type.add(name="Prescription")
    for name, number, typ in fields:
        msg.field.add(name=name, number=number, type=typ, label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("dev.skein.compat.rx.Prescription"))


PROTO_CLASSES = {1: proto_class(1), 2: proto_class(2)}


def proto_to_dict(msg, version):
    d = {
        "prescription_id": msg.prescription_id,
        "patient_id": msg.patient_id,
        "status": msg.status,
        "dose_mg": msg.dose_mg,
    }
    if version == 2:
        d["refills"] = msg.refills
    return d


# --- the check ------------------------------------------------------------------


class Format:
    """One format: how to make the serializers, deserializers and schemas."""

    def __init__(self, name, schema_type, make, serializer, deserializer, bad_schema, decoded):
        self.name = name
        self.make = make  # (dict, version) -> the value the serializer takes
        self.schema_type = schema_type
        self.serializer = serializer  # (sr, version) -> Serializer
        self.deserializer = deserializer  # (sr) -> Deserializer with the version 2 reader
        self.bad_schema = bad_schema  # Schema incompatible with version 2
        self.decoded = decoded  # (value, written version) -> dict to compare


SER_CONF = {"auto.register.schemas": True}


def formats():
    return {
        "avro": Format(
            "avro",
            "AVRO",
            lambda r, v: r,
            lambda sr, v: AvroSerializer(sr, json.dumps(AVRO_V1 if v == 1 else AVRO_V2), conf=SER_CONF),
            # The version 2 reader: records written with version 1 read
            # refills as its default, 0.
            lambda sr: AvroDeserializer(sr, json.dumps(AVRO_V2)),
            Schema(json.dumps(AVRO_BAD), "AVRO"),
            lambda value, v: value,
        ),
        "json": Format(
            "json",
            "JSON",
            lambda r, v: r,
            lambda sr, v: JSONSerializer(json.dumps(json_schema(v)), sr, conf=SER_CONF),
            lambda sr: JSONDeserializer(json.dumps(json_schema(2)), schema_registry_client=sr),
            Schema(json.dumps(json_schema(2, patient_type="string")), "JSON"),
            lambda value, v: value,
        ),
        "protobuf": Format(
            "protobuf",
            "PROTOBUF",
            lambda r, v: PROTO_CLASSES[v](**r),
            lambda sr, v: ProtobufSerializer(
                PROTO_CLASSES[v], sr, conf=dict(SER_CONF, **{"use.deprecated.format": False})
            ),
            # With a registry client, the deserializer fetches the writer's
            # schema (as a descriptor: format=serialized).
            lambda sr: ProtobufDeserializer(PROTO_CLASSES[2], {"use.deprecated.format": False}, schema_registry_client=sr),
            None,  # built in run(): the base64 descriptor of the bad message
            lambda value, v: proto_to_dict(value, 2),
        ),
    }


def expected(i, written_version):
    """What the version 2 reader must see for record i written with
    written_version: defaults for what version 1 lacks."""
    r = record(i, written_version)
    if written_version == 1:
        r["refills"] = 0
    return r


def expected_json(i, written_version):
    # JSON has no defaults: a version 1 document has no refills.
    return record(i, written_version)


class Check:
    def __init__(self, bootstrap, registry_url, prefix, records):
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.records = records
        self.registry_url = registry_url
        self.sr = SchemaRegistryClient({"url": registry_url})
        self.admin = AdminClient(kafka_conf(bootstrap, "skein-compat-registry-admin"))

    def fresh(self):
        """A client without cached answers (the client caches the latest
        version of a subject)."""
        return SchemaRegistryClient({"url": self.registry_url})

    def create_topic(self, topic):
        futures = self.admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
        futures[topic].result(timeout=DEADLINE)
        deadline = time.monotonic() + DEADLINE
        while True:
            md = self.admin.list_topics(topic=topic, timeout=10)
            t = md.topics.get(topic)
            if t is not None and t.error is None and len(t.partitions) == PARTITIONS:
                return
            check(time.monotonic() < deadline, "topic %s not in metadata after %ss" % (topic, DEADLINE))
            time.sleep(0.1)

    def produce(self, topic, fmt, version, start):
        producer = SerializingProducer(
            dict(
                kafka_conf(self.bootstrap, "skein-compat-registry-producer"),
                **{
                    "acks": "all",
                    "enable.idempotence": False,
                    "key.serializer": StringSerializer("utf_8"),
                    "value.serializer": fmt.serializer(self.sr, version),
                },
            )
        )
        errors = []

        def on_delivery(err, msg):
            if err is not None:
                errors.append(str(err))

        for i in range(start, start + self.records):
            r = record(i, version)
            producer.produce(topic, key=r["prescription_id"], value=fmt.make(r, version), on_delivery=on_delivery)
            producer.poll(0)
        remaining = producer.flush(DEADLINE)
        check(remaining == 0, "%d records not acknowledged after %ss" % (remaining, DEADLINE))
        check(not errors, "delivery errors: %s" % errors[:5])

    def consume_all(self, topic, total):
        """Reads every partition from the beginning until total records,
        returns the raw messages."""
        consumer = Consumer(
            dict(
                kafka_conf(self.bootstrap, "skein-compat-registry-consumer"),
                **{"group.id": self.prefix + "-registry-unused", "enable.auto.commit": False},
            )
        )
        try:
            consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
            msgs = []
            deadline = time.monotonic() + DEADLINE
            while len(msgs) < total:
                check(time.monotonic() < deadline, "read %d of %d records in %ss" % (len(msgs), total, DEADLINE))
                for m in consumer.consume(num_messages=500, timeout=0.2):
                    if m.error() is not None:
                        raise KafkaException(m.error())
                    msgs.append(m)
            extra = consumer.consume(num_messages=10, timeout=0.5)
            check(not [m for m in extra if m.error() is None], "records after the last expected one")
            return msgs
        finally:
            consumer.close()

    def run(self, fmt):
        topic = "%s-py-%s" % (self.prefix, fmt.name)
        subject = topic + "-value"
        n = self.records
        self.create_topic(topic)

        self.produce(topic, fmt, 1, 0)
        v1 = self.fresh().get_latest_version(subject)
        check(v1.version == 1, "%s after the first produce: version %s, want 1" % (subject, v1.version))
        check(v1.schema.schema_type == fmt.schema_type, "%s: schema type %s" % (subject, v1.schema.schema_type))
        log("%s: produced %d records with schema id %d (version 1)" % (fmt.name, n, v1.schema_id))

        if fmt.name == "protobuf":
            # The .proto source of version 1 is the schema the serializer
            # registered as a descriptor.
            found = self.fresh().lookup_schema(subject, Schema(PROTO_V1, "PROTOBUF"))
            check(
                found.schema_id == v1.schema_id and found.version == 1,
                "lookup of PROTO_V1 source: id %s version %s, want id %d version 1" % (found.schema_id, found.version, v1.schema_id),
            )
            # Version 2 is registered as .proto source first, as a client
            # that registers source would: the serializer's descriptor is
            # then the same schema, and the deserializer must get the
            # source-registered schema as a descriptor (format=serialized).
            text_id = self.sr.register_schema(subject, Schema(PROTO_V2, "PROTOBUF"))
            log("protobuf: PROTO_V2 source registered with id %d" % text_id)
        self.produce(topic, fmt, 2, n)
        v2 = self.fresh().get_latest_version(subject)
        if fmt.name == "protobuf":
            check(v2.schema_id == text_id, "the serializer's version 2 got id %d, the source %d" % (v2.schema_id, text_id))
        check(v2.version == 2, "%s after the evolution: version %s, want 2" % (subject, v2.version))
        check(v2.schema_id != v1.schema_id, "the evolved schema got the same id %d" % v1.schema_id)
        versions = self.fresh().get_versions(subject)
        check(versions == [1, 2], "GET /subjects/%s/versions: %s, want [1, 2]" % (subject, versions))
        log("%s: produced %d records with schema id %d (version 2); versions %s" % (fmt.name, n, v2.schema_id, versions))

        # Read back: the framing names the writer's schema id, the
        # deserializer resolves it through the registry (with a client of
        # its own, as a consumer elsewhere would: nothing cached from the
        # registrations).
        deser = fmt.deserializer(self.fresh())
        seen = set()
        for m in self.consume_all(topic, 2 * n):
            raw = m.value()
            check(len(raw) > 5 and raw[0] == 0, "record at %d/%d: not in the registry framing" % (m.partition(), m.offset()))
            schema_id = struct.unpack(">I", raw[1:5])[0]
            i = int(m.key().decode()[3:])
            check(i not in seen, "record %d read twice" % i)
            seen.add(i)
            written = 1 if i < n else 2
            want_id = v1.schema_id if written == 1 else v2.schema_id
            check(schema_id == want_id, "record %d: schema id %d, want %d" % (i, schema_id, want_id))
            value = deser(raw, SerializationContext(topic, MessageField.VALUE))
            got = fmt.decoded(value, written)
            want = expected_json(i, written) if fmt.name == "json" else expected(i, written)
            check(got == want, "record %d: decoded %r, want %r" % (i, got, want))
        check(len(seen) == 2 * n, "read %d distinct records, want %d" % (len(seen), 2 * n))
        log("%s: read and decoded all %d records (both versions)" % (fmt.name, 2 * n))

        # The registry's answer by id must be the schema the serializer sent.
        by_id = self.sr.get_schema(v2.schema_id)
        check(by_id.schema_type == fmt.schema_type, "GET /schemas/ids/%d: type %s" % (v2.schema_id, by_id.schema_type))

        bad = fmt.bad_schema
        if bad is None:
            from confluent_kafka.schema_registry.common.protobuf import _schema_to_str

            bad = Schema(_schema_to_str(proto_class(2, bad=True).DESCRIPTOR.file), "PROTOBUF")
        check(
            self.sr.test_compatibility(subject, bad) is False,
            "%s: compatibility check of the incompatible schema did not answer false" % fmt.name,
        )
        try:
            bad_id = self.sr.register_schema(subject, bad)
        except SchemaRegistryError as e:
            check(
                e.http_status_code == 409 and e.error_code == 409,
                "%s: incompatible schema refused with HTTP %s error_code %s (%s), want 409/409"
                % (fmt.name, e.http_status_code, e.error_code, e.error_message),
            )
            log("%s: incompatible schema refused: HTTP %d, error_code %d: %s" % (fmt.name, e.http_status_code, e.error_code, e.error_message))
        else:
            raise Failure("%s: incompatible schema registered with id %s" % (fmt.name, bad_id))
        versions = self.fresh().get_versions(subject)
        check(versions == [1, 2], "after the refused change: versions %s, want [1, 2]" % versions)


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    bootstrap, registry_url, prefix = argv[1], argv[2], argv[3]
    all_formats = formats()
    names = argv[4].split(",") if len(argv) > 4 and argv[4] else list(all_formats)
    records = int(os.environ.get("COMPAT_REGISTRY_RECORDS", "200"))
    c = Check(bootstrap, registry_url, prefix, records)
    failed = []
    for name in names:
        start = time.monotonic()
        try:
            c.run(all_formats[name])
            log("%s: passed in %.1fs" % (name, time.monotonic() - start))
        except Exception as e:  # noqa: BLE001 - report every format
            log("%s: FAILED: %s: %s" % (name, type(e).__name__, e))
            failed.append(name)
    if CLIENT_LOG.protocol_errors:
        log("client protocol errors: %s" % CLIENT_LOG.protocol_errors[:5])
        failed.append("protocol errors")
    if failed:
        log("FAILED: %s" % ", ".join(failed))
        return 1
    log("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
