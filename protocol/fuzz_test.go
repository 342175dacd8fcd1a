package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// seedRequests returns real encoded requests (as a client sends them, with
// their size prefix) to seed the fuzzers.
func seedRequests() [][]byte {
	var out [][]byte
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("seed"))
	md := kmsg.NewPtrMetadataRequest()
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("t")}}
	prod := kmsg.NewPtrProduceRequest()
	prod.Acks = -1
	prod.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: []byte{0, 1, 2, 3}}}}}
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Topics = []kmsg.FetchRequestTopic{{Topic: "t", Partitions: []kmsg.FetchRequestTopicPartition{{Partition: 0}}}}
	for _, r := range []kmsg.Request{md, prod, fetch, kmsg.NewPtrApiVersionsRequest(), kmsg.NewPtrCreateTopicsRequest()} {
		for _, v := range []int16{0, r.MaxVersion() / 2, r.MaxVersion()} {
			r.SetVersion(v)
			out = append(out, f.AppendRequest(nil, r, 1))
		}
	}
	return out
}

// FuzzFrame feeds arbitrary bytes through the connection's read path:
// the size prefix check, the header, and the body decode of whatever API
// key and version the bytes name. It must never panic, and a decoded
// request must re-encode.
func FuzzFrame(f *testing.F) {
	for _, s := range seedRequests() {
		f.Add(s)
	}
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 1 << 20
		r := bytes.NewReader(data)
		for {
			size, err := ReadFrameSize(r, max)
			if err != nil {
				if size != 0 {
					t.Fatalf("size %d returned with error %v", size, err)
				}
				return
			}
			if size < minRequestBytes || size > max {
				t.Fatalf("accepted size %d", size)
			}
			frame := make([]byte, size)
			if n, _ := r.Read(frame); n < int(size) {
				return
			}
			decodeFrame(t, frame)
		}
	})
}

// FuzzDecodeRequest decodes arbitrary bodies under every API key and
// version kmsg knows.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range seedRequests() {
		f.Add(s[4:])
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		decodeFrame(t, frame)
	})
}

func decodeFrame(t *testing.T, frame []byte) {
	h, err := ParseHeader(frame)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("header error not ErrMalformed: %v", err)
		}
		return
	}
	probe := kmsg.RequestForKey(h.Key)
	if probe == nil || h.Version < 0 || h.Version > probe.MaxVersion() {
		return // the server closes the connection before decoding
	}
	req, err := DecodeRequest(frame, &h)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("decode error not ErrMalformed: %v", err)
		}
		return
	}
	// Whatever decoded must encode again without panicking.
	_ = req.AppendTo(nil)
}

func TestReadFrameSizeLimits(t *testing.T) {
	for _, c := range []struct {
		size int32
		ok   bool
	}{{-1, false}, {0, false}, {9, false}, {10, true}, {1 << 20, true}, {1<<20 + 1, false}, {1<<31 - 1, false}} {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(c.size))
		got, err := ReadFrameSize(bytes.NewReader(b[:]), 1<<20)
		if (err == nil) != c.ok || (c.ok && got != c.size) {
			t.Errorf("size %d: got %d, %v", c.size, got, err)
		}
	}
}
