package group

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Record is one record of __consumer_offsets. A nil Value is a tombstone.
type Record struct {
	Key, Value []byte
}

// Log is __consumer_offsets as the coordinator uses it.
type Log interface {
	// Append appends recs to partition p and returns the offset of the
	// last one.
	Append(p int32, recs []Record) (last int64, err error)
	// AppendTxn appends recs to partition p as one transactional batch
	// of producerID at epoch: records of the producer's open transaction
	// there, which a COMMIT or ABORT marker written later in p ends. A
	// write at an epoch older than the producer's latest in p is refused
	// with an error wrapping kerr.InvalidProducerEpoch.
	AppendTxn(p int32, producerID int64, epoch int16, recs []Record) (last int64, err error)
	// Sync returns once partition p is durable up to offset last.
	Sync(p int32, last int64) error
	// Replay calls fn with every record of partition p in offset order,
	// the records of transactional batches and the control records of
	// transaction markers included.
	Replay(p int32, fn func(r LogRecord) error) error
}

// LogRecord is one record of __consumer_offsets as Replay reads it.
type LogRecord struct {
	Key, Value []byte
	// ProducerID is the producer id of the record's batch, -1 for none.
	ProducerID int64
	// Transactional marks a record of a transactional batch.
	Transactional bool
	// Control marks the record of a control batch (a transaction
	// marker). Key is then the control key: int16 version, int16 type
	// (0 abort, 1 commit).
	Control bool
}

// TopicInfo describes a topic for assignment and validation.
type TopicInfo struct {
	Name       string
	ID         [16]byte
	Partitions int32
	Internal   bool
}

// Topics is the cluster's topic metadata.
type Topics interface {
	// Topic returns the named topic.
	Topic(name string) (TopicInfo, bool)
	// All returns every topic.
	All() []TopicInfo
}

// Config configures a Coordinator.
type Config struct {
	Log    Log
	Topics Topics
	Logger *slog.Logger
	// Now is the clock read when requests arrive; time.Now by default.
	Now func() time.Time
	// NumPartitions is the partition count of __consumer_offsets.
	NumPartitions int32
	// MinSessionTimeout and MaxSessionTimeout bound the session timeout
	// of classic members (group.min/max.session.timeout.ms).
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms.
	InitialRebalanceDelay time.Duration
	// MaxSize is group.max.size (classic groups).
	MaxSize int
	// OffsetsRetention is offsets.retention.minutes.
	OffsetsRetention time.Duration
	// OffsetMetadataMaxBytes is offset.metadata.max.bytes.
	OffsetMetadataMaxBytes int
	// ConsumerHeartbeatInterval and ConsumerSessionTimeout are
	// group.consumer.heartbeat.interval.ms and
	// group.consumer.session.timeout.ms.
	ConsumerHeartbeatInterval, ConsumerSessionTimeout time.Duration
	// ConsumerMaxSize is group.consumer.max.size.
	ConsumerMaxSize int
	// ConsumerAssignors are the server-side assignors by name; the first
	// is the default.
	ConsumerAssignors []string
	// NewID returns a fresh random id; a UUID-like hex string by default.
	NewID func() string
}

// newMemberJoinTimeout is how long a new classic member may wait in a
// rebalance without its member id being confirmed (Kafka's
// NewMemberJoinTimeoutMs).
const newMemberJoinTimeout = 5 * time.Minute

func (c *Config) withDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.NumPartitions <= 0 {
		c.NumPartitions = 50
	}
	if c.MinSessionTimeout == 0 {
		c.MinSessionTimeout = 6 * time.Second
	}
	if c.MaxSessionTimeout == 0 {
		c.MaxSessionTimeout = 30 * time.Minute
	}
	if c.MaxSize <= 0 {
		c.MaxSize = 1<<31 - 1
	}
	if c.ConsumerMaxSize <= 0 {
		c.ConsumerMaxSize = 1<<31 - 1
	}
	if c.OffsetsRetention == 0 {
		c.OffsetsRetention = 7 * 24 * time.Hour
	}
	if c.OffsetMetadataMaxBytes == 0 {
		c.OffsetMetadataMaxBytes = 4096
	}
	if c.ConsumerHeartbeatInterval == 0 {
		c.ConsumerHeartbeatInterval = 5 * time.Second
	}
	if c.ConsumerSessionTimeout == 0 {
		c.ConsumerSessionTimeout = 45 * time.Second
	}
	if len(c.ConsumerAssignors) == 0 {
		c.ConsumerAssignors = []string{"uniform", "range"}
	}
	if c.NewID == nil {
		c.NewID = randomID
	}
}

func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Coordinator is the group coordinator for every partition of
// __consumer_offsets (a single node leads them all).
type Coordinator struct {
	cfg Config
	log *slog.Logger

	// wg tracks goroutines waiting for group metadata fsyncs.
	wg sync.WaitGroup

	mu struct {
		sync.Mutex
		groups map[string]*group
		closed bool
		// txnGroups maps a producer id to the ids of the groups holding
		// offsets pending in its transaction.
		txnGroups map[int64]map[string]struct{}
	}
}

// New returns a coordinator with no groups; Load fills it from the log.
func New(cfg Config) *Coordinator {
	cfg.withDefaults()
	c := &Coordinator{cfg: cfg, log: cfg.Logger.With("component", "group")}
	c.mu.groups = map[string]*group{}
	c.mu.txnGroups = map[int64]map[string]struct{}{}
	return c
}

// Close waits for background group metadata writes to finish.
func (c *Coordinator) Close() {
	c.mu.Lock()
	c.mu.closed = true
	c.mu.Unlock()
	c.wg.Wait()
}

// PartitionFor is the __consumer_offsets partition of a group:
// abs(groupId.hashCode()) % partitions, as Kafka computes it with Java's
// String.hashCode and Utils.abs.
func PartitionFor(groupID string, partitions int32) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(groupID)) {
		h = 31*h + int32(u)
	}
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % partitions
}

// Partition is the __consumer_offsets partition of groupID.
func (c *Coordinator) Partition(groupID string) int32 {
	return PartitionFor(groupID, c.cfg.NumPartitions)
}

// errStop ends a replay early; it never leaves the package.
var errStop = errors.New("stop")

// Load replays every partition of __consumer_offsets into memory.
func (c *Coordinator) Load() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	for p := int32(0); p < c.cfg.NumPartitions; p++ {
		if err := c.cfg.Log.Replay(p, func(r LogRecord) error {
			switch {
			case r.Control:
				c.replayTxnMarker(p, r)
				return nil
			case r.Transactional:
				return c.replayTxnRecord(p, r, now)
			}
			return c.replayRecord(p, r.Key, r.Value, now)
		}); err != nil {
			return err
		}
	}
	n := 0
	for _, g := range c.mu.groups {
		g.finishLoad(now)
		n++
	}
	c.log.Info("groups loaded", "groups", n)
	return nil
}

// Tick runs every expiration due at now: session timeouts, rebalance
// timeouts, the initial rebalance delay and pending syncs.
func (c *Coordinator) Tick(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range c.mu.groups {
		switch g.typ {
		case typeClassic:
			c.tickClassic(g, now)
		case typeConsumer:
			c.tickConsumer(g, now)
		}
	}
}

// appendLocked appends recs to the group's partition. c.mu is held.
func (c *Coordinator) appendLocked(g *group, recs []Record) (int64, error) {
	last, err := c.cfg.Log.Append(g.partition, recs)
	if err != nil {
		c.log.Error("append to __consumer_offsets failed", "group", g.id, "partition", g.partition, "err", err)
	}
	return last, err
}

// goSync waits in the background for the group's partition to be durable
// up to last, then calls done under c.mu with the sync result.
func (c *Coordinator) goSync(g *group, last int64, done func(err error)) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		err := c.cfg.Log.Sync(g.partition, last)
		c.mu.Lock()
		defer c.mu.Unlock()
		done(err)
	}()
}

// LoadPartition replays partition p of __consumer_offsets into memory:
// the groups this coordinator takes over when its broker becomes the
// leader of that partition. Groups of p still in memory (from an earlier
// leadership) are dropped first, so the log is the only source.
func (c *Coordinator) LoadPartition(p int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unloadLocked(p)
	now := c.cfg.Now()
	if err := c.cfg.Log.Replay(p, func(r LogRecord) error {
		switch {
		case r.Control:
			c.replayTxnMarker(p, r)
			return nil
		case r.Transactional:
			return c.replayTxnRecord(p, r, now)
		}
		return c.replayRecord(p, r.Key, r.Value, now)
	}); err != nil {
		c.unloadLocked(p)
		return err
	}
	n := 0
	for _, g := range c.mu.groups {
		if g.partition == p {
			g.finishLoad(now)
			n++
		}
	}
	c.log.Info("groups of a partition loaded", "partition", p, "groups", n)
	return nil
}

// UnloadPartition drops the groups of partition p of __consumer_offsets
// from memory: their coordinator is now the partition's new leader.
// Members waiting in a rebalance are answered NOT_COORDINATOR, so that
// they find the new coordinator.
func (c *Coordinator) UnloadPartition(p int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.unloadLocked(p); n > 0 {
		c.log.Info("groups of a partition unloaded", "partition", p, "groups", n)
	}
}

func (c *Coordinator) unloadLocked(p int32) int {
	n := 0
	for id, g := range c.mu.groups {
		if g.partition != p {
			continue
		}
		for _, m := range g.members {
			if m.joinCh != nil {
				m.joinCh <- joinError(m.joinVersion, m.id, kerr.NotCoordinator.Code)
				m.joinCh = nil
			}
		}
		c.resetAssignment(g, kerr.NotCoordinator.Code)
		delete(c.mu.groups, id)
		n++
	}
	for pid, ids := range c.mu.txnGroups {
		for id := range ids {
			if _, ok := c.mu.groups[id]; !ok {
				delete(ids, id)
			}
		}
		if len(ids) == 0 {
			delete(c.mu.txnGroups, pid)
		}
	}
	return n
}
