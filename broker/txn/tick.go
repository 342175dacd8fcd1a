package txn

import (
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Tick aborts the transactions open longer than their timeout at now,
// bumping the epoch so that the producer that left them open is fenced,
// as Kafka's abortTimedOutTransactions does; and it retries completing
// prepared transactions whose markers could not be written.
func (c *Coordinator) Tick(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.mu.loaded {
		return
	}
	var timedOut, prepared []*txnMeta
	for _, m := range c.mu.txns {
		switch {
		case m.pending != nil:
		case m.state == Ongoing && m.start.Add(m.timeout).Before(now):
			timedOut = append(timedOut, m)
		case m.state == PrepareCommit || m.state == PrepareAbort:
			prepared = append(prepared, m)
		}
	}
	// The mutex is released during each write, so every id is checked
	// again before it is changed.
	for _, m := range timedOut {
		if m.pending == nil && m.state == Ongoing {
			c.log.Info("aborting transaction past its timeout", "transactional_id", m.id, "producer_id", m.producerID, "timeout", m.timeout)
			c.fenceLocked(m)
		}
	}
	for _, m := range prepared {
		if m.pending == nil && (m.state == PrepareCommit || m.state == PrepareAbort) {
			c.completeLocked(m)
		}
	}
}

// ExpireIDs removes the transactional ids without a transaction that have
// not been used for transactional.id.expiration.ms at now, writing a
// tombstone for each.
func (c *Coordinator) ExpireIDs(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.mu.loaded {
		return
	}
	var expired []*txnMeta
	for _, m := range c.mu.txns {
		if c.expiredLocked(m, now) {
			expired = append(expired, m)
		}
	}
	for _, m := range expired {
		if !c.expiredLocked(m, now) {
			continue
		}
		next := m.clone()
		next.state = Dead
		if err := c.writeLocked(m, next); err != nil {
			continue
		}
		if c.mu.txns[m.id] == m {
			delete(c.mu.txns, m.id)
		}
		c.log.Info("transactional id expired", "transactional_id", m.id, "producer_id", m.producerID)
	}
}

func (c *Coordinator) expiredLocked(m *txnMeta, now time.Time) bool {
	switch m.state {
	case Empty, CompleteCommit, CompleteAbort:
		return m.pending == nil && !m.lastUpdate.Add(c.cfg.IDExpiration).After(now)
	}
	return false
}

// Describe answers DescribeTransactions for each id.
func (c *Coordinator) Describe(txnIDs []string) []kmsg.DescribeTransactionsResponseTransactionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]kmsg.DescribeTransactionsResponseTransactionState, 0, len(txnIDs))
	for _, id := range txnIDs {
		d := kmsg.NewDescribeTransactionsResponseTransactionState()
		d.TransactionalID = id
		d.StartTimestamp, d.ProducerID, d.ProducerEpoch = -1, NoProducerID, NoProducerEpoch
		m := c.mu.txns[id]
		switch {
		case !c.mu.loaded:
			d.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		case m == nil:
			d.ErrorCode = kerr.TransactionalIDNotFound.Code
		default:
			d.State = m.state.String()
			d.TimeoutMillis = int32(m.timeout / time.Millisecond)
			if !m.start.IsZero() {
				d.StartTimestamp = m.start.UnixMilli()
			}
			d.ProducerID, d.ProducerEpoch = m.producerID, m.epoch
			for _, tp := range m.sortedParts() {
				if n := len(d.Topics); n > 0 && d.Topics[n-1].Topic == tp.Topic {
					d.Topics[n-1].Partitions = append(d.Topics[n-1].Partitions, tp.Partition)
					continue
				}
				t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
				t.Topic, t.Partitions = tp.Topic, []int32{tp.Partition}
				d.Topics = append(d.Topics, t)
			}
		}
		out = append(out, d)
	}
	return out
}

// ListFilter selects transactions for List.
type ListFilter struct {
	// States are state names; unknown names are reported back.
	States []string
	// ProducerIDs keeps only these producer ids.
	ProducerIDs []int64
	// MinDuration, unless negative, keeps only transactions running for
	// longer than it (ListTransactions v1, KIP-994). As in Kafka, an id
	// without a transaction counts as running since the epoch.
	MinDuration time.Duration
	// Pattern, when set, keeps only ids it matches in full
	// (ListTransactions v2, KIP-1152).
	Pattern *regexp.Regexp
}

// List answers ListTransactions: the matching transactional ids sorted by
// id, and the state names of the filter that are not states.
func (c *Coordinator) List(f ListFilter) ([]kmsg.ListTransactionsResponseTransactionState, []string, error) {
	states := map[State]bool{}
	var unknown []string
	for _, name := range f.States {
		s, err := kmsg.ParseTransactionState(name)
		if err != nil || s.String() != name {
			unknown = append(unknown, name)
			continue
		}
		states[s] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.mu.loaded {
		return nil, unknown, errorf(kerr.CoordinatorLoadInProgress, "transaction state is loading")
	}
	now := c.cfg.Now()
	out := []kmsg.ListTransactionsResponseTransactionState{}
	for _, m := range c.mu.txns {
		switch {
		case len(f.States) > 0 && !states[m.state]:
			continue
		case len(f.ProducerIDs) > 0 && !slices.Contains(f.ProducerIDs, m.producerID):
			continue
		case f.MinDuration >= 0 && now.UnixMilli()-startMillis(m) <= f.MinDuration.Milliseconds():
			continue
		case f.Pattern != nil && !f.Pattern.MatchString(m.id):
			continue
		}
		s := kmsg.NewListTransactionsResponseTransactionState()
		s.TransactionalID, s.ProducerID, s.TransactionState = m.id, m.producerID, m.state.String()
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TransactionalID < out[j].TransactionalID })
	return out, unknown, nil
}

// startMillis is the stored start timestamp: -1 without a transaction.
func startMillis(m *txnMeta) int64 {
	if m.start.IsZero() {
		return -1
	}
	return m.start.UnixMilli()
}
