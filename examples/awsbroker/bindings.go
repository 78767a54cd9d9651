package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bindingState is how far a binding's creation got.
type bindingState string

const (
	// bindingCreating: the record was written before the IAM calls; a
	// crash or an error may have left a user, a policy or keys behind. A
	// repeated bind finishes the work, an unbind removes it.
	bindingCreating bindingState = "creating"
	// bindingReady: the credentials were created and sealed.
	bindingReady bindingState = "ready"
)

// bindingRecord is what the broker keeps of one binding. It holds
// nothing secret in plain text: the credentials are sealed with the
// binding key, and the request's attributes are kept as an HMAC.
type bindingRecord struct {
	BindingID  string       `json:"binding_id"`
	InstanceID string       `json:"instance_id"`
	ServiceID  string       `json:"service_id"`
	PlanID     string       `json:"plan_id"`
	State      bindingState `json:"state"`
	// Digest is the HMAC of the bind request's attributes, to tell a
	// repeated bind (200) from a conflicting one (409).
	Digest string `json:"digest"`
	// UserName is the binding's IAM user, or "" when the instance has no
	// output a policy can name (then no user is created).
	UserName    string `json:"user_name,omitempty"`
	AccessKeyID string `json:"access_key_id,omitempty"`
	// Sealed is the credentials JSON sealed by the binding key.
	Sealed    []byte    `json:"sealed,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

var bindingsBucket = []byte("bindings")

// bindingStore keeps binding records in a bbolt file of their own: the
// instance store's interface has no room for them. Callers serialise
// access per binding (the backend's busy set); bbolt serialises writes.
type bindingStore struct {
	db   *bolt.DB
	path string
}

// openBindings opens (creating, mode 0600) the bindings file at path. A
// file held by another process fails after a second.
func openBindings(path string) (*bindingStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("bindings file %s is in use by another process", path)
	}
	if err != nil {
		return nil, fmt.Errorf("opening bindings file %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bindingsBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("initialising bindings file %s: %w", path, err)
	}
	return &bindingStore{db: db, path: path}, nil
}

// Close closes the file.
func (s *bindingStore) Close() error { return s.db.Close() }

// get returns the record of bindingID, or nil if there is none.
func (s *bindingStore) get(bindingID string) (*bindingRecord, error) {
	var rec *bindingRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bindingsBucket).Get([]byte(bindingID))
		if v == nil {
			return nil
		}
		rec = new(bindingRecord)
		return json.Unmarshal(v, rec)
	})
	if err != nil {
		return nil, fmt.Errorf("reading binding %q: %w", bindingID, err)
	}
	return rec, nil
}

// put writes rec.
func (s *bindingStore) put(rec *bindingRecord) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bindingsBucket).Put([]byte(rec.BindingID), v)
	})
	if err != nil {
		return fmt.Errorf("writing binding %q: %w", rec.BindingID, err)
	}
	return nil
}

// delete removes the record of bindingID, if any.
func (s *bindingStore) delete(bindingID string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bindingsBucket).Delete([]byte(bindingID))
	})
	if err != nil {
		return fmt.Errorf("deleting binding %q: %w", bindingID, err)
	}
	return nil
}

// ofInstance returns the IDs of the bindings of instanceID. It reads
// every record: a broker has few bindings.
func (s *bindingStore) ofInstance(instanceID string) ([]string, error) {
	var ids []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bindingsBucket).ForEach(func(k, v []byte) error {
			var rec bindingRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("binding %q: %w", k, err)
			}
			if rec.InstanceID == instanceID {
				ids = append(ids, rec.BindingID)
			}
			return nil
		})
	})
	return ids, err
}
