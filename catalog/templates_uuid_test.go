package catalog

import "testing"

// TestUUIDv5 checks the name-based UUID against RFC 9562's example
// namespaces, with values from Python's uuid module.
func TestUUIDv5(t *testing.T) {
	nameSpaceDNS := uuid{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	for _, tt := range []struct {
		ns   uuid
		name string
		want string
	}{
		{nameSpaceDNS, "python.org", "886313e1-3b8a-5372-9b90-0c9aee199e5d"},
		{nameSpaceURL, "brokerkit:broker:brokerkit", "853680d3-49d2-56d0-9ba7-803b80cfee4b"},
	} {
		if got := uuidString(uuidV5(tt.ns, tt.name)); got != tt.want {
			t.Errorf("UUIDv5(%s, %q) = %s, want %s", uuidString(tt.ns), tt.name, got, tt.want)
		}
	}
}
