package wechatauth

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/wxgate/caddy-wechat-auth/wechat"
)

// What every flow does with WeChat's answer to a code: check the ids, and
// fetch the profile where the scope gives one.

// validIdentity reports whether WeChat's openid (and unionid, if any) are
// WeChat identifiers; anything else means api_base does not point at
// WeChat, and is logged so.
func validIdentity(openID, unionID string, logger *zap.Logger) bool {
	if validWeChatID(openID) && (unionID == "" || validWeChatID(unionID)) {
		return true
	}
	if ce := logger.Check(zap.ErrorLevel, "WeChat returned an openid or unionid that is not a WeChat identifier; check api_base points at WeChat"); ce != nil {
		ce.Write()
	}
	return false
}

// fillProfile fetches nickname and avatar with a web access_token and
// reports whether it could. If WeChat fails here the visitor still gets a
// session (without the profile) rather than none, and is not sent round
// again for upgradeBackoff.
func fillProfile(ctx context.Context, client *wechat.Client, s *Session, tok *wechat.Token, now func() time.Time, logger *zap.Logger) bool {
	info, err := client.UserInfo(ctx, tok.AccessToken, tok.OpenID, "zh_CN")
	if err != nil {
		if ce := logger.Check(zap.WarnLevel, "fetching userinfo failed; continuing with a snsapi_base session"); ce != nil {
			ce.Write(zap.Int("errcode", wechat.Code(err)), zap.Error(err))
		}
		procMetrics.callbackFailed(wechat.Code(err))
		s.NoUpgradeUntil = now().Add(upgradeBackoff).Unix()
		return false
	}
	s.Nickname = info.Nickname
	if cleanAvatarURL(info.HeadImgURL) {
		s.Avatar = info.HeadImgURL
	}
	if s.UnionID == "" && validWeChatID(info.UnionID) {
		s.UnionID = info.UnionID
	}
	return true
}
