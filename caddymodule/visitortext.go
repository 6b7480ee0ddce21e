package wechatauth

import "net/http"

// Every text a visitor reads, in one table: the code that decides names a
// page by its id and passes values (a link, a reference, a host); what the
// page says lives here and in the page templates (pages/*.html). An
// operator restyles a page with handle_errors (errorchain.go) or replaces
// it with `page <name> <file>` (sitepages.go).

// pageID names one answer the gateway gives a visitor itself.
type pageID uint8

const (
	pageFlowLost           pageID = iota + 1 // the callback's flow cookie is missing or too old
	pageCodeFailed                           // WeChat refused the code twice
	pageMisconfigured                        // WeChat refused the account's settings
	pageWeChatDown                           // WeChat did not answer
	pageFollowerUnknown                      // WeChat did not say whether the visitor follows the account
	pageInternal                             // this gateway failed (sealing a cookie)
	pageNotFound                             // an endpoint under path_prefix that is not one
	pageBadHost                              // the request names no usable host
	pageDenied                               // non_wechat deny: a browser outside WeChat
	pageOpenInWeChat                         // a browser outside WeChat: the QR code of the page
	pageSignIn                               // an API request without a session (JSON only)
	pageFormExpired                          // a form posted after the session ended
	pageSubscribe                            // require_subscribe: the visitor does not follow the account
	pageRelayRequest                         // the relay got a login request it cannot open
	pageRelayRefused                         // the relay does not serve the client's site
	pageHandBackInvalid                      // a relay client got a hand-back it cannot open
	pageHandBackExpired                      // … one older than its minute
	pageHandBackSpent                        // … one already used
	pageUnkeyedSite                          // a relay client asked on an origin without relay_key
	pageNotAuthorized                        // the account has not authorized the third-party platform
	pageDeclined                             // consent declined, no session
	pageDeclinedKept                         // the optional consent declined, the silent session kept
	pageSnapshot                             // WeChat's snapshot page: no identity
	pageOpenInWeCom                          // wecom: a visitor no WeCom flow signs in (personal WeChat, a phone's browser)
	pageWeComMisconfigured                   // wecom: WeCom refused the app's settings
	pageWeComNotMember                       // wecom: refused, not a member of the corp
	pageWeComCustomer                        // wecom: refused, a customer of the corp
	pageWeComLinkedCorp                      // wecom: refused, a linked corp's member
	pageWeComInvisible                       // wecom: refused, outside the app's visible range
	pageWeComInactive                        // wecom: refused, account disabled or not activated
	pageWeComNotAllowed                      // wecom: refused by allow_users/allow_departments
	pageWeComDeclined                        // wecom: the member declined privateinfo consent
	pageCount
)

// visitorPage is what one answer says, to a person and to a program.
type visitorPage struct {
	// name is the page's name in `page <name> <file>` and in the
	// {http.wechat_auth.page} placeholder.
	name   string
	status int
	// tmpl is the page template (pages/<tmpl>.html); "error" shows heading,
	// lines and the action button.
	tmpl  string
	title string // the window's title; the heading when empty
	// heading and lines say what happened and what to do; {host} in a line
	// is replaced by the host the page is about. A page with its own
	// template shows its own paragraphs; its lines are the message a
	// handle_errors route shows.
	heading string
	lines   []string
	action  string // the button's label, when the page has a link
	// code and msg are the JSON answer to an API request: a stable code
	// for programs and an English sentence for the developer (also Caddy's
	// {http.error.message}).
	code, msg string
	// loginURL: the JSON answer carries the action link as login_url, and
	// a 401 says WWW-Authenticate.
	loginURL bool
	// refresh: the page returns to its action link by itself after a few
	// seconds.
	refresh bool
	// jsonOnly: only programs get this answer (a page navigation is sent to
	// sign in instead), so it has no page text and no page to replace.
	jsonOnly bool
}

// fragmentFallback is the link keep_fragment's page shows if its template
// ever failed to render.
const fragmentFallback = "登录"

// Texts more than one page says.
const (
	labelRelogin   = "重新登录"
	labelRetry     = "重试"
	msgNotWeChat   = "open this page inside the WeChat client"
	msgSignInFirst = "sign in through WeChat at login_url, then retry"
)

var linesWeChatBusy = []string{"微信登录服务暂时繁忙或无法连接，你的信息没有丢失。请稍等片刻后点击下方按钮重试。"}

// pageTable is the table: every pageID has a row (TestEveryPageHasText).
var pageTable = [pageCount]visitorPage{
	pageFlowLost: {name: "flowlost", status: http.StatusBadRequest, tmpl: "error",
		heading: "登录链接已失效",
		lines: []string{
			"这个登录链接不是在当前浏览器中发起的，或已超过 10 分钟，所以无法使用。",
			"请点击下方按钮重新登录。如果反复出现，请确认微信没有禁用 Cookie，并从公众号菜单重新打开页面。",
		},
		action: labelRelogin, code: "flow_lost", msg: "this login was not started in this browser or is older than 10 minutes; sign in again"},
	pageCodeFailed: {name: "codefailed", status: http.StatusBadRequest, tmpl: "error",
		heading: "授权已失效",
		lines:   []string{"微信返回的授权码已被使用或已过期，自动重试也没有成功。请点击下方按钮重新进入；如果仍然不行，请关闭页面后从公众号菜单重新打开。"},
		action:  "重新进入", code: "code_failed", msg: "WeChat refused the authorization code twice; sign in again"},
	pageMisconfigured: {name: "misconfigured", status: http.StatusBadGateway, tmpl: "error",
		heading: "网站的微信登录配置有误",
		lines:   []string{"这不是你的问题：网站的微信公众号配置（AppID、AppSecret 或 IP 白名单）有误，暂时无法登录。请稍后再试，或联系网站管理员。"},
		action:  labelRetry, code: "wechat_misconfigured", msg: "WeChat refused this site's account settings; the site's operator must fix them (see the gateway's log)"},
	pageWeChatDown: {name: "wechatdown", status: http.StatusServiceUnavailable, tmpl: "error",
		heading: "微信暂时无法响应", lines: linesWeChatBusy,
		action: labelRetry, code: "wechat_unavailable", msg: "WeChat did not answer; retry in a moment"},
	pageFollowerUnknown: {name: "followerunknown", status: http.StatusServiceUnavailable, tmpl: "error",
		heading: "微信暂时无法响应", lines: linesWeChatBusy,
		action: labelRetry, code: "wechat_unavailable", msg: "WeChat did not answer whether you follow the account; retry in a moment"},
	pageInternal: {name: "internal", status: http.StatusInternalServerError, tmpl: "error",
		heading: "登录暂时无法完成",
		lines:   []string{"服务器内部出现问题，已记录。请稍后重试。"},
		code:    "internal_error", msg: "the gateway could not complete the login (logged); retry later"},
	pageNotFound: {name: "notfound", status: http.StatusNotFound, tmpl: "error",
		heading: "页面不存在",
		lines:   []string{"这个登录相关的地址不存在。请返回首页重新打开。"},
		action:  "返回首页", code: "not_found", msg: "no such endpoint of the WeChat gateway"},
	pageBadHost: {name: "badhost", status: http.StatusBadRequest, tmpl: "error",
		heading: "无法识别的网址",
		lines:   []string{"请求中的域名无效，无法完成微信登录。请检查地址栏中的网址是否正确，或从公众号菜单重新打开。"},
		code:    "bad_host", msg: "the request's host is not a valid host name"},
	pageDenied: {name: "denied", status: http.StatusForbidden, tmpl: "error",
		heading: "请在微信中打开此页面",
		lines:   []string{"这个页面只能在微信客户端中使用。请把链接发送到微信，在微信中打开。"},
		code:    "not_wechat", msg: msgNotWeChat},
	pageOpenInWeChat: {name: "openinwechat", status: http.StatusForbidden, tmpl: "openinwechat",
		title: "请在微信中打开", heading: "请在微信中打开此页面",
		lines: []string{"请用微信“扫一扫”扫描二维码，或把链接发送到微信后在微信中打开。"},
		code:  "not_wechat", msg: msgNotWeChat},
	pageSignIn: {name: "signin", status: http.StatusUnauthorized, jsonOnly: true,
		code: "unauthenticated", msg: msgSignInFirst, loginURL: true},
	pageFormExpired: {name: "formexpired", status: http.StatusUnauthorized, tmpl: "error",
		heading: "登录已过期",
		lines:   []string{"你的登录已过期，这次提交没有保存。请先重新登录，再返回上一页重新提交；已填写的内容通常仍在页面上。"},
		action:  labelRelogin, code: "unauthenticated", msg: msgSignInFirst, loginURL: true},
	pageSubscribe: {name: "subscribe", status: http.StatusForbidden, tmpl: "subscribe",
		title: "请先关注公众号", heading: "请先关注公众号",
		lines:  []string{"这个页面只对公众号的关注者开放。关注后点击下方按钮继续。"},
		action: "我已关注", code: "not_subscribed", msg: "follow the Official Account in WeChat, then retry"},
	pageRelayRequest: {name: "relayrequest", status: http.StatusBadRequest, tmpl: "error",
		heading: "登录请求无效",
		lines: []string{
			"这个登录请求已超过 10 分钟，或不是由本站服务的网站发起的，所以无法继续。",
			"请返回原来的网页重新打开；如果反复出现，请从公众号菜单重新进入。",
		},
		code: "relay_request_invalid", msg: "the relay could not open this login request (older than 10 minutes, or not sealed for a site it serves)"},
	pageRelayRefused: {name: "relayrefused", status: http.StatusForbidden, tmpl: "error",
		heading: "此网站未获登录授权",
		lines: []string{
			"这个登录中转站不为 {host} 提供微信登录，所以没有继续。",
			"请从公众号菜单重新打开页面；如果仍然出现，请联系网站管理员。",
		},
		code: "relay_client_refused", msg: "this relay does not sign in for that site (relay_for does not list it)"},
	pageHandBackInvalid: {name: "handbackinvalid", status: http.StatusBadRequest, tmpl: "error",
		heading: "登录凭证无效",
		lines:   []string{"这次登录的凭证无效，不能用于登录本站。请点击下方按钮重新登录。"},
		action:  labelRelogin, code: "handback_invalid", msg: "the relay's hand-back is not valid for this site; sign in again"},
	pageHandBackExpired: {name: "handbackexpired", status: http.StatusBadRequest, tmpl: "error",
		heading: "登录凭证已过期",
		lines:   []string{"登录凭证的有效期只有 1 分钟，已经过期。请点击下方按钮重新登录。"},
		action:  labelRelogin, code: "handback_expired", msg: "the relay's hand-back is older than a minute; sign in again"},
	pageHandBackSpent: {name: "handbackspent", status: http.StatusBadRequest, tmpl: "error",
		heading: "登录凭证已使用",
		lines:   []string{"这份登录凭证已经用过，每份只能使用一次。请点击下方按钮重新登录。"},
		action:  labelRelogin, code: "handback_spent", msg: "the relay's hand-back was already used; sign in again"},
	pageUnkeyedSite: {name: "unkeyedsite", status: http.StatusForbidden, tmpl: "error",
		heading: "此网址未配置微信登录",
		lines: []string{
			"本站没有为 {host} 配置经登录中转站的微信登录，所以无法在这个网址登录。",
			"请检查地址栏中的网址，或从公众号菜单重新打开页面；如果仍然出现，请联系网站管理员。",
		},
		code: "origin_not_configured", msg: "this site signs in through a relay only on the origins of its relay_key lines"},
	pageNotAuthorized: {name: "notauthorized", status: http.StatusForbidden, tmpl: "error",
		heading: "此公众号暂未开通登录",
		lines:   []string{"这个页面所属的公众号尚未授权登录服务，或已取消授权，暂时无法登录。请联系公众号的运营者。"},
		code:    "account_not_authorized", msg: "the Official Account has not authorized the third-party platform that signs in for this site"},
	pageDeclined: {name: "declined", status: http.StatusOK, tmpl: "declined",
		title: "未完成授权", heading: "你取消了微信授权",
		lines:  []string{"这个页面需要确认你的微信身份才能继续。如果改变主意，点击下方按钮重新授权。"},
		action: "重新授权", code: "consent_declined", msg: "the visitor declined WeChat's consent"},
	pageDeclinedKept: {name: "declinedkept", status: http.StatusOK, tmpl: "declinedkept",
		title: "未获取头像和昵称", heading: "未获取微信头像和昵称",
		lines:  []string{"你没有同意提供头像和昵称。你仍以当前的微信身份登录。"},
		action: "返回页面", refresh: true, code: "profile_declined", msg: "the visitor declined to share nickname and avatar and keeps the session"},
	pageSnapshot: {name: "snapshot", status: http.StatusOK, tmpl: "snapshot",
		title: "请使用完整服务", heading: "请点击底部的“使用完整服务”",
		lines:  []string{"你现在看到的是微信的页面快照，无法确认你的身份。请点击屏幕底部的“使用完整服务”按钮，在弹出的授权窗口中点击“允许”后继续。"},
		action: "我已点击，继续", code: "snapshot", msg: "WeChat showed its snapshot page: no identity"},
	pageOpenInWeCom: {name: "openinwecom", status: http.StatusForbidden, tmpl: "error",
		title: "请在企业微信中打开", heading: "请在企业微信中打开",
		lines: []string{"本页面仅供企业成员使用，需要用企业微信登录：个人微信和手机浏览器无法打开。请复制链接，在企业微信中打开。",
			"在电脑上，也可以用普通浏览器打开本页，再用企业微信扫码登录。"},
		code: "not_wecom", msg: "open this page inside the WeCom client"},
	pageWeComMisconfigured: {name: "wecommisconfigured", status: http.StatusBadGateway, tmpl: "error",
		heading: "网站的企业微信登录配置有误",
		lines:   []string{"这不是你的问题：网站在企业微信管理后台的设置（可信域名、企业可信IP、应用 Secret 或权限）有误，暂时无法登录。请稍后再试，或联系网站管理员。"},
		action:  labelRetry, code: "wecom_misconfigured", msg: "WeCom refused the site's app settings; the operator's log names the one to fix"},
	pageWeComNotMember: {name: "wecomnotmember", status: http.StatusForbidden, tmpl: "error", heading: "无法进入",
		lines: []string{"本页面仅供本企业成员使用，你的企业微信账号不是本企业的成员。", "如果你是本企业员工，请用本企业的企业微信账号登录。"},
		code:  "wecom_not_member", msg: "only members of the corp may enter"},
	pageWeComCustomer: {name: "wecomcustomer", status: http.StatusForbidden, tmpl: "error", heading: "无法进入",
		lines: []string{"本页面仅供本企业员工使用，客户无法访问。"},
		code:  "wecom_customer", msg: "the corp's customers may not enter"},
	pageWeComLinkedCorp: {name: "wecomlinkedcorp", status: http.StatusForbidden, tmpl: "error", heading: "无法进入",
		lines: []string{"本页面仅供本企业成员使用，不对互联企业或上下游企业的成员开放。"},
		code:  "wecom_linked_corp", msg: "members of linked corps may not enter"},
	pageWeComInvisible: {name: "wecominvisible", status: http.StatusForbidden, tmpl: "error", heading: "无法进入",
		lines: []string{"你不在这个企业微信应用的可见范围内，所以无法使用它。", "请联系企业微信管理员，把你（或你的部门）加入应用的可见范围。"},
		code:  "wecom_outside_visible_range", msg: "the member is outside the WeCom app's visible range"},
	pageWeComInactive: {name: "wecominactive", status: http.StatusForbidden, tmpl: "error", heading: "无法进入",
		lines: []string{"你的企业微信账号已停用或尚未激活。", "请联系企业微信管理员。"},
		code:  "wecom_inactive", msg: "the member's WeCom account is disabled or not activated"},
	pageWeComNotAllowed: {name: "wecomnotallowed", status: http.StatusForbidden, tmpl: "error", heading: "无法进入",
		lines: []string{"你所在的部门没有访问本页面的权限。", "如需访问，请联系网站管理员。"},
		code:  "wecom_not_allowed", msg: "the member is not among allow_users or allow_departments"},
	pageWeComDeclined: {name: "wecomdeclined", status: http.StatusOK, tmpl: "error",
		heading: "你取消了企业微信授权",
		lines:   []string{"这个页面需要确认你的企业微信身份和授权的信息才能继续。如果改变主意，点击下方按钮重新授权。"},
		action:  "重新授权", code: "consent_declined", msg: "the member declined WeCom's privateinfo consent"},
}
