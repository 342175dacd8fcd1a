package broker

// DescribeQuorum (key 55), versions 0–2.
//
// Behavior: needs DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED
// otherwise). Describes the metadata quorum, the single partition 0 of
// __cluster_metadata (others are UNKNOWN_TOPIC_OR_PARTITION), as its
// leader sees it: a broker that does not lead the quorum asks the leader
// through the controller RPC, as Kafka's brokers forward the request to
// the active controller. Voters and observers (raft learners: broker-only
// nodes and controllers not yet promoted) are listed with their log end
// offset (the last raft index the leader knows they have), the last time
// the leader heard from them and the last time they had its commit index
// (v1+); the leader epoch is the raft term and the high watermark the
// commit index. v2 adds each member's controller listener
// (controller.listener.names) in Nodes. Without a reachable leader the
// answer is NOT_LEADER_OR_FOLLOWER.

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

// metadataTopic is the name of the metadata quorum's log, as in KRaft.
const metadataTopic = "__cluster_metadata"

func (b *Broker) handleDescribeQuorum(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.DescribeQuorumRequest)
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	if !b.authorizeCluster(r.Session, acl.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	store, ok := b.meta.(*RaftStore)
	var st *QuorumStatus
	var stErr error
	needed := false
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			needed = needed || (t.Topic == metadataTopic && p.Partition == 0)
		}
	}
	if needed && ok {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		res := store.handleCtrl(cctx, CtrlRequest{Op: CtrlStatus})
		cancel()
		switch {
		case res.Status != nil:
			st = res.Status
		default:
			stErr = errString(res.Error)
		}
	}
	listener := "CONTROLLER"
	if names := b.settings.broker().List("controller.listener.names"); len(names) > 0 {
		listener = strings.ToUpper(names[0])
	}
	for _, t := range req.Topics {
		rt := kmsg.NewDescribeQuorumResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewDescribeQuorumResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case t.Topic != metadataTopic || p.Partition != 0:
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case st == nil:
				rp.ErrorCode = kerr.NotLeaderForPartition.Code
				if req.Version >= 2 && stErr != nil {
					rp.ErrorMessage = kmsg.StringPtr(stErr.Error())
				}
			default:
				rp.LeaderID = st.LeaderID
				rp.LeaderEpoch = int32(st.Term)
				rp.HighWatermark = int64(st.Commit)
				for _, m := range st.Members {
					rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
					rs.ReplicaID = m.ID
					rs.LogEndOffset = int64(m.Match)
					if req.Version >= 1 {
						rs.LastFetchTimestamp = m.LastContactMs
						rs.LastCaughtUpTimestamp = m.LastCaughtUpMs
					}
					if m.Voter {
						rp.CurrentVoters = append(rp.CurrentVoters, rs)
					} else {
						rp.Observers = append(rp.Observers, rs)
					}
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if req.Version >= 2 && st != nil {
		for _, m := range st.Members {
			n := kmsg.NewDescribeQuorumResponseNode()
			n.NodeID = m.ID
			if host, port, err := net.SplitHostPort(m.Addr); err == nil {
				if pn, err := strconv.Atoi(port); err == nil && pn > 0 && pn <= 65535 {
					l := kmsg.NewDescribeQuorumResponseNodeListener()
					l.Name, l.Host, l.Port = listener, host, uint16(pn)
					n.Listeners = append(n.Listeners, l)
				}
			}
			resp.Nodes = append(resp.Nodes, n)
		}
	}
	return resp
}

type errString string

func (e errString) Error() string { return string(e) }
