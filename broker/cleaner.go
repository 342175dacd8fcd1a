package broker

import (
	"errors"
	"time"

	"github.com/skein-streaming/skein/storage"
)

// The log cleaner compacts partitions of topics whose cleanup.policy
// includes compact, one partition per pass (log.cleaner.threads=1): the
// one with the highest dirty ratio among those cleanable. It cleans only
// below the last stable offset, so records of open transactions are never
// rewritten. A pass that did work is followed at once by the next one;
// otherwise the cleaner waits log.cleaner.backoff.ms.

// logCleanerBackoff is Kafka's log.cleaner.backoff.ms default.
const logCleanerBackoff = 15 * time.Second

func (b *Broker) startCleaner() {
	cfg := storage.DefaultCleanerConfig()
	cfg.MaxDecompressedBytes = max(cfg.MaxDecompressedBytes, int(b.settings.brokerInt("message.max.bytes", 1048588))*4)
	cleaner := storage.NewCleaner(cfg)
	b.bgWG.Add(1)
	go func() {
		defer b.bgWG.Done()
		uncleanable := map[*partition]bool{}
		for {
			worked := b.cleanOnce(cleaner, uncleanable)
			wait := logCleanerBackoff
			if worked {
				wait = 0
			}
			select {
			case <-b.bgCtx.Done():
				return
			case <-time.After(wait):
			}
		}
	}()
}

// cleanOnce compacts the dirtiest cleanable partition, if any, and reports
// whether it did.
func (b *Broker) cleanOnce(c *storage.Cleaner, uncleanable map[*partition]bool) bool {
	var best *partition
	bestRatio := -1.0
	for _, p := range b.allPartitions() {
		if uncleanable[p] || !p.topic.settings.Load().storage.Compact {
			continue
		}
		info, err := p.log.Cleanable(p.lastStableOffset())
		if err != nil || !info.Cleanable {
			continue
		}
		if info.DirtyRatio > bestRatio {
			best, bestRatio = p, info.DirtyRatio
		}
	}
	if best == nil {
		return false
	}
	st, err := best.log.Compact(best.lastStableOffset(), c)
	switch {
	case errors.Is(err, storage.ErrCompactionAborted):
		b.log.Info("compaction aborted; retrying later", "topic", best.topic.name, "partition", best.index, "err", err)
		return false
	case storage.IsCorruption(err):
		uncleanable[best] = true
		b.log.Error("partition cannot be compacted: corrupt batch", "topic", best.topic.name, "partition", best.index, "err", err)
		return false
	case err != nil:
		b.log.Error("compaction failed", "topic", best.topic.name, "partition", best.index, "err", err)
		return false
	}
	b.log.Debug("compacted", "topic", best.topic.name, "partition", best.index, "stats", st)
	return true
}
