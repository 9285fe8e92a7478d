// Package phonenumbers is github.com/nyaruka/phonenumbers v1.8.1 (MIT, see
// LICENSE), cut to parsing and formatting, with one change: the metadata
// loads on first use instead of in init (see metadata in
// metadatasource.go). Upstream's init parses it eagerly, ~18 ms and 2.5 MB
// of allocations at every start of every process that links the package,
// which was the largest part of a command-line sync's start-up. One test
// change: the regex-cache tests forget their patterns first (forgetRegex),
// so they pass when repeated (-count=N).
//
// Left out: carrier, geocoding, time-zone and short-number data and code.
// To update: copy the same files from the new upstream version, re-apply
// the change (its tests fail without it: lazy_test.go), run the tests.
package phonenumbers
