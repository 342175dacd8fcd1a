package broker

// Produce (key 0), versions 0–13.
//
// Behavior: each partition's batches are validated as Kafka's LogValidator
// does (CRC32C, lengths, record count, offsets, codec, decompressed size,
// timestamps against message.timestamp.*.max.ms, keys on compacted topics,
// max.message.bytes) and stored exactly as sent, compressed or not, with
// offsets and the partition leader epoch assigned. LogAppendTime topics
// get the broker's time stamped into the batch header. acks=0 gets no
// response, and on failure its connection is closed as Kafka does; acks=1
// is answered once appended; acks=-1 is answered once the high watermark
// passes the batch: every in-sync replica holds it, fsynced unless
// write.caching is on (replica.go). acks=-1 is refused with
// NOT_ENOUGH_REPLICAS before the append while the ISR is smaller than
// min.insync.replicas, answered NOT_ENOUGH_REPLICAS_AFTER_APPEND when it
// shrank below it meanwhile, NOT_LEADER_OR_FOLLOWER when leadership moved
// meanwhile, and REQUEST_TIMED_OUT when timeout_ms passes first.
// Invalid acks → INVALID_REQUIRED_ACKS.
// Versions 0–2 are advertised (as Kafka 4 does for old librdkafka probes)
// but answered UNSUPPORTED_VERSION: they carry message formats 0 and 1.
// Topics with confluent.key/value.schema.validation refuse records without
// a registered schema id with INVALID_RECORD, naming each record.
// A topic whose compression.type names a codec gets batches rewritten in
// that codec; "producer" (the default) keeps them as sent.
// Idempotent batches are checked against the partition's producer state
// (sequence numbers, epochs; a retried batch is answered with its original
// offsets); transactional batches must belong to the producer's ongoing
// transaction (KIP-890 verification).
// With an authorizer, a transactional produce needs WRITE on its
// transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED for every
// partition) and each topic needs WRITE (TOPIC_AUTHORIZATION_FAILED for its
// partitions, nothing written). The audit topic takes only the events
// another broker forwards (auditForwardAccepted).
// Only the partition's leader appends: other brokers answer
// NOT_LEADER_OR_FOLLOWER, with the current leader, its epoch and endpoint
// (v10+, KIP-951) so that the client re-routes at once.
// Version notes: v3 record batch v2; v5 log start offset; v8 record errors
// (KIP-467); v10 current leader and node endpoints (KIP-951); v13 topic
// ids (KIP-516).

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
	"github.com/skein-streaming/skein/protocol/records"
)

// syncNeed is one partition an acks=all produce must see replicated: the
// records up to last, appended in leader epoch epoch.
type syncNeed struct {
	p     *partition
	last  int64
	epoch int32
	resp  *kmsg.ProduceResponseTopicPartition
}

func (b *Broker) handleProduce(ctx context.Context, r *protocol.Request) protocol.Reply {
	req := r.Msg.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	failAll := int16(0)
	switch {
	case req.Version < 3:
		failAll = kerr.UnsupportedVersion.Code
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		failAll = kerr.InvalidRequiredAcks.Code
	case req.TransactionID != nil && !b.authorize(r.Session, acl.OpWrite, acl.ResourceTransactionalID, *req.TransactionID):
		failAll = kerr.TransactionalIDAuthorizationFailed.Code
	}
	now := b.now().UnixMilli()
	var needs []syncNeed
	var leaders []leaderHint
	anyErr := false
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		st := &resp.Topics[ti]
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var t *topic
		if req.Version >= 13 {
			t = b.lookupTopicID(rt.TopicID)
		} else {
			t = b.lookupTopic(rt.Topic)
		}
		writable := failAll != 0 || (t == nil && req.Version >= 13)
		if !writable {
			name := rt.Topic
			if t != nil {
				name = t.name
			}
			writable = b.auditForwardAccepted(r.Session, req, name) || b.authorize(r.Session, acl.OpWrite, acl.ResourceTopic, name)
		}
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			sp := &st.Partitions[pi]
			sp.Default()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			p, code := leaderPartition(t, rp.Partition, -1)
			switch {
			case failAll != 0:
				sp.ErrorCode = failAll
			case t == nil && req.Version >= 13:
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case !writable:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case code != 0:
				sp.ErrorCode = code
			default:
				last, epoch, ok := b.producePartition(p, req.Version, req.Acks, req.TransactionID, rp.Records, now, sp)
				if ok && req.Acks == -1 && p.replicationStatus(last, epoch) != 0 {
					needs = append(needs, syncNeed{p: p, last: last, epoch: epoch, resp: sp})
				}
			}
			if sp.ErrorCode != 0 {
				anyErr = true
			}
			if leaderMovedCode(sp.ErrorCode) && req.Version >= 10 && t != nil {
				leaders = append(leaders, leaderHint{sp: sp, id: t.id, partition: rp.Partition})
			}
		}
	}
	if len(leaders) > 0 {
		b.produceLeaderHints(resp, leaders, r.Session.Listener)
	}
	if req.Acks == 0 {
		return protocol.Reply{NoResponse: true, Close: anyErr}
	}
	if len(needs) == 0 {
		return protocol.Reply{Resp: resp}
	}
	timeout := time.Duration(max(req.TimeoutMillis, 0)) * time.Millisecond
	deadline := time.Now().Add(timeout)
	return protocol.Reply{Wait: func(ctx context.Context) kmsg.Response {
		b.awaitProduce(ctx, needs, deadline)
		return resp
	}}
}

// awaitProduce waits until the high watermark of every partition passes
// its records, as Kafka's DelayedProduce, and answers each partition: the
// leader fsyncs first (unless write.caching is on); then each partition is
// acknowledged, or answered NOT_LEADER_OR_FOLLOWER,
// NOT_ENOUGH_REPLICAS_AFTER_APPEND or KAFKA_STORAGE_ERROR, or
// REQUEST_TIMED_OUT at the deadline. The fsync is not cancelled by the
// client leaving: the data is written and its durability does not depend
// on the reader.
func (b *Broker) awaitProduce(ctx context.Context, needs []syncNeed, deadline time.Time) {
	fail := func(n *syncNeed, code int16) {
		n.resp.ErrorCode = code
		n.resp.BaseOffset, n.resp.LogAppendTime, n.resp.LogStartOffset = -1, -1, -1
	}
	wake := make(chan struct{}, 1)
	pending := make([]*syncNeed, 0, len(needs))
	for i := range needs {
		n := &needs[i]
		if !n.p.writeCaching() {
			if err := n.p.log.SyncTo(n.last); err != nil {
				b.log.Error("fsync failed; partition stops acknowledging", "topic", n.p.topic.name, "partition", n.p.index, "err", err)
				fail(n, kerr.KafkaStorageError.Code)
				continue
			}
			n.p.maybeAdvanceHW()
		}
		n.p.watch(wake)
		defer n.p.unwatch(wake)
		pending = append(pending, n)
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		still := pending[:0]
		for _, n := range pending {
			switch code := n.p.replicationStatus(n.last, n.epoch); code {
			case 0:
			case -1:
				still = append(still, n)
			default:
				fail(n, code)
			}
		}
		pending = still
		if len(pending) == 0 {
			return
		}
		select {
		case <-wake:
			continue
		case <-timer.C:
		case <-ctx.Done():
		case <-b.bgCtx.Done():
		}
		for _, n := range pending {
			fail(n, kerr.RequestTimedOut.Code)
		}
		return
	}
}

// leaderHint is a partition answered NOT_LEADER_OR_FOLLOWER or
// FENCED_LEADER_EPOCH, to be told its current leader.
type leaderHint struct {
	sp        *kmsg.ProduceResponseTopicPartition
	id        TopicID
	partition int32
}

// produceLeaderHints fills KIP-951's current leader of each partition and
// the leaders' endpoints on listener, so that the client re-routes
// without a metadata round trip.
func (b *Broker) produceLeaderHints(resp *kmsg.ProduceResponse, hints []leaderHint, listener string) {
	img := b.meta.Image()
	seen := map[int32]bool{}
	for _, h := range hints {
		leader, epoch, ep, rack, ok := b.currentLeader(img, h.id, h.partition, listener)
		h.sp.CurrentLeader.LeaderID, h.sp.CurrentLeader.LeaderEpoch = leader, epoch
		if ok && !seen[leader] {
			seen[leader] = true
			resp.Brokers = append(resp.Brokers, kmsg.ProduceResponseBroker{NodeID: leader, Host: ep.Host, Port: ep.Port, Rack: rackPtr(rack)})
		}
	}
	slices.SortFunc(resp.Brokers, func(a, b kmsg.ProduceResponseBroker) int { return int(a.NodeID) - int(b.NodeID) })
}

// producePartition validates and appends one partition's batches, filling
// sp. It returns the last offset appended, the leader epoch it was
// appended in and whether it succeeded. acks=-1 is refused with
// NOT_ENOUGH_REPLICAS while the ISR is smaller than min.insync.replicas.
func (b *Broker) producePartition(p *partition, version, acks int16, txnID *string, data []byte, now int64, sp *kmsg.ProduceResponseTopicPartition) (int64, int32, bool) {
	if acks == -1 {
		if err := p.minISRError(); err != nil {
			setKafkaError(sp, err, kerr.NotEnoughReplicas)
			return 0, 0, false
		}
	}
	ts := p.topic.settings.Load()
	lim := ts.limits
	lim.NowMs = now
	lim.ProduceVersion = version
	lim.TopicPartition = p.name
	scratch := scratchPool.Get().(*records.Scratch)
	bi, err := records.Validate(data, lim, scratch)
	if err == nil && ts.recompress && bi.Codec != ts.codec {
		data, err = records.Recompress(nil, data[:bi.Size], ts.codec, lim.MaxDecompressedBytes, scratch)
		bi.Size = len(data)
	}
	scratchPool.Put(scratch)
	if err == nil && ts.schemas.on() {
		err = b.validateSchemas(p, ts.schemas, data[:bi.Size])
	}
	if err != nil {
		setRecordsError(sp, err)
		return 0, 0, false
	}
	data = data[:bi.Size]
	var bp *batchProducer
	var guard uint64
	if bi.ProducerID >= 0 {
		if bi.Transactional {
			// KIP-890: the partition must be part of the producer's
			// ongoing transaction before its data is accepted.
			err := errNoTransactionalID
			if txnID != nil {
				guard = p.txnGuard(bi.ProducerID)
				err = b.txnVerify(*txnID, bi.ProducerID, bi.ProducerEpoch, p.topic.name, p.index)
			}
			if err != nil {
				setKafkaError(sp, err, kerr.InvalidTxnState)
				return 0, 0, false
			}
		}
		bp = &batchProducer{id: bi.ProducerID, epoch: bi.ProducerEpoch, firstSeq: bi.BaseSequence, lastSeq: seqAdd(bi.BaseSequence, bi.LastOffsetDelta), timestamp: bi.MaxTimestamp, transactional: bi.Transactional, guard: guard}
	}
	if lim.TimestampType == records.LogAppendTime {
		records.SetLogAppendTime(data, now)
		sp.LogAppendTime = now
	} else {
		// As Kafka's leader does: the batch's max timestamp is the
		// largest record timestamp found, whatever the client wrote.
		records.SetMaxTimestamp(data, records.CreateTime, bi.MaxTimestamp)
	}
	base, last, epoch, dup, err := p.appendProducer(data, bp, now)
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		setKafkaError(sp, err, ke)
		return 0, 0, false
	case err != nil:
		b.log.Error("append failed", "topic", p.topic.name, "partition", p.index, "err", err)
		sp.ErrorCode = kerr.KafkaStorageError.Code
		return 0, 0, false
	case dup:
		// A retry of a batch already written: answer with its
		// original offsets. It was replicated, or is being, for the
		// request that wrote it; waiting for last covers both.
		sp.LogAppendTime = -1
	}
	sp.BaseOffset = base
	sp.LogStartOffset = p.log.LogStartOffset()
	return last, epoch, true
}

// errNoTransactionalID refuses a transactional batch sent without a
// transactional id.
var errNoTransactionalID = errors.New("transactional batch without a transactional id")

// setKafkaError answers a partition with the Kafka error err wraps (or
// fallback) and err's text as the message.
func setKafkaError(sp *kmsg.ProduceResponseTopicPartition, err error, fallback *kerr.Error) {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		ke = fallback
	}
	sp.ErrorCode = ke.Code
	sp.ErrorMessage = kmsg.StringPtr(err.Error())
}

// scratchPool holds decompression buffers for validation.
var scratchPool = sync.Pool{New: func() any { return new(records.Scratch) }}

func setRecordsError(sp *kmsg.ProduceResponseTopicPartition, err error) {
	var re *records.Error
	if !errors.As(err, &re) {
		sp.ErrorCode = kerr.CorruptMessage.Code
		return
	}
	sp.ErrorCode = re.Code.Code
	sp.ErrorMessage = re.ResponseErrorMessage()
	for _, e := range re.RecordErrors {
		sp.ErrorRecords = append(sp.ErrorRecords, kmsg.ProduceResponseTopicPartitionErrorRecord{RelativeOffset: e.BatchIndex, ErrorMessage: kmsg.StringPtr(e.Message)})
	}
}
