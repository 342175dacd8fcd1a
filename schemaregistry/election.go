package schemaregistry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Group protocol of the writer election, in the spirit of Confluent's
// SchemaRegistryCoordinator: protocol type "sr", one protocol "v0".
const (
	electionProtocolType = "sr"
	electionProtocol     = "v0"
)

// memberMetadata is what each instance announces when joining.
type memberMetadata struct {
	URL      string `json:"url"`
	Eligible bool   `json:"eligible"`
}

// assignment is what the group leader hands every member: the elected
// writer, if any.
type assignment struct {
	Error     int    `json:"error"`
	Leader    string `json:"leader,omitempty"`
	LeaderURL string `json:"leader_url,omitempty"`
}

// groupElector elects the writer with a classic Kafka consumer group. The
// group leader picks the writer: itself when eligible, otherwise the
// eligible member with the smallest member id. An instance drops the
// writer role as soon as it learns of a rebalance, and when it has not
// heartbeated successfully for half the session timeout, so that it
// stops writing before the coordinator can evict it and elect another.
type groupElector struct {
	client *kgo.Client
	cfg    Config
	url    string

	mu sync.Mutex
	// self, leaderURL and known are the current outcome; guarded by mu.
	self      bool
	leaderURL string
	known     bool
	// changed is closed and replaced on every outcome change; guarded by mu.
	changed chan struct{}
	// elected is closed when the first election ends, whatever its outcome.
	elected     chan struct{}
	electedOnce sync.Once
}

func newGroupElector(client *kgo.Client, cfg Config, url string) *groupElector {
	return &groupElector{client: client, cfg: cfg, url: url, changed: make(chan struct{}), elected: make(chan struct{})}
}

// Elected returns a channel closed once this instance has taken part in
// a completed election.
func (e *groupElector) Elected() <-chan struct{} { return e.elected }

func (e *groupElector) Leader() (bool, string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.self, e.leaderURL, e.known
}

// Changed returns a channel closed at the next change of outcome.
func (e *groupElector) Changed() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.changed
}

func (e *groupElector) set(self bool, url string, known bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.self == self && e.leaderURL == url && e.known == known {
		return
	}
	e.self, e.leaderURL, e.known = self, url, known
	close(e.changed)
	e.changed = make(chan struct{})
}

func (e *groupElector) Run(ctx context.Context) error {
	var memberID string
	defer func() {
		e.set(false, "", false)
		if memberID != "" {
			leaveCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			req := kmsg.NewPtrLeaveGroupRequest()
			req.Group = e.cfg.GroupID
			req.MemberID = memberID
			member := kmsg.NewLeaveGroupRequestMember()
			member.MemberID = memberID
			req.Members = append(req.Members, member)
			_, _ = req.RequestWith(leaveCtx, e.client)
		}
	}()
	backoff := e.cfg.HeartbeatInterval
	for ctx.Err() == nil {
		generation, err := e.join(ctx, &memberID)
		if err == nil {
			backoff = e.cfg.HeartbeatInterval
			err = e.heartbeat(ctx, &memberID, generation)
		}
		e.set(false, "", false)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, kerr.RebalanceInProgress) {
			e.cfg.Logger.Warn("schema registry writer election", "group", e.cfg.GroupID, "err", err)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			backoff = min(2*backoff, e.cfg.SessionTimeout)
		}
	}
	return nil
}

// join runs JoinGroup and SyncGroup and records the elected writer. It
// returns the generation joined.
func (e *groupElector) join(ctx context.Context, memberID *string) (int32, error) {
	meta, _ := json.Marshal(memberMetadata{URL: e.url, Eligible: !e.cfg.NotEligible})
	var resp *kmsg.JoinGroupResponse
	for {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group = e.cfg.GroupID
		req.SessionTimeoutMillis = int32(e.cfg.SessionTimeout / time.Millisecond)
		req.RebalanceTimeoutMillis = int32(e.cfg.SessionTimeout / time.Millisecond)
		req.MemberID = *memberID
		req.ProtocolType = electionProtocolType
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name = electionProtocol
		p.Metadata = meta
		req.Protocols = append(req.Protocols, p)
		var err error
		resp, err = req.RequestWith(ctx, e.client)
		if err != nil {
			return 0, err
		}
		err = kerr.ErrorForCode(resp.ErrorCode)
		switch {
		case errors.Is(err, kerr.MemberIDRequired):
			*memberID = resp.MemberID
			continue
		case errors.Is(err, kerr.UnknownMemberID):
			*memberID = ""
			continue
		case err != nil:
			return 0, fmt.Errorf("JoinGroup: %w", err)
		}
		break
	}
	*memberID = resp.MemberID

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group = e.cfg.GroupID
	sync.Generation = resp.Generation
	sync.MemberID = resp.MemberID
	pt, proto := electionProtocolType, electionProtocol
	sync.ProtocolType, sync.Protocol = &pt, &proto
	if resp.LeaderID == resp.MemberID {
		a := elect(resp.MemberID, resp.Members)
		b, _ := json.Marshal(a)
		for _, m := range resp.Members {
			sa := kmsg.NewSyncGroupRequestGroupAssignment()
			sa.MemberID = m.MemberID
			sa.MemberAssignment = b
			sync.GroupAssignment = append(sync.GroupAssignment, sa)
		}
	}
	sresp, err := sync.RequestWith(ctx, e.client)
	if err != nil {
		return 0, err
	}
	if err := kerr.ErrorForCode(sresp.ErrorCode); err != nil {
		if errors.Is(err, kerr.UnknownMemberID) {
			*memberID = ""
		}
		return 0, fmt.Errorf("SyncGroup: %w", err)
	}
	var a assignment
	if err := json.Unmarshal(sresp.MemberAssignment, &a); err != nil {
		return 0, fmt.Errorf("SyncGroup: unreadable assignment: %w", err)
	}
	switch {
	case a.Leader == "":
		e.set(false, "", false)
	case a.Leader == resp.MemberID:
		e.set(true, e.url, true)
	default:
		e.set(false, a.LeaderURL, true)
	}
	e.electedOnce.Do(func() { close(e.elected) })
	e.cfg.Logger.Info("schema registry writer elected", "group", e.cfg.GroupID, "generation", resp.Generation, "writer", a.LeaderURL, "self", a.Leader == resp.MemberID)
	return resp.Generation, nil
}

// elect picks the writer among the joined members: the group leader when
// it is eligible, otherwise the eligible member with the smallest id.
func elect(leaderID string, members []kmsg.JoinGroupResponseMember) assignment {
	type candidate struct {
		id  string
		url string
	}
	var eligible []candidate
	for _, m := range members {
		var meta memberMetadata
		if json.Unmarshal(m.ProtocolMetadata, &meta) != nil || !meta.Eligible {
			continue
		}
		if m.MemberID == leaderID {
			return assignment{Leader: m.MemberID, LeaderURL: meta.URL}
		}
		eligible = append(eligible, candidate{m.MemberID, meta.URL})
	}
	if len(eligible) == 0 {
		return assignment{Error: 1}
	}
	slices.SortFunc(eligible, func(a, b candidate) int {
		if a.id < b.id {
			return -1
		}
		if a.id > b.id {
			return 1
		}
		return 0
	})
	return assignment{Leader: eligible[0].id, LeaderURL: eligible[0].url}
}

// heartbeat heartbeats until the group rebalances, the member is fenced,
// or heartbeats fail for half the session timeout.
func (e *groupElector) heartbeat(ctx context.Context, memberID *string, generation int32) error {
	ticker := time.NewTicker(e.cfg.HeartbeatInterval)
	defer ticker.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group = e.cfg.GroupID
		req.Generation = generation
		req.MemberID = *memberID
		reqCtx, cancel := context.WithTimeout(ctx, e.cfg.SessionTimeout/2)
		resp, err := req.RequestWith(reqCtx, e.client)
		cancel()
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		switch {
		case err == nil:
			lastOK = time.Now()
			continue
		case errors.Is(err, kerr.RebalanceInProgress):
			return err
		case errors.Is(err, kerr.UnknownMemberID), errors.Is(err, kerr.IllegalGeneration), errors.Is(err, kerr.FencedInstanceID):
			*memberID = ""
			return fmt.Errorf("Heartbeat: %w", err)
		}
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(lastOK) > e.cfg.SessionTimeout/2 {
			return fmt.Errorf("Heartbeat: no successful heartbeat for %v: %w", time.Since(lastOK).Round(time.Millisecond), err)
		}
	}
}
