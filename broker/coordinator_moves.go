package broker

// Moving group and transaction coordinators with partition leadership:
// a broker coordinates the groups of the __consumer_offsets partitions and
// the transactional ids of the __transaction_state partitions it leads.
// When it becomes the leader of one of them it loads that partition's
// state from the log; when it stops leading it, it drops the state, and
// the new leader loads it. Loads and unloads run in order on one
// goroutine, outside the metadata reconciliation (loading completes
// prepared transactions, which writes to other partitions).

import (
	"sync"
)

// coordMove is a pending load (or unload) of one coordinator partition.
type coordMove struct {
	topic     string
	partition int32
	load      bool
}

// coordMoves is the queue of pending moves; running is set once the
// coordinators are built and have loaded what the broker led at start.
type coordMoves struct {
	sync.Mutex
	running bool
	queue   []coordMove
	wake    chan struct{}
}

// isCoordinatorTopic reports whether name is the log of a coordinator.
func isCoordinatorTopic(name string) bool { return name == offsetsTopic || name == txnStateTopic }

// noteLeadership queues a load or an unload when this broker starts or
// stops leading a coordinator partition. Before the coordinators run, the
// initial Load of each coordinator covers what the broker leads.
func (b *Broker) noteLeadership(topicName string, p int32, leading bool) {
	if !isCoordinatorTopic(topicName) {
		return
	}
	m := &b.coordMoves
	m.Lock()
	defer m.Unlock()
	if !m.running {
		return
	}
	m.queue = append(m.queue, coordMove{topic: topicName, partition: p, load: leading})
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// startCoordinatorMoves starts applying queued moves. It runs once the
// coordinators have loaded.
func (b *Broker) startCoordinatorMoves() {
	m := &b.coordMoves
	m.Lock()
	m.running = true
	m.wake = make(chan struct{}, 1)
	m.Unlock()
	b.bgWG.Add(1)
	go func() {
		defer b.bgWG.Done()
		for {
			select {
			case <-b.bgCtx.Done():
				return
			case <-m.wake:
			}
			for {
				m.Lock()
				if len(m.queue) == 0 {
					m.Unlock()
					break
				}
				mv := m.queue[0]
				m.queue = m.queue[1:]
				m.Unlock()
				b.applyCoordMove(mv)
			}
		}
	}()
}

// applyCoordMove loads or unloads one partition's coordinator state. A
// load is skipped when the broker no longer leads the partition (a later
// unload is queued then).
func (b *Broker) applyCoordMove(mv coordMove) {
	if mv.load {
		t := b.lookupTopic(mv.topic)
		if t == nil {
			return
		}
		if p := t.partition(mv.partition); p == nil || !p.isLeader() {
			return
		}
	}
	switch {
	case mv.topic == offsetsTopic && mv.load:
		if err := b.groups.LoadPartition(mv.partition); err != nil {
			b.log.Error("loading groups failed", "partition", mv.partition, "err", err)
		}
	case mv.topic == offsetsTopic:
		b.groups.UnloadPartition(mv.partition)
	case mv.load:
		if err := b.txns.coord.LoadPartition(mv.partition); err != nil {
			b.log.Error("loading transactions failed", "partition", mv.partition, "err", err)
		}
	default:
		b.txns.coord.UnloadPartition(mv.partition)
	}
}
