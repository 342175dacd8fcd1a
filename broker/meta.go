package broker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// TopicID is a topic's UUID (KIP-516). It changes when a topic is deleted
// and re-created under the same name.
type TopicID [16]byte

// NewTopicID returns a random, non-zero topic id.
func NewTopicID() TopicID {
	var id TopicID
	for id == (TopicID{}) {
		rand.Read(id[:])
	}
	return id
}

func (id TopicID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText encodes the id as hex in the metadata log.
func (id TopicID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText decodes a hex id.
func (id *TopicID) UnmarshalText(b []byte) error {
	if len(b) != 32 {
		return fmt.Errorf("topic id %q: want 32 hex digits", b)
	}
	_, err := hex.Decode(id[:], b)
	return err
}

// MetadataRecord is one change to the cluster metadata. The set of record
// types mirrors the KRaft metadata log (TopicRecord, PartitionRecord,
// RemoveTopicRecord, ConfigRecord, RegisterBrokerRecord...), so that a
// replicated metadata log can carry the same records. docs/cluster.md
// describes each type.
type MetadataRecord struct {
	Type MetadataRecordType `json:"type"`
	// ClusterID is set by a ClusterRecord.
	ClusterID string `json:"cluster_id,omitempty"`
	// Topic is the topic name (TopicRecord).
	Topic string  `json:"topic,omitempty"`
	ID    TopicID `json:"id"`
	// Partitions is the partition count after a TopicRecord or a
	// PartitionsRecord.
	Partitions int32 `json:"partitions,omitempty"`
	// ReplicationFactor is recorded as requested (TopicRecord).
	ReplicationFactor int16 `json:"replication_factor,omitempty"`
	// ConfigResource is "topic" or "broker" (ConfigRecord); for brokers
	// Name is "" (cluster default) or the node id.
	ConfigResource string `json:"config_resource,omitempty"`
	Name           string `json:"name,omitempty"`
	// Configs replaces the whole set of overrides of a resource
	// (ConfigRecord) or gives a new topic's overrides (TopicRecord).
	Configs map[string]string `json:"configs,omitempty"`
	// NextProducerID is the first producer id not yet handed out
	// (ProducerIDsRecord): producer ids below it are reserved.
	NextProducerID int64 `json:"next_producer_id,omitempty"`
	// ACL is the access control binding an ACLRecordType record adds, or
	// (with only its ID) the one a RemoveACLRecordType record removes.
	ACL *ACLRecord `json:"acl,omitempty"`
	// Scram is the SCRAM credential a ScramCredentialRecordType record
	// sets, or (with only User and Mechanism) the one a
	// RemoveScramCredentialRecordType record removes.
	Scram *ScramCredentialRecord `json:"scram,omitempty"`
	// Broker is the registration a RegisterBrokerRecord upserts, or the
	// broker (ID, and Incarnation when set) an UnregisterBrokerRecord
	// removes or a BrokerStateRecord fences or unfences.
	Broker *BrokerRegistration `json:"broker,omitempty"`
	// Partition is the state a PartitionRecordType record sets.
	Partition *PartitionRecord `json:"partition,omitempty"`
	// Quota is the client quota value a ClientQuotaRecordType record
	// sets or removes.
	Quota *ClientQuotaRecord `json:"quota,omitempty"`
}

// ClientQuotaRecord sets one quota value of a client quota entity or, with
// Remove, deletes it, as KRaft's ClientQuotaRecord.
type ClientQuotaRecord struct {
	Entity []QuotaEntityPart `json:"entity"`
	Key    string            `json:"key"`
	Value  float64           `json:"value,omitempty"`
	Remove bool              `json:"remove,omitempty"`
}

// QuotaEntityPart is one component of a client quota entity: an entity
// type (user, client-id or ip) and a name, nil for the type's default
// entity.
type QuotaEntityPart struct {
	Type string  `json:"type"`
	Name *string `json:"name"`
}

// ClientQuotaImage is the quota values of one client quota entity.
type ClientQuotaImage struct {
	// Entity is sorted by type.
	Entity []QuotaEntityPart
	Values map[string]float64
}

// quotaEntityKey identifies an entity in MetadataImage.ClientQuotas; it
// also sorts entities in the order Describe lists them. The parts must be
// sorted by type.
func quotaEntityKey(parts []QuotaEntityPart) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Type)
		if p.Name == nil {
			b.WriteString("\x00-\x00")
			continue
		}
		b.WriteString("\x00+")
		b.WriteString(strconv.Itoa(len(*p.Name)))
		b.WriteByte(':')
		b.WriteString(*p.Name)
		b.WriteByte(0)
	}
	return b.String()
}

// sortedQuotaEntity returns a copy of parts sorted by type.
func sortedQuotaEntity(parts []QuotaEntityPart) []QuotaEntityPart {
	out := slices.Clone(parts)
	slices.SortStableFunc(out, func(a, b QuotaEntityPart) int { return strings.Compare(a.Type, b.Type) })
	return out
}

// ScramCredentialRecord is one user's SCRAM credential for one mechanism,
// as KRaft's UserScramCredentialRecord: the salt, the stored and server
// keys derived from the salted password, and the iteration count. The
// password and the salted password are never stored.
type ScramCredentialRecord struct {
	User string `json:"user"`
	// Mechanism is SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism  string `json:"mechanism"`
	Salt       []byte `json:"salt,omitempty"`
	StoredKey  []byte `json:"stored_key,omitempty"`
	ServerKey  []byte `json:"server_key,omitempty"`
	Iterations int32  `json:"iterations,omitempty"`
}

// key identifies the credential in MetadataImage.ScramCredentials.
func (r ScramCredentialRecord) key() string { return r.User + "\x00" + r.Mechanism }

// ACLRecord is one access control binding in the metadata, as KRaft's
// AccessControlEntryRecord: a generated id and the binding's fields in
// Kafka's wire codes.
type ACLRecord struct {
	ID           string `json:"id"`
	ResourceType int8   `json:"resource_type,omitempty"`
	ResourceName string `json:"resource_name,omitempty"`
	PatternType  int8   `json:"pattern_type,omitempty"`
	Principal    string `json:"principal,omitempty"`
	Host         string `json:"host,omitempty"`
	Operation    int8   `json:"operation,omitempty"`
	Permission   int8   `json:"permission,omitempty"`
}

// MetadataRecordType names a kind of metadata record.
type MetadataRecordType string

// Metadata record types.
const (
	ClusterRecord     MetadataRecordType = "cluster"
	TopicRecord       MetadataRecordType = "topic"
	PartitionsRecord  MetadataRecordType = "partitions"
	RemoveTopicRecord MetadataRecordType = "remove_topic"
	ConfigRecord      MetadataRecordType = "config"
	// ProducerIDsRecord reserves a block of producer ids, as KRaft's
	// ProducerIdsRecord does, so that ids are never reused across
	// restarts.
	ProducerIDsRecord MetadataRecordType = "producer_ids"
	// ACLRecordType adds an access control binding and
	// RemoveACLRecordType removes one by id, as KRaft's
	// AccessControlEntryRecord and RemoveAccessControlEntryRecord do.
	ACLRecordType       MetadataRecordType = "acl"
	RemoveACLRecordType MetadataRecordType = "remove_acl"
	// ScramCredentialRecordType sets a user's SCRAM credential for a
	// mechanism and RemoveScramCredentialRecordType deletes it, as
	// KRaft's UserScramCredentialRecord and
	// RemoveUserScramCredentialRecord do.
	ScramCredentialRecordType       MetadataRecordType = "scram_credential"
	RemoveScramCredentialRecordType MetadataRecordType = "remove_scram_credential"
	// RegisterBrokerRecord adds or replaces a broker's registration,
	// UnregisterBrokerRecord removes it and BrokerStateRecord changes its
	// fenced and controlled-shutdown flags, as KRaft's
	// RegisterBrokerRecord, UnregisterBrokerRecord and
	// BrokerRegistrationChangeRecord do.
	RegisterBrokerRecord   MetadataRecordType = "register_broker"
	UnregisterBrokerRecord MetadataRecordType = "unregister_broker"
	BrokerStateRecord      MetadataRecordType = "broker_state"
	// PartitionRecordType sets the whole state of one partition
	// (replicas, ISR, leader), as KRaft's PartitionRecord and
	// PartitionChangeRecord do; with an expected partition epoch it is a
	// compare-and-set.
	PartitionRecordType MetadataRecordType = "partition"
	// ClientQuotaRecordType sets or removes one quota value of a client
	// quota entity, as KRaft's ClientQuotaRecord does.
	ClientQuotaRecordType MetadataRecordType = "client_quota"
)

// MetadataImage is the metadata state that results from applying the
// records in order. Images are immutable once published: apply copies.
type MetadataImage struct {
	ClusterID string
	Topics    map[string]*TopicImage
	ByID      map[TopicID]*TopicImage
	// BrokerConfigs holds dynamic broker config overrides, keyed by ""
	// for the cluster-wide default and by node id for one broker.
	BrokerConfigs map[string]map[string]string
	// NextProducerID is the first producer id not yet reserved.
	NextProducerID int64
	// ACLs holds the access control bindings by id. It is shared between
	// images and copied before a change.
	ACLs map[string]ACLRecord
	// ScramCredentials holds the SCRAM credentials keyed by user and
	// mechanism (see ScramCredentialRecord.key). It is shared between
	// images and copied before a change.
	ScramCredentials map[string]ScramCredentialRecord
	// Brokers holds the registered brokers by node id. It is shared
	// between images and copied before a change.
	Brokers map[int32]BrokerRegistration

	// owned holds the topics this image copied while its batch is being
	// applied: they are not shared with an older image and may change in
	// place. Publishing the image (seal) clears it.
	owned map[*TopicImage]bool
	// ClientQuotas holds the client quotas by entity (see
	// quotaEntityKey). It is shared between images and copied before a
	// change.
	ClientQuotas map[string]ClientQuotaImage
}

// TopicImage is one topic in a MetadataImage.
type TopicImage struct {
	Name              string
	ID                TopicID
	Partitions        int32
	ReplicationFactor int16
	Configs           map[string]string
	// Assignment holds the state of each partition that has one, by
	// partition index (its size follows the states recorded, not the
	// partition count a record claims). Use Partition to read it.
	Assignment map[int32]PartitionState
}

func newImage() *MetadataImage {
	return &MetadataImage{
		Topics:        map[string]*TopicImage{},
		ByID:          map[TopicID]*TopicImage{},
		BrokerConfigs: map[string]map[string]string{},
		owned:         map[*TopicImage]bool{},
	}
}

// seal marks the image published: from now on it never changes.
func (im *MetadataImage) seal() *MetadataImage {
	im.owned = nil
	return im
}

// mutableTopic returns the topic with the given id as a copy owned by this
// image (made once per batch), or false if there is no such topic.
func (im *MetadataImage) mutableTopic(id TopicID) (*TopicImage, bool) {
	old, ok := im.ByID[id]
	if !ok {
		return nil, false
	}
	if im.owned[old] {
		return old, true
	}
	t := *old
	t.Assignment = maps.Clone(old.Assignment)
	im.Topics[t.Name], im.ByID[t.ID] = &t, &t
	im.owned[&t] = true
	return &t, true
}

// applyBatch returns the image that results from applying recs in order,
// published, or the first record's error: a batch applies whole or not at
// all, and im never changes.
func (im *MetadataImage) applyBatch(recs []MetadataRecord) (*MetadataImage, error) {
	next := im.clone()
	for i, r := range recs {
		if err := next.apply(r); err != nil {
			if len(recs) > 1 {
				return nil, fmt.Errorf("record %d of %d (%s): %w", i+1, len(recs), r.Type, err)
			}
			return nil, err
		}
	}
	return next.seal(), nil
}

func (im *MetadataImage) clone() *MetadataImage {
	out := &MetadataImage{
		ClusterID:     im.ClusterID,
		Topics:        make(map[string]*TopicImage, len(im.Topics)),
		ByID:          make(map[TopicID]*TopicImage, len(im.ByID)),
		BrokerConfigs: make(map[string]map[string]string, len(im.BrokerConfigs)),
		owned:         map[*TopicImage]bool{},
	}
	for name, t := range im.Topics {
		out.Topics[name] = t
		out.ByID[t.ID] = t
	}
	maps.Copy(out.BrokerConfigs, im.BrokerConfigs)
	out.NextProducerID = im.NextProducerID
	out.ACLs = im.ACLs
	out.ScramCredentials = im.ScramCredentials
	out.Brokers = im.Brokers
	out.ClientQuotas = im.ClientQuotas
	return out
}

// apply applies one record to a cloned image. It rejects records that do
// not fit the image, so a corrupt or reordered log is caught.
func (im *MetadataImage) apply(r MetadataRecord) error {
	switch r.Type {
	case ClusterRecord:
		im.ClusterID = r.ClusterID
	case TopicRecord:
		if _, ok := im.Topics[r.Topic]; ok {
			return fmt.Errorf("%w: %q", ErrTopicExists, r.Topic)
		}
		if _, ok := im.ByID[r.ID]; ok {
			return fmt.Errorf("topic id %s already exists", r.ID)
		}
		if r.Partitions < 0 {
			return fmt.Errorf("topic %q: negative partition count %d", r.Topic, r.Partitions)
		}
		t := &TopicImage{Name: r.Topic, ID: r.ID, Partitions: r.Partitions, ReplicationFactor: r.ReplicationFactor, Configs: maps.Clone(r.Configs)}
		if t.Configs == nil {
			t.Configs = map[string]string{}
		}
		im.Topics[t.Name] = t
		im.ByID[t.ID] = t
		im.owned[t] = true
	case PartitionsRecord:
		t, ok := im.mutableTopic(r.ID)
		if !ok {
			return fmt.Errorf("partitions record for unknown topic id %s", r.ID)
		}
		if r.Partitions < t.Partitions {
			return fmt.Errorf("topic %q: partition count cannot shrink from %d to %d", t.Name, t.Partitions, r.Partitions)
		}
		t.Partitions = r.Partitions
	case RemoveTopicRecord:
		old, ok := im.ByID[r.ID]
		if !ok {
			return fmt.Errorf("remove record for unknown topic id %s", r.ID)
		}
		delete(im.Topics, old.Name)
		delete(im.ByID, old.ID)
	case ConfigRecord:
		cfgs := maps.Clone(r.Configs)
		if cfgs == nil {
			cfgs = map[string]string{}
		}
		switch r.ConfigResource {
		case "topic":
			t, ok := im.mutableTopic(r.ID)
			if !ok {
				return fmt.Errorf("config record for unknown topic id %s", r.ID)
			}
			t.Configs = cfgs
		case "broker":
			im.BrokerConfigs[r.Name] = cfgs
		default:
			return fmt.Errorf("config record for unknown resource type %q", r.ConfigResource)
		}
	case ProducerIDsRecord:
		if r.NextProducerID <= im.NextProducerID {
			return fmt.Errorf("producer id block ending at %d does not follow %d", r.NextProducerID, im.NextProducerID)
		}
		im.NextProducerID = r.NextProducerID
	case ACLRecordType:
		if r.ACL == nil || r.ACL.ID == "" {
			return errors.New("acl record without an id")
		}
		if _, ok := im.ACLs[r.ACL.ID]; ok {
			return fmt.Errorf("acl %s already exists", r.ACL.ID)
		}
		im.ACLs = maps.Clone(im.ACLs)
		if im.ACLs == nil {
			im.ACLs = map[string]ACLRecord{}
		}
		im.ACLs[r.ACL.ID] = *r.ACL
	case ScramCredentialRecordType:
		if r.Scram == nil || r.Scram.User == "" || r.Scram.Mechanism == "" {
			return errors.New("scram credential record without a user and mechanism")
		}
		im.ScramCredentials = maps.Clone(im.ScramCredentials)
		if im.ScramCredentials == nil {
			im.ScramCredentials = map[string]ScramCredentialRecord{}
		}
		im.ScramCredentials[r.Scram.key()] = *r.Scram
	case RemoveScramCredentialRecordType:
		if r.Scram == nil {
			return errors.New("remove scram credential record without a user")
		}
		if _, ok := im.ScramCredentials[r.Scram.key()]; !ok {
			return fmt.Errorf("remove record for unknown %s credential of user %q", r.Scram.Mechanism, r.Scram.User)
		}
		im.ScramCredentials = maps.Clone(im.ScramCredentials)
		delete(im.ScramCredentials, r.Scram.key())
	case RemoveACLRecordType:
		if r.ACL == nil {
			return errors.New("remove acl record without an id")
		}
		if _, ok := im.ACLs[r.ACL.ID]; !ok {
			return fmt.Errorf("remove record for unknown acl %s", r.ACL.ID)
		}
		im.ACLs = maps.Clone(im.ACLs)
		delete(im.ACLs, r.ACL.ID)
	case RegisterBrokerRecord:
		return im.applyRegisterBroker(r.Broker)
	case UnregisterBrokerRecord:
		return im.applyUnregisterBroker(r.Broker)
	case BrokerStateRecord:
		return im.applyBrokerState(r.Broker)
	case PartitionRecordType:
		return im.applyPartition(r.Partition)
	case ClientQuotaRecordType:
		if err := checkClientQuotaRecord(r.Quota); err != nil {
			return err
		}
		entity := sortedQuotaEntity(r.Quota.Entity)
		key := quotaEntityKey(entity)
		cur := im.ClientQuotas[key]
		values := maps.Clone(cur.Values)
		if r.Quota.Remove {
			delete(values, r.Quota.Key)
		} else {
			if values == nil {
				values = map[string]float64{}
			}
			values[r.Quota.Key] = r.Quota.Value
		}
		im.ClientQuotas = maps.Clone(im.ClientQuotas)
		if len(values) == 0 {
			delete(im.ClientQuotas, key)
		} else {
			if im.ClientQuotas == nil {
				im.ClientQuotas = map[string]ClientQuotaImage{}
			}
			im.ClientQuotas[key] = ClientQuotaImage{Entity: entity, Values: values}
		}
	default:
		return fmt.Errorf("unknown metadata record type %q", r.Type)
	}
	return nil
}

// records returns a minimal list of records that rebuilds the image.
func (im *MetadataImage) records() []MetadataRecord {
	out := []MetadataRecord{{Type: ClusterRecord, ClusterID: im.ClusterID}}
	out = append(out, im.brokerRecords()...)
	names := make([]string, 0, len(im.Topics))
	for name := range im.Topics {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := im.Topics[name]
		out = append(out, MetadataRecord{Type: TopicRecord, Topic: t.Name, ID: t.ID, Partitions: t.Partitions, ReplicationFactor: t.ReplicationFactor, Configs: t.Configs})
		out = append(out, t.partitionRecords()...)
	}
	keys := make([]string, 0, len(im.BrokerConfigs))
	for k := range im.BrokerConfigs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, MetadataRecord{Type: ConfigRecord, ConfigResource: "broker", Name: k, Configs: im.BrokerConfigs[k]})
	}
	if im.NextProducerID > 0 {
		out = append(out, MetadataRecord{Type: ProducerIDsRecord, NextProducerID: im.NextProducerID})
	}
	ids := make([]string, 0, len(im.ACLs))
	for id := range im.ACLs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a := im.ACLs[id]
		out = append(out, MetadataRecord{Type: ACLRecordType, ACL: &a})
	}
	creds := make([]string, 0, len(im.ScramCredentials))
	for k := range im.ScramCredentials {
		creds = append(creds, k)
	}
	sort.Strings(creds)
	for _, k := range creds {
		c := im.ScramCredentials[k]
		out = append(out, MetadataRecord{Type: ScramCredentialRecordType, Scram: &c})
	}
	for _, k := range slices.Sorted(maps.Keys(im.ClientQuotas)) {
		q := im.ClientQuotas[k]
		for _, key := range slices.Sorted(maps.Keys(q.Values)) {
			out = append(out, MetadataRecord{Type: ClientQuotaRecordType, Quota: &ClientQuotaRecord{Entity: q.Entity, Key: key, Value: q.Values[key]}})
		}
	}
	return out
}

// checkClientQuotaRecord rejects a quota record that could not have been
// written: no entity, a type named twice, no key, or a value JSON cannot
// hold.
func checkClientQuotaRecord(q *ClientQuotaRecord) error {
	if q == nil || len(q.Entity) == 0 || q.Key == "" {
		return errors.New("client quota record without an entity and key")
	}
	seen := map[string]bool{}
	for _, p := range q.Entity {
		if p.Type == "" || seen[p.Type] {
			return fmt.Errorf("client quota record with entity type %q empty or repeated", p.Type)
		}
		seen[p.Type] = true
	}
	if !q.Remove && (math.IsNaN(q.Value) || math.IsInf(q.Value, 0)) {
		return fmt.Errorf("client quota record for %s with value %v", q.Key, q.Value)
	}
	return nil
}

// MetadataStore holds the cluster metadata durably. RaftStore commits
// the records through the metadata quorum's raft log, and every broker of
// the cluster applies them in the same order; a single node is its only
// voter.
type MetadataStore interface {
	// Image returns the latest applied image. When the broker starts,
	// it must hold every record committed before: the broker opens and
	// deletes logs according to it.
	Image() *MetadataImage
	// Apply commits recs as one batch and returns once they are durable
	// and applied to the image. A batch applies whole or not at all: if
	// any record does not fit the image, none applies and the error
	// says why (a partition record whose expected partition epoch is not
	// the current one fails with an error wrapping
	// ErrPartitionEpochMismatch).
	Apply(ctx context.Context, recs ...MetadataRecord) error
	// Updates is signalled (it has a capacity of 1 and is never closed)
	// after every applied batch, whichever broker proposed it, so that
	// the broker reconciles its logs with the new image.
	Updates() <-chan struct{}
	// ControllerID is the node id of the active controller (the leader
	// of the metadata quorum), or -1 while none is known. A single-node
	// store answers its own node id.
	ControllerID() int32
	Close() error
}

// fileMetadataStore is the single-node metadata log of earlier versions,
// which RaftStore imports once (raft_store.go); it stays to read such
// logs. It is an append-only file
// of records, each line "<crc32c hex> <json>\n" holding one record (a JSON
// object) or the records of one Apply batch (a JSON array), fsynced before
// Apply returns. Opening replays it; a torn last line (a crash mid-write)
// is dropped whole, since Apply never acknowledged it.
type fileMetadataStore struct {
	path    string
	log     *slog.Logger
	nodeID  int32
	updates chan struct{}

	mu struct {
		sync.Mutex
		f     *os.File
		image *MetadataImage
	}
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// metadataCompactThreshold is the number of records after which opening the
// store rewrites the log as a snapshot of the image.
const metadataCompactThreshold = 1000

// openFileMetadataStore opens or creates the metadata log in dir, for the
// broker nodeID (the controller of its single-node cluster).
func openFileMetadataStore(dir string, nodeID int32, logger *slog.Logger) (*fileMetadataStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &fileMetadataStore{path: filepath.Join(dir, "metadata.log"), log: logger, nodeID: nodeID, updates: make(chan struct{}, 1)}
	image, n, validBytes, err := replayMetadata(s.path)
	if err != nil {
		return nil, err
	}
	if image.ClusterID == "" || n > metadataCompactThreshold {
		if image.ClusterID == "" {
			image.ClusterID = newClusterID()
		}
		if err := writeMetadataSnapshot(s.path, image); err != nil {
			return nil, err
		}
	} else if err := os.Truncate(s.path, validBytes); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	s.mu.f = f
	s.mu.image = image.seal()
	return s, nil
}

func newClusterID() string {
	var b [16]byte
	rand.Read(b[:])
	// Kafka cluster ids are base64url-encoded UUIDs, 22 characters.
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// replayMetadata reads the log and returns the image, the number of records
// and the length of the valid prefix.
func replayMetadata(path string) (*MetadataImage, int, int64, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return newImage(), 0, 0, nil
	}
	if err != nil {
		return nil, 0, 0, err
	}
	image, n, valid, err := replayMetadataData(data)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("metadata log %s: %w", path, err)
	}
	return image, n, valid, nil
}

// replayMetadataData applies the records of a metadata log's content.
func replayMetadataData(data []byte) (*MetadataImage, int, int64, error) {
	image := newImage()
	var valid int64
	n := 0
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			break // torn tail
		}
		line := data[:nl]
		recs, ok := decodeMetadataLine(line)
		if !ok {
			// Only the last line may be torn; anything before a valid
			// line is real corruption.
			if bytes.IndexByte(data[nl+1:], '\n') >= 0 {
				return nil, 0, 0, fmt.Errorf("corrupt record at byte %d", valid)
			}
			break
		}
		for _, rec := range recs {
			if err := image.apply(rec); err != nil {
				return nil, 0, 0, fmt.Errorf("at byte %d: %w", valid, err)
			}
		}
		n += len(recs)
		valid += int64(nl + 1)
		data = data[nl+1:]
	}
	return image, n, valid, nil
}

// decodeMetadataLine decodes one line of the log: a JSON object is one
// record, a JSON array is the records of one Apply batch, which a torn
// write drops whole.
func decodeMetadataLine(line []byte) ([]MetadataRecord, bool) {
	if len(line) < 10 || line[8] != ' ' {
		return nil, false
	}
	var sum [4]byte
	if _, err := hex.Decode(sum[:], line[:8]); err != nil {
		return nil, false
	}
	body := line[9:]
	if crc32.Checksum(body, crcTable) != uint32(sum[0])<<24|uint32(sum[1])<<16|uint32(sum[2])<<8|uint32(sum[3]) {
		return nil, false
	}
	if body[0] == '[' {
		var recs []MetadataRecord
		if err := json.Unmarshal(body, &recs); err != nil || len(recs) == 0 {
			return nil, false
		}
		return recs, true
	}
	var rec MetadataRecord
	if err := json.Unmarshal(body, &rec); err != nil {
		return nil, false
	}
	return []MetadataRecord{rec}, true
}

// appendMetadataLine encodes recs as one line: the record itself when
// there is one, else the array of them.
func appendMetadataLine(dst []byte, recs ...MetadataRecord) []byte {
	var body []byte
	var err error
	if len(recs) == 1 {
		body, err = json.Marshal(recs[0])
	} else {
		body, err = json.Marshal(recs)
	}
	if err != nil {
		panic(fmt.Sprintf("metadata record does not encode: %v", err)) // only plain types: cannot happen
	}
	dst = fmt.Appendf(dst, "%08x ", crc32.Checksum(body, crcTable))
	dst = append(dst, body...)
	return append(dst, '\n')
}

// writeMetadataSnapshot atomically replaces the log with the records that
// rebuild image.
func writeMetadataSnapshot(path string, image *MetadataImage) error {
	tmp := path + ".tmp"
	if err := writeFileSync(tmp, snapshotData(image)); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// snapshotData is the log content that rebuilds image, a line per record.
func snapshotData(image *MetadataImage) []byte {
	var buf []byte
	for _, r := range image.records() {
		buf = appendMetadataLine(buf, r)
	}
	return buf
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *fileMetadataStore) Image() *MetadataImage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.image
}

func (s *fileMetadataStore) Apply(_ context.Context, recs ...MetadataRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.f == nil {
		return errors.New("metadata store closed")
	}
	if len(recs) == 0 {
		return nil
	}
	next, err := s.mu.image.applyBatch(recs)
	if err != nil {
		return err
	}
	// One line per batch: a crash mid-write tears the line, and the
	// whole batch is dropped on replay, never a part of it.
	buf := appendMetadataLine(nil, recs...)
	if _, err := s.mu.f.Write(buf); err != nil {
		return fmt.Errorf("metadata log write: %w", err)
	}
	if err := s.mu.f.Sync(); err != nil {
		// The file's state is unknown after a failed fsync: refuse
		// further writes rather than report durability we lack.
		s.mu.f.Close()
		s.mu.f = nil
		return fmt.Errorf("metadata log fsync: %w", err)
	}
	s.mu.image = next
	select {
	case s.updates <- struct{}{}:
	default:
	}
	return nil
}

func (s *fileMetadataStore) Updates() <-chan struct{} { return s.updates }

// ControllerID answers the local node: it alone writes the metadata.
func (s *fileMetadataStore) ControllerID() int32 { return s.nodeID }

func (s *fileMetadataStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.f == nil {
		return nil
	}
	err := s.mu.f.Close()
	s.mu.f = nil
	return err
}
