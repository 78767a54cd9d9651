package catalog

import (
	"encoding/json"
	"fmt"
	"time"
)

// String returns the duration as Go writes it: "720h0m0s".
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes String. A negative Duration is an error, so that
// what is written can always be read back.
func (d Duration) MarshalText() ([]byte, error) {
	if d < 0 {
		return nil, fmt.Errorf("catalog: duration %s must not be negative", d)
	}
	return []byte(d.String()), nil
}

// UnmarshalText reads a Go duration string ([time.ParseDuration]:
// "720h", "90m", "1h30m"). Text that does not parse, and a negative
// duration, are errors that quote the text (durations are not secret).
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("catalog: %q is not a duration such as \"720h\" or \"90m\"", s)
	}
	if v < 0 {
		return fmt.Errorf("catalog: duration %q must not be negative", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes MarshalText as a JSON string: "720h0m0s".
func (d Duration) MarshalJSON() ([]byte, error) {
	b, err := d.MarshalText()
	if err != nil {
		return nil, err
	}
	return json.Marshal(string(b))
}

// UnmarshalJSON reads a JSON string as UnmarshalText does. null leaves d
// unchanged, as encoding/json does for other types; a number is an
// error, since it would have no unit.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("catalog: a duration must be a string such as \"720h\", not %s", b)
	}
	return d.UnmarshalText([]byte(s))
}
