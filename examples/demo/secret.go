package main

import (
	"io"

	"github.com/brokerkit/brokerkit/internal/secretyaml"
)

// redacted stands for every value of the printed Secret.
const redacted = "<redacted>"

// writeRedactedSecret writes the Kubernetes Secret a platform would store
// for a binding, with creds' keys as they are and every value replaced by
// "<redacted>": the demo shows the Secret's shape, not its contents.
// (examples/osb's bind -o secret prints the real values, for kubectl.)
func writeRedactedSecret(w io.Writer, name, namespace string, creds map[string]any) {
	data := make(map[string]string, len(creds))
	for k := range creds {
		data[k] = redacted
	}
	_ = secretyaml.Write(w, name, namespace, data)
}
