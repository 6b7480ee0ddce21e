package wechatauth

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// WeCom sign-in as flows (signin.go): inside the WeCom client, WeCom's
// authorize page signs the member in silently (or asks once, under
// privateinfo); in other desktop browsers, WeCom's QR login page, scanned
// with WeCom on the phone. Both end at the shared callback (state, flow
// cookie, code claimed once across replicas), and both redeem the code with
// the app's access_token and admit the member by wecomSignIn
// (wecom_member.go). A WeCom site signs in no one else: personal WeChat and
// phone browsers get a page saying to open the link in WeCom.

// The WeCom flows in the flow cookie.
const (
	kindWeCom        flowKind = 8
	kindWeComDesktop flowKind = 9
)

// endWeComRefused ends a login WeCom completed for someone this site does
// not admit; loginEnd.ref holds the reason (wecomRefused*). Only the WeCom
// flows produce it, and their finish renders it.
const endWeComRefused ending = 0x80

// wecomFlow is one of the two WeCom flows.
type wecomFlow struct {
	in      *wecomSignIn
	source  *appSource // sourceWeCom for the corp
	desktop bool       // the QR login page, for desktop browsers outside WeCom
	links   *links
	logins  *logins
	logger  *zap.Logger
}

// isWeCom reports the WeCom client (phone or desktop app): "wxwork/" in its
// User-Agent, which also says MicroMessenger (docs/wechat.md §11).
func isWeCom(r *http.Request) bool { return strings.Contains(r.Header.Get("User-Agent"), "wxwork/") }

func (f *wecomFlow) kind() flowKind {
	if f.desktop {
		return kindWeComDesktop
	}
	return kindWeCom
}

// serves the WeCom client, or (the QR flow) a desktop browser that is
// neither WeCom nor WeChat: a QR code on a phone's own screen cannot be
// scanned by that phone, and personal WeChat cannot sign into WeCom.
func (f *wecomFlow) serves(r *http.Request) bool {
	if !f.desktop {
		return isWeCom(r)
	}
	ua := r.Header.Get("User-Agent")
	return !strings.Contains(ua, "wxwork/") && !strings.Contains(ua, "MicroMessenger/") && !isPhone(r)
}

// loginScope is the wecom block's scope inside WeCom; the QR login knows
// snsapi_base only.
func (f *wecomFlow) loginScope(string) string {
	if f.desktop {
		return wechat.WeComScopeBase
	}
	return f.in.cfg.wecomScope()
}

func (f *wecomFlow) begin(site origin, fs flowState) (string, error) {
	cb := f.links.endpoint(site, "callback")
	if f.desktop {
		return f.in.api.LoginURL(cb, fs.State), nil
	}
	return f.in.api.AuthorizeURL(cb, fs.Scope, fs.State), nil
}

// owns the sessions of this corp's app (wecomSession).
func (f *wecomFlow) owns(s *Session) (*appSource, bool) {
	return f.source, s.AppID == f.in.api.CorpID() && strings.HasPrefix(s.Extra, wecomExtraPrefix)
}

func (f *wecomFlow) label() string {
	if f.desktop {
		return "sign_in_wecom_desktop"
	}
	return "sign_in_wecom"
}

func (f *wecomFlow) codeApp() string { return f.in.api.CorpID() }

// redeem admits the member behind code. A used or expired code (40029)
// goes back as WeCom's error, so the callback restarts the login silently
// once; a refusal and a setting to fix end here, logged for the operator.
func (f *wecomFlow) redeem(ctx context.Context, fs flowState, code string) (loginEnd, error) {
	m, err := f.in.member(ctx, code)
	var refused *wecomRefusal
	var conf *wecomConfigError
	switch {
	case err == nil:
		return loginEnd{ending: endSession, sess: wecomSession(f.in.api.CorpID(), m)}, nil
	case errors.As(err, &refused):
		lvl := zap.InfoLevel
		if refused.Reason == wecomRefusedInvisible {
			lvl = zap.WarnLevel // perhaps a visible range set too narrow
		}
		if ce := f.logger.Check(lvl, "WeCom sign-in refused"); ce != nil {
			ce.Write(zap.String("reason", refused.Reason), zap.String("who", refused.Who), zap.NamedError("wecom", refused.Err))
		}
		return loginEnd{ending: endWeComRefused, ref: refused.Reason}, nil
	case errors.As(err, &conf):
		if ce := f.logger.Check(zap.ErrorLevel, "WeCom refused the app's settings: fix them in the WeCom admin console or the wecom block"); ce != nil {
			ce.Write(zap.Int("errcode", wechat.Code(err)), zap.String("corp_id", f.in.api.CorpID()),
				zap.String("agent_id", f.in.api.AgentID()), zap.Error(conf.err))
		}
		return loginEnd{ending: endMisconfigured, ref: "errcode " + strconv.Itoa(wechat.Code(err))}, nil
	}
	return loginEnd{}, err
}

// finish renders the endings whose pages are WeCom's own (a refusal, a
// setting to fix) and leaves the rest to the shared finish.
func (f *wecomFlow) finish(w http.ResponseWriter, r *http.Request, site origin, fs flowState, end loginEnd) error {
	switch end.ending {
	case endWeComRefused, endMisconfigured, endDeclined:
		f.logins.cookies.expire(w, site, fs.State)
	default:
		// wecomPlain is this flow without finish, so the shared finish
		// does not hand the login back here.
		return f.logins.finish(w, r, site, wecomPlain{f}, fs, end)
	}
	if end.ending == endDeclined {
		procMetrics.loginCompleted(fs.Scope, loginDeclined)
		f.logins.pages.show(w, r, pageWeComDeclined, pageValues{ActionURL: f.links.loginURL(site, fs.Return, f.links.scope)})
		return nil
	}
	if end.ending == endMisconfigured {
		procMetrics.loginCompleted(fs.Scope, loginConfigError)
		f.logins.pages.show(w, r, pageWeComMisconfigured, pageValues{ActionURL: f.links.loginURL(site, fs.Return, f.links.scope), Ref: end.ref})
		return nil
	}
	procMetrics.loginCompleted(fs.Scope, loginRefused)
	f.logins.pages.show(w, r, wecomRefusalPage[end.ref], pageValues{Ref: end.ref})
	return nil
}

// localFinisher is a finisher whose sessions are issued here, by the
// shared finish: a finished login of it resumes (login.go).
type localFinisher interface{ issuesHere() bool }

// issuesHere: the WeCom flows' sessions are the shared finish's.
func (f *wecomFlow) issuesHere() bool { return true }

// wecomPlain hides finish: the shared finish renders its endings.
type wecomPlain struct{ signInFlow }

// wecomRefusalPage is the page for each reason a person WeCom signed in may
// not enter (visitortext.go).
var wecomRefusalPage = map[string]pageID{
	wecomRefusedNonMember: pageWeComNotMember, wecomRefusedCustomer: pageWeComCustomer,
	wecomRefusedLinkedCorp: pageWeComLinkedCorp, wecomRefusedInvisible: pageWeComInvisible,
	wecomRefusedInactive: pageWeComInactive, wecomRefusedNotAllowed: pageWeComNotAllowed,
}

// Interface guards.
var (
	_ codeFlow = (*wecomFlow)(nil)
	_ finisher = (*wecomFlow)(nil)
)
