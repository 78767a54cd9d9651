package store

import (
	"bytes"
	"sync"

	"github.com/brokerkit/brokerkit/provisioner"
)

// recordCache keeps decoded records with the stored bytes they were
// decoded from. A lookup is given the bytes stored now, read in the
// caller's transaction, and hits only if they are the same: the cache
// never decides what Get returns, it only saves decoding it again, so it
// needs no invalidation to be correct (Delete drops entries to free
// memory early). Decoding a record (encoding/json, with its times and
// maps) costs far more than comparing its bytes and cloning it; a
// platform polling last_operation reads the same record again and again.
//
// It holds at most max entries; when full, an arbitrary entry makes room.
// A nil *recordCache caches nothing. It is safe for concurrent use.
type recordCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]cachedRecord
}

type cachedRecord struct {
	raw []byte
	rec *provisioner.Record // never handed out: get returns clones
}

func newRecordCache(max int) *recordCache {
	return &recordCache{max: max, entries: make(map[string]cachedRecord)}
}

// get returns a copy of the record decoded from raw for id, or nil.
func (c *recordCache) get(id string, raw []byte) *provisioner.Record {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	e, ok := c.entries[id]
	c.mu.Unlock()
	if !ok || !bytes.Equal(e.raw, raw) {
		return nil
	}
	return e.rec.Clone()
}

// put keeps a copy of rec, decoded from raw for id. raw may be bbolt's
// memory, valid only in its transaction: put copies it.
func (c *recordCache) put(id string, raw []byte, rec *provisioner.Record) {
	if c == nil {
		return
	}
	e := cachedRecord{raw: bytes.Clone(raw), rec: rec.Clone()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[id]; !ok && len(c.entries) >= c.max {
		for k := range c.entries { // an arbitrary one: map order is random
			delete(c.entries, k)
			break
		}
	}
	c.entries[id] = e
}

// forget drops id's entry.
func (c *recordCache) forget(id string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.entries, id)
	c.mu.Unlock()
}

// len returns the number of entries, for tests.
func (c *recordCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
