package txn

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// memLog is an in-memory __transaction_state. Append fails while fail is
// set, and blocks on block (if not nil) before writing.
type memLog struct {
	mu    sync.Mutex
	parts map[int32][][2][]byte
	fail  error
	block chan struct{}
}

func newMemLog() *memLog { return &memLog{parts: map[int32][][2][]byte{}} }

func (l *memLog) Append(p int32, key, value []byte) error {
	l.mu.Lock()
	block := l.block
	l.mu.Unlock()
	if block != nil {
		<-block
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	l.parts[p] = append(l.parts[p], [2][]byte{key, value})
	return nil
}

func (l *memLog) Replay(p int32, fn func(key, value []byte) error) error {
	l.mu.Lock()
	recs := append([][2][]byte(nil), l.parts[p]...)
	l.mu.Unlock()
	for _, r := range recs {
		if err := fn(r[0], r[1]); err != nil {
			return err
		}
	}
	return nil
}

// last returns the last record written for an id, decoded; nil for a
// tombstone.
func (l *memLog) last(t *testing.T, id string) *kmsg.TxnMetadataValue {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	recs := l.parts[PartitionFor(id, 50)]
	for i := len(recs) - 1; i >= 0; i-- {
		var k kmsg.TxnMetadataKey
		if err := k.ReadFrom(recs[i][0]); err != nil {
			t.Fatal(err)
		}
		if k.TransactionalID != id {
			continue
		}
		if recs[i][1] == nil {
			return nil
		}
		var v kmsg.TxnMetadataValue
		if err := v.ReadFrom(recs[i][1]); err != nil {
			t.Fatal(err)
		}
		return &v
	}
	t.Fatalf("no record for %q", id)
	return nil
}

// marker is one marker write.
type marker struct {
	tp     TopicPartition
	pid    int64
	epoch  int16
	commit bool
}

// env is a coordinator over fakes with a manual clock.
type env struct {
	t       *testing.T
	log     *memLog
	now     time.Time
	mu      sync.Mutex
	markers []marker
	// markerErr fails marker writes while set.
	markerErr error
	nextPID   int64
	c         *Coordinator
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, log: newMemLog(), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), nextPID: 1000}
	e.c = e.open()
	return e
}

// open builds a coordinator over the env's log and loads it.
func (e *env) open() *Coordinator {
	e.t.Helper()
	c := New(Config{
		Log: e.log,
		WriteMarker: func(tp TopicPartition, pid int64, epoch int16, commit bool, _ int32) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.markerErr != nil {
				return e.markerErr
			}
			if tp.Topic == "gone" {
				return ErrUnknownPartition
			}
			e.markers = append(e.markers, marker{tp, pid, epoch, commit})
			return nil
		},
		NewProducerID: func() (int64, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.nextPID++
			return e.nextPID, nil
		},
		NumPartitions: 50,
		MaxTimeout:    15 * time.Minute,
		IDExpiration:  24 * time.Hour,
		Now: func() time.Time {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.now
		},
	})
	if err := c.Load(); err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) advance(d time.Duration) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
	return e.now
}

func (e *env) takeMarkers() []marker {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.markers
	e.markers = nil
	sort.Slice(out, func(i, j int) bool {
		return out[i].tp.Topic < out[j].tp.Topic || out[i].tp.Topic == out[j].tp.Topic && out[i].tp.Partition < out[j].tp.Partition
	})
	return out
}

func (e *env) init(id string, expected *ProducerIDEpoch) ProducerIDEpoch {
	e.t.Helper()
	pe, err := e.c.InitProducerID(id, time.Minute, expected)
	if err != nil {
		e.t.Fatalf("InitProducerID(%q): %v", id, err)
	}
	return pe
}

func (e *env) state(id string) kmsg.DescribeTransactionsResponseTransactionState {
	return e.c.Describe([]string{id})[0]
}

func wantErr(t *testing.T, err error, want *kerr.Error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %s", err, want.Message)
	}
}

var (
	tpA = TopicPartition{"a", 0}
	tpB = TopicPartition{"b", 1}
)

// TestInitProducerID checks a new transactional id gets a fresh producer id
// at epoch 0, a second InitProducerId bumps the epoch, and both are
// recorded as Empty in Kafka's record format.
func TestInitProducerID(t *testing.T) {
	e := newEnv(t)
	p1 := e.init("t1", nil)
	if p1.Epoch != 0 || p1.ID != 1001 {
		t.Fatalf("first init %+v", p1)
	}
	p2 := e.init("t1", nil)
	if p2.ID != p1.ID || p2.Epoch != 1 {
		t.Fatalf("second init %+v", p2)
	}
	v := e.log.last(t, "t1")
	if v.Version != 0 || v.ProducerID != p2.ID || v.ProducerEpoch != 1 || v.State != Empty || v.Topics != nil || v.TimeoutMillis != 60000 || v.StartTimestamp != -1 {
		t.Fatalf("stored %+v", v)
	}
	if s := e.state("t1"); s.State != "Empty" || s.ProducerID != p1.ID || s.ProducerEpoch != 1 {
		t.Fatalf("described %+v", s)
	}
}

// TestInitProducerIDValidation checks the request checks: empty id,
// timeout bounds, and loading.
func TestInitProducerIDValidation(t *testing.T) {
	e := newEnv(t)
	_, err := e.c.InitProducerID("", time.Minute, nil)
	wantErr(t, err, kerr.InvalidRequest)
	_, err = e.c.InitProducerID("t", 16*time.Minute, nil)
	wantErr(t, err, kerr.InvalidTransactionTimeout)
	_, err = e.c.InitProducerID("t", 0, nil)
	wantErr(t, err, kerr.InvalidTransactionTimeout)

	fresh := New(Config{Log: newMemLog()})
	_, err = fresh.InitProducerID("t", time.Minute, nil)
	wantErr(t, err, kerr.CoordinatorLoadInProgress)
	wantErr(t, fresh.AddPartitions("t", 1, 0, []TopicPartition{tpA}), kerr.CoordinatorLoadInProgress)
	if d := fresh.Describe([]string{"t"}); d[0].ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("describe while loading: %+v", d)
	}
}

// TestCommit walks Empty → Ongoing → PrepareCommit → CompleteCommit: the
// partitions are verified, markers go to each with the producer's epoch,
// and a retried EndTxn is answered again.
func TestCommit(t *testing.T) {
	e := newEnv(t)
	p := e.init("t", nil)
	start := e.advance(time.Second)
	wantErr(t, e.c.AddPartitions("t", p.ID, p.Epoch, []TopicPartition{tpA}), nil)
	e.advance(time.Second)
	wantErr(t, e.c.AddPartitions("t", p.ID, p.Epoch, []TopicPartition{tpA, tpB}), nil)
	v := e.log.last(t, "t")
	if v.State != Ongoing || len(v.Topics) != 2 || v.StartTimestamp != start.UnixMilli() {
		t.Fatalf("stored %+v", v)
	}
	wantErr(t, e.c.Verify("t", p.ID, p.Epoch, tpA), nil)
	wantErr(t, e.c.Verify("t", p.ID, p.Epoch, TopicPartition{"c", 0}), kerr.InvalidTxnState)
	wantErr(t, e.c.Verify("t", p.ID+1, p.Epoch, tpA), kerr.InvalidProducerIDMapping)
	wantErr(t, e.c.Verify("nope", p.ID, p.Epoch, tpA), kerr.InvalidProducerIDMapping)

	wantErr(t, e.c.EndTxn("t", p.ID, p.Epoch, true), nil)
	got := e.takeMarkers()
	want := []marker{{tpA, p.ID, p.Epoch, true}, {tpB, p.ID, p.Epoch, true}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("markers %v, want %v", got, want)
	}
	if v := e.log.last(t, "t"); v.State != CompleteCommit || len(v.Topics) != 0 {
		t.Fatalf("stored %+v", v)
	}
	wantErr(t, e.c.EndTxn("t", p.ID, p.Epoch, true), nil)
	wantErr(t, e.c.EndTxn("t", p.ID, p.Epoch, false), kerr.InvalidTxnState)
	wantErr(t, e.c.Verify("t", p.ID, p.Epoch, tpA), kerr.InvalidTxnState)
	if len(e.takeMarkers()) != 0 {
		t.Fatal("a retried EndTxn wrote markers")
	}
	// The next transaction starts from CompleteCommit.
	wantErr(t, e.c.AddPartitions("t", p.ID, p.Epoch, []TopicPartition{tpB}), nil)
	if s := e.state("t"); s.State != "Ongoing" || len(s.Topics) != 1 || s.Topics[0].Topic != "b" {
		t.Fatalf("described %+v", s)
	}
}

// TestAbortAndInvalidEnds checks abort markers, EndTxn without a
// transaction, and that a partition whose topic is gone is skipped.
func TestAbortAndInvalidEnds(t *testing.T) {
	e := newEnv(t)
	p := e.init("t", nil)
	wantErr(t, e.c.EndTxn("t", p.ID, p.Epoch, true), kerr.InvalidTxnState)
	wantErr(t, e.c.EndTxn("t", p.ID, p.Epoch, false), kerr.InvalidTxnState)
	wantErr(t, e.c.EndTxn("t", p.ID+1, p.Epoch, false), kerr.InvalidProducerIDMapping)
	wantErr(t, e.c.EndTxn("", p.ID, p.Epoch, false), kerr.InvalidRequest)
	wantErr(t, e.c.AddPartitions("t", p.ID, p.Epoch, []TopicPartition{tpA, {"gone", 0}}), nil)
	wantErr(t, e.c.EndTxn("t", p.ID, p.Epoch, false), nil)
	if got := e.takeMarkers(); len(got) != 1 || got[0] != (marker{tpA, p.ID, p.Epoch, false}) {
		t.Fatalf("markers %v", got)
	}
	if s := e.state("t"); s.State != "CompleteAbort" {
		t.Fatalf("state %s", s.State)
	}
	wantErr(t, e.c.EndTxn("t", p.ID, p.Epoch, false), nil)
	wantErr(t, e.c.EndTxn("t", p.ID, p.Epoch, true), kerr.InvalidTxnState)
}

// TestFencing checks a second InitProducerId for an id with an ongoing
// transaction aborts it at a bumped epoch (markers written) and fences the
// old producer from every request.
func TestFencing(t *testing.T) {
	e := newEnv(t)
	old := e.init("t", nil)
	wantErr(t, e.c.AddPartitions("t", old.ID, old.Epoch, []TopicPartition{tpA}), nil)
	cur := e.init("t", nil)
	if cur.ID != old.ID || cur.Epoch != old.Epoch+2 {
		t.Fatalf("new producer %+v after %+v", cur, old)
	}
	if got := e.takeMarkers(); len(got) != 1 || got[0] != (marker{tpA, old.ID, old.Epoch + 1, false}) {
		t.Fatalf("markers %v", got)
	}
	wantErr(t, e.c.AddPartitions("t", old.ID, old.Epoch, []TopicPartition{tpA}), kerr.ProducerFenced)
	wantErr(t, e.c.EndTxn("t", old.ID, old.Epoch, true), kerr.ProducerFenced)
	wantErr(t, e.c.Verify("t", old.ID, old.Epoch, tpA), kerr.ProducerFenced)
	wantErr(t, e.c.AddPartitions("t", cur.ID, cur.Epoch, []TopicPartition{tpA}), nil)
	if s := e.state("t"); s.State != "Ongoing" || s.ProducerEpoch != cur.Epoch {
		t.Fatalf("described %+v", s)
	}
}

// TestInitProducerIDRecovery checks KIP-360: a producer naming its current
// id and epoch gets a bump, a retry of that bump is answered again, and
// any other epoch or id is fenced.
func TestInitProducerIDRecovery(t *testing.T) {
	e := newEnv(t)
	p := e.init("t", nil)
	p1 := e.init("t", &p)
	if p1.ID != p.ID || p1.Epoch != p.Epoch+1 {
		t.Fatalf("recovered %+v from %+v", p1, p)
	}
	if again := e.init("t", &p); again != p1 {
		t.Fatalf("retry gave %+v, want %+v", again, p1)
	}
	_, err := e.c.InitProducerID("t", time.Minute, &ProducerIDEpoch{ID: p.ID, Epoch: 7})
	wantErr(t, err, kerr.ProducerFenced)
	_, err = e.c.InitProducerID("t", time.Minute, &ProducerIDEpoch{ID: 5, Epoch: 0})
	wantErr(t, err, kerr.ProducerFenced)
	// A new producer (no expected epoch) resets the retry window.
	p3 := e.init("t", nil)
	_, err = e.c.InitProducerID("t", time.Minute, &p1)
	wantErr(t, err, kerr.ProducerFenced)
	if p4 := e.init("t", &p3); p4.Epoch != p3.Epoch+1 {
		t.Fatalf("recovered %+v from %+v", p4, p3)
	}
}

// storeValue writes a state record for id straight into the log.
func storeValue(l *memLog, id string, v kmsg.TxnMetadataValue) {
	k := kmsg.TxnMetadataKey{TransactionalID: id}
	l.Append(PartitionFor(id, 50), k.AppendTo(nil), v.AppendTo(nil))
}

// TestEpochExhaustion checks that once the epochs of a producer id run out
// the next InitProducerId moves the id to a new producer id at epoch 0,
// and that the old producer retrying with its exhausted epoch is let in.
func TestEpochExhaustion(t *testing.T) {
	e := newEnv(t)
	v := kmsg.NewTxnMetadataValue()
	v.ProducerID, v.ProducerEpoch, v.TimeoutMillis, v.State = 77, math.MaxInt16-1, 60000, CompleteCommit
	v.StartTimestamp, v.LastUpdateTimestamp = -1, e.now.UnixMilli()
	storeValue(e.log, "t", v)
	e.c = e.open()
	old := ProducerIDEpoch{ID: 77, Epoch: math.MaxInt16 - 1}
	p := e.init("t", &old)
	if p.ID == 77 || p.Epoch != 0 {
		t.Fatalf("after exhaustion %+v", p)
	}
	// A retry of that request, naming the previous id and its last
	// epoch, is valid and answered with the current producer.
	if again := e.init("t", &old); again.ID != p.ID || again.Epoch != 0 {
		t.Fatalf("retry %+v, want %+v", again, p)
	}
}

// TestTimeout checks that Tick aborts a transaction open past its timeout,
// bumping the epoch so the producer is fenced, and leaves younger ones.
func TestTimeout(t *testing.T) {
	e := newEnv(t)
	p, err := e.c.InitProducerID("t", 10*time.Second, nil)
	wantErr(t, err, nil)
	wantErr(t, e.c.AddPartitions("t", p.ID, p.Epoch, []TopicPartition{tpA}), nil)
	e.c.Tick(e.advance(10 * time.Second))
	if s := e.state("t"); s.State != "Ongoing" {
		t.Fatalf("aborted at its timeout: %s", s.State)
	}
	e.c.Tick(e.advance(time.Millisecond))
	if got := e.takeMarkers(); len(got) != 1 || got[0] != (marker{tpA, p.ID, p.Epoch + 1, false}) {
		t.Fatalf("markers %v", got)
	}
	if s := e.state("t"); s.State != "CompleteAbort" || s.ProducerEpoch != p.Epoch+1 {
		t.Fatalf("described %+v", s)
	}
	wantErr(t, e.c.EndTxn("t", p.ID, p.Epoch, true), kerr.ProducerFenced)
	wantErr(t, e.c.AddPartitions("t", p.ID, p.Epoch, []TopicPartition{tpA}), kerr.ProducerFenced)
	if p2 := e.init("t", nil); p2.Epoch != p.Epoch+2 {
		t.Fatalf("next producer %+v", p2)
	}
}

// TestExpireIDs checks an idle id is removed with a tombstone after
// transactional.id.expiration.ms, while an ongoing one is kept.
func TestExpireIDs(t *testing.T) {
	e := newEnv(t)
	p := e.init("idle", nil)
	q := e.init("busy", nil)
	wantErr(t, e.c.AddPartitions("busy", q.ID, q.Epoch, []TopicPartition{tpA}), nil)
	e.c.ExpireIDs(e.advance(24*time.Hour - time.Millisecond))
	if s := e.state("idle"); s.ErrorCode != 0 {
		t.Fatalf("expired early: %+v", s)
	}
	e.c.ExpireIDs(e.advance(time.Millisecond))
	if s := e.state("idle"); s.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("not expired: %+v", s)
	}
	if e.log.last(t, "idle") != nil {
		t.Fatal("no tombstone")
	}
	if s := e.state("busy"); s.State != "Ongoing" {
		t.Fatalf("busy id: %+v", s)
	}
	wantErr(t, e.c.AddPartitions("idle", p.ID, p.Epoch, []TopicPartition{tpA}), kerr.InvalidProducerIDMapping)
	if p2 := e.init("idle", nil); p2.ID == p.ID || p2.Epoch != 0 {
		t.Fatalf("re-created id %+v", p2)
	}
	// After a reload the tombstone keeps the id away (and the second
	// record brings it back).
	e.c = e.open()
	if s := e.state("idle"); s.ErrorCode != 0 || s.ProducerEpoch != 0 {
		t.Fatalf("after reload %+v", s)
	}
}

// TestReload checks a coordinator loaded from the log describes every id
// as the one that wrote it did.
func TestReload(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		id := fmt.Sprintf("t%d", i)
		p := e.init(id, nil)
		if i%2 == 0 {
			wantErr(t, e.c.AddPartitions(id, p.ID, p.Epoch, []TopicPartition{tpA, tpB}), nil)
		}
		if i == 4 {
			wantErr(t, e.c.EndTxn(id, p.ID, p.Epoch, true), nil)
		}
	}
	ids := []string{"t0", "t1", "t2", "t3", "t4"}
	before := fmt.Sprintf("%+v", e.c.Describe(ids))
	e.c = e.open()
	if after := fmt.Sprintf("%+v", e.c.Describe(ids)); after != before {
		t.Fatalf("after reload\n%s\nwant\n%s", after, before)
	}
}

// TestMarkerFailure checks that when markers cannot be written the
// decision stands: EndTxn succeeds, the id stays prepared and answers
// CONCURRENT_TRANSACTIONS, and Tick — or a reload — completes it.
func TestMarkerFailure(t *testing.T) {
	e := newEnv(t)
	p := e.init("t", nil)
	wantErr(t, e.c.AddPartitions("t", p.ID, p.Epoch, []TopicPartition{tpA}), nil)
	e.markerErr = errors.New("disk on fire")
	wantErr(t, e.c.EndTxn("t", p.ID, p.Epoch, true), nil)
	if s := e.state("t"); s.State != "PrepareCommit" {
		t.Fatalf("state %s", s.State)
	}
	wantErr(t, e.c.AddPartitions("t", p.ID, p.Epoch, []TopicPartition{tpA}), kerr.ConcurrentTransactions)
	wantErr(t, e.c.EndTxn("t", p.ID, p.Epoch, true), kerr.ConcurrentTransactions)
	wantErr(t, e.c.EndTxn("t", p.ID, p.Epoch, false), kerr.InvalidTxnState)
	_, err := e.c.InitProducerID("t", time.Minute, nil)
	wantErr(t, err, kerr.ConcurrentTransactions)
	e.c.Tick(e.advance(time.Second))
	if s := e.state("t"); s.State != "PrepareCommit" {
		t.Fatalf("state %s", s.State)
	}

	// A reload finds it prepared and completes it.
	e.markerErr = nil
	e.c = e.open()
	if got := e.takeMarkers(); len(got) != 1 || got[0] != (marker{tpA, p.ID, p.Epoch, true}) {
		t.Fatalf("markers %v", got)
	}
	if s := e.state("t"); s.State != "CompleteCommit" {
		t.Fatalf("state %s", s.State)
	}

	// And Tick completes one whose markers failed.
	wantErr(t, e.c.AddPartitions("t", p.ID, p.Epoch, []TopicPartition{tpB}), nil)
	e.markerErr = errors.New("still on fire")
	wantErr(t, e.c.EndTxn("t", p.ID, p.Epoch, false), nil)
	e.markerErr = nil
	e.c.Tick(e.advance(time.Second))
	if s := e.state("t"); s.State != "CompleteAbort" {
		t.Fatalf("state %s", s.State)
	}
	if got := e.takeMarkers(); len(got) != 1 || got[0] != (marker{tpB, p.ID, p.Epoch, false}) {
		t.Fatalf("markers %v", got)
	}
}

// TestLogFailure checks a failed state write changes nothing: the request
// gets NOT_COORDINATOR, and a failed fence still keeps the old producer
// out.
func TestLogFailure(t *testing.T) {
	e := newEnv(t)
	p := e.init("t", nil)
	e.log.fail = errors.New("no space")
	wantErr(t, e.c.AddPartitions("t", p.ID, p.Epoch, []TopicPartition{tpA}), kerr.NotCoordinator)
	if s := e.state("t"); s.State != "Empty" {
		t.Fatalf("state %s", s.State)
	}
	e.log.fail = nil
	wantErr(t, e.c.AddPartitions("t", p.ID, p.Epoch, []TopicPartition{tpA}), nil)
	e.log.fail = errors.New("no space")
	_, err := e.c.InitProducerID("t", time.Minute, nil)
	wantErr(t, err, kerr.NotCoordinator)
	wantErr(t, e.c.AddPartitions("t", p.ID, p.Epoch, []TopicPartition{tpB}), kerr.ProducerFenced)
	e.log.fail = nil
	// The next fence reuses the epoch the failed one chose.
	p2 := e.init("t", nil)
	if got := e.takeMarkers(); len(got) != 1 || got[0].epoch != p.Epoch+1 {
		t.Fatalf("markers %v", got)
	}
	if p2.Epoch != p.Epoch+2 {
		t.Fatalf("new producer %+v", p2)
	}
}

// TestConcurrentTransition checks that while one change of an id is being
// written, other requests for it get CONCURRENT_TRANSACTIONS, and other ids
// are served.
func TestConcurrentTransition(t *testing.T) {
	e := newEnv(t)
	p := e.init("t", nil)
	q := e.init("u", nil)
	block := make(chan struct{})
	e.log.mu.Lock()
	e.log.block = block
	e.log.mu.Unlock()
	done := make(chan error)
	go func() { done <- e.c.AddPartitions("t", p.ID, p.Epoch, []TopicPartition{tpA}) }()
	// Wait until the write is pending, by polling the state under the
	// coordinator's lock (no sleep: the check is the condition).
	for {
		e.c.mu.Lock()
		pending := e.c.mu.txns["t"].pending != nil
		e.c.mu.Unlock()
		if pending {
			break
		}
	}
	wantErr(t, e.c.EndTxn("t", p.ID, p.Epoch, true), kerr.ConcurrentTransactions)
	_, err := e.c.InitProducerID("t", time.Minute, nil)
	wantErr(t, err, kerr.ConcurrentTransactions)
	if s := e.state("u"); s.ProducerID != q.ID {
		t.Fatalf("other id %+v", s)
	}
	e.log.mu.Lock()
	e.log.block = nil
	e.log.mu.Unlock()
	close(block)
	wantErr(t, <-done, nil)
	wantErr(t, e.c.Verify("t", p.ID, p.Epoch, tpA), nil)
}

// TestList checks the ListTransactions filters.
func TestList(t *testing.T) {
	e := newEnv(t)
	a := e.init("alpha", nil)
	e.init("beta", nil)
	wantErr(t, e.c.AddPartitions("alpha", a.ID, a.Epoch, []TopicPartition{tpA}), nil)
	e.advance(time.Minute)
	names := func(f ListFilter) string {
		t.Helper()
		if f.MinDuration == 0 {
			f.MinDuration = -1
		}
		out, unknown, err := e.c.List(f)
		wantErr(t, err, nil)
		s := ""
		for _, x := range out {
			s += x.TransactionalID + ":" + x.TransactionState + " "
		}
		return s + fmt.Sprint(unknown)
	}
	for _, c := range []struct {
		f    ListFilter
		want string
	}{
		{ListFilter{}, "alpha:Ongoing beta:Empty []"},
		{ListFilter{States: []string{"Ongoing", "Bogus"}}, "alpha:Ongoing [Bogus]"},
		{ListFilter{ProducerIDs: []int64{a.ID}}, "alpha:Ongoing []"},
		{ListFilter{MinDuration: 30 * time.Second}, "alpha:Ongoing beta:Empty []"},
		{ListFilter{MinDuration: 2 * time.Minute}, "beta:Empty []"},
		{ListFilter{Pattern: regexp.MustCompile(`^(?:b.*)$`)}, "beta:Empty []"},
	} {
		if got := names(c.f); got != c.want {
			t.Errorf("%+v: %q, want %q", c.f, got, c.want)
		}
	}
}

// TestPartitionFor checks Java's String.hashCode placement.
func TestPartitionFor(t *testing.T) {
	for _, c := range []struct {
		id   string
		want int32
	}{
		{"", 0},
		{"hello", 99162322 % 50},
		{"polygenelubricants", 0}, // hashCode is MinInt32; Utils.abs maps it to 0
	} {
		if got := PartitionFor(c.id, 50); got != c.want {
			t.Errorf("PartitionFor(%q) = %d, want %d", c.id, got, c.want)
		}
	}
}
