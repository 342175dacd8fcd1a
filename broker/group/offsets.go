package group

import (
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// durable is a partition and offset to wait for.
type durable struct {
	partition int32
	last      int64
}

// waitDurable returns a function that waits for every append in ds to be
// fsynced and calls onErr for a failed one.
func (c *Coordinator) waitDurable(ds []durable, onErr func(p int32)) func() {
	if len(ds) == 0 {
		return nil
	}
	return func() {
		for _, d := range ds {
			if err := c.cfg.Log.Sync(d.partition, d.last); err != nil {
				c.log.Error("fsync of __consumer_offsets failed", "partition", d.partition, "err", err)
				onErr(d.partition)
			}
		}
	}
}

// OffsetCommit handles an OffsetCommit. The new offsets are visible to
// OffsetFetch once appended; wait, when not nil, must return before the
// response is sent: it waits for the fsync of the commit record and turns
// a failure into NOT_COORDINATOR, so a commit is only acknowledged durable.
func (c *Coordinator) OffsetCommit(req *kmsg.OffsetCommitRequest) (resp *kmsg.OffsetCommitResponse, wait func()) {
	resp = req.ResponseKind().(*kmsg.OffsetCommitResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	code := c.validateCommit(req, now)
	var recs []Record
	var ok []*kmsg.OffsetCommitResponseTopicPartition
	var g *group
	if code == 0 {
		g = c.mu.groups[req.Group]
	}
	for _, rt := range req.Topics {
		st := kmsg.OffsetCommitResponseTopic{Topic: rt.Topic}
		ti, known := c.cfg.Topics.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.OffsetCommitResponseTopicPartition{Partition: rp.Partition, ErrorCode: code}
			if code == 0 {
				switch {
				case !known || rp.Partition < 0 || rp.Partition >= ti.Partitions:
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case rp.Metadata != nil && len(*rp.Metadata) > c.cfg.OffsetMetadataMaxBytes:
					sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				default:
					epoch := int32(-1)
					if req.Version >= 6 {
						epoch = rp.LeaderEpoch
					}
					o := &offsetEntry{offset: rp.Offset, leaderEpoch: epoch, metadata: deref(rp.Metadata), commitTimestamp: now.UnixMilli(), expireTimestamp: -1}
					g.setOffset(rt.Topic, rp.Partition, o)
					recs = append(recs, Record{Key: offsetKey(g.id, rt.Topic, rp.Partition), Value: offsetValue(o)})
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			if sp := &resp.Topics[ti].Partitions[pi]; sp.ErrorCode == 0 {
				ok = append(ok, sp)
			}
		}
	}
	if len(recs) == 0 {
		return resp, nil
	}
	fail := func(int32) {
		for _, sp := range ok {
			sp.ErrorCode = kerr.NotCoordinator.Code
		}
	}
	last, err := c.appendLocked(g, recs)
	if err != nil {
		fail(g.partition)
		return resp, nil
	}
	return resp, c.waitDurable([]durable{{g.partition, last}}, fail)
}

// validateCommit applies Kafka's generation and member checks to a commit,
// creating a simple group for a commit from outside group management.
func (c *Coordinator) validateCommit(req *kmsg.OffsetCommitRequest, now time.Time) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	g := c.mu.groups[req.Group]
	if g == nil {
		if req.Generation < 0 {
			c.mu.groups[req.Group] = newGroup(req.Group, c.Partition(req.Group), now)
			return 0
		}
		if req.Version >= 9 {
			return kerr.GroupIDNotFound.Code
		}
		return kerr.IllegalGeneration.Code
	}
	if g.typ == typeConsumer {
		return c.validateConsumerCommit(g, req.MemberID, req.Generation, req.Version)
	}
	inst := deref(req.InstanceID)
	switch {
	case g.state == stateDead:
		return kerr.CoordinatorNotAvailable.Code
	case req.Generation < 0 && g.state == stateEmpty:
		// A commit from outside group management (an admin tool or a
		// consumer assigning partitions itself) to an empty group.
		return 0
	case req.Generation >= 0 || req.MemberID != "" || inst != "":
		if code := g.validateMember(req.MemberID, inst); code != 0 {
			return code
		}
		if req.Generation != g.generation {
			return kerr.IllegalGeneration.Code
		}
	case g.state != stateEmpty:
		return kerr.UnknownMemberID.Code
	}
	if g.state == stateCompletingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// OffsetFetch handles an OffsetFetch, of one group (v0–7) or several
// (v8+). Offsets committed in an open transaction are not visible; with
// require_stable (v7+) a partition that has some answers
// UNSTABLE_OFFSET_COMMIT, which clients retry, instead of the last
// committed offset.
func (c *Coordinator) OffsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.Version < 8 {
		var topics []kmsg.OffsetFetchRequestGroupTopic
		all := req.Topics == nil
		for _, t := range req.Topics {
			topics = append(topics, kmsg.OffsetFetchRequestGroupTopic{Topic: t.Topic, Partitions: t.Partitions})
		}
		gt, code := c.fetchGroup(req.Group, nil, -1, topics, all, req.RequireStable)
		resp.ErrorCode = code
		for _, t := range gt {
			rt := kmsg.OffsetFetchResponseTopic{Topic: t.Topic}
			for _, p := range t.Partitions {
				rt.Partitions = append(rt.Partitions, kmsg.OffsetFetchResponseTopicPartition{Partition: p.Partition, Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, Metadata: p.Metadata, ErrorCode: p.ErrorCode})
			}
			resp.Topics = append(resp.Topics, rt)
		}
		if req.Version < 2 && code != 0 {
			// No top-level error before v2: every partition carries it.
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					resp.Topics[i].Partitions[j].ErrorCode = code
				}
			}
		}
		return resp
	}
	for _, rg := range req.Groups {
		gt, code := c.fetchGroup(rg.Group, rg.MemberID, rg.MemberEpoch, rg.Topics, rg.Topics == nil, req.RequireStable)
		resp.Groups = append(resp.Groups, kmsg.OffsetFetchResponseGroup{Group: rg.Group, Topics: gt, ErrorCode: code})
	}
	return resp
}

// CommittedOffsets calls fn with every committed offset of every group, in
// no particular order. The offsets are copied under the coordinator's lock
// and fn runs after it is released, so fn may take other locks.
func (c *Coordinator) CommittedOffsets(fn func(group, topic string, partition int32, offset int64)) {
	type committed struct {
		group string
		tp    topicPartition
		off   int64
	}
	c.mu.Lock()
	var all []committed
	for _, g := range c.mu.groups {
		for tp, o := range g.offsets {
			all = append(all, committed{g.id, tp, o.offset})
		}
	}
	c.mu.Unlock()
	for _, e := range all {
		fn(e.group, e.tp.topic, e.tp.partition, e.off)
	}
}

func (c *Coordinator) fetchGroup(id string, memberID *string, memberEpoch int32, topics []kmsg.OffsetFetchRequestGroupTopic, all, requireStable bool) ([]kmsg.OffsetFetchResponseGroupTopic, int16) {
	if id == "" {
		return nil, kerr.InvalidGroupID.Code
	}
	g := c.mu.groups[id]
	if g != nil && g.typ == typeConsumer && (deref(memberID) != "" || memberEpoch >= 0) {
		if code := g.cg.validateMemberEpoch(deref(memberID), memberEpoch); code != 0 {
			return nil, code
		}
	}
	var out []kmsg.OffsetFetchResponseGroupTopic
	if all {
		if g == nil {
			return []kmsg.OffsetFetchResponseGroupTopic{}, 0
		}
		byTopic := map[string][]int32{}
		for tp := range g.offsets {
			byTopic[tp.topic] = append(byTopic[tp.topic], tp.partition)
		}
		names := make([]string, 0, len(byTopic))
		for t := range byTopic {
			names = append(names, t)
		}
		sort.Strings(names)
		for _, t := range names {
			ps := byTopic[t]
			sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
			topics = append(topics, kmsg.OffsetFetchRequestGroupTopic{Topic: t, Partitions: ps})
		}
	}
	for _, t := range topics {
		rt := kmsg.OffsetFetchResponseGroupTopic{Topic: t.Topic}
		for _, p := range t.Partitions {
			rp := kmsg.OffsetFetchResponseGroupTopicPartition{Partition: p, Offset: -1, LeaderEpoch: -1, Metadata: kmsg.StringPtr("")}
			if g != nil && requireStable && g.hasTxnOffset(topicPartition{t.Topic, p}) {
				rp.ErrorCode = kerr.UnstableOffsetCommit.Code
			} else if g != nil {
				if o := g.offsets[topicPartition{t.Topic, p}]; o != nil {
					rp.Offset, rp.LeaderEpoch, rp.Metadata = o.offset, o.leaderEpoch, kmsg.StringPtr(o.metadata)
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		out = append(out, rt)
	}
	return out, 0
}

// subscribedTopics returns the topics a group's members subscribe to, and
// false when that is not known (a classic group whose protocol is not
// "consumer" or whose subscriptions cannot be read), in which case every
// topic counts as subscribed.
func (g *group) subscribedTopics(topics Topics) (map[string]bool, bool) {
	out := map[string]bool{}
	if g.typ == typeConsumer {
		for _, m := range g.cg.members {
			for t := range g.cg.memberTopics(m, topics) {
				out[t] = true
			}
		}
		return out, true
	}
	if g.state == stateEmpty || g.state == stateDead {
		return out, true
	}
	if g.protocolType != "consumer" {
		return nil, false
	}
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		md := m.metadataFor(g.protocolName)
		if g.protocolName == "" && len(m.protocols) > 0 {
			md = m.protocols[0].Metadata
		}
		if err := meta.ReadFrom(md); err != nil {
			return nil, false
		}
		for _, t := range meta.Topics {
			out[t] = true
		}
	}
	return out, true
}

// OffsetDelete handles an OffsetDelete (KIP-496): offsets of topics the
// group does not subscribe to are deleted with tombstones.
func (c *Coordinator) OffsetDelete(req *kmsg.OffsetDeleteRequest) (*kmsg.OffsetDeleteResponse, func()) {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.mu.groups[req.Group]
	switch {
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
	case g == nil || (g.typ == typeClassic && g.state == stateDead):
		resp.ErrorCode = kerr.GroupIDNotFound.Code
	case g.typ == typeClassic && g.state != stateEmpty && g.protocolType != "consumer":
		resp.ErrorCode = kerr.NonEmptyGroup.Code
	}
	if resp.ErrorCode != 0 {
		return resp, nil
	}
	subscribed, knownSubs := g.subscribedTopics(c.cfg.Topics)
	var recs []Record
	for _, rt := range req.Topics {
		st := kmsg.OffsetDeleteResponseTopic{Topic: rt.Topic}
		_, known := c.cfg.Topics.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.OffsetDeleteResponseTopicPartition{Partition: rp.Partition}
			switch {
			case !known:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case !knownSubs || subscribed[rt.Topic]:
				sp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				if g.offsets[topicPartition{rt.Topic, rp.Partition}] != nil {
					g.deleteOffset(rt.Topic, rp.Partition)
					recs = append(recs, Record{Key: offsetKey(g.id, rt.Topic, rp.Partition)})
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(recs) == 0 {
		return resp, nil
	}
	last, err := c.appendLocked(g, recs)
	if err != nil {
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp, nil
	}
	return resp, c.waitDurable([]durable{{g.partition, last}}, func(int32) { resp.ErrorCode = kerr.NotCoordinator.Code })
}

// DeleteGroups handles a DeleteGroups: empty groups are deleted with
// tombstones for their offsets and metadata.
func (c *Coordinator) DeleteGroups(req *kmsg.DeleteGroupsRequest) (*kmsg.DeleteGroupsResponse, func()) {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	var ds []durable
	idx := map[int32][]int{}
	for _, id := range req.Groups {
		rg := kmsg.DeleteGroupsResponseGroup{Group: id}
		g := c.mu.groups[id]
		switch {
		case id == "":
			rg.ErrorCode = kerr.InvalidGroupID.Code
		case g == nil || (g.typ == typeClassic && g.state == stateDead):
			rg.ErrorCode = kerr.GroupIDNotFound.Code
		case !g.isEmpty():
			rg.ErrorCode = kerr.NonEmptyGroup.Code
		default:
			last, err := c.deleteGroupLocked(g)
			if err != nil {
				rg.ErrorCode = kerr.NotCoordinator.Code
			} else {
				ds = append(ds, durable{g.partition, last})
				idx[g.partition] = append(idx[g.partition], len(resp.Groups))
			}
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, c.waitDurable(ds, func(p int32) {
		for _, i := range idx[p] {
			resp.Groups[i].ErrorCode = kerr.NotCoordinator.Code
		}
	})
}

// deleteGroupLocked writes tombstones for a group's offsets and metadata
// and forgets it.
func (c *Coordinator) deleteGroupLocked(g *group) (int64, error) {
	var recs []Record
	for _, tp := range g.sortedOffsets() {
		recs = append(recs, Record{Key: offsetKey(g.id, tp.topic, tp.partition)})
	}
	if g.typ == typeConsumer {
		recs = append(recs, Record{Key: consumerGroupKey(g.id)})
	} else {
		recs = append(recs, Record{Key: groupKey(g.id)})
	}
	last, err := c.appendLocked(g, recs)
	if err != nil {
		return 0, err
	}
	g.state = stateDead
	delete(c.mu.groups, g.id)
	c.log.Info("group deleted", "group", g.id)
	return last, nil
}

func (g *group) sortedOffsets() []topicPartition {
	out := make([]topicPartition, 0, len(g.offsets))
	for tp := range g.offsets {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].partition < out[j].partition
	})
	return out
}

// ExpireOffsets removes offsets past offsets.retention.minutes, as Kafka's
// offset cleanup does: all offsets of a group that has been empty for the
// retention period, offsets of simple groups by commit time, and offsets of
// topics a stable consumer group no longer subscribes to. A group left
// empty with no offsets is deleted.
func (c *Coordinator) ExpireOffsets(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	nowMs := now.UnixMilli()
	retention := c.cfg.OffsetsRetention.Milliseconds()
	for _, g := range c.mu.groups {
		base, ok := g.expirationBase()
		if !ok {
			continue
		}
		subscribed, _ := g.subscribedTopics(c.cfg.Topics)
		var recs []Record
		for _, tp := range g.sortedOffsets() {
			o := g.offsets[tp]
			if subscribed[tp.topic] {
				continue
			}
			expired := nowMs-base(o) >= retention
			if o.expireTimestamp >= 0 {
				expired = nowMs >= o.expireTimestamp
			}
			if expired {
				g.deleteOffset(tp.topic, tp.partition)
				recs = append(recs, Record{Key: offsetKey(g.id, tp.topic, tp.partition)})
			}
		}
		if len(recs) > 0 {
			c.log.Info("expired offsets", "group", g.id, "offsets", len(recs))
			c.appendLocked(g, recs)
		}
		if len(g.offsets) == 0 && len(g.txnOffsets) == 0 && g.isEmpty() && (g.typ == typeConsumer || g.generation > 0 || g.protocolType == "") {
			c.deleteGroupLocked(g)
		}
	}
}

// expirationBase returns the time an offset's retention counts from, or
// false when the group's offsets do not expire now.
func (g *group) expirationBase() (func(*offsetEntry) int64, bool) {
	byCommit := func(o *offsetEntry) int64 { return o.commitTimestamp }
	if g.typ == typeConsumer {
		return byCommit, true
	}
	switch {
	case g.protocolType == "":
		return byCommit, true
	case g.state == stateEmpty:
		since := g.stateTime.UnixMilli()
		return func(*offsetEntry) int64 { return since }, true
	case g.state == stateStable && g.protocolType == "consumer":
		return byCommit, true
	}
	return nil, false
}

// GroupListing is one group in a ListGroups answer.
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	match := func(filter []string, v string) bool {
		if len(filter) == 0 {
			return true
		}
		for _, f := range filter {
			if strings.EqualFold(f, v) {
				return true
			}
		}
		return false
	}
	ids := make([]string, 0, len(c.mu.groups))
	for id := range c.mu.groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		g := c.mu.groups[id]
		if !match(req.StatesFilter, g.stateName()) || !match(req.TypesFilter, g.typ.String()) {
			continue
		}
		pt := g.protocolType
		if g.typ == typeConsumer {
			pt = "consumer"
		}
		resp.Groups = append(resp.Groups, kmsg.ListGroupsResponseGroup{Group: id, ProtocolType: pt, GroupState: g.stateName(), GroupType: g.typ.String()})
	}
	return resp
}

// DescribeGroups handles a DescribeGroups of classic groups. A group that
// does not exist, or is not a classic group, is reported Dead as Kafka does
// before v6.
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		dg.AuthorizedOperations = -2147483648
		g := c.mu.groups[id]
		if id == "" {
			dg.ErrorCode = kerr.InvalidGroupID.Code
		}
		if g == nil || g.typ != typeClassic {
			dg.State = "Dead"
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		dg.State = g.state.String()
		dg.ProtocolType = g.protocolType
		stable := g.state == stateStable
		if stable {
			dg.Protocol = g.protocolName
		}
		for _, m := range g.sortedMembers() {
			dm := kmsg.DescribeGroupsResponseGroupMember{MemberID: m.id, ClientID: m.clientID, ClientHost: m.clientHost, ProtocolMetadata: []byte{}, MemberAssignment: []byte{}}
			if m.instanceID != "" {
				dm.InstanceID = kmsg.StringPtr(m.instanceID)
			}
			if stable {
				if md := m.metadataFor(g.protocolName); md != nil {
					dm.ProtocolMetadata = md
				}
				if m.assignment != nil {
					dm.MemberAssignment = m.assignment
				}
			}
			dg.Members = append(dg.Members, dm)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// Generation returns a classic group's generation, or -1 when there is no
// such group.
func (c *Coordinator) Generation(groupID string) int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g := c.mu.groups[groupID]; g != nil && g.typ == typeClassic {
		return g.generation
	}
	return -1
}
