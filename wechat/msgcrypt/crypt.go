// Package msgcrypt is WeChat's message encryption (WXBizMsgCrypt) as the Open
// Platform's third-party platforms (第三方平台) receive it: the
// component_verify_ticket push and the authorization events arrive as
// <xml><AppId/><Encrypt/></xml> with msg_signature, timestamp and nonce in the
// query (docs/wechat.md, "Third-party platform").
//
// The scheme: msg_signature = lowercase hex sha1 of the sorted Token,
// timestamp, nonce and Encrypt; Encrypt = base64(AES-256-CBC(random 16 bytes ‖
// 4-byte big-endian length ‖ XML ‖ AppID)) with key = base64(EncodingAESKey+"="),
// IV = key[:16] and PKCS#7 padding to 32-byte blocks.
package msgcrypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// blockSize is WeChat's PKCS#7 block: 32 bytes (the AES key length), not AES's 16.
const blockSize = 32

// Errors a receiver tells apart. None of them carries key material or plaintext.
var (
	// ErrSignature means msg_signature does not match: a forged push, or the
	// platform's message Token is configured wrong.
	ErrSignature = errors.New("msgcrypt: msg_signature does not match (forged push, or the message Token setting differs from the Open Platform console's 消息校验Token)")
	// ErrDecrypt means no configured EncodingAESKey decrypts the message to a
	// well-formed plaintext.
	ErrDecrypt = errors.New("msgcrypt: the message does not decrypt with the configured EncodingAESKey (nor the previous one); copy 消息加解密Key from the Open Platform console")
	// ErrAppID means the message decrypted but names another AppID than the platform's.
	ErrAppID = errors.New("msgcrypt: the decrypted message is for another AppID; check the component AppID setting")
)

// Signature is msg_signature: sha1 over the sorted parts, lowercase hex.
func Signature(token, timestamp, nonce, encrypt string) string {
	p := []string{token, timestamp, nonce, encrypt}
	sort.Strings(p)
	h := sha1.Sum([]byte(strings.Join(p, "")))
	return hex.EncodeToString(h[:])
}

// ParseKey turns a 43-character EncodingAESKey into the 32-byte AES key.
// The error names the setting, never the value.
func ParseKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != 43 {
		return nil, fmt.Errorf("msgcrypt: EncodingAESKey must be 43 characters (a-z, A-Z, 0-9), got %d", len(encodingAESKey))
	}
	for _, c := range encodingAESKey {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return nil, errors.New("msgcrypt: EncodingAESKey may hold only a-z, A-Z and 0-9; copy 消息加解密Key again")
		}
	}
	// Not Strict(): like WeChat's own code, the 43rd character's unused low
	// bits need not be zero.
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, errors.New("msgcrypt: EncodingAESKey does not decode to 32 bytes; copy 消息加解密Key again")
	}
	return key, nil
}

// Encrypt builds the Encrypt value for msg under key, ending with appID.
// random is the 16-byte prefix; nil means fresh random bytes.
func Encrypt(key []byte, msg []byte, appID string, random []byte) (string, error) {
	if len(key) != 32 {
		return "", errors.New("msgcrypt: the AES key must be 32 bytes (use ParseKey)")
	}
	if random == nil {
		random = make([]byte, 16)
		if _, err := io.ReadFull(rand.Reader, random); err != nil {
			return "", err
		}
	}
	if len(random) != 16 {
		return "", errors.New("msgcrypt: the random prefix must be 16 bytes")
	}
	plain := make([]byte, 0, 20+len(msg)+len(appID)+blockSize)
	plain = append(plain, random...)
	plain = binary.BigEndian.AppendUint32(plain, uint32(len(msg)))
	plain = append(plain, msg...)
	plain = append(plain, appID...)
	pad := blockSize - len(plain)%blockSize // 1..32: never empty
	plain = append(plain, bytes.Repeat([]byte{byte(pad)}, pad)...)
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(plain, plain)
	return base64.StdEncoding.EncodeToString(plain), nil
}

// Decrypt opens an Encrypt value with key and returns the XML and the
// trailing AppID. It checks the structure only; callers compare the AppID.
func Decrypt(key []byte, encrypt string) (msg []byte, appID string, err error) {
	if len(key) != 32 {
		return nil, "", errors.New("msgcrypt: the AES key must be 32 bytes (use ParseKey)")
	}
	data, err := base64.StdEncoding.DecodeString(encrypt)
	if err != nil || len(data) == 0 || len(data)%aes.BlockSize != 0 {
		return nil, "", ErrDecrypt
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, "", err
	}
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(plain, data)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > blockSize || pad > len(plain) {
		return nil, "", ErrDecrypt
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, "", ErrDecrypt
		}
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < 20 {
		return nil, "", ErrDecrypt
	}
	n := binary.BigEndian.Uint32(plain[16:20])
	if uint64(n) > uint64(len(plain)-20) {
		return nil, "", ErrDecrypt
	}
	return plain[20 : 20+n], string(plain[20+n:]), nil
}
