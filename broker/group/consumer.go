package group

import (
	"regexp"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// consumerGroup is the state of a consumer group of the KIP-848 protocol.
type consumerGroup struct {
	// epoch is the group epoch, bumped whenever members or their
	// subscriptions change; assignmentEpoch is the epoch the target
	// assignment was computed at.
	epoch, assignmentEpoch int32
	assignor               string
	members                map[string]*consumerMember
	// target is the target assignment by member id.
	target map[string]map[string][]int32
	// seq orders members by join.
	seq uint64
}

// consumerMember is a member of a consumer group.
type consumerMember struct {
	id, instanceID, rackID string
	clientID, clientHost   string
	epoch                  int32
	previousEpoch          int32
	subscribedTopics       []string
	subscribedRegex        string
	regex                  *regexp.Regexp
	serverAssignor         string
	rebalanceTimeout       time.Duration
	// assigned is the current assignment by topic name; revoking the
	// partitions the member must give up before its next epoch.
	assigned map[string][]int32
	revoking map[string][]int32
	// revokeDeadline bounds how long revocation may take (the rebalance
	// timeout); zero when nothing is being revoked.
	revokeDeadline time.Time
	deadline       time.Time
	seq            uint64
	// sentKey is the assignment last sent to the member; resolved is what
	// its subscription resolved to at its last heartbeat.
	sentKey, resolved string
}

func (cg *consumerGroup) stateName() string {
	switch {
	case len(cg.members) == 0:
		return "Empty"
	case cg.assignmentEpoch != cg.epoch:
		return "Assigning"
	}
	for _, m := range cg.members {
		if m.epoch != cg.assignmentEpoch || len(m.revoking) > 0 {
			return "Reconciling"
		}
	}
	return "Stable"
}

// validateMemberEpoch checks the member id and epoch an OffsetFetch or
// OffsetCommit carries.
func (cg *consumerGroup) validateMemberEpoch(memberID string, epoch int32) int16 {
	m := cg.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	if epoch != m.epoch {
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// validateConsumerCommit is Kafka's ConsumerGroup.validateOffsetCommit: a
// commit from outside the group (no member, epoch -1) is accepted only
// while the group is empty.
func (c *Coordinator) validateConsumerCommit(g *group, memberID string, epoch int32, version int16) int16 {
	if memberID == "" && epoch < 0 {
		if len(g.cg.members) == 0 {
			return 0
		}
		return kerr.UnknownMemberID.Code
	}
	m := g.cg.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	if epoch != m.epoch {
		if version < 9 {
			return kerr.IllegalGeneration.Code
		}
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// memberTopics is the set of existing topics a member subscribes to, by
// name or by regular expression (internal topics never match a regex).
func (cg *consumerGroup) memberTopics(m *consumerMember, topics Topics) map[string]bool {
	out := map[string]bool{}
	for _, t := range m.subscribedTopics {
		if _, ok := topics.Topic(t); ok {
			out[t] = true
		}
	}
	if m.regex != nil {
		for _, t := range topics.All() {
			if !t.Internal && m.regex.MatchString(t.Name) {
				out[t.Name] = true
			}
		}
	}
	return out
}

// toConsumerGroup turns an empty classic group (one that only holds
// offsets) into a consumer group.
func (c *Coordinator) toConsumerGroup(g *group) {
	g.typ = typeConsumer
	g.members = map[string]*member{}
	g.protocolType, g.protocolName, g.leader = "", "", ""
	g.cg = &consumerGroup{assignor: c.cfg.ConsumerAssignors[0], members: map[string]*consumerMember{}, target: map[string]map[string][]int32{}}
}

// toClassicGroup turns an empty consumer group into an empty classic group.
func (c *Coordinator) toClassicGroup(g *group, now time.Time) {
	g.typ = typeClassic
	g.cg = nil
	g.transition(stateEmpty, now)
}

func (c *Coordinator) tickConsumer(g *group, now time.Time) {
	for _, m := range g.cg.sortedMembers() {
		if !now.Before(m.deadline) {
			c.log.Info("removing consumer group member: session timeout expired", "group", g.id, "member_id", m.id)
			c.removeConsumerMember(g, m, now)
			continue
		}
		if !m.revokeDeadline.IsZero() && !now.Before(m.revokeDeadline) {
			c.log.Info("removing consumer group member: partitions not revoked within the rebalance timeout", "group", g.id, "member_id", m.id)
			c.removeConsumerMember(g, m, now)
		}
	}
}
