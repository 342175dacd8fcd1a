#!/usr/bin/env node
// Schema registry check with kafkajs and @kafkajs/confluent-schema-registry.
//
// Registers an Avro schema for a topic's value subject, produces N
// prescription records encoded with it, evolves the schema compatibly (a
// field with a default) and produces N more with the new id, then reads the
// whole topic back: every record must carry the id it was encoded with and
// decode to what was produced, with the writer's schema and with the new
// schema as reader (the old records then read the default). The subject
// must list versions [1, 2]; an incompatible change (a field's type
// changed) must be refused with HTTP 409.
//
// Usage: node registry_check.js <bootstrap> <registry-url> <topic-prefix> [ignored...]
//
// Environment: COMPAT_REGISTRY_RECORDS (default 200) records per schema
// version; COMPAT_KAFKAJS_DEBUG=1 sets kafkajs's log level to DEBUG.
//
// Exit status 0 only when the check passed.
'use strict'

const { Kafka, logLevel, Partitioners } = require('kafkajs')
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry')

const PARTITIONS = 3
const DEADLINE_MS = 60000
const STATUSES = ['PRESCRIBED', 'DISPENSED', 'REFILLED', 'CANCELLED']

const AVRO_V1 = {
  type: 'record',
  name: 'Prescription',
  namespace: 'dev.skein.compat.rx',
  fields: [
    { name: 'prescription_id', type: 'string' },
    { name: 'patient_id', type: 'long' },
    { name: 'status', type: 'string' },
    { name: 'dose_mg', type: 'double' }
  ]
}
const AVRO_V2 = { ...AVRO_V1, fields: [...AVRO_V1.fields, { name: 'refills', type: 'int', default: 0 }] }
// Incompatible with V2: patient_id long -> string cannot be resolved.
const AVRO_BAD = {
  ...AVRO_V2,
  fields: AVRO_V2.fields.map(f => f.name === 'patient_id' ? { ...f, type: 'string' } : f)
}

function log (msg) {
  const t = new Date().toISOString().slice(11, 23)
  console.log(`${t} node registry: ${msg}`)
}

function logCreator () {
  return ({ namespace, label, log: entry }) => {
    const { message, timestamp, logger, ...extra } = entry
    const t = (timestamp || new Date().toISOString()).slice(11, 23)
    console.log(`${t} kafkajs: ${label} [${namespace}] ${message} ${JSON.stringify(extra)}`)
  }
}

function sleep (ms) {
  return new Promise(resolve => setTimeout(resolve, ms))
}

function check (cond, msg) {
  if (!cond) {
    throw new Error(msg)
  }
}

// record is the i-th prescription; version 2 adds refills.
function record (i, version) {
  const r = {
    prescription_id: `rx-${String(i).padStart(6, '0')}`,
    patient_id: 100000 + (i * 7919) % 50000,
    status: STATUSES[i % STATUSES.length],
    dose_mg: 2.5 * (1 + i % 40)
  }
  if (version === 2) {
    r.refills = i % 6
  }
  return r
}

function same (got, want) {
  const keys = Object.keys(want)
  return Object.keys(got).length === keys.length && keys.every(k => got[k] === want[k])
}

async function registryGet (url, path) {
  const resp = await fetch(url + path, { headers: { Accept: 'application/vnd.schemaregistry.v1+json' } })
  const body = await resp.text()
  check(resp.status === 200, `GET ${path}: HTTP ${resp.status} ${body}`)
  return JSON.parse(body)
}

async function main (argv) {
  if (argv.length < 3) {
    console.error('usage: node registry_check.js <bootstrap> <registry-url> <topic-prefix>')
    return 2
  }
  const [bootstrap, registryUrl, prefix] = argv
  const n = parseInt(process.env.COMPAT_REGISTRY_RECORDS || '200', 10)
  const topic = `${prefix}-node-avro`
  const subject = `${topic}-value`

  const kafka = new Kafka({
    clientId: 'skein-compat-node-registry',
    brokers: [bootstrap],
    logLevel: process.env.COMPAT_KAFKAJS_DEBUG ? logLevel.DEBUG : logLevel.WARN,
    logCreator,
    retry: { retries: 10 }
  })
  const registry = new SchemaRegistry({ host: registryUrl })

  const admin = kafka.admin()
  await admin.connect()
  try {
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
      waitForLeaders: true
    })
    check(created, `topic ${topic} already exists`)
  } finally {
    await admin.disconnect()
  }

  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const produce = async (id, version, start) => {
    const messages = []
    for (let i = start; i < start + n; i++) {
      const r = record(i, version)
      messages.push({ key: r.prescription_id, value: await registry.encode(id, r) })
    }
    await producer.send({ topic, acks: -1, messages })
  }

  let v1, v2
  try {
    v1 = (await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(AVRO_V1) }, { subject })).id
    await produce(v1, 1, 0)
    log(`produced ${n} records with schema id ${v1} (version 1)`)

    v2 = (await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(AVRO_V2) }, { subject })).id
    check(v2 !== v1, `the evolved schema got the same id ${v1}`)
    check(await registry.getLatestSchemaId(subject) === v2, 'the latest schema id is not the evolved one')
    await produce(v2, 2, n)
    const versions = await registryGet(registryUrl, `/subjects/${encodeURIComponent(subject)}/versions`)
    check(JSON.stringify(versions) === '[1,2]', `GET /subjects/${subject}/versions: ${JSON.stringify(versions)}, want [1,2]`)
    log(`produced ${n} records with schema id ${v2} (version 2); versions ${JSON.stringify(versions)}`)
  } finally {
    await producer.disconnect()
  }

  // Read everything back from the beginning with a fresh group.
  const consumer = kafka.consumer({ groupId: `${prefix}-node-registry` })
  const raw = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message }) => { raw.push(message) }
    })
    const deadline = Date.now() + DEADLINE_MS
    while (raw.length < 2 * n) {
      check(Date.now() < deadline, `read ${raw.length} of ${2 * n} records in ${DEADLINE_MS} ms`)
      await sleep(20) // poll interval
    }
    await sleep(500) // anything beyond the expected records shows up here
    check(raw.length === 2 * n, `read ${raw.length} records, want ${2 * n}`)
  } finally {
    await consumer.disconnect()
  }

  // A client of its own, as a consumer elsewhere would: the writer's
  // schemas are fetched by id, nothing is cached from the registrations.
  const reader = new SchemaRegistry({ host: registryUrl })
  const seen = new Set()
  for (const m of raw) {
    const i = parseInt(m.key.toString().slice(3), 10)
    check(!seen.has(i), `record ${i} read twice`)
    seen.add(i)
    const written = i < n ? 1 : 2
    check(m.value.length > 5 && m.value[0] === 0, `record ${i}: not in the registry framing`)
    const id = m.value.readUInt32BE(1)
    check(id === (written === 1 ? v1 : v2), `record ${i}: schema id ${id}, want ${written === 1 ? v1 : v2}`)
    // With the writer's schema, fetched by id.
    const asWritten = await reader.decode(m.value)
    check(same(asWritten, record(i, written)), `record ${i}: decoded ${JSON.stringify(asWritten)}, want ${JSON.stringify(record(i, written))}`)
    // With the new schema as reader: old records read the default.
    const asV2 = await reader.decode(m.value, { [SchemaType.AVRO]: { readerSchema: AVRO_V2 } })
    const want = { ...record(i, written), refills: written === 1 ? 0 : i % 6 }
    check(same(asV2, want), `record ${i} with the version 2 reader: ${JSON.stringify(asV2)}, want ${JSON.stringify(want)}`)
  }
  check(seen.size === 2 * n, `read ${seen.size} distinct records, want ${2 * n}`)
  log(`read and decoded all ${2 * n} records (both versions, with the writer's and the new schema)`)

  let refused = null
  try {
    const bad = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(AVRO_BAD) }, { subject })
    throw new Error(`incompatible schema registered with id ${bad.id}`)
  } catch (e) {
    if (e.status === undefined) {
      throw e
    }
    refused = e
  }
  check(refused.status === 409, `incompatible schema refused with HTTP ${refused.status} (${refused.message}), want 409`)
  log(`incompatible schema refused: HTTP ${refused.status}: ${refused.message}`)
  const after = await registryGet(registryUrl, `/subjects/${encodeURIComponent(subject)}/versions`)
  check(JSON.stringify(after) === '[1,2]', `after the refused change: versions ${JSON.stringify(after)}, want [1,2]`)
  return 0
}

const start = Date.now()
main(process.argv.slice(2)).then(code => {
  if (code === 0) {
    log(`all passed in ${((Date.now() - start) / 1000).toFixed(1)}s`)
  }
  process.exit(code)
}, err => {
  log(`FAILED: ${err && err.stack ? err.stack : err}`)
  process.exit(1)
})
