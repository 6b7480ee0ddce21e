package wechatauth

import "testing"

// TestFlowKindsAreDistinct: each flow's file defines its own kind, and the
// flow cookie routes a callback by it, so two flows of one kind would hand
// one's logins to the other.
func TestFlowKindsAreDistinct(t *testing.T) {
	kinds := map[string]flowKind{
		"legacy": legacyFlowKind, "mp": kindMP, "desktop": kindDesktop, "relay client": kindRelayClient,
		"relayed": kindRelayed, "component": kindComponent, "wecom": kindWeCom, "wecom desktop": kindWeComDesktop,
	}
	seen := map[flowKind]string{}
	for name, k := range kinds {
		if other, dup := seen[k]; dup {
			t.Errorf("flows %s and %s share kind %d", name, other, k)
		}
		seen[k] = name
	}
	for _, fl := range []signInFlow{&mpFlow{}, &desktopFlow{}, &relayClientFlow{}, &relayedFlow{mpFlow: &mpFlow{}}, &componentFlow{}, &wecomFlow{}, &wecomFlow{desktop: true}} {
		if fl.kind() == legacyFlowKind {
			t.Errorf("%T has the legacy kind", fl)
		}
	}
}
