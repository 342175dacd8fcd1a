package bench

import (
	"math/rand/v2"
)

// payloadPoolBytes is the size of the random buffer payloads are cut from.
// It is large enough that consecutive records rarely share content, so
// compression sees data as incompressible as real random payloads.
const payloadPoolBytes = 4 << 20

// payloads hands out random record values of one size. Values are views of
// a shared read-only buffer at random offsets, which avoids generating
// random bytes per record. Not safe for concurrent use.
type payloads struct {
	pool []byte
	size int
	rng  *rand.Rand
}

// newPayloads builds a payload source from seed.
func newPayloads(seed uint64, size int) *payloads {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var chachaSeed [32]byte
	for i := range chachaSeed {
		chachaSeed[i] = byte(rng.Uint32())
	}
	pool := make([]byte, payloadPoolBytes+size)
	// ChaCha8.Read fills the whole slice and never fails.
	_, _ = rand.NewChaCha8(chachaSeed).Read(pool)
	return &payloads{pool: pool, size: size, rng: rng}
}

// next returns a random payload; callers must not modify it.
func (p *payloads) next() []byte {
	off := p.rng.IntN(len(p.pool) - p.size + 1)
	return p.pool[off : off+p.size : off+p.size]
}
