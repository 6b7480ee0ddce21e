package wechat

import "errors"

// WebTokenAction is what a server that keeps a visitor's web (网页授权)
// access_token and refresh_token does after a call made with them: the
// decision table of docs/wechat.md §1 ("What each answer means for the
// tokens"). WeChat documents few of these codes per API (sns/auth lists only
// 40003, refresh only 40029), so the table is deliberately coarse: the
// refresh decides whether an authorization still stands.
type WebTokenAction uint8

const (
	// WebTokenValid: the call succeeded (a nil error).
	WebTokenValid WebTokenAction = iota
	// WebTokenRetryLater: WeChat gave no verdict on the tokens: a network
	// failure, an HTTP error, -1 (busy), a quota (45009, 45011), or a fault
	// of the account's configuration (IsConfig: wrong AppID, IP whitelist…),
	// which no sign-in would fix. Keep the tokens and the session; try later.
	WebTokenRetryLater
	// WebTokenRefresh: the access_token did not do (expired 42001, invalid
	// 40001/40014, 40003, 48001, or another refusal of sns/auth or
	// sns/userinfo): refresh it with the refresh_token, whose answer decides.
	WebTokenRefresh
	// WebTokenReauthorize: the authorization is gone: a refresh was refused
	// (40030 invalid, 42002 expired after 30 days, or any other refusal of a
	// refresh), or the user changed their password (42007, which voids both
	// tokens). The user must authorize again.
	WebTokenReauthorize
)

// String names the action for logs and tests.
func (a WebTokenAction) String() string {
	switch a {
	case WebTokenValid:
		return "valid"
	case WebTokenRetryLater:
		return "retry later"
	case WebTokenRefresh:
		return "refresh"
	case WebTokenReauthorize:
		return "reauthorize"
	}
	return "unknown"
}

// WebTokenActionOf classifies err from RefreshToken, CheckToken or UserInfo
// (and the third-party platform's component refresh). Only an answer WeChat
// gave about the tokens ends anything: a failure to reach WeChat never does.
func WebTokenActionOf(err error) WebTokenAction {
	if err == nil {
		return WebTokenValid
	}
	var ae *APIError
	if !errors.As(err, &ae) || IsBusy(err) || IsQuota(err) || IsConfig(err) {
		return WebTokenRetryLater
	}
	switch {
	case ae.Code == 42007:
		return WebTokenReauthorize
	case ae.Op == pathRefreshToken || ae.Op == pathComponentRefresh:
		// Reported: 40030 before the 30 days are up. Whatever the code, a
		// refused refresh leaves nothing to call WeChat with.
		return WebTokenReauthorize
	}
	return WebTokenRefresh
}

// NeedsReauthorization reports an answer after which the user must authorize
// again (WebTokenReauthorize): the refresh_token is refused or the user's
// password change voided both tokens.
func NeedsReauthorization(err error) bool { return WebTokenActionOf(err) == WebTokenReauthorize }
