package msgcrypt

import (
	"encoding/xml"
	"time"
)

// InfoType values of the pushes a platform receives.
const (
	InfoTicket           = "component_verify_ticket"
	InfoAuthorized       = "authorized"
	InfoUpdateAuthorized = "updateauthorized"
	InfoUnauthorized     = "unauthorized"
)

// Event is a decrypted push: the ticket push or an authorization event.
// Fields absent from a push are zero.
type Event struct {
	// AppID is the component AppID the push is for.
	AppID string `xml:"AppId"`
	// CreateTime is when WeChat made the push, in Unix seconds.
	CreateTime int64 `xml:"CreateTime"`
	// InfoType says which push this is (the Info* constants).
	InfoType string `xml:"InfoType"`
	// ComponentVerifyTicket is the ticket of a component_verify_ticket push (valid 12 hours). Secret.
	ComponentVerifyTicket string `xml:"ComponentVerifyTicket"`
	// AuthorizerAppid is the Official Account an authorization event concerns.
	AuthorizerAppid string `xml:"AuthorizerAppid"`
	// AuthorizationCode is the authorization code of authorized/updateauthorized. Secret.
	AuthorizationCode string `xml:"AuthorizationCode"`
	// AuthorizationCodeExpiredTime is when AuthorizationCode expires, Unix seconds.
	AuthorizationCodeExpiredTime int64 `xml:"AuthorizationCodeExpiredTime"`
	// PreAuthCode is the pre-authorization code the authorization used. Secret.
	PreAuthCode string `xml:"PreAuthCode"`
}

// Created is CreateTime as a time.
func (e *Event) Created() time.Time { return time.Unix(e.CreateTime, 0) }

// ParseEvent decodes decrypted push XML. It refuses XML that is not a push:
// no InfoType, a ticket push without a ticket, or an authorization event
// without AuthorizerAppid.
func ParseEvent(msg []byte) (*Event, error) {
	var e Event
	if err := xml.Unmarshal(msg, &e); err != nil {
		return nil, ErrMalformed
	}
	switch e.InfoType {
	case InfoTicket:
		if e.ComponentVerifyTicket == "" {
			return nil, ErrMalformed
		}
	case InfoAuthorized, InfoUpdateAuthorized, InfoUnauthorized:
		if e.AuthorizerAppid == "" {
			return nil, ErrMalformed
		}
	case "":
		return nil, ErrMalformed
	}
	return &e, nil
}
