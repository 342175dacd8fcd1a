package clustertest

import (
	"fmt"
	"time"
)

// VerifyOptions tune VerifyTopic.
type VerifyOptions struct {
	// Tail, if set, is checked against the final log.
	Tail *Tail
	// Group names the consumer group that reads the topic (default
	// "<topic>-verify").
	Group string
	// KeepRunning leaves the cluster running: the replicas' files are
	// then not compared.
	KeepRunning bool
}

// VerifyTopic checks everything the ledger knows about its topic once the
// producers have stopped:
//
//   - every partition gets all its replicas back in the ISR;
//   - a new consumer group reads every partition from offset 0 to its
//     high watermark, and Ledger.Verify accepts what it read (every
//     acknowledged record exactly once at its offset, per producer in
//     order, nothing unknown);
//   - the tail consumer, if any, saw no gap and nothing the final log
//     does not hold;
//   - then, with the whole cluster stopped, every in-sync replica's
//     segment files hold byte-identical batches up to the high
//     watermark, and they decode to the records the group read.
//
// Problems are reported with t.Errorf. It stops the cluster unless
// KeepRunning.
func VerifyTopic(c *Cluster, l *Ledger, o VerifyOptions) {
	t := c.T
	t.Helper()
	for _, p := range l.Problems() {
		t.Errorf("producers: %s", p)
	}
	infos := c.WaitFullISR(2*time.Minute, l.Topic, l.Partitions)
	hws, err := HighWatermarks(c, l.Topic)
	if err != nil {
		t.Fatalf("high watermarks of %s: %v", l.Topic, err)
	}
	group := o.Group
	if group == "" {
		group = l.Topic + "-verify"
	}
	start := time.Now()
	read, err := ConsumeGroup(c, l.Topic, group, hws, 2*time.Minute)
	if err != nil {
		t.Fatalf("reading %s through a consumer group: %v", l.Topic, err)
	}
	t.Logf("verify: group %s read %s to the high watermarks %v in %v", group, l.Topic, hws, time.Since(start).Round(time.Millisecond))
	for p := int32(0); p < l.Partitions; p++ {
		for _, pr := range l.Verify(p, read[p]) {
			t.Errorf("group read: %s", pr)
		}
	}
	if o.Tail != nil {
		o.Tail.Stop()
		t.Logf("verify: tail consumer %s", o.Tail.Summary())
		for _, pr := range o.Tail.Check(read) {
			t.Errorf("tail consumer: %s", pr)
		}
	}
	if o.KeepRunning {
		return
	}
	c.StopAll()
	for p := int32(0); p < l.Partitions; p++ {
		info := infos[p]
		batches, err := CompareReplicas(c, l.Topic, p, hws[p], info.ISR)
		if err != nil {
			t.Errorf("replica logs: %v", err)
			continue
		}
		recs, err := Records(l.Topic, p, batches)
		if err != nil {
			t.Errorf("replica logs of %s-%d: decoding: %v", l.Topic, p, err)
			continue
		}
		disk := Lite(recs)
		if len(disk) != len(read[p]) {
			t.Errorf("%s-%d: the replicas hold %d records up to the high watermark %d, the group read %d", l.Topic, p, len(disk), hws[p], len(read[p]))
			continue
		}
		for i := range disk {
			if disk[i] != read[p][i] {
				t.Errorf("%s-%d offset %d: the replicas hold %.50q, the group read %.50q", l.Topic, p, disk[i].Offset, disk[i].Value, read[p][i].Value)
				break
			}
		}
		t.Logf("verify: %s-%d: %d batches, %d records byte-identical on replicas %v up to the high watermark %d", l.Topic, p, len(batches), len(disk), info.ISR, hws[p])
	}
}

// Stats is min, median and max of durations.
func Stats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := append([]time.Duration(nil), ds...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return fmt.Sprintf("n=%d min %v median %v max %v", len(s), r(s[0]), r(s[len(s)/2]), r(s[len(s)-1]))
}
