package wechatauth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat/msgcrypt"
)

func init() {
	caddy.RegisterModule(ComponentEvents{})
	httpcaddyfile.RegisterHandlerDirective("wechat_component_events", parseComponentEvents)
	// Before basic_auth, and so before wechat_auth (after basic_auth):
	// WeChat's servers have no session; a push proves itself with
	// msg_signature.
	httpcaddyfile.RegisterDirectiveOrder("wechat_component_events", httpcaddyfile.Before, "basic_auth")
}

// ComponentEvents is the third-party platform's 授权事件接收URL: WeChat POSTs
// the component_verify_ticket every 10 minutes and the authorized,
// updateauthorized and unauthorized events here, encrypted. It checks
// msg_signature before decrypting anything, refuses stale, oversized and
// repeated pushes, keeps the ticket and the authorizers in the wechat app's
// store (shared by every replica), and answers "success" only once what a
// push said is stored. The platform is the one of the wechat global option:
//
//	{
//		wechat {
//			component {
//				app_id ...
//			}
//		}
//	}
//	wx.vendor.example {
//		wechat_component_events /wechat/component/events
//	}
type ComponentEvents struct {
	c      *component
	logger *zap.Logger
}

// pushMemory is how long a push's msg_signature is remembered: longer than
// the receiver accepts its timestamp, either way (msgcrypt's 5 minutes).
const pushMemory = 11 * time.Minute

// CaddyModule returns the Caddy module information.
func (ComponentEvents) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.wechat_component_events",
		New: func() caddy.Module { return new(ComponentEvents) },
	}
}

// Provision finds the platform of the wechat app.
func (e *ComponentEvents) Provision(ctx caddy.Context) error {
	e.logger = ctx.Logger()
	app, err := appFrom(ctx)
	if err != nil {
		return err
	}
	if app.component == nil {
		return errors.New("wechat_component_events needs the third-party platform in the wechat global option: wechat { component { app_id … app_secret … token … encoding_aes_key … } } (docs/third-party.md)")
	}
	e.c = app.component
	return nil
}

// A refusal of a push: its status, the answer (the sender is WeChat or
// someone pretending; the text helps whoever tests the URL by hand) and
// the log line for the operator.
type pushRefusal struct {
	status int
	answer string
	log    string
}

func refusalFor(err error) pushRefusal {
	switch {
	case errors.Is(err, msgcrypt.ErrTooLarge):
		return pushRefusal{http.StatusRequestEntityTooLarge, "push too large", "refused a push larger than 64 KiB"}
	case errors.Is(err, msgcrypt.ErrStale):
		return pushRefusal{http.StatusBadRequest, "timestamp missing or too old",
			"refused a push whose timestamp is missing or more than 5 minutes from this server's clock (a replay, or this server's clock is wrong)"}
	case errors.Is(err, msgcrypt.ErrSignature):
		return pushRefusal{http.StatusForbidden, "msg_signature does not match",
			"refused a push whose msg_signature does not match: a forged push, or the wechat component token differs from the console's 消息校验Token"}
	case errors.Is(err, msgcrypt.ErrDecrypt):
		return pushRefusal{http.StatusForbidden, "the push does not decrypt",
			"refused a signed push that no configured key decrypts: set the wechat component encoding_aes_key to the console's 消息加解密Key (and previous_encoding_aes_key during a change)"}
	case errors.Is(err, msgcrypt.ErrAppID):
		return pushRefusal{http.StatusForbidden, "the push is for another platform",
			"refused a push for another platform's AppID: check the wechat component app_id"}
	}
	return pushRefusal{http.StatusBadRequest, "not an encrypted WeChat push", "refused a request that is not an encrypted WeChat push"}
}

// ServeHTTP receives one push. It never calls next: the route is WeChat's.
func (e *ComponentEvents) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return pushAnswer(w, http.StatusMethodNotAllowed, "This is a WeChat third-party platform's 授权事件接收URL: WeChat POSTs encrypted pushes here.")
	}
	q := r.URL.Query()
	msg, _, err := e.c.recv.Open(msgcrypt.Query{MsgSignature: q.Get("msg_signature"), Timestamp: q.Get("timestamp"), Nonce: q.Get("nonce")}, r.Body)
	var ev *msgcrypt.Event
	if err == nil {
		ev, err = msgcrypt.ParseEvent(msg)
	}
	if err != nil {
		rf := refusalFor(err)
		e.logger.Warn(rf.log, zap.String("remote_addr", r.RemoteAddr))
		return pushAnswer(w, rf.status, rf.answer)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), storeTimeout)
	defer cancel()
	seen := e.c.pushKey(q.Get("msg_signature"))
	first, err := e.c.store.Claim(ctx, seen, []byte{1}, pushMemory)
	if err != nil {
		e.logger.Error("a push could not be checked against the ones already received; WeChat will send it again", zap.Error(err))
		return pushAnswer(w, http.StatusServiceUnavailable, "try again")
	}
	if !first {
		e.logger.Warn("refused a push already received (same msg_signature): a replay, or WeChat repeating a push whose answer it missed",
			zap.String("info_type", ev.InfoType), zap.String("remote_addr", r.RemoteAddr))
		return pushAnswer(w, http.StatusConflict, "push already received")
	}
	if err := e.apply(ctx, ev); err != nil {
		_ = e.c.store.Delete(ctx, seen) // WeChat's next try must not look like a replay
		e.logger.Error("a push could not be stored; answered 503 so WeChat sends it again", zap.String("info_type", ev.InfoType), zap.Error(err))
		return pushAnswer(w, http.StatusServiceUnavailable, "try again")
	}
	return pushAnswer(w, http.StatusOK, "success")
}

// apply stores what a push says. Pushes other than the ticket and the
// authorization events are accepted and ignored.
func (e *ComponentEvents) apply(ctx context.Context, ev *msgcrypt.Event) error {
	switch ev.InfoType {
	case msgcrypt.InfoTicket:
		if err := e.c.keepTicket(ctx, ev.ComponentVerifyTicket, ev.Created()); err != nil {
			return err
		}
		e.logger.Debug("stored a component_verify_ticket", zap.Time("created", ev.Created()))
	case msgcrypt.InfoAuthorized, msgcrypt.InfoUpdateAuthorized, msgcrypt.InfoUnauthorized:
		if !alnum(ev.AuthorizerAppid) || len(ev.AuthorizerAppid) > 32 {
			e.logger.Warn("ignored an authorization event with an AuthorizerAppid that is no AppID", zap.String("info_type", ev.InfoType))
			return nil
		}
		on := ev.InfoType != msgcrypt.InfoUnauthorized
		changed, err := e.c.recordAuthorization(ctx, ev.AuthorizerAppid, on, ev.CreateTime)
		if err != nil {
			return err
		}
		e.logger.Info("authorization event", zap.String("info_type", ev.InfoType),
			zap.String("authorizer_app_id", ev.AuthorizerAppid), zap.Bool("applied", changed))
	default:
		e.logger.Debug("ignored a push of another kind", zap.String("info_type", ev.InfoType))
	}
	return nil
}

// pushAnswer writes a short plain-text answer.
func pushAnswer(w http.ResponseWriter, status int, text string) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write([]byte(text))
	return err
}

// parseComponentEvents reads `wechat_component_events [<matcher>]`; it
// takes no settings (they are the wechat global option's).
func parseComponentEvents(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	e := new(ComponentEvents)
	return e, e.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile accepts the bare directive.
func (e *ComponentEvents) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.Errf("wechat_component_events takes no arguments (only a matcher, e.g. wechat_component_events /wechat/component/events): the platform's settings go in the wechat global option's component block")
	}
	if d.NextBlock(0) {
		return d.Err("wechat_component_events takes no block: the platform's settings go in the wechat global option's component block")
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*ComponentEvents)(nil)
	_ caddyhttp.MiddlewareHandler = (*ComponentEvents)(nil)
	_ caddyfile.Unmarshaler       = (*ComponentEvents)(nil)
)
