package broker

// ListPartitionReassignments (key 46), version 0.
//
// Behavior: needs DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED
// at the top level otherwise). Lists the partitions with an ongoing
// reassignment (adding or removing replicas) with their replicas, adding
// and removing replicas: of every topic when topics is null, else of the
// partitions asked (those without a reassignment, or unknown, are left
// out, as Kafka does).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleListPartitionReassignments(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if !b.authorizeCluster(r.Session, acl.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	img := b.freshImage(ctx)
	list := func(t *TopicImage, parts []int32) {
		rt := kmsg.NewListPartitionReassignmentsResponseTopic()
		rt.Topic = t.Name
		for _, p := range parts {
			st, ok := t.Partition(p)
			if !ok || (len(st.AddingReplicas) == 0 && len(st.RemovingReplicas) == 0) {
				continue
			}
			rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			rp.Partition = p
			rp.Replicas = append([]int32{}, st.Replicas...)
			rp.AddingReplicas = append([]int32{}, st.AddingReplicas...)
			rp.RemovingReplicas = append([]int32{}, st.RemovingReplicas...)
			rt.Partitions = append(rt.Partitions, rp)
		}
		if len(rt.Partitions) > 0 {
			resp.Topics = append(resp.Topics, rt)
		}
	}
	if req.Topics == nil {
		for _, name := range img.sortedTopicNames() {
			t := img.Topics[name]
			list(t, sortedPartitions(t))
		}
		return resp
	}
	for _, rt := range req.Topics {
		if t, ok := img.Topics[rt.Topic]; ok {
			list(t, rt.Partitions)
		}
	}
	return resp
}
