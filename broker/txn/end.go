package txn

import (
	"errors"
	"math"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
)

// markerWritesMax bounds how many partitions' markers are written at once.
const markerWritesMax = 16

// checkProducerLocked applies Kafka's checks of the producer a request
// names: the id must be the transactional id's and the epoch current.
func checkProducerLocked(m *txnMeta, producerID int64, epoch int16) error {
	switch {
	case m.producerID != producerID:
		return errorf(kerr.InvalidProducerIDMapping, "producer %d is not the producer %d of transactional id %q", producerID, m.producerID, m.id)
	case m.epoch != epoch:
		return errorf(kerr.ProducerFenced, "epoch %d of producer %d is not its current epoch %d", epoch, producerID, m.epoch)
	}
	return nil
}

// AddPartitions adds partitions to the producer's transaction, starting
// one if none is ongoing (AddPartitionsToTxn, AddOffsetsToTxn).
func (c *Coordinator) AddPartitions(txnID string, producerID int64, epoch int16, parts []TopicPartition) error {
	if txnID == "" {
		return errorf(kerr.InvalidRequest, "empty transactional id")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.lookupLocked(txnID)
	if err != nil {
		return err
	}
	if err := checkProducerLocked(m, producerID, epoch); err != nil {
		return err
	}
	if m.pending != nil || m.state == PrepareCommit || m.state == PrepareAbort {
		return errorf(kerr.ConcurrentTransactions, "transactional id %q is completing a transaction", txnID)
	}
	if m.state == Ongoing && m.hasAll(parts) {
		return nil
	}
	next := m.clone()
	now := c.cfg.Now()
	if m.state != Ongoing {
		next.start = now
	}
	next.state, next.lastUpdate = Ongoing, now
	for _, tp := range parts {
		next.parts[tp] = struct{}{}
	}
	return c.writeLocked(m, next)
}

func (m *txnMeta) hasAll(parts []TopicPartition) bool {
	for _, tp := range parts {
		if _, ok := m.parts[tp]; !ok {
			return false
		}
	}
	return true
}

// Verify checks that tp is part of the producer's ongoing transaction
// (KIP-890 part 1): the check a partition leader makes before appending a
// transactional batch, so that a batch arriving after its transaction
// ended (a hanging transaction) is refused. The error for a partition not
// in the transaction wraps INVALID_TXN_STATE.
func (c *Coordinator) Verify(txnID string, producerID int64, epoch int16, tp TopicPartition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.lookupLocked(txnID)
	if err != nil {
		return err
	}
	if err := checkProducerLocked(m, producerID, epoch); err != nil {
		return err
	}
	if m.state == PrepareCommit || m.state == PrepareAbort {
		return errorf(kerr.ConcurrentTransactions, "transactional id %q is completing a transaction", txnID)
	}
	if _, ok := m.parts[tp]; !ok || m.state != Ongoing {
		return errorf(kerr.InvalidTxnState, "%s-%d is not part of an ongoing transaction of transactional id %q", tp.Topic, tp.Partition, txnID)
	}
	return nil
}

// EndTxn commits or aborts the producer's ongoing transaction. It returns
// once the decision is durable; the markers and the Complete state are
// written before it returns unless writing them fails, in which case Tick
// retries them and the id answers CONCURRENT_TRANSACTIONS until then.
func (c *Coordinator) EndTxn(txnID string, producerID int64, epoch int16, commit bool) error {
	if txnID == "" {
		return errorf(kerr.InvalidRequest, "empty transactional id")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.lookupLocked(txnID)
	if err != nil {
		return err
	}
	if err := checkProducerLocked(m, producerID, epoch); err != nil {
		return err
	}
	if m.pending != nil {
		return errorf(kerr.ConcurrentTransactions, "transactional id %q has a state change in progress", txnID)
	}
	invalid := func() error {
		return errorf(kerr.InvalidTxnState, "transactional id %q cannot %s in state %s", txnID, verb(commit), m.state)
	}
	switch m.state {
	case Ongoing:
		return c.endLocked(m, commit)
	case CompleteCommit, CompleteAbort:
		// A retry of an EndTxn that completed is answered again.
		if commit == (m.state == CompleteCommit) {
			return nil
		}
		return invalid()
	case PrepareCommit, PrepareAbort:
		if commit == (m.state == PrepareCommit) {
			return errorf(kerr.ConcurrentTransactions, "transactional id %q is completing its transaction", txnID)
		}
		return invalid()
	default:
		return invalid()
	}
}

func verb(commit bool) string {
	if commit {
		return "commit"
	}
	return "abort"
}

// endLocked records the decision for m's ongoing transaction and completes
// it.
func (c *Coordinator) endLocked(m *txnMeta, commit bool) error {
	next := m.clone()
	next.state, next.lastUpdate = PrepareAbort, c.cfg.Now()
	if commit {
		next.state = PrepareCommit
	}
	if err := c.writeLocked(m, next); err != nil {
		return err
	}
	c.completeLocked(m)
	return nil
}

// fenceLocked aborts m's ongoing transaction at a bumped epoch, so that
// the producer that began it is fenced (Kafka's PrepareEpochFence followed
// by PrepareAbort).
func (c *Coordinator) fenceLocked(m *txnMeta) error {
	checkTransition(m.id, m.state, PrepareEpochFence)
	epoch := m.epoch
	if !m.failedFence && epoch < math.MaxInt16 {
		epoch++
	}
	next := m.clone()
	next.state, next.epoch, next.lastEpoch, next.lastUpdate = PrepareAbort, epoch, NoProducerEpoch, c.cfg.Now()
	if err := c.writeLocked(m, next); err != nil {
		// As Kafka does: the fenced epoch holds in memory, so the old
		// producer stays fenced, and the next fence reuses it.
		m.epoch, m.lastEpoch, m.failedFence = epoch, NoProducerEpoch, true
		return err
	}
	m.failedFence = false
	c.log.Info("fenced producer and aborting its transaction", "transactional_id", m.id, "producer_id", m.producerID, "producer_epoch", epoch)
	c.completeLocked(m)
	return nil
}

// completeLocked writes the markers of m's prepared transaction and then
// its Complete state. c.mu is held on entry and on return but released
// while writing. On failure m stays prepared, for Tick to retry.
func (c *Coordinator) completeLocked(m *txnMeta) error {
	commit := m.state == PrepareCommit
	next := m.clone()
	next.state, next.parts, next.lastUpdate = CompleteAbort, map[TopicPartition]struct{}{}, c.cfg.Now()
	if commit {
		next.state = CompleteCommit
	}
	parts, producerID, epoch := m.sortedParts(), m.producerID, m.epoch
	m.pending = next
	c.mu.Unlock()
	err := c.writeMarkers(m.id, parts, producerID, epoch, commit)
	c.mu.Lock()
	m.pending = nil
	if err != nil {
		c.log.Warn("writing transaction markers failed; will retry", "transactional_id", m.id, "producer_id", producerID, "err", err)
		return err
	}
	return c.writeLocked(m, next)
}

// writeMarkers writes the markers to every partition, a bounded number at
// a time, and returns the first failure. Partitions that no longer exist
// are skipped, as are partitions whose producer moved past epoch (the
// marker is stale there).
func (c *Coordinator) writeMarkers(txnID string, parts []TopicPartition, producerID int64, epoch int16, commit bool) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, markerWritesMax)
	)
	for _, tp := range parts {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := c.cfg.WriteMarker(tp, producerID, epoch, commit, c.cfg.CoordinatorEpoch)
			switch {
			case err == nil:
			case errors.Is(err, ErrUnknownPartition):
				c.log.Warn("transaction partition is gone; no marker written", "transactional_id", txnID, "topic", tp.Topic, "partition", tp.Partition)
			case errors.Is(err, kerr.InvalidProducerEpoch):
				c.log.Warn("stale transaction marker not written", "transactional_id", txnID, "topic", tp.Topic, "partition", tp.Partition, "err", err)
			default:
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}
