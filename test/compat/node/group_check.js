#!/usr/bin/env node
// Consumer group check with kafkajs (classic protocol).
//
// Two consumers join one group on a topic with four partitions. Once both
// own partitions, the records are produced; each consumer processes a fixed
// number of records of each of its partitions (3/5 or 2/5 of it, half of
// all records per consumer), commits the offsets after them, and waits for
// the other; both disconnect. A third consumer then joins the same group
// and must start exactly at the committed offset of every partition and
// read to the end: the committed prefix from phase one and the records of
// phase two cover every record exactly once.
//
// Usage: node group_check.js <bootstrap> <topic-prefix> [ignored...]
//
// Environment: COMPAT_GROUP_RECORDS (default 2000); COMPAT_KAFKAJS_DEBUG=1
// sets kafkajs's log level to DEBUG.
//
// Exit status 0 only when the check passed.
'use strict'

const { Kafka, logLevel, Partitioners } = require('kafkajs')

const PARTITIONS = 4
const DEADLINE_MS = 90000 // per phase

function log (msg) {
  const t = new Date().toISOString().slice(11, 23)
  console.log(`${t} node: ${msg}`)
}

function logCreator () {
  return ({ namespace, level, label, log: entry }) => {
    const { message, timestamp, logger, ...extra } = entry
    const t = (timestamp || new Date().toISOString()).slice(11, 23)
    console.log(`${t} kafkajs: ${label} [${namespace}] ${message} ${JSON.stringify(extra)}`)
  }
}

function sleep (ms) {
  return new Promise(resolve => setTimeout(resolve, ms))
}

// waitFor polls cond until it holds, failing after the deadline.
async function waitFor (what, cond, deadlineMs = DEADLINE_MS) {
  const deadline = Date.now() + deadlineMs
  while (!cond()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`)
    }
    await sleep(20) // poll interval
  }
}

class Check {
  constructor (bootstrap, prefix, records) {
    this.topic = `${prefix}-node-group`
    this.group = `${this.topic}-group`
    this.records = records
    this.problems = []
    this.sent = new Map() // partition -> Map(offset -> value)
    this.go = false
    this.kafka = new Kafka({
      clientId: 'compat-node-group',
      brokers: [bootstrap],
      logLevel: process.env.COMPAT_KAFKAJS_DEBUG ? logLevel.DEBUG : logLevel.WARN,
      logCreator
    })
  }

  // cap is how many records of partition p phase one processes: 3/5 of
  // partitions 0 and 3 and 2/5 of partitions 1 and 2. Whether the assignor
  // gives a member partitions {0, 1} or {0, 2}, each member of the group of
  // two processes half of all records.
  cap (p) {
    return Math.floor(Math.floor(this.records / PARTITIONS) * (p === 0 || p === 3 ? 3 : 2) / 5)
  }

  consumer () {
    return this.kafka.consumer({
      groupId: this.group,
      // Small fetches: many fetch rounds.
      maxBytesPerPartition: 2048,
      maxWaitTimeInMs: 500
    })
  }

  async run () {
    const admin = this.kafka.admin()
    await admin.connect()
    try {
      const created = await admin.createTopics({
        topics: [{ topic: this.topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
        waitForLeaders: true
      })
      if (!created) {
        throw new Error(`topic ${this.topic} already exists`)
      }
      const committed = await this.phaseOne()
      if (this.problems.length > 0) {
        return
      }
      // What the broker stored must be what the commits acknowledged.
      const fetched = await admin.fetchOffsets({ groupId: this.group, topics: [this.topic] })
      const stored = new Map()
      for (const t of fetched) {
        for (const p of t.partitions) {
          if (Number(p.offset) >= 0) {
            stored.set(p.partition, Number(p.offset))
          }
        }
      }
      if (fmt(stored) !== fmt(committed)) {
        this.problems.push(`committed offsets fetched by the admin client ${fmt(stored)} differ from the commits ${fmt(committed)}`)
        return
      }
      await this.phaseTwo(committed)
    } finally {
      await admin.disconnect()
    }
  }

  async phaseOne () {
    const start = Date.now()
    const members = [new Member(this, 'a'), new Member(this, 'b')]
    let ok = false
    try {
      await Promise.all(members.map(m => m.start()))
      // Both members must own partitions, together all of them, before
      // there is anything to consume.
      try {
        await waitFor('a group of two', () => {
          const [a, b] = members.map(m => m.assignment)
          const union = new Set([...a, ...b])
          return members.some(m => m.error) ||
            (a.size > 0 && b.size > 0 && union.size === PARTITIONS && a.size + b.size === PARTITIONS)
        })
      } catch (e) {
        // Reported below with the assignments.
      }
      const [a, b] = members.map(m => m.assignment)
      if (members.some(m => m.error) || a.size === 0 || b.size === 0 || a.size + b.size !== PARTITIONS) {
        this.problems.push(`the two members did not share the partitions: a owns ${[...a]} (${members[0].error}), b owns ${[...b]} (${members[1].error})`)
        return new Map()
      }
      log(`group of two formed after ${Date.now() - start} ms: a owns ${[...a]}, b owns ${[...b]}`)
      // The topic is empty until now: whatever the members read from here
      // on is processed.
      this.go = true
      await this.produce()
      try {
        await waitFor('both members to commit', () => members.every(m => m.finished || m.error))
      } catch (e) {
        this.problems.push(`${e.message}: a processed ${members[0].count}, b processed ${members[1].count}`)
      }
      ok = true
    } finally {
      await Promise.all(members.map(m => m.consumer.disconnect()))
      if (!ok) {
        log('phase one failed')
      }
    }
    const committed = new Map()
    for (const m of members) {
      if (m.error) {
        this.problems.push(`member ${m.name}: ${m.error}`)
        continue
      }
      if (!m.assignmentAtGo || m.assignmentAtGo.size === 0) {
        this.problems.push(`member ${m.name} owned no partitions while consuming`)
      }
      if (m.rebalancesWhileProcessing > 0) {
        this.problems.push(`member ${m.name} saw ${m.rebalancesWhileProcessing} rebalance(s) while consuming`)
      }
      for (const [key, value] of m.values) {
        const [p, off] = key.split('@').map(Number)
        const want = this.sent.get(p).get(off)
        if (value !== want) {
          this.problems.push(`member ${m.name} partition ${p} offset ${off}: value ${value}, want ${want}`)
        }
      }
      for (const [p, offs] of m.processed) {
        // Nothing was committed before: each partition is read from 0.
        if (offs.some((o, i) => o !== i)) {
          this.problems.push(`member ${m.name} partition ${p}: processed offsets ${offs.slice(0, 10)}...`)
        }
        if (!m.assignmentAtGo.has(p)) {
          this.problems.push(`member ${m.name} processed partition ${p} it did not own`)
        }
      }
      for (const [p, off] of m.committed) {
        if (committed.has(p)) {
          this.problems.push(`partition ${p} committed by both members`)
        }
        committed.set(p, off)
      }
      log(`member ${m.name} owned ${[...m.assignmentAtGo]}, processed ${m.count} records of partitions ${[...m.processed.keys()]}, committed ${fmt(m.committed)}`)
    }
    for (let p = 0; p < PARTITIONS; p++) {
      if (committed.get(p) !== this.cap(p)) {
        this.problems.push(`partition ${p}: committed ${committed.get(p)} in phase one, want ${this.cap(p)}`)
      }
    }
    log(`phase one done in ${Date.now() - start} ms: committed ${fmt(committed)}`)
    return committed
  }

  async produce () {
    const producer = this.kafka.producer({ createPartitioner: Partitioners.LegacyPartitioner, idempotent: false })
    await producer.connect()
    try {
      const chunk = 100
      for (let from = 0; from < this.records; from += chunk) {
        const messages = []
        for (let i = from; i < Math.min(from + chunk, this.records); i++) {
          messages.push({ key: `key-${i}`, value: `value-${i}`, partition: i % PARTITIONS })
        }
        const metas = await producer.send({ topic: this.topic, acks: -1, messages })
        const base = new Map(metas.map(md => {
          if (md.errorCode !== 0) {
            throw new Error(`produce to partition ${md.partition}: error code ${md.errorCode}`)
          }
          return [md.partition, Number(md.baseOffset)]
        }))
        // Within one send, the messages of a partition get consecutive
        // offsets in order.
        const next = new Map()
        for (const m of messages) {
          const n = next.get(m.partition) || 0
          next.set(m.partition, n + 1)
          if (!this.sent.has(m.partition)) {
            this.sent.set(m.partition, new Map())
          }
          this.sent.get(m.partition).set(base.get(m.partition) + n, m.value)
        }
      }
    } finally {
      await producer.disconnect()
    }
    const per = Math.floor(this.records / PARTITIONS)
    for (let p = 0; p < PARTITIONS; p++) {
      const offs = [...(this.sent.get(p) || new Map()).keys()].sort((x, y) => x - y)
      if (offs.length !== per || offs.some((o, i) => o !== i)) {
        throw new Error(`partition ${p}: produced offsets are not 0..${per - 1}`)
      }
    }
    log(`produced ${this.records} records`)
  }

  async phaseTwo (committed) {
    const start = Date.now()
    const read = new Map() // partition -> [[offset, value]]
    const consumer = this.consumer()
    await consumer.connect()
    try {
      await consumer.subscribe({ topics: [this.topic], fromBeginning: true })
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          if (!read.has(partition)) {
            read.set(partition, [])
          }
          read.get(partition).push([Number(message.offset), message.value.toString()])
        }
      })
      try {
        await waitFor('the end of every partition', () => this.reachedEnd(read, committed))
      } catch (e) {
        this.problems.push(`phase two did not reach the end of every partition: read ${summary(read)}`)
        return
      }
    } finally {
      await consumer.disconnect()
    }
    for (let p = 0; p < PARTITIONS; p++) {
      const from = committed.get(p) || 0
      const end = this.sent.get(p).size
      const rs = read.get(p) || []
      if (rs.length > 0 && rs[0][0] !== from) {
        this.problems.push(`partition ${p}: the resumed consumer started at offset ${rs[0][0]}, committed ${from}`)
        continue
      }
      if (rs.length !== end - from || rs.some(([o], i) => o !== from + i)) {
        this.problems.push(`partition ${p}: the resumed consumer read ${rs.length} records, want offsets ${from}..${end - 1} exactly once`)
      }
      for (const [o, v] of rs) {
        if (v !== this.sent.get(p).get(o)) {
          this.problems.push(`partition ${p} offset ${o}: value ${v}`)
          break
        }
      }
    }
    log(`phase two done in ${Date.now() - start} ms: read ${summary(read)}`)
  }

  reachedEnd (read, committed) {
    for (let p = 0; p < PARTITIONS; p++) {
      const end = this.sent.get(p).size
      if ((committed.get(p) || 0) === end) {
        continue
      }
      const rs = read.get(p)
      if (!rs || rs[rs.length - 1][0] < end - 1) {
        return false
      }
    }
    return true
  }
}

// Member is one consumer of phase one.
class Member {
  constructor (check, name) {
    this.check = check
    this.name = name
    this.consumer = check.consumer()
    this.assignment = new Set()
    this.assignmentAtGo = null
    this.processed = new Map() // partition -> [offsets in processing order]
    this.values = new Map() // "partition@offset" -> value
    this.committed = new Map()
    this.count = 0
    this.finished = false
    this.error = null
    this.rebalancesWhileProcessing = 0
  }

  async start () {
    const chk = this.check
    const c = this.consumer
    c.on(c.events.GROUP_JOIN, e => {
      const parts = e.payload.memberAssignment[chk.topic] || []
      log(`${this.name}: joined generation, assigned ${parts}`)
      if (chk.go && !this.finished) {
        this.rebalancesWhileProcessing++
      }
      this.assignment = new Set(parts)
    })
    c.on(c.events.CRASH, e => {
      this.error = this.error || `consumer crashed: ${e.payload.error}`
    })
    await c.connect()
    await c.subscribe({ topics: [chk.topic], fromBeginning: true })
    await c.run({
      autoCommit: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        try {
          await this.onBatch(batch, resolveOffset)
        } catch (e) {
          this.error = this.error || String(e)
        }
        await heartbeat()
      }
    })
  }

  async onBatch (batch, resolveOffset) {
    const chk = this.check
    if (!chk.go) {
      if (batch.messages.length > 0) {
        this.error = this.error || `got ${batch.messages.length} records before any were produced`
      }
      return
    }
    if (this.assignmentAtGo === null) {
      this.assignmentAtGo = new Set(this.assignment)
    }
    const p = batch.partition
    for (const m of batch.messages) {
      // Every record is resolved (the local position moves on); only the
      // records up to the cap are processed and committed.
      resolveOffset(m.offset)
      if (this.finished) {
        continue // waiting for the other member
      }
      if (!this.processed.has(p)) {
        this.processed.set(p, [])
      }
      const offs = this.processed.get(p)
      if (offs.length < chk.cap(p)) {
        offs.push(Number(m.offset))
        this.values.set(`${p}@${m.offset}`, m.value.toString())
        this.count++
      }
    }
    if (!this.finished && [...this.assignmentAtGo].every(q => (this.processed.get(q) || []).length >= chk.cap(q))) {
      const offsets = [...this.processed].map(([q, offs]) => ({
        topic: chk.topic, partition: q, offset: String(offs[offs.length - 1] + 1)
      }))
      await this.consumer.commitOffsets(offsets)
      for (const o of offsets) {
        this.committed.set(o.partition, Number(o.offset))
      }
      log(`${this.name}: processed ${this.count} records, committed ${fmt(this.committed)}`)
      this.finished = true
    }
  }
}

function fmt (m) {
  return '{' + [...m].sort((x, y) => x[0] - y[0]).map(([k, v]) => `${k}: ${v}`).join(', ') + '}'
}

function summary (read) {
  return '{' + [...read].sort((x, y) => x[0] - y[0]).map(([p, rs]) => `${p}: ${rs.length} records from ${rs[0][0]}`).join(', ') + '}'
}

async function main (argv) {
  if (argv.length < 2) {
    console.error('usage: node group_check.js <bootstrap> <topic-prefix>')
    return 2
  }
  const records = Number(process.env.COMPAT_GROUP_RECORDS || '2000')
  const chk = new Check(argv[0], argv[1], records)
  const start = Date.now()
  try {
    await chk.run()
  } catch (e) {
    chk.problems.push(`exception: ${e && e.stack ? e.stack : e}`)
  }
  const ms = Date.now() - start
  if (chk.problems.length === 0) {
    console.log(`PASS node kafkajs group topic=${chk.topic} records=${records} (${ms} ms)`)
    return 0
  }
  console.log(`FAIL node kafkajs group topic=${chk.topic}: ${chk.problems.length} problem(s) (${ms} ms)`)
  for (const p of chk.problems.slice(0, 30)) {
    console.log(`  ${p}`)
  }
  if (chk.problems.length > 30) {
    console.log(`  ... ${chk.problems.length - 30} more`)
  }
  return 1
}

main(process.argv.slice(2)).then(code => process.exit(code), e => {
  console.log(`FAIL node kafkajs group: ${e && e.stack ? e.stack : e}`)
  process.exit(1)
})
