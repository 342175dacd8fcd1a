package broker

// The active controller: the duties of Kafka's KRaft controller, run by
// the member that leads the metadata quorum. Every controller-role node
// runs a Controller; only the leader's acts, and it checks that it still
// leads before each write. Everything it does is a metadata batch of
// broker records and compare-and-set partition records, so a controller
// that lost its leadership while computing cannot overwrite a newer
// state. docs/cluster.md describes the duties.

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// ControllerConfig configures a Controller.
type ControllerConfig struct {
	// Store is this node's member of the metadata quorum.
	Store *RaftStore
	// Settings are the node's static settings (broker.session.timeout.ms,
	// broker.heartbeat.interval.ms, auto.leader.rebalance.enable,
	// leader.imbalance.*, and the topic defaults of
	// unclean.leader.election.enable).
	Settings map[string]string
	Logger   *slog.Logger
	// Now is the clock; time.Now by default.
	Now func() time.Time
}

// Controller runs the active controller's duties while its node leads the
// metadata quorum:
//
//   - broker sessions: the leader hears from every member of the quorum
//     (brokers are members: voters or learners) through raft's own
//     heartbeats; a broker not heard from for broker.session.timeout.ms
//     is fenced, and leaves the ISR of its partitions, whose leadership
//     moves to other in-sync replicas; a fenced broker heard from again,
//     with the metadata log caught up, is unfenced;
//   - partitions without an active leader get one from their ISR (or,
//     with unclean.leader.election.enable, from their other replicas);
//     brokers in controlled shutdown leave ISRs and leaderships;
//   - reassignments complete once their adding replicas are in the ISR;
//   - with auto.leader.rebalance.enable, every
//     leader.imbalance.check.interval.seconds, preferred replicas get
//     their leadership back on brokers whose imbalance exceeds
//     leader.imbalance.per.broker.percentage.
type Controller struct {
	store    *RaftStore
	settings *settingsResolver
	log      *slog.Logger
	now      func() time.Time
	updates  <-chan struct{}

	sessionTimeout time.Duration
	heartbeat      time.Duration
	rebalance      bool
	rebalanceEvery time.Duration
	imbalancePct   int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Owned by the run goroutine.
	leading       bool
	leaderSince   time.Time
	lastRebalance time.Time
	// registered is when this controller first saw each broker's
	// current incarnation: a registration starts a session, as a
	// broker's registration request does in Kafka.
	registered map[int32]seenRegistration
}

type seenRegistration struct {
	incarnation string
	at          time.Time
}

// NewController returns a controller for the node of cfg.Store; Start
// starts it.
func NewController(cfg ControllerConfig) (*Controller, error) {
	if cfg.Store == nil {
		return nil, errors.New("controller: a metadata store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	settings, err := newSettingsResolver(cfg.Settings)
	if err != nil {
		return nil, err
	}
	ms := func(name string, def int64) time.Duration {
		return time.Duration(settings.brokerInt(name, def)) * time.Millisecond
	}
	c := &Controller{
		store:          cfg.Store,
		settings:       settings,
		log:            cfg.Logger.With("component", "controller", "node_id", cfg.Store.NodeID()),
		now:            cfg.Now,
		sessionTimeout: ms("broker.session.timeout.ms", 9000),
		heartbeat:      ms("broker.heartbeat.interval.ms", 2000),
		rebalance:      settings.brokerBool("auto.leader.rebalance.enable", true),
		rebalanceEvery: time.Duration(settings.brokerInt("leader.imbalance.check.interval.seconds", 300)) * time.Second,
		imbalancePct:   settings.brokerInt("leader.imbalance.per.broker.percentage", 10),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.registered = map[int32]seenRegistration{}
	return c, nil
}

// Start starts the controller's loop.
func (c *Controller) Start() {
	c.updates = c.store.Subscribe()
	c.wg.Add(1)
	go c.run()
}

// Close stops the controller. It does not close the store.
func (c *Controller) Close() {
	c.cancel()
	c.wg.Wait()
}

// checkInterval is how often the controller looks at the sessions: often
// enough that a session expires at most a quarter of its timeout late.
func (c *Controller) checkInterval() time.Duration {
	return max(min(c.heartbeat, c.sessionTimeout/4), 10*time.Millisecond)
}

// minStepInterval spaces the steps that metadata changes trigger: a busy
// cluster's changes are looked at in batches, each step reading the whole
// image.
const minStepInterval = 50 * time.Millisecond

func (c *Controller) run() {
	defer c.wg.Done()
	t := time.NewTicker(c.checkInterval())
	defer t.Stop()
	var last time.Time
	var soon <-chan time.Time
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.store.Node().Done():
			return
		case <-t.C:
		case <-soon:
		case <-c.updates:
			if wait := minStepInterval - time.Since(last); wait > 0 {
				if soon == nil {
					soon = time.After(wait)
				}
				continue
			}
		}
		soon = nil
		last = time.Now()
		c.step()
	}
}

// step runs the duties once, if this node leads the quorum.
func (c *Controller) step() {
	if !c.store.IsLeader() {
		if c.leading {
			c.log.Info("no longer the active controller")
		}
		c.leading = false
		return
	}
	now := c.now()
	img := c.store.Image()
	if !c.leading {
		c.leading, c.leaderSince, c.lastRebalance = true, now, now
		c.log.Info("active controller", "session_timeout", c.sessionTimeout)
		// The registrations made before this node led are not new:
		// their sessions are the store's (see RaftStore.LastContact).
		clear(c.registered)
		for id, reg := range img.Brokers {
			c.registered[id] = seenRegistration{incarnation: reg.Incarnation}
		}
	}
	c.settings.setDynamic(img.BrokerConfigs, c.store.NodeID())
	c.checkSessions(img, now)
	c.applyChanges(nil, "partition changes", func(img *MetadataImage) []MetadataRecord { return brokerChanges(img, c.settings) })
	if c.rebalance && now.Sub(c.lastRebalance) >= c.rebalanceEvery {
		c.lastRebalance = now
		c.applyChanges(nil, "preferred leader rebalance", func(img *MetadataImage) []MetadataRecord { return imbalancedElections(img, c.imbalancePct) })
	}
}

// lastContact is when the leader last heard from broker id (the store
// starts every session afresh when this node comes to lead, except the
// previous leader's), and never before the broker's current registration.
// A broker the store has no record of gets a full session from when this
// node became the active controller.
func (c *Controller) lastContact(id int32) time.Time {
	t, ok := c.store.LastContact(id)
	if !ok {
		t = c.leaderSince
	}
	if r := c.registered[id].at; r.After(t) {
		t = r
	}
	return t
}

// checkSessions fences brokers whose session expired and unfences fenced
// brokers that are heard from again and caught up.
func (c *Controller) checkSessions(img *MetadataImage, now time.Time) {
	for id := range c.registered {
		if _, ok := img.Brokers[id]; !ok {
			delete(c.registered, id)
		}
	}
	for _, id := range img.BrokerIDs() {
		reg := img.Brokers[id]
		if c.registered[id].incarnation != reg.Incarnation {
			c.registered[id] = seenRegistration{incarnation: reg.Incarnation, at: now}
		}
		since := now.Sub(c.lastContact(id))
		switch {
		case !reg.Fenced && since > c.sessionTimeout:
			c.log.Warn("broker session expired: fencing it", "broker", id, "last_heard", since.Round(time.Millisecond))
			fence := MetadataRecord{Type: BrokerStateRecord, Broker: &BrokerRegistration{ID: id, Incarnation: reg.Incarnation, Fenced: true, ControlledShutdown: reg.ControlledShutdown}}
			c.applyChanges([]MetadataRecord{fence}, "fencing broker", func(img *MetadataImage) []MetadataRecord {
				next, err := withBrokerState(img, id, true, reg.ControlledShutdown)
				if err != nil {
					return nil
				}
				return brokerChanges(next, c.settings)
			})
		case reg.Fenced && !reg.ControlledShutdown && since < c.checkInterval()+contactSampleInterval*4 && c.store.CaughtUp(id):
			c.log.Info("broker heard from again and caught up: unfencing it", "broker", id)
			unfence := MetadataRecord{Type: BrokerStateRecord, Broker: &BrokerRegistration{ID: id, Incarnation: reg.Incarnation}}
			c.applyChanges([]MetadataRecord{unfence}, "unfencing broker", func(img *MetadataImage) []MetadataRecord {
				next, err := withBrokerState(img, id, false, false)
				if err != nil {
					return nil
				}
				return brokerChanges(next, c.settings)
			})
		}
	}
}

// changeAttempts is how often a batch whose compare-and-set records met a
// newer partition state is computed again before its records are written
// one by one.
const changeAttempts = 4

// applyChanges writes head (broker records) with the partition changes
// compute derives from the current image, as one batch, while this node
// leads. A batch refused because a partition changed meanwhile is computed
// again from the new image; after changeAttempts, head is written alone
// and the changes one by one.
func (c *Controller) applyChanges(head []MetadataRecord, what string, compute func(*MetadataImage) []MetadataRecord) {
	ctx, cancel := context.WithTimeout(c.ctx, max(c.sessionTimeout, 5*time.Second))
	defer cancel()
	for attempt := 0; attempt < changeAttempts; attempt++ {
		if !c.store.IsLeader() {
			return
		}
		recs := append(append([]MetadataRecord(nil), head...), compute(c.store.Image())...)
		if len(recs) == 0 {
			return
		}
		err := c.store.Apply(ctx, recs...)
		if err == nil {
			c.logChanges(what, recs)
			return
		}
		if !errors.Is(err, ErrPartitionEpochMismatch) {
			if ctx.Err() == nil {
				c.log.Warn(what+" failed", "err", err)
			}
			return
		}
	}
	if len(head) > 0 {
		if err := c.store.Apply(ctx, head...); err != nil {
			c.log.Warn(what+" failed", "err", err)
			return
		}
	}
	for _, r := range compute(c.store.Image()) {
		if !c.store.IsLeader() {
			return
		}
		if err := c.store.Apply(ctx, r); err == nil {
			c.logChanges(what, []MetadataRecord{r})
		}
	}
}

func (c *Controller) logChanges(what string, recs []MetadataRecord) {
	img := c.store.Image()
	for _, r := range recs {
		if r.Type != PartitionRecordType {
			continue
		}
		name := r.Partition.TopicID.String()
		if t, ok := img.ByID[r.Partition.TopicID]; ok {
			name = t.Name
		}
		st := r.Partition.State
		c.log.Info(what, "topic", name, "partition", r.Partition.Partition, "leader", st.Leader, "isr", st.ISR, "replicas", st.Replicas)
	}
}

// imbalancedElections returns the preferred leader elections of the
// brokers whose share of preferred partitions led by others exceeds pct
// percent (Kafka's leader.imbalance.per.broker.percentage).
func imbalancedElections(img *MetadataImage, pct int64) []MetadataRecord {
	type count struct{ preferred, elsewhere int }
	counts := map[int32]*count{}
	for _, t := range img.Topics {
		for _, st := range t.Assignment {
			pref := st.Replicas[0]
			n := counts[pref]
			if n == nil {
				n = &count{}
				counts[pref] = n
			}
			n.preferred++
			if st.Leader != pref {
				n.elsewhere++
			}
		}
	}
	var recs []MetadataRecord
	for _, name := range img.sortedTopicNames() {
		t := img.Topics[name]
		for _, p := range sortedPartitions(t) {
			st := t.Assignment[p]
			n := counts[st.Replicas[0]]
			if st.Leader == st.Replicas[0] || int64(n.elsewhere)*100 <= pct*int64(n.preferred) {
				continue
			}
			if next, kerr := electPreferred(img, st); kerr == nil {
				recs = append(recs, casRecord(t.ID, p, st, next))
			}
		}
	}
	return recs
}
