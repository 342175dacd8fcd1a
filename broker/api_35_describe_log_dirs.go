package broker

// DescribeLogDirs (key 35), versions 0–4.
//
// Behavior: one log directory (log.dirs) with the size of every partition
// in it; offset lag is 0 and no partition is a future replica (no
// AlterReplicaLogDirs). v4 adds the directory's total and usable bytes.
// With an authorizer, DESCRIBE on the cluster is needed: without it no
// directory is listed and v3+ answer CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleDescribeLogDirs(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if !b.authorizeCluster(r.Session, acl.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	dir := kmsg.DescribeLogDirsResponseDir{Dir: b.cfg.DataDir, TotalBytes: -1, UsableBytes: -1}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(b.cfg.DataDir, &fs); err == nil {
		dir.TotalBytes = int64(fs.Blocks) * int64(fs.Bsize)
		dir.UsableBytes = int64(fs.Bavail) * int64(fs.Bsize)
	}
	add := func(t *topic, parts []int32) {
		dt := kmsg.DescribeLogDirsResponseDirTopic{Topic: t.name}
		for _, i := range parts {
			if p := t.partition(i); p != nil {
				dt.Partitions = append(dt.Partitions, kmsg.DescribeLogDirsResponseDirTopicPartition{Partition: i, Size: p.log.Size()})
			}
		}
		if len(dt.Partitions) > 0 {
			dir.Topics = append(dir.Topics, dt)
		}
	}
	if req.Topics == nil {
		b.mu.RLock()
		topics := make([]*topic, 0, len(b.mu.topics))
		for _, t := range b.mu.topics {
			topics = append(topics, t)
		}
		b.mu.RUnlock()
		for _, t := range topics {
			var all []int32
			for _, p := range t.hosted() {
				all = append(all, p.index)
			}
			add(t, all)
		}
	} else {
		for _, rt := range req.Topics {
			if t := b.lookupTopic(rt.Topic); t != nil {
				add(t, rt.Partitions)
			}
		}
	}
	resp.Dirs = []kmsg.DescribeLogDirsResponseDir{dir}
	return resp
}
