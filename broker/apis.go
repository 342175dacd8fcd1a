package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
)

// apiKeyLimit bounds the API keys the table can hold.
const apiKeyLimit = 100

// api is one served API key: the version range advertised in ApiVersions
// and the handler. The table below is the only list of served APIs; both
// dispatch and ApiVersions are built from it.
type api struct {
	key      kmsg.Key
	min, max int16
	handle   func(ctx context.Context, req *protocol.Request) protocol.Reply
}

func (b *Broker) buildAPITable() {
	sync := func(f func(ctx context.Context, req *protocol.Request) kmsg.Response) func(context.Context, *protocol.Request) protocol.Reply {
		return func(ctx context.Context, req *protocol.Request) protocol.Reply {
			return protocol.Reply{Resp: f(ctx, req)}
		}
	}
	for _, a := range []api{
		// Produce v0–v2 carry message formats 0 and 1, which Kafka 4
		// no longer stores; like Kafka 4 the range starts at 0 (clients
		// such as librdkafka probe for it) and such requests are
		// answered with UNSUPPORTED_VERSION per partition.
		{key: kmsg.Produce, min: 0, max: 13, handle: b.handleProduce},
		// Fetch v0–v3 would need down-conversion to message formats 0/1.
		{key: kmsg.Fetch, min: 4, max: 18, handle: b.handleFetch},
		{key: kmsg.ListOffsets, min: 0, max: 11, handle: sync(b.handleListOffsets)},
		{key: kmsg.Metadata, min: 0, max: 13, handle: sync(b.handleMetadata)},
		{key: kmsg.ApiVersions, min: 0, max: 4, handle: sync(b.handleApiVersions)},
		{key: kmsg.SASLHandshake, min: 0, max: 1, handle: b.handleSaslHandshake},
		{key: kmsg.SASLAuthenticate, min: 0, max: 2, handle: b.handleSaslAuthenticate},
		{key: kmsg.DescribeUserSCRAMCredentials, min: 0, max: 0, handle: sync(b.handleDescribeUserScramCredentials)},
		{key: kmsg.AlterUserSCRAMCredentials, min: 0, max: 0, handle: sync(b.handleAlterUserScramCredentials)},
		{key: kmsg.CreateTopics, min: 0, max: 7, handle: sync(b.handleCreateTopics)},
		{key: kmsg.DeleteTopics, min: 0, max: 6, handle: sync(b.handleDeleteTopics)},
		{key: kmsg.DeleteRecords, min: 0, max: 2, handle: sync(b.handleDeleteRecords)},
		{key: kmsg.OffsetForLeaderEpoch, min: 0, max: 4, handle: sync(b.handleOffsetForLeaderEpoch)},
		{key: kmsg.DescribeConfigs, min: 0, max: 4, handle: sync(b.handleDescribeConfigs)},
		{key: kmsg.AlterConfigs, min: 0, max: 2, handle: sync(b.handleAlterConfigs)},
		{key: kmsg.DescribeLogDirs, min: 0, max: 4, handle: sync(b.handleDescribeLogDirs)},
		{key: kmsg.CreatePartitions, min: 0, max: 3, handle: sync(b.handleCreatePartitions)},
		{key: kmsg.IncrementalAlterConfigs, min: 0, max: 1, handle: sync(b.handleIncrementalAlterConfigs)},
		{key: kmsg.DescribeACLs, min: 0, max: 3, handle: sync(b.handleDescribeACLs)},
		{key: kmsg.CreateACLs, min: 0, max: 3, handle: sync(b.handleCreateACLs)},
		{key: kmsg.DeleteACLs, min: 0, max: 3, handle: sync(b.handleDeleteACLs)},
		{key: kmsg.DescribeCluster, min: 0, max: 2, handle: sync(b.handleDescribeCluster)},
		{key: kmsg.ElectLeaders, min: 0, max: 2, handle: sync(b.handleElectLeaders)},
		{key: kmsg.AlterPartitionAssignments, min: 0, max: 1, handle: sync(b.handleAlterPartitionReassignments)},
		{key: kmsg.ListPartitionReassignments, min: 0, max: 0, handle: sync(b.handleListPartitionReassignments)},
		{key: kmsg.DescribeQuorum, min: 0, max: 2, handle: sync(b.handleDescribeQuorum)},
		{key: kmsg.UnregisterBroker, min: 0, max: 0, handle: sync(b.handleUnregisterBroker)},
		{key: kmsg.InitProducerID, min: 0, max: 5, handle: b.handleInitProducerID},
		{key: kmsg.AddPartitionsToTxn, min: 0, max: 5, handle: b.handleAddPartitionsToTxn},
		{key: kmsg.AddOffsetsToTxn, min: 0, max: 4, handle: b.handleAddOffsetsToTxn},
		// EndTxn v5 belongs to transaction version 2 (KIP-890 part 2),
		// which is not served.
		{key: kmsg.EndTxn, min: 0, max: 4, handle: b.handleEndTxn},
		{key: kmsg.WriteTxnMarkers, min: 0, max: 2, handle: b.handleWriteTxnMarkers},
		{key: kmsg.TxnOffsetCommit, min: 0, max: 4, handle: b.handleTxnOffsetCommit},
		{key: kmsg.DescribeProducers, min: 0, max: 0, handle: sync(b.handleDescribeProducers)},
		{key: kmsg.DescribeTransactions, min: 0, max: 0, handle: sync(b.handleDescribeTransactions)},
		{key: kmsg.ListTransactions, min: 0, max: 2, handle: sync(b.handleListTransactions)},
		// OffsetCommit v0–1 and OffsetFetch v0 were removed in Kafka 4
		// (KIP-896).
		{key: kmsg.OffsetCommit, min: 2, max: 9, handle: b.handleOffsetCommit},
		{key: kmsg.OffsetFetch, min: 1, max: 9, handle: sync(b.handleOffsetFetch)},
		{key: kmsg.FindCoordinator, min: 0, max: 6, handle: sync(b.handleFindCoordinator)},
		{key: kmsg.JoinGroup, min: 0, max: 9, handle: b.handleJoinGroup},
		{key: kmsg.Heartbeat, min: 0, max: 4, handle: sync(b.handleHeartbeat)},
		{key: kmsg.LeaveGroup, min: 0, max: 5, handle: sync(b.handleLeaveGroup)},
		{key: kmsg.SyncGroup, min: 0, max: 5, handle: b.handleSyncGroup},
		{key: kmsg.DescribeGroups, min: 0, max: 5, handle: sync(b.handleDescribeGroups)},
		{key: kmsg.ListGroups, min: 0, max: 5, handle: sync(b.handleListGroups)},
		{key: kmsg.DeleteGroups, min: 0, max: 2, handle: b.handleDeleteGroups},
		{key: kmsg.OffsetDelete, min: 0, max: 0, handle: b.handleOffsetDelete},
		{key: kmsg.ConsumerGroupHeartbeat, min: 0, max: 1, handle: sync(b.handleConsumerGroupHeartbeat)},
		{key: kmsg.ConsumerGroupDescribe, min: 0, max: 1, handle: sync(b.handleConsumerGroupDescribe)},
		{key: kmsg.DescribeClientQuotas, min: 0, max: 1, handle: sync(b.handleDescribeClientQuotas)},
		{key: kmsg.AlterClientQuotas, min: 0, max: 1, handle: b.handleAlterClientQuotas},
	} {
		a := a
		if b.apis[a.key] != nil {
			panic("duplicate api key in table: " + a.key.Name())
		}
		b.apis[a.key] = &a
	}
}

// Versions implements protocol.Handler.
func (b *Broker) Versions(key int16) (min, max int16, ok bool) {
	if key < 0 || int(key) >= len(b.apis) || b.apis[key] == nil {
		return 0, 0, false
	}
	a := b.apis[key]
	return a.min, a.max, true
}

// Handle implements protocol.Handler.
func (b *Broker) Handle(ctx context.Context, req *protocol.Request) protocol.Reply {
	select {
	case <-b.ready:
	default:
		// The listeners are bound just before the broker registers
		// (its advertised ports are known only then): hold requests
		// until it has, so that every answer lists this broker.
		select {
		case <-b.ready:
		case <-ctx.Done():
			return protocol.Reply{NoResponse: true, Close: true}
		}
	}
	a := b.apis[req.Header.Key]
	start := time.Now()
	reply := a.handle(ctx, req)
	reply = b.applyQuotas(req, reply, handlerTime(req))
	if b.log.Enabled(ctx, -4) {
		b.log.Debug("request", "api_key", a.key.Name(), "api_version", req.Header.Version, "corr_id", req.Header.CorrelationID,
			"client_id", req.Session.ClientID(), "remote_addr", req.Session.Remote.String(), "took", time.Since(start))
	}
	return b.instrument(req, reply)
}
