package server

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"gctdb/smbd/internal/wire"
)

func TestSeqWindow(t *testing.T) {
	w := newSeqWindow()
	assert.False(t, w.consume(1, 1), "id beyond the window")
	assert.True(t, w.consume(0, 1))
	assert.False(t, w.consume(0, 1), "ids are single use")
	assert.Equal(t, uint16(1), w.grant(1, 1, false))
	assert.Equal(t, uint16(10), w.grant(1, 10, true))
	// Out of order use keeps the window anchored at the lowest free id.
	assert.True(t, w.consume(5, 1))
	assert.True(t, w.consume(1, 4))
	assert.Equal(t, uint64(6), w.low)
	assert.False(t, w.consume(6, 100), "charge beyond the granted credits")
	// Grants never exceed the window size.
	w.grant(1, 65535, true)
	assert.LessOrEqual(t, w.size, uint64(MaxCredits))
}

func TestMatchPattern(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		match         bool
	}{
		{"*", "anything", true},
		{"*.txt", "FILE.TXT", true},
		{"*.txt", "file.doc", false},
		{"f?le", "file", true},
		{"f?le", "fle", false},
		{"file", "FILE", true},
		{"<.txt", "a.b.txt", true},
		{"a>", "a", true},
		{"a\"b", "a.b", true},
		{"***************************************x", "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", false},
	} {
		assert.Equal(t, tc.match, matchPattern(tc.pattern, tc.name), "%q ~ %q", tc.pattern, tc.name)
	}
}

func TestShortName(t *testing.T) {
	assert.Equal(t, "", shortName("README.TXT"), "already 8.3")
	sn := shortName("torture_search.txt")
	assert.Regexp(t, `^TORTU~[0-9A-Z]{2}\.TXT$`, sn)
	assert.Equal(t, sn, shortName("torture_search.txt"), "stable")
	assert.True(t, is83(shortName("a very long name with spaces.jpeg")))
}

func TestSplitStream(t *testing.T) {
	for _, tc := range []struct {
		in, base, stream string
		st               wire.Status
	}{
		{"file", "file", "", wire.StatusOK},
		{"file::$DATA", "file", "", wire.StatusOK},
		{"file:s", "file", "s", wire.StatusOK},
		{"dir\\file:s:$DATA", "dir\\file", "s", wire.StatusOK},
		{"file:s:$INDEX_ALLOCATION", "", "", wire.StatusObjectNameInvalid},
		{"file:", "", "", wire.StatusObjectNameInvalid},
		{"file:a\\b", "", "", wire.StatusObjectNameInvalid},
	} {
		base, stream, st := splitStream(tc.in)
		assert.Equal(t, tc.st, st, tc.in)
		if st == wire.StatusOK {
			assert.Equal(t, tc.base, base, tc.in)
			assert.Equal(t, tc.stream, stream, tc.in)
		}
	}
}

func TestSecurityDescriptorRoundTrip(t *testing.T) {
	raw := buildSecurityDescriptor(1000, 100, 0o640, false, secOwner|secGroup|secDACL)
	sd, err := parseSD(raw)
	if !assert.NoError(t, err) {
		return
	}
	assert.Equal(t, raw, sd.encode(secOwner|secGroup|secDACL))
	owner := sd.owner
	granted := grantedBy(sd, [][]byte{owner})
	assert.NotZero(t, granted&wire.FileWriteData, "owner may write with mode 0640")
	assert.Zero(t, grantedBy(sd, [][]byte{sidEveryone})&wire.FileReadData, "others may not read with mode 0640")
	_, err = parseSD(raw[:30])
	assert.Error(t, err)
}
