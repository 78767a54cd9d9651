package store

import (
	"errors"
	"fmt"

	"github.com/brokerkit/brokerkit/provisioner"
)

// Errors of the stores, beside [provisioner.ErrNotFound] and
// [provisioner.ErrVersionConflict]. Each is returned wrapped, with the
// instance ID or file path it concerns; find it with errors.Is.
var (
	// ErrInvalidRecord: Put was given a record no store may keep (nil,
	// without an InstanceID, or without an Operation). Nothing was
	// written; trying again cannot help.
	ErrInvalidRecord = errors.New("store: invalid record")
	// ErrLocked: OpenBolt could not lock the file within
	// BoltOptions.Timeout because another process (or another open Bolt
	// in this process) holds it.
	ErrLocked = errors.New("store: file is in use by another process")
	// ErrUnknownFormat: OpenBolt was given a file that is not a store of
	// a format this version reads.
	ErrUnknownFormat = errors.New("store: unknown file format")
	// ErrCorrupt: a stored record or index entry cannot be read.
	ErrCorrupt = errors.New("store: corrupt record")
)

func validate(rec *provisioner.Record) error {
	switch {
	case rec == nil:
		return fmt.Errorf("%w: nil record", ErrInvalidRecord)
	case rec.InstanceID == "":
		return fmt.Errorf("%w: empty instance ID", ErrInvalidRecord)
	case rec.Operation == nil:
		return fmt.Errorf("%w: record %q has no operation", ErrInvalidRecord, rec.InstanceID)
	}
	return nil
}
