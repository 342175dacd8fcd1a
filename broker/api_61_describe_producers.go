package broker

// DescribeProducers (key 61), version 0.
//
// Behavior: lists the active producers of each requested partition, from
// the partition's producer state (KIP-664): producer id and epoch, last
// sequence and timestamp, coordinator epoch of the last marker, and the
// first offset of the producer's open transaction (-1 if none). A
// partition that does not exist gets UNKNOWN_TOPIC_OR_PARTITION. With an
// authorizer, each topic needs READ (TOPIC_AUTHORIZATION_FAILED otherwise).
// Version notes: v0 flexible.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleDescribeProducers(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.DescribeProducersResponseTopic{Topic: rt.Topic}
		allowed := b.authorize(r.Session, acl.OpRead, acl.ResourceTopic, rt.Topic)
		t := b.lookupTopic(rt.Topic)
		for _, i := range rt.Partitions {
			sp := kmsg.DescribeProducersResponseTopicPartition{Partition: i, ActiveProducers: []kmsg.DescribeProducersResponseTopicPartitionActiveProducer{}}
			p, code := leaderPartition(t, i, -1)
			switch {
			case !allowed:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				sp.ErrorMessage = kmsg.StringPtr(authorizationMessage(sp.ErrorCode))
			case code == kerr.UnknownTopicOrPartition.Code:
				sp.ErrorCode = code
				sp.ErrorMessage = kmsg.StringPtr("This server does not host this topic-partition.")
			case code != 0:
				sp.ErrorCode = code
				sp.ErrorMessage = kmsg.StringPtr(kerr.NotLeaderForPartition.Description)
			default:
				sp.ActiveProducers = p.describeProducers()
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
