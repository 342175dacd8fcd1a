package group

import (
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

type groupType int8

const (
	typeClassic groupType = iota
	typeConsumer
)

func (t groupType) String() string {
	if t == typeConsumer {
		return "consumer"
	}
	return "classic"
}

// classicState is the state of a classic group, named as Kafka names it.
type classicState int8

const (
	stateEmpty classicState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

func (s classicState) String() string {
	return [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}[s]
}

// offsetEntry is one committed offset.
type offsetEntry struct {
	offset          int64
	leaderEpoch     int32
	metadata        string
	commitTimestamp int64 // ms
	expireTimestamp int64 // ms, -1 when none (only OffsetCommit v1 set it)
	// seq orders the writes of a group's offsets as the log orders them,
	// so that a transaction's offsets do not replace a later commit.
	seq uint64
}

type topicPartition struct {
	topic     string
	partition int32
}

// group is a classic or consumer group and its committed offsets. All
// fields are guarded by Coordinator.mu.
type group struct {
	id        string
	partition int32
	typ       groupType
	offsets   map[topicPartition]*offsetEntry
	// txnOffsets are offsets committed in open transactions, by producer
	// id; not visible until the transaction commits (see txn_offsets.go).
	txnOffsets map[int64]map[topicPartition]*offsetEntry
	// offsetSeq is the seq of the last offset written.
	offsetSeq uint64

	// Classic group state.
	state        classicState
	stateTime    time.Time
	protocolType string
	protocolName string
	generation   int32
	leader       string
	members      map[string]*member
	// pending are member ids handed out with MEMBER_ID_REQUIRED and not
	// yet used, with the time they expire.
	pending map[string]time.Time
	// pendingSync are members that got their JoinGroup response and have
	// not sent SyncGroup yet.
	pendingSync map[string]bool
	// statics maps group.instance.id to member id.
	statics      map[string]string
	awaitingJoin int
	// newMemberAdded extends the initial rebalance delay.
	newMemberAdded bool
	// joinDeadline is when the current PreparingRebalance stage ends;
	// initialDelay marks Kafka's InitialDelayedJoin, which only ends at
	// its deadline, with initialRemaining left to extend it.
	joinDeadline     time.Time
	initialDelay     bool
	initialRemaining time.Duration
	// syncDeadline is when members that have not sent SyncGroup are
	// removed (zero when none is pending).
	syncDeadline time.Time
	// seq orders members by join for deterministic leader choice.
	seq uint64

	// cg is the consumer group (KIP-848) state when typ is typeConsumer.
	cg *consumerGroup
}

func newGroup(id string, p int32, now time.Time) *group {
	return &group{
		id: id, partition: p, typ: typeClassic,
		offsets:     map[topicPartition]*offsetEntry{},
		members:     map[string]*member{},
		pending:     map[string]time.Time{},
		pendingSync: map[string]bool{},
		statics:     map[string]string{},
		stateTime:   now,
	}
}

// member is a member of a classic group.
type member struct {
	id, instanceID       string
	clientID, clientHost string
	rebalanceTimeout     time.Duration
	sessionTimeout       time.Duration
	protocolType         string
	protocols            []kmsg.JoinGroupRequestProtocol
	assignment           []byte
	// joinCh and syncCh receive the response of a waiting JoinGroup or
	// SyncGroup; nil when not waiting.
	joinCh      chan *kmsg.JoinGroupResponse
	joinVersion int16
	syncCh      chan *kmsg.SyncGroupResponse
	syncVersion int16
	isNew       bool
	// deadline is when the session expires without a heartbeat.
	deadline time.Time
	seq      uint64
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// vote is the member's most preferred protocol among candidates.
func (m *member) vote(candidates map[string]bool) string {
	for _, p := range m.protocols {
		if candidates[p.Name] {
			return p.Name
		}
	}
	return ""
}

func (m *member) matches(protocols []kmsg.JoinGroupRequestProtocol) bool {
	if len(protocols) != len(m.protocols) {
		return false
	}
	for i := range protocols {
		if protocols[i].Name != m.protocols[i].Name || string(protocols[i].Metadata) != string(m.protocols[i].Metadata) {
			return false
		}
	}
	return true
}

func (g *group) sortedMembers() []*member {
	out := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func (g *group) setOffset(topic string, partition int32, o *offsetEntry) {
	g.offsetSeq++
	o.seq = g.offsetSeq
	g.offsets[topicPartition{topic, partition}] = o
}

func (g *group) deleteOffset(topic string, partition int32) {
	delete(g.offsets, topicPartition{topic, partition})
}

// isEmptyForDelete reports whether a group has no members, so that it
// may be deleted and its offsets reset.
func (g *group) isEmpty() bool {
	if g.typ == typeConsumer {
		return len(g.cg.members) == 0
	}
	return g.state == stateEmpty
}

// stateName is the state reported by DescribeGroups and ListGroups.
func (g *group) stateName() string {
	if g.typ == typeConsumer {
		return g.cg.stateName()
	}
	return g.state.String()
}

// loadClassic restores a classic group from its GroupMetadataValue.
func (g *group) loadClassic(v *kmsg.GroupMetadataValue) {
	g.typ = typeClassic
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	g.protocolName = ""
	if v.Protocol != nil {
		g.protocolName = *v.Protocol
	}
	g.leader = ""
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	if v.CurrentStateTimestamp >= 0 {
		g.stateTime = time.UnixMilli(v.CurrentStateTimestamp)
	}
	g.members = map[string]*member{}
	g.statics = map[string]string{}
	for _, vm := range v.Members {
		g.seq++
		m := &member{
			id: vm.MemberID, clientID: vm.ClientID, clientHost: vm.ClientHost,
			rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
			sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
			protocolType:     v.ProtocolType,
			protocols:        []kmsg.JoinGroupRequestProtocol{{Name: g.protocolName, Metadata: vm.Subscription}},
			assignment:       vm.Assignment,
			seq:              g.seq,
		}
		if vm.InstanceID != nil {
			m.instanceID = *vm.InstanceID
			g.statics[m.instanceID] = m.id
		}
		g.members[m.id] = m
	}
	if len(g.members) == 0 {
		g.state = stateEmpty
	} else {
		g.state = stateStable
	}
}

// finishLoad gives loaded members a full session to heartbeat again.
func (g *group) finishLoad(now time.Time) {
	for _, m := range g.members {
		m.deadline = now.Add(m.sessionTimeout)
	}
}
