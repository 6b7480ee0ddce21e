package wechattest

import "time"

// EntryHeader says where a visit to the authorize page came from, as WeChat
// knows it and a test cannot otherwise tell: "menu" (the account's custom
// menu) or "chat" (a link in the account's chat). Browser.Entry sends it.
// WeChat's guide: a follower entering "from the account's chat or custom menu"
// gets snsapi_userinfo silently, without the consent page; forcePopup does not
// apply then.
const EntryHeader = "X-WeChat-Mock-Entry"

// fromAccount tells whether entry is one of the guide's special-case origins.
func fromAccount(entry string) bool { return entry == "menu" || entry == "chat" }

// WithRotatingRefreshTokens makes sns/oauth2/refresh_token answer a new
// refresh_token each time and invalidate the one it was given (40030
// afterwards). The new one keeps the old one's expiry: 30 days count from the
// authorization. Without it the simulator answers the same refresh_token, as
// WeChat was observed to; whether WeChat ever rotates is unverified, so a
// gateway is tested against both.
func WithRotatingRefreshTokens() Option { return func(s *Simulator) { s.rotateRefresh = true } }

// profile is a user's nickname and avatar as changed by SetProfile.
type profile struct{ nickname, headImgURL string }

// SetProfile changes user's nickname and avatar ("" avatar: one drawn by the
// simulator); sns/userinfo answers them from now on, through old and new web
// access_tokens alike.
func (s *Simulator) SetProfile(user, nickname, headImgURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.profiles == nil {
		s.profiles = map[string]profile{}
	}
	s.profiles[user] = profile{nickname, headImgURL}
}

// withProfile is u with the profile SetProfile gave it, if any.
func (s *Simulator) withProfile(u User) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.profiles[u.Name]; ok {
		u.Nickname, u.HeadImgURL = p.nickname, p.headImgURL
	}
	return u
}

// Withdraw is user withdrawing appID's authorization in WeChat (个人信息与权限
// 管理 → 已获取的信息 → 管理). WeChat documents no errcode for what follows; the
// simulator's choice (docs/wechat.md §1): every web access_token of that user
// and app answers 40003 on sns/auth and sns/userinfo, every refresh_token 40030,
// and the next snsapi_userinfo authorization shows the consent page again.
func (s *Simulator) Withdraw(appID, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range []map[string]*grant{s.webTokens, s.refreshes} {
		for _, g := range m {
			if g.app == appID && g.user == user {
				g.withdrawn = true
			}
		}
	}
	delete(s.consented, appID+"\x00"+user)
}

// rotateLocked replaces refresh_token rt (standing for g) by a new one with
// the same expiry and returns it; callers hold s.mu.
func (s *Simulator) rotateLocked(rt string, g *grant) string {
	next := randomRefreshToken()
	cp := *g
	s.refreshes[next] = &cp
	delete(s.refreshes, rt)
	return next
}

// expired tells whether t is past on the simulator's clock.
func (s *Simulator) expired(t time.Time) bool { return !s.now().Before(t) }
