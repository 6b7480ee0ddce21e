package wechat

import (
	"context"
	"net/url"
)

// pathWeComAgent is cgi-bin/agent/get (path 90227): the app as WeCom keeps
// it, which is how the doctor reads the console settings a sign-in depends on.
const pathWeComAgent = "/cgi-bin/agent/get"

// WeComAgent is what cgi-bin/agent/get says of the client's own app: its
// visible range (可见范围), trusted domain (可信域名) and whether it is
// disabled. A token answers for its own app only (301002 for another).
type WeComAgent struct {
	AgentID int64  `json:"agentid"`
	Name    string `json:"name"`
	// AllowUserInfos, AllowParties and AllowTags are the visible range:
	// members, departments (each with its sub-departments) and tags.
	AllowUserInfos struct {
		User []struct {
			UserID string `json:"userid"`
		} `json:"user"`
	} `json:"allow_userinfos"`
	AllowParties struct {
		PartyID []int64 `json:"partyid"`
	} `json:"allow_partys"`
	AllowTags struct {
		TagID []int64 `json:"tagid"`
	} `json:"allow_tags"`
	// Close is 1 when the app is disabled (停用).
	Close int `json:"close"`
	// RedirectDomain is the app's 可信域名, the host sign-in callbacks must use.
	RedirectDomain string `json:"redirect_domain"`
}

// VisibleNobody reports an empty visible range: no member can use the app.
func (a *WeComAgent) VisibleNobody() bool {
	return len(a.AllowUserInfos.User) == 0 && len(a.AllowParties.PartyID) == 0 && len(a.AllowTags.TagID) == 0
}

// Agent reads the client's app at cgi-bin/agent/get. Like every data call
// it answers 60020 from an IP outside the app's 企业可信IP.
func (w *WeComClient) Agent(ctx context.Context) (*WeComAgent, error) {
	var res WeComAgent
	q := url.Values{"agentid": {w.agentID}}
	if err := w.doToken(ctx, request{op: pathWeComAgent, method: "GET", query: q, retry: true}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
