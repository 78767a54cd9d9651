// Package sealerkey keeps the 32-byte key of the controller's
// [provisioner.Sealer] in a file, so that what the Trackers sealed into
// their bolt files (a binding's SecretAccessKey, secret parameter values)
// can still be opened after a restart.
//
// # Usage
//
//	key, err := sealerkey.LoadOrCreate(filepath.Join(stateDir, "sealer.key"))
//	…
//	sealer, err := provisioner.NewAESSealer(key)
//
// The file holds the key in standard base64 (with or without a trailing
// newline) or as 32 raw bytes, so it can be a key of a Kubernetes Secret
// mounted as a volume. When the file does not exist, LoadOrCreate writes a
// new random key there (mode 0600); an existing file is never replaced.
//
// Keep the key apart from the bolt files where you can (a Secret volume):
// whoever has both can open the sealed values. A lost or changed key makes
// every sealed value unreadable.
//
// # Concurrency
//
// LoadOrCreate is safe to call from several processes at once: the file is
// created by a link that fails when it exists, so all callers get the key
// the first one wrote.
package sealerkey
