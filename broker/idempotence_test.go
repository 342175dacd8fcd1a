package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/skein-streaming/skein/protocol"
	"github.com/skein-streaming/skein/protocol/records"
)

// faultProxy forwards TCP connections to a broker and cuts them at random
// points, in either direction, as a flaky network does.
type faultProxy struct {
	ln     net.Listener
	target string
	rng    *rand.Rand
	mu     sync.Mutex
	// cuts counts connections cut.
	cuts atomic.Int64
	wg   sync.WaitGroup
	done chan struct{}
	// cutEveryBytes is the mean number of request bytes forwarded before
	// a connection is cut.
	cutEveryBytes int
}

// newFaultProxy forwards connections accepted on ln to target.
func newFaultProxy(t *testing.T, ln net.Listener, target string, seed uint64, cutEveryBytes int) *faultProxy {
	t.Helper()
	p := &faultProxy{ln: ln, target: target, rng: rand.New(rand.NewPCG(seed, seed)), done: make(chan struct{}), cutEveryBytes: cutEveryBytes}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		close(p.done)
		ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *faultProxy) budget() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return int64(p.rng.IntN(2*p.cutEveryBytes) + 1)
}

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		closeBoth := sync.OnceFunc(func() {
			c.Close()
			up.Close()
		})
		// Requests are cut after a random number of bytes (a request the
		// broker never sees whole); responses after a random number of
		// responses, dropping that response whole (a request the broker
		// processed whose answer is lost, so the client retries it).
		// The first responses of a connection always pass: franz-go
		// gives up on a broker that closes connections right after
		// ApiVersions, taking it for a SASL mismatch.
		reqBytes, respCount := p.budget(), 3+p.budget()%16
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			defer closeBoth()
			buf := make([]byte, 4096)
			for left := reqBytes; ; {
				n, err := c.Read(buf)
				if n > 0 {
					if left -= int64(n); left < 0 {
						up.Write(buf[:n+int(left)])
						p.cuts.Add(1)
						return
					}
					if _, werr := up.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() {
			defer p.wg.Done()
			defer closeBoth()
			var size [4]byte
			for left := respCount; ; left-- {
				if _, err := io.ReadFull(up, size[:]); err != nil {
					return
				}
				body := make([]byte, binary.BigEndian.Uint32(size[:]))
				if _, err := io.ReadFull(up, body); err != nil {
					return
				}
				if left == 1 {
					p.cuts.Add(1)
					return
				}
				if _, err := c.Write(append(size[:], body...)); err != nil {
					return
				}
			}
		}()
		go func() {
			<-p.done
			closeBoth()
		}()
	}
}

// TestIdempotentProducerThroughFaultyNetwork sends 100,000 records with
// franz-go's idempotent producer (acks=all, five requests in flight)
// through a proxy that cuts connections at random points, so requests and
// responses are lost and retried. Every record must be in the log exactly
// once, in the order it was produced, per partition.
func TestIdempotentProducerThroughFaultyNetwork(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SKEIN_PROXY_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("fault proxy seed %d (SKEIN_PROXY_SEED)", seed)
	dir := t.TempDir()
	// The broker advertises the proxy, so that every connection the
	// client makes after bootstrap also goes through it.
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxyPort := pl.Addr().(*net.TCPAddr).Port
	b, err := New(Config{
		NodeID:     1,
		DataDir:    dir,
		Listeners:  []protocol.ListenerConfig{{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"}},
		Advertised: []Advertised{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: int32(proxyPort)}},
		Settings:   map[string]string{"skein.admin.address": ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if code, msg := b.createTopic(ctx, "idem", 3, 1, nil, false); code != 0 {
		t.Fatal(msg)
	}
	proxy := newFaultProxy(t, pl, b.Addrs()[0].String(), seed, 256<<10)

	cl, err := kgo.NewClient(
		kgo.SeedBrokers(proxy.ln.Addr().String()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(2*time.Millisecond),
		// Small batches, so that requests fit between the proxy's cuts.
		kgo.ProducerBatchMaxBytes(16<<10),
		kgo.RecordRetries(1<<30),
		kgo.RetryTimeout(3*time.Minute),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("SKEIN_PROXY_RECORDS")); err == nil {
		n = v
	}
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		v := make([]byte, 8)
		binary.BigEndian.PutUint64(v, uint64(i))
		cl.Produce(ctx, &kgo.Record{Topic: "idem", Partition: int32(i % 3), Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d records failed, first: %v", f, firstErr.Load())
	}
	if proxy.cuts.Load() == 0 {
		t.Fatal("the proxy cut no connection: the test proved nothing")
	}
	t.Logf("connections cut: %d", proxy.cuts.Load())
	// Read each partition straight from the log.
	for part := int32(0); part < 3; part++ {
		p := b.lookupTopic("idem").partition(part)
		want := uint64(part)
		var buf []byte
		for off := int64(0); off < p.highWatermark(); {
			rr, err := p.log.Read(off, 1<<20, p.highWatermark(), true, buf)
			if err != nil {
				t.Fatal(err)
			}
			buf = rr.Data
			err = forEachRecordIn(rr.Data, func(rv records.RecordView) error {
				offset, v := rv.Offset, rv.Value
				got := binary.BigEndian.Uint64(v)
				if got != want {
					return errors.New("partition " + strconv.Itoa(int(part)) + " offset " + strconv.FormatInt(offset, 10) + ": record " + strconv.FormatUint(got, 10) + ", want " + strconv.FormatUint(want, 10))
				}
				want += 3
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			off = rr.NextOffset
		}
		if want < uint64(n) {
			t.Fatalf("partition %d ends before record %d", part, want)
		}
	}
}
