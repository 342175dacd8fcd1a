package group

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Key versions of __consumer_offsets records (see doc.go).
const (
	keyOffsetCommitV0    = 0
	keyOffsetCommit      = 1
	keyGroupMetadata     = 2
	keyConsumerGroup     = 1000
	offsetValueVersion   = 3
	groupValueVersion    = 3
	consumerValueVersion = 0
)

func offsetKey(groupID, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: keyOffsetCommit, Group: groupID, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func offsetValue(o *offsetEntry) []byte {
	v := kmsg.OffsetCommitValue{Version: offsetValueVersion, Offset: o.offset, LeaderEpoch: o.leaderEpoch, Metadata: o.metadata, CommitTimestamp: o.commitTimestamp}
	return v.AppendTo(nil)
}

func groupKey(groupID string) []byte {
	k := kmsg.GroupMetadataKey{Version: keyGroupMetadata, Group: groupID}
	return k.AppendTo(nil)
}

// groupValue encodes a classic group as Kafka's GroupMetadataValue, with the
// members' subscriptions of the selected protocol and assignment.
func groupValue(g *group, stateTimestamp int64) []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocolName != "" {
		v.Protocol = kmsg.StringPtr(g.protocolName)
	}
	if g.leader != "" {
		v.Leader = kmsg.StringPtr(g.leader)
	}
	v.CurrentStateTimestamp = stateTimestamp
	for _, m := range g.sortedMembers() {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID = m.id
		if m.instanceID != "" {
			vm.InstanceID = kmsg.StringPtr(m.instanceID)
		}
		vm.ClientID, vm.ClientHost = m.clientID, m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout.Milliseconds())
		vm.SessionTimeoutMillis = int32(m.sessionTimeout.Milliseconds())
		vm.Subscription = m.metadataFor(g.protocolName)
		vm.Assignment = m.assignment
		if vm.Subscription == nil {
			vm.Subscription = []byte{}
		}
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return v.AppendTo(nil)
}

func consumerGroupKey(groupID string) []byte {
	b := binary.BigEndian.AppendUint16(nil, keyConsumerGroup)
	return kbin.AppendString(b, groupID)
}

func consumerGroupValue(g *group) []byte {
	b := binary.BigEndian.AppendUint16(nil, consumerValueVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(g.cg.epoch))
	b = binary.BigEndian.AppendUint32(b, uint32(len(g.cg.assignor)))
	return append(b, g.cg.assignor...)
}

// replayRecord applies one record of partition p while loading. c.mu is
// held.
func (c *Coordinator) replayRecord(p int32, key, value []byte, now time.Time) error {
	if len(key) < 2 {
		return nil
	}
	switch version := int16(binary.BigEndian.Uint16(key)); version {
	case keyOffsetCommitV0, keyOffsetCommit:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("offset commit key: %w", err)
		}
		if value == nil {
			if g := c.mu.groups[k.Group]; g != nil {
				g.deleteOffset(k.Topic, k.Partition)
			}
			return nil
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(value); err != nil {
			return fmt.Errorf("offset commit value of group %s: %w", k.Group, err)
		}
		g := c.loadGroup(k.Group, p, now)
		epoch := int32(-1)
		if v.Version >= 3 {
			epoch = v.LeaderEpoch
		}
		expire := int64(-1)
		if v.Version == 1 {
			expire = v.ExpireTimestamp
		}
		g.setOffset(k.Topic, k.Partition, &offsetEntry{offset: v.Offset, leaderEpoch: epoch, metadata: v.Metadata, commitTimestamp: v.CommitTimestamp, expireTimestamp: expire})
	case keyGroupMetadata:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("group metadata key: %w", err)
		}
		if value == nil {
			delete(c.mu.groups, k.Group)
			return nil
		}
		var v kmsg.GroupMetadataValue
		if err := v.ReadFrom(value); err != nil {
			return fmt.Errorf("group metadata value of group %s: %w", k.Group, err)
		}
		g := c.loadGroup(k.Group, p, now)
		g.loadClassic(&v)
	case keyConsumerGroup:
		r := kbin.Reader{Src: key[2:]}
		id := r.String()
		if err := r.Complete(); err != nil {
			return fmt.Errorf("consumer group key: %w", err)
		}
		if value == nil {
			delete(c.mu.groups, id)
			return nil
		}
		vr := kbin.Reader{Src: value}
		vr.Int16()
		epoch := vr.Int32()
		assignor := vr.String()
		if err := vr.Complete(); err != nil {
			return fmt.Errorf("consumer group value of group %s: %w", id, err)
		}
		g := c.loadGroup(id, p, now)
		if g.typ != typeConsumer {
			c.toConsumerGroup(g)
		}
		g.cg.epoch = epoch
		g.cg.assignor = assignor
	default:
		// Records of other coordinators (transactions, share groups) or
		// of newer Kafka versions: not ours to interpret.
	}
	return nil
}

// loadGroup returns the group being loaded, creating an empty classic
// group for it.
func (c *Coordinator) loadGroup(id string, p int32, now time.Time) *group {
	g := c.mu.groups[id]
	if g == nil {
		g = newGroup(id, p, now)
		c.mu.groups[id] = g
	}
	return g
}
