package group

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Member epochs with a meaning of their own in ConsumerGroupHeartbeat.
const (
	epochJoin        = 0
	epochLeave       = -1
	epochStaticLeave = -2
)

// assignorName maps Kafka's assignor class names to the short names.
func assignorName(s string) string {
	switch {
	case strings.HasSuffix(s, "UniformAssignor"):
		return "uniform"
	case strings.HasSuffix(s, "RangeAssignor"):
		return "range"
	}
	return s
}

func (c *Coordinator) knownAssignor(name string) bool {
	for _, a := range c.cfg.ConsumerAssignors {
		if assignorName(a) == name {
			return true
		}
	}
	return false
}

func (cg *consumerGroup) sortedMembers() []*consumerMember {
	out := make([]*consumerMember, 0, len(cg.members))
	for _, m := range cg.members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func heartbeatError(version int16, code int16, msg string) *kmsg.ConsumerGroupHeartbeatResponse {
	r := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	r.Version = version
	r.ErrorCode = code
	if msg != "" {
		r.ErrorMessage = kmsg.StringPtr(msg)
	}
	return r
}

// ConsumerGroupHeartbeat handles a heartbeat of the consumer group
// protocol (KIP-848): joining (epoch 0), leaving (-1, or -2 for a static
// member), and heartbeats that report the partitions the member owns and
// receive its assignment.
func (c *Coordinator) ConsumerGroupHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest, clientID, clientHost string) *kmsg.ConsumerGroupHeartbeatResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	if code, msg := c.validateHeartbeat(req); code != 0 {
		return heartbeatError(req.Version, code, msg)
	}
	g := c.mu.groups[req.Group]
	if g != nil && g.typ == typeClassic {
		if g.state != stateEmpty || len(g.members) > 0 {
			return heartbeatError(req.Version, kerr.GroupIDNotFound.Code, "Group "+req.Group+" is not a consumer group.")
		}
		c.toConsumerGroup(g)
	}
	if g == nil {
		if req.MemberEpoch != epochJoin {
			return heartbeatError(req.Version, kerr.UnknownMemberID.Code, "")
		}
		g = newGroup(req.Group, c.Partition(req.Group), now)
		c.toConsumerGroup(g)
		c.mu.groups[req.Group] = g
	}
	cg := g.cg
	if req.MemberEpoch == epochLeave || req.MemberEpoch == epochStaticLeave {
		m := cg.members[req.MemberID]
		if m == nil && req.InstanceID != nil {
			for _, sm := range cg.members {
				if sm.instanceID == *req.InstanceID {
					m = sm
				}
			}
		}
		if m == nil {
			return heartbeatError(req.Version, kerr.UnknownMemberID.Code, "")
		}
		c.removeConsumerMember(g, m, now)
		r := heartbeatError(req.Version, 0, "")
		r.MemberID = kmsg.StringPtr(req.MemberID)
		r.MemberEpoch = req.MemberEpoch
		return r
	}
	m, code := c.heartbeatMember(g, req, clientID, clientHost, now)
	if code != 0 {
		return heartbeatError(req.Version, code, "")
	}
	m.deadline = now.Add(c.cfg.ConsumerSessionTimeout)
	full := req.MemberEpoch == epochJoin
	if req.Topics != nil {
		c.ackRevocation(g, m, req.Topics, now)
		full = full || !sameAssignment(c.ownedByName(req.Topics), m.assigned)
	}
	before := assignmentKey(m.assigned)
	c.reconcile(g, now)
	r := heartbeatError(req.Version, 0, "")
	r.MemberID = kmsg.StringPtr(m.id)
	r.MemberEpoch = m.epoch
	r.HeartbeatIntervalMillis = int32(c.cfg.ConsumerHeartbeatInterval.Milliseconds())
	if full || before != assignmentKey(m.assigned) || m.sentKey != assignmentKey(m.assigned) {
		r.Assignment = c.assignmentOf(m.assigned)
		m.sentKey = assignmentKey(m.assigned)
	}
	return r
}

func (c *Coordinator) validateHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (int16, string) {
	switch {
	case req.Group == "":
		return kerr.InvalidRequest.Code, "GroupId can't be empty."
	case req.Version >= 1 && req.MemberID == "":
		return kerr.InvalidRequest.Code, "MemberId can't be empty."
	case req.MemberEpoch < epochStaticLeave:
		return kerr.InvalidRequest.Code, "MemberEpoch is invalid."
	case req.InstanceID != nil && *req.InstanceID == "":
		return kerr.InvalidRequest.Code, "InstanceId can't be empty."
	case req.MemberEpoch == epochJoin && req.RebalanceTimeoutMillis == -1:
		return kerr.InvalidRequest.Code, "RebalanceTimeoutMs must be provided in first request."
	case req.MemberEpoch == epochJoin && req.Topics == nil:
		return kerr.InvalidRequest.Code, "TopicPartitions must be empty when (re-)joining."
	case req.MemberEpoch == epochJoin && req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
		return kerr.InvalidRequest.Code, "SubscribedTopicNames or SubscribedTopicRegex must be set in first request."
	case req.ServerAssignor != nil && !c.knownAssignor(assignorName(*req.ServerAssignor)):
		return kerr.UnsupportedAssignor.Code, "ServerAssignor " + *req.ServerAssignor + " is not supported."
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		if _, err := regexp.Compile(*req.SubscribedTopicRegex); err != nil {
			return kerr.InvalidRegularExpression.Code, "SubscribedTopicRegex " + *req.SubscribedTopicRegex + " is not a valid regular expression."
		}
	}
	return 0, ""
}

// heartbeatMember finds or creates the member of a heartbeat and applies
// its subscription changes, bumping the group epoch when they change.
func (c *Coordinator) heartbeatMember(g *group, req *kmsg.ConsumerGroupHeartbeatRequest, clientID, clientHost string, now time.Time) (*consumerMember, int16) {
	cg := g.cg
	m := cg.members[req.MemberID]
	joined := false
	if req.MemberEpoch == epochJoin {
		if m == nil && len(cg.members) >= c.cfg.ConsumerMaxSize {
			return nil, kerr.GroupMaxSizeReached.Code
		}
		id := req.MemberID
		if id == "" {
			id = c.cfg.NewID()
		}
		if req.InstanceID != nil {
			for _, sm := range cg.members {
				if sm.instanceID == *req.InstanceID && sm.id != id {
					return nil, kerr.UnreleasedInstanceID.Code
				}
			}
		}
		if m == nil {
			cg.seq++
			m = &consumerMember{id: id, seq: cg.seq, assigned: map[string][]int32{}}
			cg.members[id] = m
			joined = true
		}
		m.clientID, m.clientHost = clientID, clientHost
		m.instanceID = deref(req.InstanceID)
	} else {
		if m == nil {
			return nil, kerr.UnknownMemberID.Code
		}
		if req.MemberEpoch != m.epoch && !(req.MemberEpoch == m.previousEpoch && req.Topics != nil && subsetOf(c.ownedByName(req.Topics), m.assigned)) {
			return nil, kerr.FencedMemberEpoch.Code
		}
	}
	changed := false
	if req.RebalanceTimeoutMillis > 0 {
		m.rebalanceTimeout = ms(req.RebalanceTimeoutMillis)
	}
	if req.RackID != nil {
		m.rackID = *req.RackID
	}
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		sort.Strings(names)
		if !slices.Equal(names, m.subscribedTopics) {
			m.subscribedTopics = names
			changed = true
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != m.subscribedRegex {
		m.subscribedRegex = *req.SubscribedTopicRegex
		m.regex = nil
		if m.subscribedRegex != "" {
			m.regex = regexp.MustCompile("^(?:" + m.subscribedRegex + ")$")
		}
		changed = true
	}
	if req.ServerAssignor != nil && assignorName(*req.ServerAssignor) != m.serverAssignor {
		m.serverAssignor = assignorName(*req.ServerAssignor)
		changed = true
	}
	// Topics created or grown since the last heartbeat change what a
	// subscription (a regex above all) resolves to.
	if key := c.resolvedKey(cg, m); key != m.resolved {
		m.resolved = key
		changed = true
	}
	if changed || joined {
		cg.epoch++
	}
	return m, 0
}

// resolvedKey describes the topics and partition counts a member's
// subscription resolves to.
func (c *Coordinator) resolvedKey(cg *consumerGroup, m *consumerMember) string {
	ts := cg.memberTopics(m, c.cfg.Topics)
	names := make([]string, 0, len(ts))
	for t := range ts {
		ti, _ := c.cfg.Topics.Topic(t)
		names = append(names, t+"/"+itoa(ti.Partitions))
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// ownedByName converts the partitions a heartbeat reports by topic id.
func (c *Coordinator) ownedByName(topics []kmsg.ConsumerGroupHeartbeatRequestTopic) map[string][]int32 {
	byID := map[[16]byte]string{}
	for _, t := range c.cfg.Topics.All() {
		byID[t.ID] = t.Name
	}
	out := map[string][]int32{}
	for _, t := range topics {
		if name, ok := byID[t.TopicID]; ok {
			out[name] = append(out[name], t.Partitions...)
		}
	}
	return out
}

// ackRevocation completes a pending revocation once the member reports it
// no longer owns the revoked partitions.
func (c *Coordinator) ackRevocation(g *group, m *consumerMember, owned []kmsg.ConsumerGroupHeartbeatRequestTopic, now time.Time) {
	if len(m.revoking) == 0 {
		return
	}
	have := c.ownedByName(owned)
	for t, ps := range m.revoking {
		for _, p := range ps {
			if slices.Contains(have[t], p) {
				return
			}
		}
	}
	m.revoking = nil
	m.revokeDeadline = time.Time{}
}

func subsetOf(a, b map[string][]int32) bool {
	for t, ps := range a {
		for _, p := range ps {
			if !slices.Contains(b[t], p) {
				return false
			}
		}
	}
	return true
}

func sameAssignment(a, b map[string][]int32) bool {
	return assignmentKey(a) == assignmentKey(b)
}

// assignmentKey is a canonical text form of an assignment, for comparison.
func assignmentKey(a map[string][]int32) string {
	var sb strings.Builder
	names := make([]string, 0, len(a))
	for t, ps := range a {
		if len(ps) > 0 {
			names = append(names, t)
		}
	}
	sort.Strings(names)
	for _, t := range names {
		ps := slices.Clone(a[t])
		slices.Sort(ps)
		sb.WriteString(t)
		for _, p := range ps {
			sb.WriteByte(' ')
			sb.WriteString(itoa(p))
		}
		sb.WriteByte(';')
	}
	return sb.String()
}

func itoa(v int32) string {
	if v == 0 {
		return "0"
	}
	var b [12]byte
	i := len(b)
	neg := v < 0
	for v != 0 {
		d := v % 10
		if d < 0 {
			d = -d
		}
		i--
		b[i] = byte('0' + d)
		v /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

func (c *Coordinator) assignmentOf(a map[string][]int32) *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	out := &kmsg.ConsumerGroupHeartbeatResponseAssignment{Topics: []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}}
	names := make([]string, 0, len(a))
	for t := range a {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		ti, ok := c.cfg.Topics.Topic(t)
		if !ok || len(a[t]) == 0 {
			continue
		}
		ps := slices.Clone(a[t])
		slices.Sort(ps)
		out.Topics = append(out.Topics, kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{TopicID: ti.ID, Partitions: ps})
	}
	return out
}

func (c *Coordinator) removeConsumerMember(g *group, m *consumerMember, now time.Time) {
	delete(g.cg.members, m.id)
	delete(g.cg.target, m.id)
	g.cg.epoch++
	c.reconcile(g, now)
}

// reconcile recomputes the target assignment when the group epoch moved,
// then advances every member towards it: a member first gives up the
// partitions it must revoke (keeping its epoch), and a partition is handed
// to its new owner only once no other member owns or is revoking it.
func (c *Coordinator) reconcile(g *group, now time.Time) {
	cg := g.cg
	if cg.assignmentEpoch != cg.epoch {
		cg.target = c.computeTarget(g)
		cg.assignmentEpoch = cg.epoch
		c.appendLocked(g, []Record{{Key: consumerGroupKey(g.id), Value: consumerGroupValue(g)}})
	}
	members := cg.sortedMembers()
	for _, m := range members {
		target := cg.target[m.id]
		if len(m.revoking) > 0 {
			continue
		}
		var revoke map[string][]int32
		for t, ps := range m.assigned {
			for _, p := range ps {
				if !slices.Contains(target[t], p) {
					if revoke == nil {
						revoke = map[string][]int32{}
					}
					revoke[t] = append(revoke[t], p)
				}
			}
		}
		if revoke != nil {
			kept := map[string][]int32{}
			for t, ps := range m.assigned {
				for _, p := range ps {
					if slices.Contains(target[t], p) {
						kept[t] = append(kept[t], p)
					}
				}
			}
			m.assigned = kept
			m.revoking = revoke
			rt := m.rebalanceTimeout
			if rt <= 0 {
				rt = c.cfg.ConsumerSessionTimeout
			}
			m.revokeDeadline = now.Add(rt)
			continue
		}
		if m.epoch != cg.assignmentEpoch {
			m.previousEpoch = m.epoch
			m.epoch = cg.assignmentEpoch
		}
	}
	// Hand out free partitions of each target.
	for _, m := range members {
		if len(m.revoking) > 0 {
			continue
		}
		for t, ps := range cg.target[m.id] {
			for _, p := range ps {
				if slices.Contains(m.assigned[t], p) || ownedByOther(cg, m, t, p) {
					continue
				}
				m.assigned[t] = append(m.assigned[t], p)
			}
		}
	}
}

func ownedByOther(cg *consumerGroup, self *consumerMember, t string, p int32) bool {
	for _, o := range cg.members {
		if o == self {
			continue
		}
		if slices.Contains(o.assigned[t], p) || slices.Contains(o.revoking[t], p) {
			return true
		}
	}
	return false
}

// computeTarget runs the group's assignor over the members' subscriptions.
func (c *Coordinator) computeTarget(g *group) map[string]map[string][]int32 {
	cg := g.cg
	members := cg.sortedMembers()
	name := assignorName(c.cfg.ConsumerAssignors[0])
	for _, m := range members {
		if m.serverAssignor != "" {
			name = m.serverAssignor
			break
		}
	}
	cg.assignor = name
	subs := map[string][]string{} // topic → subscribed member ids
	for _, m := range members {
		for t := range cg.memberTopics(m, c.cfg.Topics) {
			subs[t] = append(subs[t], m.id)
		}
	}
	in := assignInput{members: members, subs: subs, partitions: map[string]int32{}, previous: cg.target}
	for t := range subs {
		ti, _ := c.cfg.Topics.Topic(t)
		in.partitions[t] = ti.Partitions
	}
	if name == "range" {
		return assignRange(in)
	}
	return assignUniform(in)
}

// ConsumerGroupDescribe describes consumer groups (KIP-848); a group that
// does not exist or is a classic group is GROUP_ID_NOT_FOUND.
func (c *Coordinator) ConsumerGroupDescribe(req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range req.Groups {
		dg := kmsg.NewConsumerGroupDescribeResponseGroup()
		dg.Group = id
		dg.AuthorizedOperations = -2147483648
		g := c.mu.groups[id]
		if g == nil || g.typ != typeConsumer {
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			dg.ErrorMessage = kmsg.StringPtr("Group " + id + " not found.")
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		cg := g.cg
		dg.State, dg.Epoch, dg.AssignmentEpoch, dg.AssignorName = cg.stateName(), cg.epoch, cg.assignmentEpoch, cg.assignor
		for _, m := range cg.sortedMembers() {
			dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
			dm.MemberID, dm.MemberEpoch, dm.ClientID, dm.ClientHost = m.id, m.epoch, m.clientID, m.clientHost
			if m.instanceID != "" {
				dm.InstanceID = kmsg.StringPtr(m.instanceID)
			}
			if m.rackID != "" {
				dm.RackID = kmsg.StringPtr(m.rackID)
			}
			dm.SubscribedTopics = m.subscribedTopics
			if dm.SubscribedTopics == nil {
				dm.SubscribedTopics = []string{}
			}
			if m.subscribedRegex != "" {
				dm.SubscribedTopicRegex = kmsg.StringPtr(m.subscribedRegex)
			}
			dm.Assignment = c.describeAssignment(m.assigned)
			dm.TargetAssignment = c.describeAssignment(cg.target[m.id])
			dm.MemberType = 1
			dg.Members = append(dg.Members, dm)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) describeAssignment(a map[string][]int32) kmsg.Assignment {
	out := kmsg.Assignment{TopicPartitions: []kmsg.AssignmentTopicPartition{}}
	for _, t := range c.assignmentOf(a).Topics {
		ti, _ := c.topicByID(t.TopicID)
		out.TopicPartitions = append(out.TopicPartitions, kmsg.AssignmentTopicPartition{TopicID: t.TopicID, Topic: ti.Name, Partitions: t.Partitions})
	}
	return out
}

func (c *Coordinator) topicByID(id [16]byte) (TopicInfo, bool) {
	for _, t := range c.cfg.Topics.All() {
		if t.ID == id {
			return t, true
		}
	}
	return TopicInfo{}, false
}
