package wechatauth

import (
	"strings"
	"testing"
)

func TestValidStateAdmitsOnlyTheNonceAlphabetAndLength(t *testing.T) {
	good := randomAlnum(stateLen)
	if !validState(good) {
		t.Fatalf("validState refuses its own nonce %q", good)
	}
	for _, s := range []string{"", good[:stateLen-1], good + "a", good[:stateLen-1] + "-", good[:stateLen-1] + "_", good[:stateLen-1] + "=", good[:stateLen-1] + "\x00", strings.Repeat("é", stateLen/2), strings.Repeat("a", 128)} {
		if validState(s) {
			t.Errorf("validState(%q) = true", s)
		}
	}
}
