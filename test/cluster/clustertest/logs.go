package clustertest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/storage"
)

// Batch is one record batch as a replica stores it.
type Batch struct {
	BaseOffset  int64
	LastOffset  int64
	LeaderEpoch int32
	Raw         []byte
}

// ReplicaLog reads a stopped node's log of topic-partition, from its log
// start to the exclusive offset end, with the storage package. It reads a
// copy of the partition directory, so the node's own files are left as
// they are. end must be at a batch boundary of the log (a high watermark
// is).
func (n *Node) ReplicaLog(topic string, partition int32, end int64) ([]Batch, error) {
	if n.Running() {
		return nil, fmt.Errorf("node %d is running; stop it before reading its log", n.ID)
	}
	src := filepath.Join(n.DataDir, topic+"-"+strconv.Itoa(int(partition)))
	if _, err := os.Stat(src); err != nil {
		return nil, fmt.Errorf("node %d: %w", n.ID, err)
	}
	dst, err := os.MkdirTemp(n.Dir, "read-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dst)
	if err := copyDir(src, dst); err != nil {
		return nil, err
	}
	l, err := storage.Open(dst, storage.DefaultConfig(), nil, nil)
	if err != nil {
		return nil, fmt.Errorf("node %d: %w", n.ID, err)
	}
	defer l.Close()
	if l.LogEndOffset() < end {
		return nil, fmt.Errorf("node %d: log of %s-%d ends at %d, before %d", n.ID, topic, partition, l.LogEndOffset(), end)
	}
	var out []Batch
	next := l.LogStartOffset()
	var buf []byte
	for next < end {
		res, err := l.Read(next, 1<<20, end, true, buf)
		if err != nil {
			return nil, fmt.Errorf("node %d: read %s-%d at %d: %w", n.ID, topic, partition, next, err)
		}
		if len(res.Data) == 0 {
			break
		}
		bs, err := splitBatches(res.Data)
		if err != nil {
			return nil, fmt.Errorf("node %d: %s-%d at %d: %w", n.ID, topic, partition, next, err)
		}
		out = append(out, bs...)
		next = res.NextOffset
	}
	if len(out) > 0 && out[len(out)-1].LastOffset+1 != end {
		return out, fmt.Errorf("node %d: %s-%d: batches end at %d, not at %d", n.ID, topic, partition, out[len(out)-1].LastOffset+1, end)
	}
	return out, nil
}

// splitBatches cuts data into whole v2 batches (copies).
func splitBatches(data []byte) ([]Batch, error) {
	var out []Batch
	for len(data) > 0 {
		if len(data) < 61 {
			return nil, fmt.Errorf("%d trailing bytes", len(data))
		}
		size := 12 + int(int32(binary.BigEndian.Uint32(data[8:])))
		if size < 61 || size > len(data) {
			return nil, fmt.Errorf("batch length %d with %d bytes left", size, len(data))
		}
		b := Batch{
			BaseOffset:  int64(binary.BigEndian.Uint64(data)),
			LeaderEpoch: int32(binary.BigEndian.Uint32(data[12:])),
			Raw:         bytes.Clone(data[:size]),
		}
		b.LastOffset = b.BaseOffset + int64(int32(binary.BigEndian.Uint32(data[23:])))
		out = append(out, b)
		data = data[size:]
	}
	return out, nil
}

// Records decodes batches (CRC checked) into records of topic-partition.
func Records(topic string, partition int32, batches []Batch) ([]*kgo.Record, error) {
	if len(batches) == 0 {
		return nil, nil
	}
	var raw []byte
	for _, b := range batches {
		raw = append(raw, b.Raw...)
	}
	fp := kmsg.NewFetchResponseTopicPartition()
	fp.Partition = partition
	fp.HighWatermark = batches[len(batches)-1].LastOffset + 1
	fp.RecordBatches = raw
	p, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
		Offset: batches[0].BaseOffset, Topic: topic, Partition: partition,
	}, &fp, kgo.DefaultDecompressor(), nil)
	if p.Err != nil {
		return nil, p.Err
	}
	return p.Records, nil
}

// CompareReplicas reads topic-partition up to end on every node of ids
// (which must be stopped) and checks that their batches are byte for byte
// the same, and that leader epochs never decrease along the log. It
// returns the batches.
func CompareReplicas(c *Cluster, topic string, partition int32, end int64, ids []int32) ([]Batch, error) {
	var ref []Batch
	var refID int32
	for i, id := range ids {
		bs, err := c.Node(id).ReplicaLog(topic, partition, end)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			ref, refID = bs, id
			continue
		}
		if len(bs) != len(ref) {
			return nil, fmt.Errorf("%s-%d up to %d: node %d has %d batches, node %d has %d", topic, partition, end, refID, len(ref), id, len(bs))
		}
		for j := range bs {
			if !bytes.Equal(bs[j].Raw, ref[j].Raw) {
				return nil, fmt.Errorf("%s-%d: batch %d (offset %d) differs between node %d (offset %d, epoch %d, %d bytes) and node %d (offset %d, epoch %d, %d bytes)",
					topic, partition, j, ref[j].BaseOffset, refID, ref[j].BaseOffset, ref[j].LeaderEpoch, len(ref[j].Raw), id, bs[j].BaseOffset, bs[j].LeaderEpoch, len(bs[j].Raw))
			}
		}
	}
	for j := 1; j < len(ref); j++ {
		if ref[j].LeaderEpoch < ref[j-1].LeaderEpoch {
			return nil, fmt.Errorf("%s-%d: batch at %d has leader epoch %d after epoch %d at %d", topic, partition, ref[j].BaseOffset, ref[j].LeaderEpoch, ref[j-1].LeaderEpoch, ref[j-1].BaseOffset)
		}
		if ref[j].BaseOffset != ref[j-1].LastOffset+1 {
			return nil, fmt.Errorf("%s-%d: batch at %d follows a batch ending at %d", topic, partition, ref[j].BaseOffset, ref[j-1].LastOffset)
		}
	}
	return ref, nil
}

// copyDir copies the regular files of src into dst.
func copyDir(src, dst string) error {
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
