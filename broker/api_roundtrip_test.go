package broker

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawRequest sends one request at its set version on c and decodes the
// response with kmsg, failing the test on any framing or decoding problem.
func rawRequest(t *testing.T, c net.Conn, corr int32, req kmsg.Request) kmsg.Response {
	t.Helper()
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("roundtrip"))
	if _, err := c.Write(f.AppendRequest(nil, req, corr)); err != nil {
		t.Fatalf("%s v%d: write: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	resp := req.ResponseKind()
	body := readResponse(t, c, corr, req.Key(), resp.IsFlexible())
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("%s v%d: decode response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

func readResponse(t *testing.T, c net.Conn, corr int32, key int16, flexible bool) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("%s: read size: %v", kmsg.NameForKey(key), err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("%s: read body: %v", kmsg.NameForKey(key), err)
	}
	r := kbin.Reader{Src: buf}
	if got := r.Int32(); got != corr {
		t.Fatalf("%s: correlation id %d, want %d", kmsg.NameForKey(key), got, corr)
	}
	if flexible && key != kmsg.ApiVersions.Int16() {
		if n := r.Uvarint(); n != 0 {
			t.Fatalf("%s: %d response header tags", kmsg.NameForKey(key), n)
		}
	}
	return r.Src
}

// exampleRequest returns a request of the given key that names a real topic
// where the API takes topics, so the handler does real work.
func exampleRequest(key int16, topic string, id TopicID) kmsg.Request {
	switch key {
	case kmsg.Metadata.Int16():
		r := kmsg.NewPtrMetadataRequest()
		r.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(topic)}}
		return r
	case kmsg.ListOffsets.Int16():
		r := kmsg.NewPtrListOffsetsRequest()
		r.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: topic, Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: 0, Timestamp: -1, CurrentLeaderEpoch: -1, MaxNumOffsets: 1}}}}
		return r
	case kmsg.Fetch.Int16():
		r := kmsg.NewPtrFetchRequest()
		r.MaxBytes = 1 << 20
		r.SessionEpoch = -1
		r.Topics = []kmsg.FetchRequestTopic{{Topic: topic, TopicID: id, Partitions: []kmsg.FetchRequestTopicPartition{{Partition: 0, FetchOffset: 0, PartitionMaxBytes: 1 << 20, CurrentLeaderEpoch: -1}}}}
		return r
	case kmsg.DescribeConfigs.Int16():
		r := kmsg.NewPtrDescribeConfigsRequest()
		r.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: topic}}
		return r
	case kmsg.OffsetForLeaderEpoch.Int16():
		r := kmsg.NewPtrOffsetForLeaderEpochRequest()
		r.ReplicaID = -1
		r.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{{Partition: 0, CurrentLeaderEpoch: -1, LeaderEpoch: 0}}}}
		return r
	case kmsg.Produce.Int16():
		r := kmsg.NewPtrProduceRequest()
		r.Acks = 1
		r.TimeoutMillis = 5000
		return r
	case kmsg.DescribeLogDirs.Int16():
		return kmsg.NewPtrDescribeLogDirsRequest()
	case kmsg.DescribeCluster.Int16():
		r := kmsg.NewPtrDescribeClusterRequest()
		r.EndpointType = 1
		return r
	case kmsg.DescribeClientQuotas.Int16():
		r := kmsg.NewPtrDescribeClientQuotasRequest()
		r.Components = []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "client-id", MatchType: kmsg.QuotasMatchTypeAny}}
		return r
	case kmsg.AlterClientQuotas.Int16():
		r := kmsg.NewPtrAlterClientQuotasRequest()
		r.ValidateOnly = true
		r.Entries = []kmsg.AlterClientQuotasRequestEntry{{
			Entity: []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "user", Name: kmsg.StringPtr("u")}, {Type: "client-id"}},
			Ops:    []kmsg.AlterClientQuotasRequestEntryOp{{Key: "producer_byte_rate", Value: 1 << 20}, {Key: "request_percentage", Remove: true}},
		}}
		return r
	case kmsg.CreateTopics.Int16():
		r := kmsg.NewPtrCreateTopicsRequest()
		r.TimeoutMillis = 5000
		r.ValidateOnly = true
		r.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: topic + "-new", NumPartitions: 1, ReplicationFactor: 1}}
		return r
	}
	r := kmsg.RequestForKey(key)
	if d, ok := r.(interface{ Default() }); ok {
		d.Default()
	}
	return r
}

// TestAPIRoundTripEveryVersion sends a request of every advertised API at
// every advertised version, decodes the response with kmsg at that version
// and checks the correlation id and that the connection stays usable.
func TestAPIRoundTripEveryVersion(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, "rt"); err != nil {
		t.Fatal(err)
	}
	id := tb.lookupTopic("rt").id
	c := tb.dial()
	corr := int32(0)
	for _, a := range tb.apis {
		if a == nil {
			continue
		}
		for v := a.min; v <= a.max; v++ {
			req := exampleRequest(a.key.Int16(), "rt", id)
			req.SetVersion(v)
			corr++
			resp := rawRequest(t, c, corr, req)
			if resp.GetVersion() != v {
				t.Fatalf("%s: response version %d, want %d", a.key.Name(), resp.GetVersion(), v)
			}
		}
	}
	// The connection is still served after all of that.
	corr++
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(0)
	if resp := rawRequest(t, c, corr, av).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions error %d", resp.ErrorCode)
	}
}

// TestApiVersionsAdvertisesTable checks ApiVersions lists exactly the table
// and that each range is within what kmsg knows.
func TestApiVersionsAdvertisesTable(t *testing.T) {
	tb := startBroker(t, nil)
	c := tb.dial()
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "skein-test", "1.0"
	resp := rawRequest(t, c, 1, req).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(resp.ErrorCode))
	}
	n := 0
	for _, a := range tb.apis {
		if a != nil {
			n++
		}
	}
	if len(resp.ApiKeys) != n {
		t.Fatalf("advertised %d keys, table has %d", len(resp.ApiKeys), n)
	}
	for _, k := range resp.ApiKeys {
		a := tb.apis[k.ApiKey]
		if a == nil || a.min != k.MinVersion || a.max != k.MaxVersion {
			t.Errorf("key %d advertised %d-%d, table %+v", k.ApiKey, k.MinVersion, k.MaxVersion, a)
		}
		if max := kmsg.RequestForKey(k.ApiKey).MaxVersion(); k.MaxVersion > max {
			t.Errorf("%s advertised up to v%d but kmsg knows v%d", kmsg.NameForKey(k.ApiKey), k.MaxVersion, max)
		}
	}
}

// TestApiVersionsUnsupportedVersion checks Kafka's fallback: an ApiVersions
// request at a version the broker does not serve gets a v0 response with
// UNSUPPORTED_VERSION and the supported ranges.
func TestApiVersionsUnsupportedVersion(t *testing.T) {
	tb := startBroker(t, nil)
	c := tb.dial()
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(4)
	frame := kmsg.NewRequestFormatter().AppendRequest(nil, req, 7)
	binary.BigEndian.PutUint16(frame[6:], 99) // api version 99
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if err := resp.ReadFrom(readResponse(t, c, 7, 18, false)); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
		t.Fatalf("error %d with %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}
