package catalog

import "strings"

// ValidSemver reports whether v is a semantic version 2.0.0 as defined by
// the grammar at https://semver.org/spec/v2.0.0.html: MAJOR.MINOR.PATCH,
// each a decimal number without leading zeros, optionally followed by a
// pre-release ("-" and dot-separated identifiers; numeric ones without
// leading zeros) and by build metadata ("+" and dot-separated
// identifiers). Identifiers are non-empty and use only [0-9A-Za-z-].
// A "v" prefix, surrounding spaces and missing components are rejected.
func ValidSemver(v string) bool {
	// Neither the core nor a pre-release can hold '+', so the first '+'
	// starts the build metadata; the core cannot hold '-', so the first
	// '-' before it starts the pre-release.
	rest, build, hasBuild := strings.Cut(v, "+")
	if hasBuild && !validIdentifiers(build, false) {
		return false
	}
	core, pre, hasPre := strings.Cut(rest, "-")
	if hasPre && !validIdentifiers(pre, true) {
		return false
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if !isDigits(p) || (len(p) > 1 && p[0] == '0') {
			return false
		}
	}
	return true
}

// validIdentifiers checks a dot-separated list of pre-release (numeric
// identifiers may not have leading zeros) or build identifiers.
func validIdentifiers(s string, prerelease bool) bool {
	for id := range strings.SplitSeq(s, ".") {
		if id == "" {
			return false
		}
		for i := 0; i < len(id); i++ {
			c := id[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return false
			}
		}
		if prerelease && len(id) > 1 && id[0] == '0' && isDigits(id) {
			return false
		}
	}
	return true
}

// isDigits reports whether s is a non-empty string of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
