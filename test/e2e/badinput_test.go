package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// closeWithin bounds how long the broker may take to close a
	// connection it has been sent something unusable on.
	closeWithin = 10 * time.Second
	// badInputTopic is a one-partition topic holding a few records.
	badInputTopic = "bad-input"
	// badInputSeed seeds the garbage bytes (SKEIN_BADINPUT_SEED overrides).
	badInputSeed = 20240611
	// healthyTimeout bounds a client round trip that must not be held up
	// by abusive connections.
	healthyTimeout = 20 * time.Second
)

// TestBadInput sends one skein process garbage frames, absurd length
// prefixes, truncated requests, unsupported keys and versions and
// requests with nonsense field values, each on its own connection. Each
// must get Kafka's error or a closed connection; a connection opened at the
// start keeps being served throughout, the process's memory stays bounded,
// and a fresh client still works at the end.
func TestBadInput(t *testing.T) {
	sp := startSkein(t, t.TempDir(), 0)
	seed := envInt(t, "SKEIN_BADINPUT_SEED", badInputSeed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("garbage seed %d (SKEIN_BADINPUT_SEED)", seed)
		}
	})
	served := servedVersions(t, sp.addr)
	clientRoundTrip(t, sp.addr, badInputTopic, 5, true, time.Minute)
	hwm := listEnd(t, sp.addr, badInputTopic, 0)

	// sentinel is a connection that stays open throughout: after every
	// subtest it must still be served.
	sentinel := dialWire(t, sp.addr)
	afterEach := func(t *testing.T) {
		t.Helper()
		sp.checkAlive()
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 3
		req.ClientSoftwareName, req.ClientSoftwareVersion = "skein-e2e", "1"
		if code := sentinel.roundTrip(req).(*kmsg.ApiVersionsResponse).ErrorCode; code != 0 {
			t.Fatalf("sentinel ApiVersions: error %d", code)
		}
	}
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			f(t)
			afterEach(t)
		})
	}

	run("garbage frames", func(t *testing.T) {
		// A plausible size prefix and random bytes: the header names an
		// API key that is not served (or a version that is not), or the
		// body does not decode.
		rng := rand.New(rand.NewPCG(uint64(seed), 1))
		for i := 0; i < 30; i++ {
			body := make([]byte, 10+rng.IntN(4096))
			for j := range body {
				body[j] = byte(rng.Uint32())
			}
			key, version := int16(binary.BigEndian.Uint16(body)), int16(binary.BigEndian.Uint16(body[2:]))
			if key == kmsg.ApiVersions.Int16() {
				continue // answered at v0 whatever the version
			}
			w := dialWire(t, sp.addr)
			w.write(frameWithSize(int32(len(body)), body))
			if r, ok := served[key]; ok && version >= r[0] && version <= r[1] {
				// Rare: a served key and version with a random body;
				// either the body fails to decode (closed) or the
				// broker answers. Only require that it does not hang.
				t.Logf("frame %d: random header is %s v%d", i, kmsg.NameForKey(key), version)
				w.c.Close()
				continue
			}
			w.expectClosed(closeWithin)
		}
	})

	run("garbage stream then half-close", func(t *testing.T) {
		// Whatever the first four random bytes say, the broker closes:
		// a size out of range at once, otherwise at the end of input
		// in the middle of a frame.
		rng := rand.New(rand.NewPCG(uint64(seed), 2))
		for i := 0; i < 10; i++ {
			b := make([]byte, 1+rng.IntN(16<<10))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			w := dialWire(t, sp.addr)
			w.write(b)
			halfClose(t, w)
			w.expectClosed(closeWithin)
		}
	})

	run("2 GiB length prefix", func(t *testing.T) {
		before := sp.rssBytes()
		for i := 0; i < 5; i++ {
			w := dialWire(t, sp.addr)
			w.write(frameWithSize(0x7fffffff, []byte("\x00\x03\x00\x0c\x00\x00\x00\x01")))
			start := time.Now()
			w.expectClosed(closeWithin)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("closing took %v", d)
			}
		}
		// Just over the limit is refused the same way.
		w := dialWire(t, sp.addr)
		w.write(frameWithSize(100<<20+1, nil))
		w.expectClosed(closeWithin)
		after := sp.rssBytes()
		t.Logf("RSS %d MiB before, %d MiB after", before>>20, after>>20)
		if after > 200<<20 {
			t.Errorf("RSS %d MiB after 2 GiB length prefixes, want below 200 MiB", after>>20)
		}
	})

	run("tiny and negative length prefixes", func(t *testing.T) {
		for _, size := range []int32{-1, -0x80000000, 0, 1, 5, 9} {
			w := dialWire(t, sp.addr)
			// Enough bytes behind the prefix for a header, so that
			// only the size is wrong.
			w.write(frameWithSize(size, rawHeader(kmsg.Metadata.Int16(), 1, 1, "x")))
			w.expectClosed(closeWithin)
		}
	})

	run("short frame then half-close", func(t *testing.T) {
		for _, sent := range []int{0, 3, 20, 99} {
			w := dialWire(t, sp.addr)
			hdr := rawHeader(kmsg.Metadata.Int16(), 1, 1, "x")
			body := append(hdr, make([]byte, 100)...)
			w.write(frameWithSize(100, body[:sent]))
			halfClose(t, w)
			w.expectClosed(closeWithin)
		}
	})

	run("truncated requests", func(t *testing.T) {
		reqs := []kmsg.Request{
			metadataRequest(12, badInputTopic),
			metadataRequest(4, badInputTopic),
			createTopicsRequest(7, "never-created", 1, 1, nil),
			produceRequest(9, 1, badInputTopic, 0, makeBatch("v")),
			produceRequest(3, 1, badInputTopic, 0, makeBatch("v")),
			listOffsetsRequest(7, badInputTopic, 0, -1),
			fetchRequest(12, badInputTopic, 0, 0, 1<<20, 1<<20),
		}
		for _, req := range reqs {
			full := encodeRequest(req, 1)
			hdr := requestHeaderBytes(req)
			bodyLen := len(full) - 4 - hdr
			for _, keep := range []int{0, bodyLen / 2, bodyLen - 1} {
				frame := full[:4+hdr+keep]
				binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
				w := dialWire(t, sp.addr)
				w.write(frame)
				w.expectClosed(closeWithin)
			}
		}
		// A header whose client id runs past the frame.
		w := dialWire(t, sp.addr)
		hdr := rawHeader(kmsg.Metadata.Int16(), 1, 1, "")
		binary.BigEndian.PutUint16(hdr[8:], 64)
		w.write(frameWithSize(int32(len(hdr)), hdr))
		w.expectClosed(closeWithin)
	})

	run("unknown api keys", func(t *testing.T) {
		for _, key := range []int16{999, -1, 0x7fff, 70, kmsg.ConsumerGroupDescribe.Int16(), kmsg.InitProducerID.Int16()} {
			if _, ok := served[key]; ok {
				t.Logf("%s (key %d) is served now; skipped", kmsg.NameForKey(key), key)
				continue
			}
			w := dialWire(t, sp.addr)
			hdr := rawHeader(key, 0, 7, "x")
			w.write(frameWithSize(int32(len(hdr)), hdr))
			w.expectClosed(closeWithin)
		}
	})

	run("unsupported versions", func(t *testing.T) {
		for _, c := range []struct {
			key     kmsg.Key
			version int16
		}{{kmsg.Metadata, 99}, {kmsg.Metadata, -1}, {kmsg.Fetch, 3}, {kmsg.CreateTopics, 8}, {kmsg.Produce, 14}} {
			if r := served[c.key.Int16()]; c.version >= r[0] && c.version <= r[1] {
				t.Fatalf("%s v%d is served; pick another version", c.key.Name(), c.version)
			}
			w := dialWire(t, sp.addr)
			hdr := append(rawHeader(c.key.Int16(), c.version, 7, "x"), 0, 0, 0, 0)
			w.write(frameWithSize(int32(len(hdr)), hdr))
			w.expectClosed(closeWithin)
		}
	})

	run("ApiVersions v99", func(t *testing.T) {
		// KIP-511: answered at v0 with UNSUPPORTED_VERSION and the
		// served ranges, and the connection stays usable.
		w := dialWire(t, sp.addr)
		frame := append(rawHeader(kmsg.ApiVersions.Int16(), 99, 42, "x"), 0, 1, 'a', 1, '1', 0)
		w.write(frameWithSize(int32(len(frame)), frame))
		corr, body, err := w.read(30 * time.Second)
		if err != nil {
			t.Fatalf("reading response: %v", err)
		}
		if corr != 42 {
			t.Fatalf("correlation id %d, want 42", corr)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 0
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("decoding a v0 response: %v", err)
		}
		if resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Errorf("error code %d, want UNSUPPORTED_VERSION (35)", resp.ErrorCode)
		}
		if len(resp.ApiKeys) == 0 {
			t.Errorf("no API keys in the response")
		}
		for _, k := range resp.ApiKeys {
			if k.ApiKey == kmsg.ApiVersions.Int16() && (k.MinVersion != 0 || k.MaxVersion != 4) {
				t.Errorf("ApiVersions advertised as v%d-%d, want v0-4", k.MinVersion, k.MaxVersion)
			}
		}
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 3
		req.ClientSoftwareName, req.ClientSoftwareVersion = "skein-e2e", "1"
		w.corr = 42
		if code := w.roundTrip(req).(*kmsg.ApiVersionsResponse).ErrorCode; code != 0 {
			t.Fatalf("ApiVersions v3 after the downgrade: error %d", code)
		}
	})

	run("Produce v2", func(t *testing.T) {
		w := dialWire(t, sp.addr)
		// A v1 message set would follow; its contents are not looked at.
		resp := w.roundTrip(produceRequest(2, 1, badInputTopic, 0, make([]byte, 40))).(*kmsg.ProduceResponse)
		expectProduceCodes(t, resp, kerr.UnsupportedVersion)
		w.roundTrip(metadataRequest(12, badInputTopic)) // still served
	})

	run("Produce nonsense", func(t *testing.T) {
		// Sanity: the batch builder makes batches the broker accepts.
		w := dialWire(t, sp.addr)
		ok := w.roundTrip(produceRequest(9, -1, badInputTopic, 0, makeBatch("good"))).(*kmsg.ProduceResponse)
		expectProduceCodes(t, ok, nil)

		badCRC := makeBatch("a", "b")
		badCRC[len(badCRC)-1] ^= 0xff // flip a byte of the last record
		badMagic := makeBatch("a")
		badMagic[batchMagicAt] = 7
		tooShortLength := makeBatch("a")
		binary.BigEndian.PutUint32(tooShortLength[batchLengthAt:], 1)
		partial := makeBatch("a")
		binary.BigEndian.PutUint32(partial[batchLengthAt:], 10000)
		twoBatches := append(makeBatch("a"), makeBatch("b")...)
		for _, c := range []struct {
			name    string
			acks    int16
			records []byte
			want    *kerr.Error
		}{
			{"acks=5", 5, makeBatch("a"), kerr.InvalidRequiredAcks},
			{"acks=-2", -2, makeBatch("a"), kerr.InvalidRequiredAcks},
			{"bad CRC", -1, badCRC, kerr.CorruptMessage},
			{"magic 7", -1, badMagic, kerr.CorruptMessage},
			{"batch length below 14", -1, tooShortLength, kerr.CorruptMessage},
			// Kafka's batch iterator finds no batch in these:
			// "must have at least one record batch".
			{"8 garbage bytes", -1, []byte("garbage!"), kerr.InvalidRecord},
			{"length past the end", -1, partial, kerr.InvalidRecord},
			{"empty records", -1, []byte{}, kerr.InvalidRecord},
			{"two batches", -1, twoBatches, kerr.InvalidRecord},
		} {
			resp := w.roundTrip(produceRequest(9, c.acks, badInputTopic, 0, c.records)).(*kmsg.ProduceResponse)
			t.Run(c.name, func(t *testing.T) { expectProduceCodes(t, resp, c.want) })
		}
		// Unknown topic and partition.
		resp := w.roundTrip(produceRequest(9, -1, "no-such-topic", 0, makeBatch("a"))).(*kmsg.ProduceResponse)
		expectProduceCodes(t, resp, kerr.UnknownTopicOrPartition)
		resp = w.roundTrip(produceRequest(9, -1, badInputTopic, 7, makeBatch("a"))).(*kmsg.ProduceResponse)
		expectProduceCodes(t, resp, kerr.UnknownTopicOrPartition)
		// None of the rejected batches reached the log.
		if got, want := listEnd(t, sp.addr, badInputTopic, 0), hwm+1; got != want {
			t.Errorf("log end %d after one good and many rejected batches, want %d", got, want)
		}
		hwm++
	})

	run("CreateTopics nonsense", func(t *testing.T) {
		w := dialWire(t, sp.addr)
		abc, one := "abc", "1"
		for _, c := range []struct {
			name       string
			topic      string
			partitions int32
			rf         int16
			configs    map[string]*string
			want       *kerr.Error
		}{
			{"-5 partitions", "ct-partitions", -5, 1, nil, kerr.InvalidPartitions},
			{"0 partitions", "ct-zero", 0, 1, nil, kerr.InvalidPartitions},
			{"replication factor 3", "ct-rf", 1, 3, nil, kerr.InvalidReplicationFactor},
			{"replication factor -5", "ct-rf-neg", 1, -5, nil, kerr.InvalidReplicationFactor},
			{"name with slash", "bad/name", 1, 1, nil, kerr.InvalidTopicException},
			{"name ..", "..", 1, 1, nil, kerr.InvalidTopicException},
			{"empty name", "", 1, 1, nil, kerr.InvalidTopicException},
			{"250-char name", strings.Repeat("n", 250), 1, 1, nil, kerr.InvalidTopicException},
			{"retention.ms=abc", "ct-retention", 1, 1, map[string]*string{"retention.ms": &abc}, kerr.InvalidConfig},
			{"unknown config", "ct-unknown", 1, 1, map[string]*string{"no.such.config": &one}, kerr.InvalidConfig},
			{"null config value", "ct-null", 1, 1, map[string]*string{"retention.ms": nil}, kerr.InvalidConfig},
		} {
			resp := w.roundTrip(createTopicsRequest(7, c.topic, c.partitions, c.rf, c.configs)).(*kmsg.CreateTopicsResponse)
			if len(resp.Topics) != 1 {
				t.Fatalf("%s: %d topics in the response", c.name, len(resp.Topics))
			}
			if got := resp.Topics[0].ErrorCode; got != c.want.Code {
				t.Errorf("%s: error %v, want %v", c.name, kerr.ErrorForCode(got), c.want)
			}
		}
		// None of them exists.
		md := w.roundTrip(metadataRequestNoCreate(12)).(*kmsg.MetadataResponse)
		for _, mt := range md.Topics {
			if name := *mt.Topic; name != badInputTopic {
				t.Errorf("topic %q exists after only invalid creations", name)
			}
		}
	})

	run("Fetch nonsense", func(t *testing.T) {
		w := dialWire(t, sp.addr)
		resp := w.roundTrip(fetchRequest(12, badInputTopic, 0, 1<<40, 1<<20, 1<<20)).(*kmsg.FetchResponse)
		if got := fetchCode(t, resp); got != kerr.OffsetOutOfRange.Code {
			t.Errorf("fetch at 1<<40: %v, want OFFSET_OUT_OF_RANGE", kerr.ErrorForCode(got))
		}
		resp = w.roundTrip(fetchRequest(12, badInputTopic, 0, -5, 1<<20, 1<<20)).(*kmsg.FetchResponse)
		if got := fetchCode(t, resp); got != kerr.OffsetOutOfRange.Code {
			t.Errorf("fetch at -5: %v, want OFFSET_OUT_OF_RANGE", kerr.ErrorForCode(got))
		}
		// Negative byte limits: any well-formed answer, and the
		// connection keeps working.
		for _, lim := range [][2]int32{{-1, -1}, {-0x80000000, 1 << 20}, {1 << 20, -0x80000000}, {0, 0}} {
			resp = w.roundTrip(fetchRequest(12, badInputTopic, 0, 0, lim[0], lim[1])).(*kmsg.FetchResponse)
			t.Logf("max bytes %d, partition max bytes %d: %v, %d record bytes", lim[0], lim[1], kerr.ErrorForCode(fetchCode(t, resp)), len(resp.Topics[0].Partitions[0].RecordBatches))
		}
		resp = w.roundTrip(fetchRequest(12, badInputTopic, 0, 0, 1<<20, 1<<20)).(*kmsg.FetchResponse)
		if got := fetchCode(t, resp); got != 0 || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
			t.Errorf("plain fetch after the nonsense: %v, %d bytes", kerr.ErrorForCode(got), len(resp.Topics[0].Partitions[0].RecordBatches))
		}
	})

	run("ListOffsets unknown topic", func(t *testing.T) {
		w := dialWire(t, sp.addr)
		for _, c := range []struct {
			topic     string
			partition int32
		}{{"no-such-topic", 0}, {badInputTopic, 5}, {badInputTopic, -1}} {
			resp := w.roundTrip(listOffsetsRequest(7, c.topic, c.partition, -1)).(*kmsg.ListOffsetsResponse)
			if got := resp.Topics[0].Partitions[0].ErrorCode; got != kerr.UnknownTopicOrPartition.Code {
				t.Errorf("%s/%d: %v, want UNKNOWN_TOPIC_OR_PARTITION", c.topic, c.partition, kerr.ErrorForCode(got))
			}
		}
	})

	run("DeleteRecords beyond the high watermark", func(t *testing.T) {
		w := dialWire(t, sp.addr)
		for _, off := range []int64{hwm + 1, hwm + 1000, 1 << 62, -7} {
			resp := w.roundTrip(deleteRecordsRequest(2, badInputTopic, 0, off)).(*kmsg.DeleteRecordsResponse)
			if got := resp.Topics[0].Partitions[0].ErrorCode; got != kerr.OffsetOutOfRange.Code {
				t.Errorf("delete before %d (high watermark %d): %v, want OFFSET_OUT_OF_RANGE", off, hwm, kerr.ErrorForCode(got))
			}
		}
		if start := listStart(t, sp.addr, badInputTopic, 0); start != 0 {
			t.Errorf("log start offset %d after rejected deletions, want 0", start)
		}
	})

	run("Metadata long topic names", func(t *testing.T) {
		w := dialWire(t, sp.addr)
		// The longest name a non-flexible request can carry, and one
		// just over Kafka's 249-character limit: INVALID_TOPIC_EXCEPTION,
		// and nothing is auto-created.
		for _, n := range []int{250, 0x7fff} {
			resp := w.roundTrip(metadataRequest(4, strings.Repeat("m", n))).(*kmsg.MetadataResponse)
			if got := resp.Topics[0].ErrorCode; got != kerr.InvalidTopicException.Code {
				t.Errorf("%d-character name: %v, want INVALID_TOPIC_EXCEPTION", n, kerr.ErrorForCode(got))
			}
		}
		// A 1 MB name fits only a compact string (v9+). Kafka's
		// generated readers reject any string longer than 0x7fff
		// ("string field ... had invalid length"), so Kafka fails
		// to parse the request and closes the connection.
		w2 := dialWire(t, sp.addr)
		req := metadataRequest(12, strings.Repeat("m", 1<<20))
		corr := w2.send(req)
		got, body, err := w2.read(closeWithin)
		switch {
		case isConnClosed(err):
			// Kafka's behaviour.
		case err != nil:
			t.Fatalf("1 MB name: %v; want the connection closed", err)
		default:
			// Not Kafka's behaviour but still a Kafka error: accepted,
			// and reported.
			if got != corr {
				t.Fatalf("1 MB name: correlation id %d, want %d", got, corr)
			}
			resp, err := decodeResponse(req, body)
			if err != nil {
				t.Fatal(err)
			}
			code := resp.(*kmsg.MetadataResponse).Topics[0].ErrorCode
			if code != kerr.InvalidTopicException.Code {
				t.Fatalf("1 MB name: %v; want the connection closed (Kafka) or INVALID_TOPIC_EXCEPTION", kerr.ErrorForCode(code))
			}
			t.Logf("1 MB name: answered INVALID_TOPIC_EXCEPTION with a %d-byte response; Kafka closes the connection (string longer than 0x7fff)", len(body))
		}
	})

	run("pipelining", func(t *testing.T) {
		w := dialWire(t, sp.addr)
		var reqs []kmsg.Request
		var frames []byte
		for i := 0; i < 100; i++ {
			var req kmsg.Request
			switch i % 3 {
			case 0:
				req = metadataRequest(int16(i%13), badInputTopic)
			case 1:
				av := kmsg.NewPtrApiVersionsRequest()
				av.Version = int16(i % 5)
				av.ClientSoftwareName, av.ClientSoftwareVersion = "skein-e2e", "1"
				req = av
			case 2:
				req = listOffsetsRequest(int16(1+i%11), badInputTopic, 0, -1)
			}
			reqs = append(reqs, req)
			frames = append(frames, encodeRequest(req, int32(1000+i))...)
		}
		w.write(frames)
		for i, req := range reqs {
			corr, body, err := w.read(30 * time.Second)
			if err != nil {
				t.Fatalf("response %d: %v", i, err)
			}
			if corr != int32(1000+i) {
				t.Fatalf("response %d has correlation id %d, want %d (out of order)", i, corr, 1000+i)
			}
			resp, err := decodeResponse(req, body)
			if err != nil {
				t.Fatalf("response %d: %v", i, err)
			}
			switch r := resp.(type) {
			case *kmsg.MetadataResponse:
				if len(r.Topics) != 1 || r.Topics[0].ErrorCode != 0 {
					t.Errorf("response %d: Metadata v%d: %+v", i, req.GetVersion(), r.Topics)
				}
			case *kmsg.ApiVersionsResponse:
				if r.ErrorCode != 0 {
					t.Errorf("response %d: ApiVersions v%d: error %d", i, req.GetVersion(), r.ErrorCode)
				}
			case *kmsg.ListOffsetsResponse:
				if p := r.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.Offset != hwm {
					t.Errorf("response %d: ListOffsets v%d: error %d offset %d, want offset %d", i, req.GetVersion(), p.ErrorCode, p.Offset, hwm)
				}
			}
		}
	})

	run("max-size prefixes held open", func(t *testing.T) {
		// Four connections each declare a frame of exactly
		// socket.request.max.bytes and send nothing more: together
		// they declare the broker's default request memory budget
		// (4 x 100 MiB). A client on another connection must still
		// be served.
		for i := 0; i < 4; i++ {
			w := dialWire(t, sp.addr)
			w.write(frameWithSize(100<<20, nil))
		}
		for round := 0; round < 3; round++ {
			clientRoundTrip(t, sp.addr, badInputTopic, 5, false, healthyTimeout)
			hwm += 5
		}
	})

	run("flood of partial frames", func(t *testing.T) {
		const (
			conns    = 50
			declared = 10 << 20
			sent     = 1 << 20
		)
		before := sp.rssBytes()
		payload := make([]byte, sent)
		for i := range payload {
			payload[i] = byte(i)
		}
		copy(payload, rawHeader(kmsg.Produce.Int16(), 9, 1, "flood"))
		var flood []*wireConn
		var wg sync.WaitGroup
		for i := 0; i < conns; i++ {
			w := dialWire(t, sp.addr)
			flood = append(flood, w)
			wg.Add(1)
			go func() {
				defer wg.Done()
				// The broker may stop reading (back-pressure): a
				// blocked write ends when the connection is closed
				// below, or at the deadline.
				w.c.SetWriteDeadline(time.Now().Add(2 * time.Minute))
				w.c.Write(frameWithSize(declared, payload))
			}()
		}
		t.Cleanup(func() {
			for _, w := range flood {
				w.c.Close()
			}
			wg.Wait()
		})
		// Other connections keep being served: a client produces and
		// consumes while the partial frames are held open.
		var peak int64
		for round := 0; round < 3; round++ {
			clientRoundTrip(t, sp.addr, badInputTopic, 20, false, healthyTimeout)
			hwm += 20
			peak = max(peak, sp.rssBytes())
		}
		w := dialWire(t, sp.addr)
		w.roundTrip(metadataRequest(12, badInputTopic))
		for _, w := range flood {
			w.c.Close()
		}
		wg.Wait()
		peak = max(peak, sp.rssBytes())
		t.Logf("RSS %d MiB before, peak %d MiB during the flood", before>>20, peak>>20)
		if peak > 400<<20 {
			t.Errorf("RSS peaked at %d MiB with %d connections each declaring %d MiB, want below 400 MiB", peak>>20, conns, declared>>20)
		}
		clientRoundTrip(t, sp.addr, badInputTopic, 5, false, healthyTimeout)
		hwm += 5
	})

	// The broker survived all of it and serves a fresh client, and no
	// input made it log an error (protocol errors are debug-level).
	sp.checkAlive()
	for _, line := range strings.Split(sp.readLog(), "\n") {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("broker logged an error: %s", line)
		}
	}
	clientRoundTrip(t, sp.addr, "after-bad-input", 10, true, time.Minute)
	if rss := sp.rssBytes(); rss > 400<<20 {
		t.Errorf("RSS %d MiB at the end", rss>>20)
	}
}

// servedVersions asks the broker for its served API ranges.
func servedVersions(t *testing.T, addr string) map[int16][2]int16 {
	t.Helper()
	w := dialWire(t, addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "skein-e2e", "1"
	resp := w.roundTrip(req).(*kmsg.ApiVersionsResponse)
	out := map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		out[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	return out
}

// clientRoundTrip produces n records to partition 0 of topic with acks=all
// and reads them back with a separate consumer, all within timeout. With
// create, it first creates the topic with one partition.
func clientRoundTrip(t *testing.T, addr, topic string, n int, create bool, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(topic),
		kgo.DisableIdempotentWrite(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if create {
		resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("creating %s: %v", topic, err)
		}
	}
	tag := fmt.Sprintf("%d", time.Now().UnixNano())
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Partition: 0, Value: []byte(fmt.Sprintf("%s-%d", tag, i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing to %s: %v", topic, err)
	}
	first := recs[0].Offset
	cons, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(first)}}),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := 0
	for got < n {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consuming %s: %d of %d records after %v", topic, got, n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("consuming %s: %v", topic, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if got < n && r.Offset == first+int64(got) {
				if want := fmt.Sprintf("%s-%d", tag, got); string(r.Value) != want {
					t.Fatalf("offset %d: %q, want %q", r.Offset, r.Value, want)
				}
				got++
			}
		})
	}
}

func listOffset(t *testing.T, addr, topic string, p int32, ts int64) int64 {
	t.Helper()
	w := dialWire(t, addr)
	resp := w.roundTrip(listOffsetsRequest(7, topic, p, ts)).(*kmsg.ListOffsetsResponse)
	rp := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
		t.Fatalf("ListOffsets %s/%d: %v", topic, p, err)
	}
	w.c.Close()
	return rp.Offset
}

func listEnd(t *testing.T, addr, topic string, p int32) int64 {
	t.Helper()
	return listOffset(t, addr, topic, p, -1)
}

func listStart(t *testing.T, addr, topic string, p int32) int64 {
	t.Helper()
	return listOffset(t, addr, topic, p, -2)
}

// halfClose shuts the write side: the broker sees end of input.
func halfClose(t *testing.T, w *wireConn) {
	t.Helper()
	if err := w.c.(*net.TCPConn).CloseWrite(); err != nil && !isConnClosed(err) {
		t.Fatalf("half-close: %v", err)
	}
}

// rawHeader is a request header v1 (key, version, correlation id, client
// id), without a size prefix or tagged fields.
func rawHeader(key, version int16, corr int32, clientID string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	return append(b, clientID...)
}

// requestHeaderBytes is the size of the header encodeRequest writes for
// req, after the size prefix.
func requestHeaderBytes(req kmsg.Request) int {
	n := 2 + 2 + 4 + 2 + len("skein-e2e")
	if req.IsFlexible() {
		n++ // empty tagged fields
	}
	return n
}

// makeBatch builds an uncompressed record batch (magic 2, no producer id)
// holding values, with a correct length and CRC.
func makeBatch(values ...string) []byte {
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)}
		body := r.AppendTo(nil)[1:] // drop the zero length varint
		recs = kbin.AppendVarint(recs, int32(len(body)))
		recs = append(recs, body...)
	}
	now := time.Now().UnixMilli()
	b := (&kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(len(values) - 1),
		FirstTimestamp:       now,
		MaxTimestamp:         now,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(values)),
		Records:              recs,
	}).AppendTo(nil)
	binary.BigEndian.PutUint32(b[batchLengthAt:], uint32(len(b)-batchLengthAt-4))
	binary.BigEndian.PutUint32(b[batchCRCAt:], crc32.Checksum(b[batchAttributesAt:], castagnoli))
	return b
}

func metadataRequest(version int16, topics ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = version
	req.AllowAutoTopicCreation = true
	for _, tp := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(tp)
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// metadataRequestNoCreate asks for all topics.
func metadataRequestNoCreate(version int16) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = version
	req.Topics = nil
	return req
}

func createTopicsRequest(version int16, topic string, partitions int32, rf int16, configs map[string]*string) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = version
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = topic
	rt.NumPartitions = partitions
	rt.ReplicationFactor = rf
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, v
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

func produceRequest(version, acks int16, topic string, partition int32, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = acks
	req.TimeoutMillis = 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func listOffsetsRequest(version int16, topic string, partition int32, ts int64) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = version
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = partition
	rp.Timestamp = ts
	rp.CurrentLeaderEpoch = -1
	rp.MaxNumOffsets = 1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func fetchRequest(version int16, topic string, partition int32, offset int64, maxBytes, partitionMaxBytes int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = version
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = maxBytes
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = partitionMaxBytes
	rp.CurrentLeaderEpoch = -1
	rp.LogStartOffset = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func deleteRecordsRequest(version int16, topic string, partition int32, offset int64) *kmsg.DeleteRecordsRequest {
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.Version = version
	req.TimeoutMillis = 30000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition = partition
	rp.Offset = offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// expectProduceCodes checks that every partition in resp has want's code
// (nil: no error).
func expectProduceCodes(t *testing.T, resp *kmsg.ProduceResponse, want *kerr.Error) {
	t.Helper()
	var code int16
	if want != nil {
		code = want.Code
	}
	if len(resp.Topics) == 0 {
		t.Fatalf("no topics in the produce response")
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != code {
				msg := ""
				if rp.ErrorMessage != nil {
					msg = ": " + *rp.ErrorMessage
				}
				t.Errorf("%s/%d: %v%s, want %v", rt.Topic, rp.Partition, kerr.ErrorForCode(rp.ErrorCode), msg, want)
			}
		}
	}
}

// fetchCode returns the top-level error of resp, or else its only
// partition's.
func fetchCode(t *testing.T, resp *kmsg.FetchResponse) int16 {
	t.Helper()
	if resp.ErrorCode != 0 {
		return resp.ErrorCode
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch response has %d topics", len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}
