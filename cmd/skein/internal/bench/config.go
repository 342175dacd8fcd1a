package bench

import (
	"errors"
	"io"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Config describes one workload run. Fields a workload does not use are
// ignored.
type Config struct {
	// Topic is the topic to write to or read from.
	Topic string
	// RecordBytes is the value size of each produced record. e2e needs at
	// least e2eHeaderBytes.
	RecordBytes int
	// Records is the number of measured records; 0 runs for Duration
	// (produce, e2e) or drains the whole topic (consume).
	Records int64
	// Duration is the measured phase's length when Records is 0.
	Duration time.Duration
	// Warmup is how long to run before measuring (produce, e2e).
	Warmup time.Duration
	// Producers is the number of concurrent producer clients (produce).
	Producers int
	// Rate is the fixed produce rate in records per second (e2e).
	Rate int
	// ClientOpts are applied to every client: seed brokers and the like.
	ClientOpts []kgo.Opt
	// ProducerOpts are applied to producing clients: acks, linger,
	// compression. Compression must be set explicitly.
	ProducerOpts []kgo.Opt
	// Progress receives a status line every ProgressInterval; nil for
	// none.
	Progress         io.Writer
	ProgressInterval time.Duration
	// Seed seeds the payload generator.
	Seed uint64
}

func (c *Config) validate(needRecordBytes int) error {
	switch {
	case c.Topic == "":
		return errors.New("no topic")
	case c.RecordBytes < needRecordBytes:
		return errors.New("record size too small")
	case c.Records < 0:
		return errors.New("negative record count")
	case c.Records == 0 && c.Duration <= 0:
		return errors.New("give a record count or a positive duration")
	case c.Warmup < 0:
		return errors.New("negative warm-up")
	}
	return nil
}
