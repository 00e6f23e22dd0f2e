package awsemu

import (
	"strings"
	"testing"
)

// IAM's tag rules: letters, digits and spaces of any script and _.:/=+-@;
// keys of 1 to 128 characters, values of 0 to 256 (characters, not bytes).
func TestIAMTagValidation(t *testing.T) {
	for _, tc := range []struct {
		key, value string
		keyOK      bool
		valueOK    bool
	}{
		{"cordon:incident", "inc-0123456789abcdef", true, true},
		{"owner", "", true, true},
		{"", "x", false, true},
		{strings.Repeat("k", 128), strings.Repeat("v", 256), true, true},
		{strings.Repeat("k", 129), strings.Repeat("v", 257), false, false},
		{strings.Repeat("é", 128), strings.Repeat("日", 256), true, true}, // 2- and 3-byte characters
		{"Équipe 1", "Sécurité", true, true},
		{"bad#key", "bad;value", false, false},
		{"tab\tkey", "new\nline", false, false},
	} {
		if got := validTagKey(tc.key); got != tc.keyOK {
			t.Errorf("validTagKey(%q) = %v, want %v", tc.key, got, tc.keyOK)
		}
		if got := validTagValue(tc.value); got != tc.valueOK {
			t.Errorf("validTagValue(%q) = %v, want %v", tc.value, got, tc.valueOK)
		}
	}
}
