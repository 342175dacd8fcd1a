package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func ms(v int32) time.Duration { return time.Duration(v) * time.Millisecond }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// joinError is a JoinGroup response carrying an error.
func joinError(version int16, memberID string, code int16) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = version
	r.ErrorCode = code
	r.Generation = -1
	r.MemberID = memberID
	if version < 7 {
		r.Protocol = kmsg.StringPtr("")
	}
	return r
}

// joinSuccess is the JoinGroup response of the group's current generation.
func (g *group) joinSuccess(version int16, memberID, leader string, withMembers bool) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = version
	r.Generation = g.generation
	r.ProtocolType = kmsg.StringPtr(g.protocolType)
	r.Protocol = kmsg.StringPtr(g.protocolName)
	r.LeaderID = leader
	r.MemberID = memberID
	if withMembers {
		for _, m := range g.sortedMembers() {
			jm := kmsg.JoinGroupResponseMember{MemberID: m.id, ProtocolMetadata: m.metadataFor(g.protocolName)}
			if m.instanceID != "" {
				jm.InstanceID = kmsg.StringPtr(m.instanceID)
			}
			r.Members = append(r.Members, jm)
		}
	}
	return r
}

func syncResponse(version int16, code int16, g *group, assignment []byte) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupResponse()
	r.Version = version
	r.ErrorCode = code
	if code == 0 {
		r.ProtocolType = kmsg.StringPtr(g.protocolType)
		r.Protocol = kmsg.StringPtr(g.protocolName)
		r.MemberAssignment = assignment
	}
	if r.MemberAssignment == nil {
		r.MemberAssignment = []byte{}
	}
	return r
}

// JoinGroup handles a JoinGroup request from a client. The response arrives
// on the returned channel, at once or when the rebalance completes.
func (c *Coordinator) JoinGroup(req *kmsg.JoinGroupRequest, clientID, clientHost string) <-chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	if code := c.joinGroup(req, clientID, clientHost, ch, now); code != 0 {
		ch <- joinError(req.Version, req.MemberID, code)
	}
	if g := c.mu.groups[req.Group]; g != nil && g.typ == typeClassic {
		c.maybeCompleteJoin(g, now)
	}
	return ch
}

func (c *Coordinator) joinGroup(req *kmsg.JoinGroupRequest, clientID, clientHost string, ch chan *kmsg.JoinGroupResponse, now time.Time) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	session := ms(req.SessionTimeoutMillis)
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		return kerr.InvalidSessionTimeout.Code
	}
	g := c.mu.groups[req.Group]
	if g != nil && g.typ == typeConsumer {
		if len(g.cg.members) > 0 {
			return kerr.InconsistentGroupProtocol.Code
		}
		// An empty consumer group becomes a classic group, as Kafka
		// converts it.
		c.toClassicGroup(g, now)
	}
	if g == nil {
		if req.MemberID != "" {
			return kerr.UnknownMemberID.Code
		}
		g = newGroup(req.Group, c.Partition(req.Group), now)
		c.mu.groups[req.Group] = g
	}
	if !g.acceptJoining(req.MemberID, c.cfg.MaxSize) {
		return kerr.GroupMaxSizeReached.Code
	}
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		return kerr.InconsistentGroupProtocol.Code
	}
	j := &joinReq{req: req, clientID: clientID, clientHost: clientHost, ch: ch, now: now}
	if req.MemberID == "" {
		return c.joinNewMember(g, j)
	}
	return c.joinCurrentMember(g, j)
}

// joinReq is a JoinGroup being served.
type joinReq struct {
	req                  *kmsg.JoinGroupRequest
	clientID, clientHost string
	ch                   chan *kmsg.JoinGroupResponse
	now                  time.Time
}

func (j *joinReq) rebalanceTimeout() time.Duration {
	if j.req.Version == 0 {
		return ms(j.req.SessionTimeoutMillis)
	}
	return ms(j.req.RebalanceTimeoutMillis)
}

func (c *Coordinator) joinNewMember(g *group, j *joinReq) int16 {
	id := j.clientID + "-" + c.cfg.NewID()
	if inst := deref(j.req.InstanceID); inst != "" {
		return c.joinStaticMember(g, j, id, inst)
	}
	if j.req.Version >= 4 {
		// KIP-394: hand out the member id and have the client join
		// again with it, so that retried joins do not pile up members.
		g.pending[id] = j.now.Add(ms(j.req.SessionTimeoutMillis))
		r := joinError(j.req.Version, id, kerr.MemberIDRequired.Code)
		j.ch <- r
		return 0
	}
	c.addMemberAndRebalance(g, j, id)
	return 0
}

func (c *Coordinator) joinStaticMember(g *group, j *joinReq, newID, inst string) int16 {
	oldID, ok := g.statics[inst]
	if !ok {
		c.addMemberAndRebalance(g, j, newID)
		return 0
	}
	m := g.members[oldID]
	// KIP-345: the new instance fences the old one.
	if m.joinCh != nil {
		m.joinCh <- joinError(m.joinVersion, oldID, kerr.FencedInstanceID.Code)
		m.joinCh = nil
		g.awaitingJoin--
	}
	if m.syncCh != nil {
		m.syncCh <- syncResponse(m.syncVersion, kerr.FencedInstanceID.Code, g, nil)
		m.syncCh = nil
	}
	currentLeader := g.leader
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	g.statics[inst] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	delete(g.pendingSync, oldID)
	m.clientID, m.clientHost = j.clientID, j.clientHost
	m.deadline = j.now.Add(ms(j.req.SessionTimeoutMillis))
	c.updateMember(g, m, j)
	switch g.state {
	case stateStable:
		if g.selectProtocol() != g.protocolName {
			c.prepareRebalance(g, j.now)
			return 0
		}
		// The same instance is back with the same protocols: keep the
		// generation and the assignment, and return the old leader so
		// that this member does not assign.
		last, err := c.appendLocked(g, []Record{{Key: groupKey(g.id), Value: groupValue(g, g.stateTime.UnixMilli())}})
		gen := g.generation
		ch := j.ch
		version := j.req.Version
		respond := func(err error) {
			if m.joinCh != ch {
				return
			}
			m.joinCh = nil
			g.awaitingJoin--
			if err != nil {
				ch <- joinError(version, newID, kerr.CoordinatorNotAvailable.Code)
				return
			}
			r := g.joinSuccess(version, newID, currentLeader, false)
			r.Generation = gen
			ch <- r
		}
		if err != nil {
			respond(err)
			return 0
		}
		c.goSync(g, last, respond)
	case stateCompletingRebalance:
		// The leader may already be assigning with the old member id.
		c.prepareRebalance(g, j.now)
	}
	return 0
}

func (c *Coordinator) joinCurrentMember(g *group, j *joinReq) int16 {
	id := j.req.MemberID
	if _, ok := g.pending[id]; ok {
		c.addMemberAndRebalance(g, j, id)
		return 0
	}
	if code := g.validateMember(id, deref(j.req.InstanceID)); code != 0 {
		return code
	}
	m := g.members[id]
	switch g.state {
	case statePreparingRebalance:
		c.updateMemberAndRebalance(g, m, j)
	case stateCompletingRebalance:
		if m.matches(j.req.Protocols) {
			// A retried join (the response was lost): answer with the
			// current generation.
			j.ch <- g.joinSuccess(j.req.Version, id, g.leader, id == g.leader)
			return 0
		}
		c.updateMemberAndRebalance(g, m, j)
	case stateStable:
		if id == g.leader || !m.matches(j.req.Protocols) {
			// A rejoining leader forces a rebalance: it is how a
			// consumer reacts to metadata changes.
			c.updateMemberAndRebalance(g, m, j)
			return 0
		}
		j.ch <- g.joinSuccess(j.req.Version, id, g.leader, false)
	default:
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// validateMember checks a member id and instance id against the group, as
// Kafka's ClassicGroup.validateMember does.
func (g *group) validateMember(memberID, instanceID string) int16 {
	if instanceID != "" {
		existing, ok := g.statics[instanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if existing != memberID {
			return kerr.FencedInstanceID.Code
		}
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

func (g *group) acceptJoining(memberID string, max int) bool {
	switch g.state {
	case stateEmpty, stateDead:
		return true
	case statePreparingRebalance:
		m := g.members[memberID]
		return (m != nil && m.joinCh != nil) || g.awaitingJoin < max
	default:
		return g.members[memberID] != nil || len(g.members) < max
	}
}

// supportsProtocols is Kafka's check that a joining member can be part of
// the group: same protocol type, and at least one protocol every member
// supports.
func (g *group) supportsProtocols(protocolType string, protocols []kmsg.JoinGroupRequestProtocol) bool {
	if len(g.members) == 0 && g.state == stateEmpty {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		n := 0
		for _, m := range g.members {
			if hasProtocol(m, p.Name) {
				n++
			}
		}
		if n == len(g.members) {
			return true
		}
	}
	return false
}

func hasProtocol(m *member, name string) bool {
	for _, p := range m.protocols {
		if p.Name == name {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol every member supports that most members
// prefer; ties go to the protocol voted for by the earliest member.
func (g *group) selectProtocol() string {
	ms := g.sortedMembers()
	if len(ms) == 0 {
		return ""
	}
	candidates := map[string]bool{}
	for _, p := range ms[0].protocols {
		all := true
		for _, m := range ms[1:] {
			if !hasProtocol(m, p.Name) {
				all = false
				break
			}
		}
		if all {
			candidates[p.Name] = true
		}
	}
	votes := map[string]int{}
	var order []string
	for _, m := range ms {
		v := m.vote(candidates)
		if votes[v] == 0 {
			order = append(order, v)
		}
		votes[v]++
	}
	best := ""
	for _, p := range order {
		if best == "" || votes[p] > votes[best] {
			best = p
		}
	}
	return best
}

func (g *group) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		if m.rebalanceTimeout > d {
			d = m.rebalanceTimeout
		}
	}
	return d
}

func (g *group) transition(s classicState, now time.Time) {
	g.state = s
	g.stateTime = now
}

func (c *Coordinator) addMemberAndRebalance(g *group, j *joinReq, id string) {
	g.seq++
	m := &member{
		id: id, instanceID: deref(j.req.InstanceID), clientID: j.clientID, clientHost: j.clientHost,
		protocolType: j.req.ProtocolType, isNew: true, seq: g.seq,
		// A new member cannot heartbeat before it has its member id:
		// bound its wait instead (Kafka's NewMemberJoinTimeoutMs).
		deadline: j.now.Add(newMemberJoinTimeout),
	}
	if g.state == statePreparingRebalance && g.generation == 0 {
		g.newMemberAdded = true
	}
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	g.members[id] = m
	if g.leader == "" {
		g.leader = id
	}
	if m.instanceID != "" {
		g.statics[m.instanceID] = id
	}
	delete(g.pending, id)
	c.updateMember(g, m, j)
	c.maybePrepareRebalance(g, j.now)
}

// updateMember records a member's join: its protocols, timeouts and the
// channel its response goes to.
func (c *Coordinator) updateMember(g *group, m *member, j *joinReq) {
	m.protocols = j.req.Protocols
	m.sessionTimeout = ms(j.req.SessionTimeoutMillis)
	m.rebalanceTimeout = j.rebalanceTimeout()
	if m.joinCh != nil {
		// A second join replaces the first, which can no longer be
		// completed meaningfully.
		m.joinCh <- joinError(m.joinVersion, m.id, kerr.RebalanceInProgress.Code)
	} else {
		g.awaitingJoin++
	}
	m.joinCh = j.ch
	m.joinVersion = j.req.Version
}

func (c *Coordinator) updateMemberAndRebalance(g *group, m *member, j *joinReq) {
	c.updateMember(g, m, j)
	c.maybePrepareRebalance(g, j.now)
}

func (c *Coordinator) maybePrepareRebalance(g *group, now time.Time) {
	switch g.state {
	case stateStable, stateCompletingRebalance, stateEmpty:
		c.prepareRebalance(g, now)
	}
}

func (c *Coordinator) prepareRebalance(g *group, now time.Time) {
	if g.state == stateCompletingRebalance {
		c.resetAssignment(g, kerr.RebalanceInProgress.Code)
	}
	g.syncDeadline = time.Time{}
	rt := g.rebalanceTimeout()
	wasEmpty := g.state == stateEmpty
	g.transition(statePreparingRebalance, now)
	c.log.Info("preparing to rebalance group", "group", g.id, "generation", g.generation, "members", len(g.members))
	if wasEmpty {
		delay := c.cfg.InitialRebalanceDelay
		g.initialDelay = true
		g.joinDeadline = now.Add(delay)
		g.initialRemaining = max(rt-delay, 0)
		if delay <= 0 {
			c.onJoinDeadline(g, now)
		}
		return
	}
	g.initialDelay = false
	g.joinDeadline = now.Add(rt)
	// As Kafka's DelayedJoin tries to complete at once: a group whose
	// last member just left becomes Empty now, not at the deadline.
	c.maybeCompleteJoin(g, now)
}

// resetAssignment drops the assignments and fails waiting SyncGroups with
// code.
func (c *Coordinator) resetAssignment(g *group, code int16) {
	for _, m := range g.members {
		m.assignment = nil
		if m.syncCh != nil {
			m.syncCh <- syncResponse(m.syncVersion, code, g, nil)
			m.syncCh = nil
		}
	}
}

func (g *group) hasAllMembersJoined() bool {
	return len(g.members) == g.awaitingJoin && len(g.pending) == 0
}

// maybeCompleteJoin completes a rebalance once every member has joined
// (Kafka's DelayedJoin.tryComplete); the initial delay only ends at its
// deadline.
func (c *Coordinator) maybeCompleteJoin(g *group, now time.Time) {
	if g.state == statePreparingRebalance && !g.initialDelay && g.hasAllMembersJoined() {
		c.completeJoin(g, now)
	}
}

func (c *Coordinator) onJoinDeadline(g *group, now time.Time) {
	if g.initialDelay && g.newMemberAdded && g.initialRemaining > 0 {
		// More members arrived during the initial delay: wait again,
		// within the rebalance timeout.
		g.newMemberAdded = false
		d := min(c.cfg.InitialRebalanceDelay, g.initialRemaining)
		g.initialRemaining = max(g.initialRemaining-c.cfg.InitialRebalanceDelay, 0)
		g.joinDeadline = now.Add(d)
		return
	}
	c.completeJoin(g, now)
}

func (c *Coordinator) completeJoin(g *group, now time.Time) {
	g.initialDelay = false
	for _, m := range g.sortedMembers() {
		if m.joinCh == nil && m.instanceID == "" {
			c.log.Info("removing member that did not rejoin", "group", g.id, "member_id", m.id)
			g.removeMember(m)
		}
	}
	if g.state == stateDead {
		return
	}
	if !g.electJoinedLeader() && len(g.members) > 0 {
		// Only static members that have not rejoined are left: wait
		// for them, or for their sessions to expire.
		g.joinDeadline = now.Add(g.rebalanceTimeout())
		return
	}
	g.generation++
	g.pendingSync = map[string]bool{}
	if len(g.members) == 0 {
		g.protocolName = ""
		g.transition(stateEmpty, now)
		c.log.Info("group is now empty", "group", g.id, "generation", g.generation)
		c.storeGroupAsync(g)
		return
	}
	g.protocolName = g.selectProtocol()
	g.transition(stateCompletingRebalance, now)
	c.log.Info("group rebalanced", "group", g.id, "generation", g.generation, "members", len(g.members), "protocol", g.protocolName)
	for _, m := range g.sortedMembers() {
		if m.joinCh != nil {
			m.joinCh <- g.joinSuccess(m.joinVersion, m.id, g.leader, m.id == g.leader)
			m.joinCh = nil
		}
		m.deadline = now.Add(m.sessionTimeout)
		m.isNew = false
		g.pendingSync[m.id] = true
	}
	g.awaitingJoin = 0
	g.syncDeadline = now.Add(g.rebalanceTimeout())
}

// storeGroupAsync writes the group's metadata without waiting for it; a
// failure only means an older generation is loaded after a restart, as in
// Kafka.
func (c *Coordinator) storeGroupAsync(g *group) {
	c.appendLocked(g, []Record{{Key: groupKey(g.id), Value: groupValue(g, g.stateTime.UnixMilli())}})
}

func (g *group) electJoinedLeader() bool {
	if l := g.members[g.leader]; l != nil && l.joinCh != nil {
		return true
	}
	for _, m := range g.sortedMembers() {
		if m.joinCh != nil {
			g.leader = m.id
			return true
		}
	}
	return false
}

// removeMember removes a member from the group's bookkeeping.
func (g *group) removeMember(m *member) {
	delete(g.members, m.id)
	if m.instanceID != "" && g.statics[m.instanceID] == m.id {
		delete(g.statics, m.instanceID)
	}
	if m.joinCh != nil {
		g.awaitingJoin--
		m.joinCh <- joinError(m.joinVersion, m.id, kerr.UnknownMemberID.Code)
		m.joinCh = nil
	}
	if m.syncCh != nil {
		m.syncCh <- syncResponse(m.syncVersion, kerr.UnknownMemberID.Code, g, nil)
		m.syncCh = nil
	}
	delete(g.pendingSync, m.id)
	if g.leader == m.id {
		g.leader = ""
		if ms := g.sortedMembers(); len(ms) > 0 {
			g.leader = ms[0].id
		}
	}
}

// removeMemberAndUpdate removes a member and moves the group on: a stable
// group rebalances, a rebalancing one may now be complete.
func (c *Coordinator) removeMemberAndUpdate(g *group, m *member, now time.Time, reason string) {
	c.log.Info("removing member from group", "group", g.id, "member_id", m.id, "reason", reason)
	g.removeMember(m)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		c.maybePrepareRebalance(g, now)
	case statePreparingRebalance:
		c.maybeCompleteJoin(g, now)
	}
}

func (c *Coordinator) tickClassic(g *group, now time.Time) {
	if g.state == statePreparingRebalance && !now.Before(g.joinDeadline) {
		c.onJoinDeadline(g, now)
	}
	if (g.state == stateCompletingRebalance || g.state == stateStable) && !g.syncDeadline.IsZero() && !now.Before(g.syncDeadline) {
		g.syncDeadline = time.Time{}
		if len(g.pendingSync) > 0 {
			for _, m := range g.sortedMembers() {
				if g.pendingSync[m.id] {
					c.log.Info("removing member that did not sync", "group", g.id, "member_id", m.id)
					g.removeMember(m)
				}
			}
			c.maybePrepareRebalance(g, now)
		}
	}
	for id, deadline := range g.pending {
		if !now.Before(deadline) {
			delete(g.pending, id)
			c.maybeCompleteJoin(g, now)
		}
	}
	for _, m := range g.sortedMembers() {
		if now.Before(m.deadline) {
			continue
		}
		if !m.isNew && (m.joinCh != nil || m.syncCh != nil) {
			continue // waiting in a rebalance counts as alive
		}
		if g.members[m.id] == m {
			c.removeMemberAndUpdate(g, m, now, "session timeout expired")
		}
	}
}

// SyncGroup handles a SyncGroup request. The response arrives on the
// returned channel, at once or when the leader's assignment is stored.
func (c *Coordinator) SyncGroup(req *kmsg.SyncGroupRequest) <-chan *kmsg.SyncGroupResponse {
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	g := c.mu.groups[req.Group]
	fail := func(code int16) <-chan *kmsg.SyncGroupResponse {
		ch <- syncResponse(req.Version, code, g, nil)
		return ch
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID.Code)
	}
	if g == nil || g.typ != typeClassic {
		return fail(kerr.UnknownMemberID.Code)
	}
	if g.state == stateDead {
		return fail(kerr.CoordinatorNotAvailable.Code)
	}
	if code := g.validateMember(req.MemberID, deref(req.InstanceID)); code != 0 {
		return fail(code)
	}
	if req.Generation != g.generation {
		return fail(kerr.IllegalGeneration.Code)
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocolName) {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateEmpty:
		return fail(kerr.UnknownMemberID.Code)
	case statePreparingRebalance:
		return fail(kerr.RebalanceInProgress.Code)
	case stateStable:
		delete(g.pendingSync, m.id)
		m.deadline = now.Add(m.sessionTimeout)
		ch <- syncResponse(req.Version, 0, g, m.assignment)
		return ch
	}
	// CompletingRebalance.
	if m.syncCh != nil {
		m.syncCh <- syncResponse(m.syncVersion, kerr.RebalanceInProgress.Code, g, nil)
	}
	m.syncCh, m.syncVersion = ch, req.Version
	delete(g.pendingSync, m.id)
	if m.id == g.leader {
		c.storeAssignment(g, req.GroupAssignment)
	}
	return ch
}

// storeAssignment persists the leader's assignment and, once durable,
// hands every member its part and makes the group Stable.
func (c *Coordinator) storeAssignment(g *group, assignments []kmsg.SyncGroupRequestGroupAssignment) {
	assign := map[string][]byte{}
	for _, a := range assignments {
		if g.members[a.MemberID] != nil {
			assign[a.MemberID] = a.MemberAssignment
		}
	}
	saved := map[string][]byte{}
	for id, m := range g.members {
		saved[id] = m.assignment
		m.assignment = assign[id]
	}
	rec := Record{Key: groupKey(g.id), Value: groupValue(g, g.stateTime.UnixMilli())}
	for id, m := range g.members {
		m.assignment = saved[id]
	}
	gen := g.generation
	done := func(err error) {
		if g.state != stateCompletingRebalance || g.generation != gen {
			return
		}
		now := c.cfg.Now()
		if err != nil {
			c.resetAssignment(g, kerr.CoordinatorNotAvailable.Code)
			c.maybePrepareRebalance(g, now)
			return
		}
		for _, m := range g.members {
			m.assignment = assign[m.id]
			if m.assignment == nil {
				m.assignment = []byte{}
			}
			if m.syncCh != nil {
				m.syncCh <- syncResponse(m.syncVersion, 0, g, m.assignment)
				m.syncCh = nil
				m.deadline = now.Add(m.sessionTimeout)
			}
		}
		g.transition(stateStable, now)
		c.log.Info("group stable", "group", g.id, "generation", g.generation)
	}
	last, err := c.appendLocked(g, []Record{rec})
	if err != nil {
		done(err)
		return
	}
	c.goSync(g, last, done)
}

// Heartbeat handles a classic Heartbeat.
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	resp.ErrorCode = c.heartbeat(req)
	return resp
}

func (c *Coordinator) heartbeat(req *kmsg.HeartbeatRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	g := c.mu.groups[req.Group]
	if g == nil || g.typ != typeClassic {
		return kerr.UnknownMemberID.Code
	}
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if code := g.validateMember(req.MemberID, deref(req.InstanceID)); code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateEmpty:
		return kerr.UnknownMemberID.Code
	case statePreparingRebalance:
		m.deadline = c.cfg.Now().Add(m.sessionTimeout)
		return kerr.RebalanceInProgress.Code
	}
	m.deadline = c.cfg.Now().Add(m.sessionTimeout)
	return 0
}

// LeaveGroup handles a LeaveGroup, of one member (v0–2) or a batch (v3+).
func (c *Coordinator) LeaveGroup(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	idents := req.Members
	if req.Version < 3 {
		idents = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	g := c.mu.groups[req.Group]
	switch {
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
	case g == nil || g.typ != typeClassic:
		resp.ErrorCode = kerr.UnknownMemberID.Code
	case g.state == stateDead:
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
	}
	if resp.ErrorCode != 0 {
		return resp
	}
	for _, id := range idents {
		mr := kmsg.LeaveGroupResponseMember{MemberID: id.MemberID, InstanceID: id.InstanceID}
		mr.ErrorCode = c.leaveMember(g, id.MemberID, deref(id.InstanceID), now)
		resp.Members = append(resp.Members, mr)
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	return resp
}

func (c *Coordinator) leaveMember(g *group, memberID, inst string, now time.Time) int16 {
	if memberID == "" && inst != "" {
		id, ok := g.statics[inst]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		memberID = id
	} else if _, ok := g.pending[memberID]; ok {
		delete(g.pending, memberID)
		c.maybeCompleteJoin(g, now)
		return 0
	}
	if code := g.validateMember(memberID, inst); code != 0 {
		return code
	}
	c.removeMemberAndUpdate(g, g.members[memberID], now, "member left the group")
	return 0
}
