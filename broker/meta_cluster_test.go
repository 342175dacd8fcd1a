package broker

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

func registerRec(id int32, incarnation, rack string) MetadataRecord {
	return MetadataRecord{Type: RegisterBrokerRecord, Broker: &BrokerRegistration{
		ID: id, Incarnation: incarnation, Rack: rack,
		Endpoints: []BrokerEndpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9000 + id, SecurityProtocol: "PLAINTEXT"}},
	}}
}

func partitionRec(id TopicID, p int32, st PartitionState) MetadataRecord {
	return MetadataRecord{Type: PartitionRecordType, Partition: &PartitionRecord{TopicID: id, Partition: p, State: st}}
}

func casRec(id TopicID, p int32, st PartitionState, expected int32) MetadataRecord {
	r := partitionRec(id, p, st)
	r.Partition.ExpectedPartitionEpoch = ptr(expected)
	return r
}

// mustApply applies recs to img as one batch.
func mustApply(t testing.TB, img *MetadataImage, recs ...MetadataRecord) *MetadataImage {
	t.Helper()
	next, err := img.applyBatch(recs)
	if err != nil {
		t.Fatal(err)
	}
	return next
}

// clusterImage has three brokers and topic "t" with two partitions of
// three replicas.
func clusterImage(t testing.TB) (*MetadataImage, TopicID) {
	t.Helper()
	id := NewTopicID()
	img := newImage()
	img.ClusterID = "c"
	img = mustApply(t, img.seal(),
		registerRec(1, "i1", "a"), registerRec(2, "i2", "b"), registerRec(3, "i3", "a"),
		MetadataRecord{Type: TopicRecord, Topic: "t", ID: id, Partitions: 2, ReplicationFactor: 3},
		partitionRec(id, 0, PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1}),
		partitionRec(id, 1, PartitionState{Replicas: []int32{2, 3, 1}, ISR: []int32{2, 3, 1}, Leader: 2}),
	)
	return img, id
}

// TestPartitionRecordEpochs checks how applying partition records moves
// the epochs: creation takes them as given, a change bumps the partition
// epoch, a leader change (or BumpLeaderEpoch) the leader epoch too.
func TestPartitionRecordEpochs(t *testing.T) {
	img, id := clusterImage(t)
	st, _ := img.Topics["t"].Partition(0)
	if st.LeaderEpoch != 0 || st.PartitionEpoch != 0 || st.Leader != 1 {
		t.Fatalf("new partition: %+v", st)
	}
	// ISR shrink by the leader: partition epoch only.
	img = mustApply(t, img, casRec(id, 0, PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 99, PartitionEpoch: 99}, 0))
	st, _ = img.Topics["t"].Partition(0)
	if st.LeaderEpoch != 0 || st.PartitionEpoch != 1 || !slices.Equal(st.ISR, []int32{1, 2}) {
		t.Fatalf("after ISR shrink: %+v", st)
	}
	// Election of 2: both epochs.
	img = mustApply(t, img, casRec(id, 0, PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{2}, Leader: 2}, 1))
	st, _ = img.Topics["t"].Partition(0)
	if st.Leader != 2 || st.LeaderEpoch != 1 || st.PartitionEpoch != 2 {
		t.Fatalf("after election: %+v", st)
	}
	// Same leader, bump requested.
	r := partitionRec(id, 0, PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{2}, Leader: 2})
	r.Partition.BumpLeaderEpoch = true
	img = mustApply(t, img, r)
	st, _ = img.Topics["t"].Partition(0)
	if st.LeaderEpoch != 2 || st.PartitionEpoch != 3 {
		t.Fatalf("after bump: %+v", st)
	}
	// The other partition never changed.
	if st, _ := img.Topics["t"].Partition(1); st.PartitionEpoch != 0 || st.Leader != 2 {
		t.Fatalf("partition 1: %+v", st)
	}
}

// TestPartitionRecordCompareAndSet rejects a stale compare-and-set with
// ErrPartitionEpochMismatch, applying nothing of its batch, and leaves the
// image it was applied to untouched.
func TestPartitionRecordCompareAndSet(t *testing.T) {
	img, id := clusterImage(t)
	img = mustApply(t, img, casRec(id, 0, PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1}, 0))
	before := img.records()
	// A valid config change, then a CAS on the epoch just superseded.
	_, err := img.applyBatch([]MetadataRecord{
		{Type: ConfigRecord, ConfigResource: "topic", ID: id, Configs: map[string]string{"retention.ms": "1"}},
		casRec(id, 1, PartitionState{Replicas: []int32{2, 3, 1}, ISR: []int32{2}, Leader: 2}, 0),
		casRec(id, 0, PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: 1}, 0),
	})
	if !errors.Is(err, ErrPartitionEpochMismatch) {
		t.Fatalf("stale CAS: %v, want ErrPartitionEpochMismatch", err)
	}
	if !reflect.DeepEqual(img.records(), before) {
		t.Fatal("a rejected batch changed the image it was applied to")
	}
	if len(img.Topics["t"].Configs) != 0 {
		t.Fatalf("config of a rejected batch applied: %v", img.Topics["t"].Configs)
	}
	// A CAS on a partition without state is rejected too.
	other := NewTopicID()
	img2 := mustApply(t, img, MetadataRecord{Type: TopicRecord, Topic: "u", ID: other, Partitions: 1})
	if _, err := img2.applyBatch([]MetadataRecord{casRec(other, 0, PartitionState{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}, 0)}); !errors.Is(err, ErrPartitionEpochMismatch) {
		t.Fatalf("CAS on a stateless partition: %v", err)
	}
	// The right epoch applies.
	img = mustApply(t, img, casRec(id, 0, PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: 1}, 1))
	if st, _ := img.Topics["t"].Partition(0); st.PartitionEpoch != 2 || !slices.Equal(st.ISR, []int32{1}) {
		t.Fatalf("after CAS: %+v", st)
	}
}

// TestPartitionRecordValidation rejects states that break the invariants.
func TestPartitionRecordValidation(t *testing.T) {
	img, id := clusterImage(t)
	cases := map[string]MetadataRecord{
		"no replicas":            partitionRec(id, 0, PartitionState{Leader: -1}),
		"duplicate replica":      partitionRec(id, 0, PartitionState{Replicas: []int32{1, 1}, ISR: []int32{1}, Leader: 1}),
		"negative replica":       partitionRec(id, 0, PartitionState{Replicas: []int32{-2}, ISR: []int32{}, Leader: -1}),
		"isr outside replicas":   partitionRec(id, 0, PartitionState{Replicas: []int32{1, 2}, ISR: []int32{1, 3}, Leader: 1}),
		"leader outside isr":     partitionRec(id, 0, PartitionState{Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: 1}),
		"adding not a replica":   partitionRec(id, 0, PartitionState{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, AddingReplicas: []int32{2}}),
		"partition out of range": partitionRec(id, 2, PartitionState{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}),
		"unknown topic":          partitionRec(NewTopicID(), 0, PartitionState{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}),
		"no payload":             {Type: PartitionRecordType},
	}
	for name, r := range cases {
		if _, err := img.applyBatch([]MetadataRecord{r}); err == nil {
			t.Errorf("%s: applied", name)
		}
	}
	// A leaderless partition with an empty ISR is valid.
	img = mustApply(t, img, partitionRec(id, 0, PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{}, Leader: NoLeader}))
	if st, _ := img.Topics["t"].Partition(0); st.Leader != NoLeader || st.LeaderEpoch != 1 {
		t.Fatalf("leaderless: %+v", st)
	}
}

// TestBrokerRecords registers, fences, unfences and unregisters brokers,
// and rejects records about an older incarnation.
func TestBrokerRecords(t *testing.T) {
	img, _ := clusterImage(t)
	if ids := img.BrokerIDs(); !slices.Equal(ids, []int32{1, 2, 3}) {
		t.Fatalf("brokers %v", ids)
	}
	fence := func(id int32, incarnation string, fenced, shutdown bool) MetadataRecord {
		return MetadataRecord{Type: BrokerStateRecord, Broker: &BrokerRegistration{ID: id, Incarnation: incarnation, Fenced: fenced, ControlledShutdown: shutdown}}
	}
	img = mustApply(t, img, fence(2, "i2", true, true))
	if r, _ := img.Broker(2); !r.Fenced || !r.ControlledShutdown || r.Rack != "b" || len(r.Endpoints) != 1 {
		t.Fatalf("fenced broker 2: %+v", r)
	}
	// Broker 2 restarts: a new incarnation replaces the registration,
	// unfenced; a late fence from the old run is refused.
	img = mustApply(t, img, registerRec(2, "i2b", "b"))
	if r, _ := img.Broker(2); r.Fenced || r.Incarnation != "i2b" {
		t.Fatalf("re-registered broker 2: %+v", r)
	}
	if _, err := img.applyBatch([]MetadataRecord{fence(2, "i2", true, true)}); !errors.Is(err, ErrBrokerIncarnationMismatch) {
		t.Fatalf("fence of an old incarnation: %v", err)
	}
	// Without an incarnation the record applies to the current one.
	img = mustApply(t, img, fence(2, "", true, false))
	if r, _ := img.Broker(2); !r.Fenced || r.ControlledShutdown {
		t.Fatalf("fenced without incarnation: %+v", r)
	}
	img = mustApply(t, img, MetadataRecord{Type: UnregisterBrokerRecord, Broker: &BrokerRegistration{ID: 3}})
	if _, ok := img.Broker(3); ok {
		t.Fatal("broker 3 still registered")
	}
	for name, r := range map[string]MetadataRecord{
		"unregister unknown": {Type: UnregisterBrokerRecord, Broker: &BrokerRegistration{ID: 9}},
		"state of unknown":   fence(9, "", true, false),
		"no incarnation":     {Type: RegisterBrokerRecord, Broker: &BrokerRegistration{ID: 4}},
		"negative id":        registerRec(-1, "x", ""),
		"duplicate listener": {Type: RegisterBrokerRecord, Broker: &BrokerRegistration{ID: 4, Incarnation: "x", Endpoints: []BrokerEndpoint{{Name: "A", Port: 1}, {Name: "A", Port: 2}}}},
		"no payload":         {Type: RegisterBrokerRecord},
	} {
		if _, err := img.applyBatch([]MetadataRecord{r}); err == nil {
			t.Errorf("%s: applied", name)
		}
	}
}

// TestMetadataSnapshotRoundTrip checks that the records of an image (the
// snapshot written when the log is compacted) rebuild it exactly,
// brokers and partition states with their epochs included.
func TestMetadataSnapshotRoundTrip(t *testing.T) {
	img, id := clusterImage(t)
	img = mustApply(t, img,
		casRec(id, 0, PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Leader: 2}, 0),
		MetadataRecord{Type: BrokerStateRecord, Broker: &BrokerRegistration{ID: 1, Fenced: true, ControlledShutdown: true}},
		MetadataRecord{Type: PartitionsRecord, ID: id, Partitions: 3},
		partitionRec(id, 2, PartitionState{Replicas: []int32{3, 1, 2}, ISR: []int32{3, 2}, Leader: 3, AddingReplicas: []int32{2}}),
		MetadataRecord{Type: ConfigRecord, ConfigResource: "broker", Name: "", Configs: map[string]string{"log.retention.ms": "5"}},
		MetadataRecord{Type: ProducerIDsRecord, NextProducerID: 1000},
		MetadataRecord{Type: ACLRecordType, ACL: &ACLRecord{ID: "a1", ResourceType: 2, ResourceName: "t", PatternType: 3, Principal: "User:x", Host: "*", Operation: 3, Permission: 3}},
	)
	dir := t.TempDir()
	path := filepath.Join(dir, "metadata.log")
	if err := writeMetadataSnapshot(path, img); err != nil {
		t.Fatal(err)
	}
	back, n, _, err := replayMetadata(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(img.records()); n != want {
		t.Fatalf("replayed %d records, want %d", n, want)
	}
	back.seal()
	if !reflect.DeepEqual(back.records(), img.records()) {
		t.Fatalf("snapshot round trip differs:\n got %+v\nwant %+v", back.records(), img.records())
	}
	st, _ := back.Topics["t"].Partition(0)
	if st.Leader != 2 || st.LeaderEpoch != 1 || st.PartitionEpoch != 1 {
		t.Fatalf("partition 0 after round trip: %+v", st)
	}
	if r, _ := back.Broker(1); !r.Fenced || !r.ControlledShutdown || r.Incarnation != "i1" {
		t.Fatalf("broker 1 after round trip: %+v", r)
	}
	if st, _ := back.Topics["t"].Partition(2); !slices.Equal(st.AddingReplicas, []int32{2}) {
		t.Fatalf("partition 2 after round trip: %+v", st)
	}
}

// TestFileMetadataStoreBatches checks the single-node store: a batch is
// one line of the log, a rejected batch writes nothing, a torn batch line
// is dropped whole on reopen, and every applied batch signals Updates.
func TestFileMetadataStoreBatches(t *testing.T) {
	dir := t.TempDir()
	s, err := openFileMetadataStore(dir, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.ControllerID() != 7 {
		t.Fatalf("controller %d", s.ControllerID())
	}
	select {
	case <-s.Updates():
		t.Fatal("update signalled before any Apply")
	default:
	}
	ctx := testCtx(t)
	id := NewTopicID()
	create := []MetadataRecord{
		{Type: TopicRecord, Topic: "t", ID: id, Partitions: 2},
		partitionRec(id, 0, PartitionState{Replicas: []int32{7}, ISR: []int32{7}, Leader: 7}),
		partitionRec(id, 1, PartitionState{Replicas: []int32{7}, ISR: []int32{7}, Leader: 7}),
	}
	if err := s.Apply(ctx, create...); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Updates():
	default:
		t.Fatal("no update signalled after Apply")
	}
	logPath := filepath.Join(dir, "metadata.log")
	size := func() int64 {
		fi, err := os.Stat(logPath)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	err = s.Apply(ctx, MetadataRecord{Type: ConfigRecord, ConfigResource: "topic", ID: id, Configs: map[string]string{"retention.ms": "1"}},
		casRec(id, 0, PartitionState{Replicas: []int32{7}, ISR: []int32{7}, Leader: 7}, 5))
	if !errors.Is(err, ErrPartitionEpochMismatch) {
		t.Fatalf("stale CAS: %v", err)
	}
	if size() != before {
		t.Fatal("a rejected batch was written")
	}
	if len(s.Image().Topics["t"].Configs) != 0 {
		t.Fatal("a rejected batch changed the image")
	}
	// A two-record batch is one line.
	if err := s.Apply(ctx, casRec(id, 0, PartitionState{Replicas: []int32{7}, ISR: []int32{7}, Leader: 7}, 0),
		MetadataRecord{Type: ConfigRecord, ConfigResource: "topic", ID: id, Configs: map[string]string{"retention.ms": "2"}}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last[9:], "[") || !strings.Contains(last, `"retention.ms":"2"`) {
		t.Fatalf("batch line %q", last)
	}
	s.Close()
	// Tear the last line (the batch) in the middle: it goes whole.
	if err := os.WriteFile(logPath, data[:len(data)-len(last)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = openFileMetadataStore(dir, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ti := s.Image().Topics["t"]
	if st, _ := ti.Partition(0); st.PartitionEpoch != 0 || len(ti.Configs) != 0 {
		t.Fatalf("torn batch partly applied: partition %+v configs %v", st, ti.Configs)
	}
	if st, ok := ti.Partition(1); !ok || st.Leader != 7 {
		t.Fatalf("first batch lost: %+v", st)
	}
}

// TestStatelessPartitionsGetLocalState starts a broker on a metadata log
// written before partition states were recorded: its partitions get this
// node as only replica and leader, and the broker serves them.
func TestStatelessPartitionsGetLocalState(t *testing.T) {
	dir := t.TempDir()
	s, err := openFileMetadataStore(filepath.Join(dir, "__cluster_metadata"), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := NewTopicID()
	if err := s.Apply(testCtx(t), MetadataRecord{Type: TopicRecord, Topic: "old", ID: id, Partitions: 2, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	tb := startBrokerIn(t, dir, nil)
	ti := tb.meta.Image().Topics["old"]
	for i := int32(0); i < 2; i++ {
		st, ok := ti.Partition(i)
		if !ok || st.Leader != 1 || !slices.Equal(st.Replicas, []int32{1}) || !slices.Equal(st.ISR, []int32{1}) || st.LeaderEpoch != 0 {
			t.Fatalf("partition %d: %+v %v", i, st, ok)
		}
		if p := tb.lookupTopic("old").partition(i); p == nil || !p.isLeader() {
			t.Fatalf("partition %d not led locally", i)
		}
	}
	produceN(t, tb, "old", 10)
}

// FuzzMetadataLog replays arbitrary metadata logs: replay must never
// panic, and an image it builds must survive a snapshot round trip and
// have every partition state within its invariants.
func FuzzMetadataLog(f *testing.F) {
	img, id := clusterImage(f)
	var seed []byte
	for _, r := range img.records() {
		seed = appendMetadataLine(seed, r)
	}
	f.Add(seed)
	batch := appendMetadataLine(nil,
		casRec(id, 0, PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{2}, Leader: 2}, 0),
		MetadataRecord{Type: BrokerStateRecord, Broker: &BrokerRegistration{ID: 3, Fenced: true}},
		MetadataRecord{Type: PartitionsRecord, ID: id, Partitions: 3},
	)
	f.Add(append(append([]byte(nil), seed...), batch...))
	f.Add(append(append([]byte(nil), seed...), batch[:len(batch)/2]...))
	f.Add(appendMetadataLine(nil, MetadataRecord{Type: PartitionRecordType, Partition: &PartitionRecord{Partition: -1}}))
	f.Add([]byte("00000000 []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, _, _, err := replayMetadataData(data)
		if err != nil {
			return
		}
		img.seal()
		for _, ti := range img.Topics {
			for i, st := range ti.Assignment {
				if err := st.validate(); err != nil || i < 0 || i >= ti.Partitions {
					t.Fatalf("replayed state of %s-%d (of %d) breaks an invariant: %v", ti.Name, i, ti.Partitions, err)
				}
			}
		}
		back, _, _, err := replayMetadataData(snapshotData(img))
		if err != nil {
			t.Fatalf("snapshot does not replay: %v", err)
		}
		if !reflect.DeepEqual(back.seal().records(), img.records()) {
			t.Fatal("snapshot round trip differs")
		}
	})
}
