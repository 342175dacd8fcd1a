package broker

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
	"github.com/skein-streaming/skein/protocol/records"
)

type fuzzAddr struct{}

func (fuzzAddr) Network() string { return "tcp" }
func (fuzzAddr) String() string  { return "127.0.0.1:1" }

var _ net.Addr = fuzzAddr{}

// FuzzBrokerRequest decodes arbitrary request bodies under every served API
// key and version and runs them through the broker's handlers, resolving
// deferred replies with a short deadline. Handlers must never panic on
// decoded input and must answer every request (or, for acks=0, nothing).
func FuzzBrokerRequest(f *testing.F) {
	tb := startBroker(f, nil)
	ctx := context.Background()
	if code, msg := tb.createTopic(ctx, "fz", 2, 1, nil, false); code != 0 {
		f.Fatal(msg)
	}
	batch := records.BuildBatch(records.CodecNone, time.Now().UnixMilli(), []records.Record{{Key: []byte("k"), Value: []byte("v")}})
	fmtr := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fz"))
	for _, a := range tb.apis {
		if a == nil {
			continue
		}
		for v := a.min; v <= a.max; v++ {
			req := exampleRequest(a.key.Int16(), "fz", tb.lookupTopic("fz").id)
			if p, ok := req.(*kmsg.ProduceRequest); ok {
				p.Topics = []kmsg.ProduceRequestTopic{{Topic: "fz", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}}}}
			}
			req.SetVersion(v)
			f.Add(fmtr.AppendRequest(nil, req, 1)[4:])
		}
	}
	sess := &protocol.Session{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Local: fuzzAddr{}, Remote: fuzzAddr{}}
	f.Fuzz(func(t *testing.T, frame []byte) {
		h, err := protocol.ParseHeader(frame)
		if err != nil {
			return
		}
		minV, maxV, ok := tb.Versions(h.Key)
		if !ok || h.Version < minV || h.Version > maxV {
			return
		}
		msg, err := protocol.DecodeRequest(frame, &h)
		if err != nil {
			return
		}
		if manyPartitions(msg) {
			// Valid, but opening thousands of logs takes seconds and
			// reads as a hang to the fuzzing engine.
			return
		}
		reply := tb.Handle(ctx, &protocol.Request{Header: h, Msg: msg, Session: sess, Received: time.Now(), FrameBytes: len(frame)})
		resp := reply.Resp
		if reply.Wait != nil {
			wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			resp = reply.Wait(wctx)
			cancel()
		}
		if reply.Release != nil {
			defer reply.Release()
		}
		if resp == nil && !reply.NoResponse {
			t.Fatalf("%s v%d: no response", kmsg.NameForKey(h.Key), h.Version)
		}
		if resp != nil {
			_ = protocol.AppendResponse(nil, h.Key, h.CorrelationID, resp)
		}
	})
}

// manyPartitions reports whether a CreateTopics or CreatePartitions request
// asks for more partitions than the fuzz broker should open per input.
func manyPartitions(msg kmsg.Request) bool {
	const limit = 64
	switch r := msg.(type) {
	case *kmsg.CreateTopicsRequest:
		n := 0
		for _, t := range r.Topics {
			n += max(int(t.NumPartitions), len(t.ReplicaAssignment))
		}
		return n > limit
	case *kmsg.CreatePartitionsRequest:
		n := 0
		for _, t := range r.Topics {
			n += int(t.Count)
		}
		return n > limit
	}
	return false
}
