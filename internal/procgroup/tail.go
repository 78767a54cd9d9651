package procgroup

import (
	"strings"
	"sync"
)

// Tail keeps the last Max bytes written to it: a child's output, to show
// when it fails. It is safe for concurrent use; the zero value keeps
// nothing.
type Tail struct {
	Max int

	mu  sync.Mutex
	buf []byte
}

// Write keeps the end of p and always succeeds.
func (b *Tail) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.Max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

// String is what was kept, without surrounding space.
func (b *Tail) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(string(b.buf))
}
