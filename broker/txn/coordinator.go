package txn

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Log is __transaction_state as the coordinator uses it.
type Log interface {
	// Append writes one record to partition p and returns once it is
	// durable (fsynced). A nil value is a tombstone.
	Append(p int32, key, value []byte) error
	// Replay calls fn with every record of partition p in offset order;
	// a partition that does not exist yet has no records.
	Replay(p int32, fn func(key, value []byte) error) error
}

// ErrUnknownPartition is returned by Config.WriteMarker when the partition
// no longer exists (its topic was deleted): there is nothing to complete
// there, and the coordinator goes on without it, as Kafka does.
var ErrUnknownPartition = errors.New("txn: partition does not exist")

// Config configures a Coordinator.
type Config struct {
	Log Log
	// WriteMarker writes a COMMIT (commit) or ABORT marker for the
	// producer to one partition and returns once it is durable.
	WriteMarker func(tp TopicPartition, producerID int64, epoch int16, commit bool, coordinatorEpoch int32) error
	// NewProducerID returns a producer id never handed out before.
	NewProducerID func() (int64, error)
	// NumPartitions is the partition count of __transaction_state
	// (transaction.state.log.num.partitions).
	NumPartitions int32
	// MaxTimeout is transaction.max.timeout.ms.
	MaxTimeout time.Duration
	// IDExpiration is transactional.id.expiration.ms.
	IDExpiration time.Duration
	// CoordinatorEpoch is written into markers.
	CoordinatorEpoch int32
	// Now is the clock read when requests arrive; time.Now by default.
	Now    func() time.Time
	Logger *slog.Logger
}

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
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = 15 * time.Minute
	}
	if c.IDExpiration <= 0 {
		c.IDExpiration = 7 * 24 * time.Hour
	}
}

// Coordinator is the transaction coordinator for every partition of
// __transaction_state (a single node leads them all).
type Coordinator struct {
	cfg Config
	log *slog.Logger

	mu struct {
		sync.Mutex
		txns map[string]*txnMeta
		// loaded is set once Load has replayed the log; until then
		// requests get COORDINATOR_LOAD_IN_PROGRESS.
		loaded bool
	}
}

// New returns a coordinator that answers COORDINATOR_LOAD_IN_PROGRESS
// until Load has run.
func New(cfg Config) *Coordinator {
	cfg.withDefaults()
	c := &Coordinator{cfg: cfg, log: cfg.Logger.With("component", "txn")}
	c.mu.txns = map[string]*txnMeta{}
	return c
}

// Partition is the __transaction_state partition of txnID.
func (c *Coordinator) Partition(txnID string) int32 {
	return PartitionFor(txnID, c.cfg.NumPartitions)
}

// Load replays __transaction_state, then completes the transactions found
// prepared (their markers may not all have been written).
func (c *Coordinator) Load() error {
	txns := map[string]*txnMeta{}
	for p := int32(0); p < c.cfg.NumPartitions; p++ {
		err := c.cfg.Log.Replay(p, func(key, value []byte) error {
			var k kmsg.TxnMetadataKey
			if err := k.ReadFrom(key); err != nil || k.Version != 0 {
				// Not a transaction record (Kafka has one key
				// version): skipped, as Kafka skips unknown keys.
				return nil
			}
			if value == nil {
				delete(txns, k.TransactionalID)
				return nil
			}
			m, err := decodeValue(k.TransactionalID, p, value)
			if err != nil {
				return err
			}
			txns[m.id] = m
			return nil
		})
		if err != nil {
			return fmt.Errorf("__transaction_state-%d: %w", p, err)
		}
	}
	c.mu.Lock()
	c.mu.txns = txns
	c.mu.loaded = true
	var prepared []*txnMeta
	for _, m := range txns {
		if m.state == PrepareCommit || m.state == PrepareAbort {
			prepared = append(prepared, m)
		}
	}
	for _, m := range prepared {
		if m.pending == nil {
			c.completeLocked(m)
		}
	}
	c.mu.Unlock()
	c.log.Info("transaction coordinator loaded", "transactional_ids", len(txns), "prepared", len(prepared))
	return nil
}

// errorf returns an error wrapping a Kafka error with a message.
func errorf(code *kerr.Error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", code, fmt.Sprintf(format, args...))
}

// lookupLocked returns the id's state, or an error when the coordinator
// is loading or does not know it. c.mu is held.
func (c *Coordinator) lookupLocked(txnID string) (*txnMeta, error) {
	if !c.mu.loaded {
		return nil, errorf(kerr.CoordinatorLoadInProgress, "transaction state is loading")
	}
	m := c.mu.txns[txnID]
	if m == nil {
		return nil, errorf(kerr.InvalidProducerIDMapping, "transactional id %q is not known", txnID)
	}
	return m, nil
}

// writeLocked writes next as m's new state and applies it. c.mu is held on
// entry and on return but released while writing; m is pending meanwhile.
func (c *Coordinator) writeLocked(m, next *txnMeta) error {
	checkTransition(m.id, m.state, next.state)
	var value []byte
	if next.state != Dead {
		value = valueBytes(next)
	}
	m.pending = next
	c.mu.Unlock()
	err := c.cfg.Log.Append(m.partition, keyBytes(m.id), value)
	c.mu.Lock()
	m.pending = nil
	if err != nil {
		c.log.Error("writing transaction state failed", "transactional_id", m.id, "state", next.state.String(), "err", err)
		return errorf(kerr.NotCoordinator, "writing the state of transactional id %q: %v", m.id, err)
	}
	m.apply(next)
	return nil
}

// InitProducerID gives a transactional producer its producer id and a
// new epoch (KIP-98), fencing any older producer with the same id;
// expected is the producer's current id and epoch when it asks again after
// an error (KIP-360), nil for a new producer.
func (c *Coordinator) InitProducerID(txnID string, timeout time.Duration, expected *ProducerIDEpoch) (ProducerIDEpoch, error) {
	none := ProducerIDEpoch{ID: NoProducerID, Epoch: NoProducerEpoch}
	if txnID == "" {
		return none, errorf(kerr.InvalidRequest, "empty transactional id")
	}
	if timeout <= 0 || timeout > c.cfg.MaxTimeout {
		return none, errorf(kerr.InvalidTransactionTimeout, "transaction timeout %v is not in (0, %v] (transaction.max.timeout.ms)", timeout, c.cfg.MaxTimeout)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.mu.loaded {
		return none, errorf(kerr.CoordinatorLoadInProgress, "transaction state is loading")
	}
	m := c.mu.txns[txnID]
	if m == nil {
		c.mu.Unlock()
		id, err := c.cfg.NewProducerID()
		c.mu.Lock()
		if err != nil {
			return none, errorf(kerr.CoordinatorNotAvailable, "allocating a producer id: %v", err)
		}
		if m = c.mu.txns[txnID]; m == nil {
			m = &txnMeta{id: txnID, partition: c.Partition(txnID), producerID: id, prevProducerID: NoProducerID,
				epoch: NoProducerEpoch, lastEpoch: NoProducerEpoch, timeout: timeout, state: Empty,
				parts: map[TopicPartition]struct{}{}, lastUpdate: c.cfg.Now()}
			c.mu.txns[txnID] = m
		}
	}
	// At most two rounds: an ongoing transaction is aborted at a fenced
	// epoch first, then the epoch is bumped again for the new producer,
	// as Kafka's client retry after CONCURRENT_TRANSACTIONS does.
	for round := 0; ; round++ {
		if m.pending != nil {
			return none, errorf(kerr.ConcurrentTransactions, "transactional id %q has a state change in progress", txnID)
		}
		if expected != nil && !validExpected(m, *expected) {
			return none, errorf(kerr.ProducerFenced, "producer %d epoch %d is not the current producer %d of transactional id %q", expected.ID, expected.Epoch, m.producerID, txnID)
		}
		switch m.state {
		case PrepareCommit, PrepareAbort:
			return none, errorf(kerr.ConcurrentTransactions, "transactional id %q is completing a transaction", txnID)
		case Ongoing:
			if round > 0 {
				return none, errorf(kerr.ConcurrentTransactions, "transactional id %q has an ongoing transaction", txnID)
			}
			if err := c.fenceLocked(m); err != nil {
				return none, err
			}
			if m.state != CompleteAbort {
				return none, errorf(kerr.ConcurrentTransactions, "transactional id %q is aborting its transaction", txnID)
			}
			continue
		case Empty, CompleteCommit, CompleteAbort:
			next, err := c.prepareInitLocked(m, timeout, expected)
			if err != nil {
				return none, err
			}
			if err := c.writeLocked(m, next); err != nil {
				return none, err
			}
			c.log.Info("initialized transactional id", "transactional_id", txnID, "producer_id", m.producerID, "producer_epoch", m.epoch, "partition", m.partition)
			return ProducerIDEpoch{ID: m.producerID, Epoch: m.epoch}, nil
		default:
			panic(fmt.Sprintf("txn: transactional id %q in state %s", txnID, m.state))
		}
	}
}

// validExpected is Kafka's check of the producer id an InitProducerId
// names: the id was just created, or the producer is the current one, or
// it is the previous one retrying after its epochs ran out.
func validExpected(m *txnMeta, e ProducerIDEpoch) bool {
	return m.epoch == NoProducerEpoch || e.ID == m.producerID ||
		(e.ID == m.prevProducerID && epochExhausted(e.Epoch))
}

// prepareInitLocked returns the Empty state with a bumped epoch, or with a
// new producer id once the epochs are exhausted.
func (c *Coordinator) prepareInitLocked(m *txnMeta, timeout time.Duration, expected *ProducerIDEpoch) (*txnMeta, error) {
	next := m.clone()
	next.state, next.timeout, next.lastUpdate = Empty, timeout, c.cfg.Now()
	next.parts, next.start = map[TopicPartition]struct{}{}, time.Time{}
	if epochExhausted(m.epoch) && (expected == nil || expected.Epoch == m.epoch) {
		// The id stays pending while a producer id is allocated, so
		// nothing else changes it meanwhile.
		m.pending = next
		c.mu.Unlock()
		id, err := c.cfg.NewProducerID()
		c.mu.Lock()
		m.pending = nil
		if err != nil {
			return nil, errorf(kerr.CoordinatorNotAvailable, "allocating a producer id: %v", err)
		}
		next.prevProducerID, next.producerID, next.epoch = m.producerID, id, 0
		next.lastEpoch = NoProducerEpoch
		if expected != nil {
			next.lastEpoch = m.epoch
		}
		return next, nil
	}
	bumped := m.epoch + 1
	switch {
	case expected == nil:
		next.epoch, next.lastEpoch = bumped, NoProducerEpoch
	case m.epoch == NoProducerEpoch || expected.Epoch == m.epoch:
		next.epoch, next.lastEpoch = bumped, m.epoch
	case expected.Epoch == m.lastEpoch:
		// A retry of a bump whose answer was lost: answer it again.
		next.epoch, next.lastEpoch = m.epoch, m.lastEpoch
	default:
		return nil, errorf(kerr.ProducerFenced, "epoch %d of producer %d is neither its current epoch %d nor its previous one %d", expected.Epoch, m.producerID, m.epoch, m.lastEpoch)
	}
	return next, nil
}

// LoadPartition replays partition p of __transaction_state: the
// transactional ids this coordinator takes over when its broker becomes
// the leader of that partition. Ids of p still in memory are dropped
// first; transactions found prepared are completed, as Load does. It holds
// the coordinator while it reads, so no request sees the partition half
// loaded.
func (c *Coordinator) LoadPartition(p int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unloadLocked(p)
	loaded := map[string]*txnMeta{}
	err := c.cfg.Log.Replay(p, func(key, value []byte) error {
		var k kmsg.TxnMetadataKey
		if err := k.ReadFrom(key); err != nil || k.Version != 0 {
			return nil
		}
		if value == nil {
			delete(loaded, k.TransactionalID)
			return nil
		}
		m, err := decodeValue(k.TransactionalID, p, value)
		if err != nil {
			return err
		}
		loaded[m.id] = m
		return nil
	})
	if err != nil {
		return fmt.Errorf("__transaction_state-%d: %w", p, err)
	}
	var prepared []*txnMeta
	for id, m := range loaded {
		c.mu.txns[id] = m
		if m.state == PrepareCommit || m.state == PrepareAbort {
			prepared = append(prepared, m)
		}
	}
	for _, m := range prepared {
		if m.pending == nil {
			c.completeLocked(m)
		}
	}
	c.log.Info("transactions of a partition loaded", "partition", p, "transactional_ids", len(loaded), "prepared", len(prepared))
	return nil
}

// UnloadPartition drops the transactional ids of partition p of
// __transaction_state: their coordinator is now the partition's new
// leader.
func (c *Coordinator) UnloadPartition(p int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.unloadLocked(p); n > 0 {
		c.log.Info("transactions of a partition unloaded", "partition", p, "transactional_ids", n)
	}
}

func (c *Coordinator) unloadLocked(p int32) int {
	n := 0
	for id, m := range c.mu.txns {
		if m.partition == p {
			delete(c.mu.txns, id)
			n++
		}
	}
	return n
}
