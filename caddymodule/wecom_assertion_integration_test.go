package wechatauth_test

import (
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/wechat/wechattest"
)

// wecomClaims are assertionClaims with a WeCom identity's claims.
type wecomClaims struct {
	assertionClaims
	CorpID         string `json:"corpid"`
	UserID         string `json:"userid"`
	ExternalUserID string `json:"external_userid"`
}

// The signed assertion (assertion) on a WeCom site, verified with go-jose
// against the gateway's JWKS as an upstream would: a member's token names
// the corp and userid (never a userid as openid), a linked corp's member
// their own corp, and an admitted non-member's sub cannot meet a member's.
func TestWeComIdentitiesGetASignedAssertionNamingCorpAndUserID(t *testing.T) {
	g := wecomGatewayWith(t, "assertion", "allow_linked_corps wwlinked000000001\n\t\t\tallow_customers", nil)
	set := fetchJWKS(t, g.URL+"/wechat_auth/jwks.json")
	cases := []struct {
		who, sub, corp, userID string // userID "": a non-member
	}{
		{who: "zhangsan", sub: wechattest.DefaultCorpID + ":zhangsan", corp: wechattest.DefaultCorpID, userID: "zhangsan"},
		{who: "wwlinked000000001/zhaoliu", sub: wechattest.DefaultCorpID + ":wwlinked000000001/zhaoliu", corp: "wwlinked000000001", userID: "zhaoliu"},
		{who: "bob"}, // a customer: openid and external_userid, no userid
	}
	for _, tc := range cases {
		t.Run(tc.who, func(t *testing.T) {
			up := g.login(t, newWeComMember(tc.who), "/desk")
			tok := up.Header.Get("X-WeChat-Assertion")
			if tok == "" {
				t.Fatalf("the upstream received no X-WeChat-Assertion: %v", up.Header)
			}
			var c wecomClaims
			if err := verifyAssertionInto(tok, set, g.URL, g.URL, time.Now(), &c); err != nil {
				t.Fatalf("go-jose refuses the assertion: %v", err)
			}
			if c.AppID != wechattest.DefaultCorpID || c.Source != "wecom" || c.Scope != "snsapi_base" || c.UnionID != "" {
				t.Errorf("claims %+v: want appid the corp, source wecom, scope snsapi_base", c)
			}
			if tc.userID != "" {
				if c.Subject != tc.sub || c.CorpID != tc.corp || c.UserID != tc.userID || c.OpenID != "" || c.ExternalUserID != "" ||
					up.Header.Get("X-WeCom-UserID") != tc.userID {
					t.Errorf("claims sub %q corpid %q userid %q openid %q, want %q %q %q and no openid",
						c.Subject, c.CorpID, c.UserID, c.OpenID, tc.sub, tc.corp, tc.userID)
				}
				return
			}
			openID := up.Header.Get("X-WeCom-OpenID")
			if openID == "" || c.OpenID != openID || c.Subject != wechattest.DefaultCorpID+":openid:"+openID || c.UserID != "" ||
				c.ExternalUserID == "" || c.ExternalUserID != up.Header.Get("X-WeCom-ExternalUserID") {
				t.Errorf("customer claims %+v (X-WeCom-OpenID %q), want openid, external_userid and sub corp:openid:<openid>", c, openID)
			}
		})
	}
}
