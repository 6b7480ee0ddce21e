package wechat

import (
	"net/url"
	"slices"
	"testing"
)

// TestEveryNonPublicValueIsASecret: a parameter added to a request later is
// redacted without anyone listing it; only the public ones are kept.
func TestEveryNonPublicValueIsASecret(t *testing.T) {
	c, err := New(Config{AppID: "wxA", AppSecret: "APP_SECRET"})
	if err != nil {
		t.Fatal(err)
	}
	got := c.secrets(request{
		query: url.Values{"component_access_token": {"CAT"}, "code": {"CODE"}, "openid": {"OID"}, "lang": {"en"}, "type": {"jsapi"}},
		body:  []byte(`{"grant_type":"client_credential","appid":"wxA","secret":"S2","component_verify_ticket":"CVT","force_refresh":false,"n":1}`),
	})
	for _, want := range []string{"APP_SECRET", "CAT", "CODE", "S2", "CVT"} {
		if !slices.Contains(got, want) {
			t.Errorf("secrets lack %q: %q", want, got)
		}
	}
	for _, public := range []string{"OID", "en", "jsapi", "client_credential", "wxA"} {
		if slices.Contains(got, public) {
			t.Errorf("secrets redact the public value %q", public)
		}
	}
}
