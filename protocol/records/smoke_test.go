package records

import "testing"

func TestSmoke(t *testing.T) {
	for c := CodecNone; c <= CodecZstd; c++ {
		b := BuildBatch(c, 1000, []Record{{Key: []byte("k"), Value: []byte("v"), Headers: []Header{{Key: "h", Value: []byte("x")}}}, {Value: []byte("v2"), TimestampDelta: 5}})
		info, err := Validate(b, DefaultLimits(1000), nil)
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		if info.NumRecords != 2 || info.MaxTimestamp != 1005 || info.Size != len(b) {
			t.Fatalf("%v: %+v", c, info)
		}
	}
}
