package wechatauth

import (
	"crypto/cipher"
	"time"
)

// What a holder of one relay key can do with it, for the relay tests of
// the external test package: seal hand-backs and requests with that key for
// any origin it names, and open what that key opens.

// sealerForTest is a relaySeal holding key (base64) for client only.
func sealerForTest(key, client string) (*relaySeal, origin, error) {
	o, err := parseClientOrigin(client)
	if err != nil {
		return nil, origin{}, err
	}
	b, err := decodeKey(key)
	if err != nil {
		return nil, origin{}, err
	}
	a, err := newRelayAEAD(b)
	if err != nil {
		return nil, origin{}, err
	}
	return newRelaySeal(testAppID, clientRing(map[origin][]cipher.AEAD{o: {a}}), time.Now), o, nil
}

// SealHandBackForTest seals with key a hand-back for client saying openID (snsapi_userinfo)
// signed in, for the login of state.
func SealHandBackForTest(key, client, state, openID string) (string, error) {
	s, o, err := sealerForTest(key, client)
	if err != nil {
		return "", err
	}
	return s.sealHandBack(o, handBack{State: state, Outcome: endSession,
		Identity: Session{AppID: s.appID, OpenID: openID, Scope: "snsapi_userinfo"}})
}

// SealRelayRequestForTest seals with key a request from client for a
// hand-back at back, for the login of state.
func SealRelayRequestForTest(key, client, back, state string) (string, error) {
	s, o, err := sealerForTest(key, client)
	if err != nil {
		return "", err
	}
	return s.sealRequest(o, relayRequest{Back: back, State: state, Scope: "snsapi_base"})
}

// RelayRequestStateForTest opens with key a request from client and
// returns the login state it carries.
func RelayRequestStateForTest(key, client, req string) (string, error) {
	s, o, err := sealerForTest(key, client)
	if err != nil {
		return "", err
	}
	q, err := s.openRequest(o, req)
	return q.State, err
}

// SealSessionForTest is a session cookie value for openID (snsapi_userinfo,
// an hour long) sealed with the session_keys hashKey and blockKey (base64):
// what whoever holds a site's keys can mint.
func SealSessionForTest(hashKey, blockKey, openID string) (string, error) {
	pairs, err := keyPairs([]SessionKey{{HashKey: hashKey, BlockKey: blockKey}})
	if err != nil {
		return "", err
	}
	now := time.Now()
	s := Session{AppID: testAppID, OpenID: openID, Scope: "snsapi_userinfo", Issued: now.Unix(), Expires: now.Add(time.Hour).Unix(),
		IssuedMilli: now.UnixMilli(), ID: randomAlnum(sessionIDLen)}
	return newCookieCodec(pairs, time.Hour).encode(defaultCookieName, s.marshal())
}
