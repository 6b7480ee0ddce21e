package wechat

import (
	"context"
	"net/url"
)

// UserInfo is a user's profile from sns/userinfo. Since late 2021 WeChat sends Sex 0
// and empty Province/City/Country; Nickname is UTF-8 and may hold emoji.
type UserInfo struct {
	OpenID     string   `json:"openid"`
	Nickname   string   `json:"nickname"`
	Sex        int      `json:"sex"`
	Province   string   `json:"province"`
	City       string   `json:"city"`
	Country    string   `json:"country"`
	HeadImgURL string   `json:"headimgurl"`
	Privilege  []string `json:"privilege"`
	UnionID    string   `json:"unionid,omitempty"`
}

// UserInfo fetches the profile behind a snsapi_userinfo web access_token. lang is
// zh_CN (when ""), zh_TW or en. A snsapi_base token yields errcode 48001.
func (c *Client) UserInfo(ctx context.Context, accessToken, openID, lang string) (*UserInfo, error) {
	if lang == "" {
		lang = "zh_CN"
	}
	var u UserInfo
	err := c.do(ctx, request{
		op: pathUserInfo, method: "GET", retry: true,
		query: url.Values{"access_token": {accessToken}, "openid": {openID}, "lang": {lang}},
	}, &u)
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// Follower is cgi-bin/user/info's answer: whether the user follows the account and,
// if so, since when and from where. A non-follower has Subscribe 0 and little else,
// and never a UnionID. A follower's UnionID (for an account bound to an Open
// Platform account) is the one way to learn a snsapi_base visitor's unionid:
// the code exchange carries it only for snsapi_userinfo. The profile fields
// WeChat still sends here (nickname, sex, city, province, country, headimgurl)
// are emptied since 2021-12-27 and left out.
type Follower struct {
	Subscribe      int    `json:"subscribe"`
	OpenID         string `json:"openid"`
	Language       string `json:"language,omitempty"`
	SubscribeTime  int64  `json:"subscribe_time,omitempty"`
	UnionID        string `json:"unionid,omitempty"`
	Remark         string `json:"remark,omitempty"`
	GroupID        int    `json:"groupid,omitempty"`
	TagIDList      []int  `json:"tagid_list"`
	SubscribeScene string `json:"subscribe_scene,omitempty"`
	QRScene        int    `json:"qr_scene,omitempty"`
	QRSceneStr     string `json:"qr_scene_str,omitempty"`
}

// Subscribed reports whether the user follows the account.
func (f *Follower) Subscribed() bool { return f != nil && f.Subscribe == 1 }

// Follower fetches cgi-bin/user/info for openID with the basic access_token. A
// rejected token (IsTokenInvalid) is dropped, refetched once and the call repeated once.
func (c *Client) Follower(ctx context.Context, openID, lang string) (*Follower, error) {
	if lang == "" {
		lang = "zh_CN"
	}
	var f Follower
	err := c.doBasic(ctx, request{op: pathUserInfoCGI, method: "GET", retry: true,
		query: url.Values{"openid": {openID}, "lang": {lang}}}, &f)
	if err != nil {
		return nil, err
	}
	return &f, nil
}
