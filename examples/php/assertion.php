<?php
// assertion.php: verify wechat_auth's signed identity (X-WeChat-Assertion)
// with PHP's own openssl functions, no Composer package (docs/assertion.md).
//
// The plain X-WeChat-* headers are only as trustworthy as the network: a
// request that reaches php-fpm without passing wechat_auth can carry any
// openid. The assertion is an ES256 JWS only the gateway can sign; this file
// checks it and that the plain headers say the same, and refuses the request
// otherwise.
//
// Set in the FastCGI environment (php_fastcgi { env … }):
//   WECHAT_ASSERTION_ISSUER    the gateway's issuer (its assertion issuer)
//   WECHAT_ASSERTION_AUDIENCE  this app's audience (its assertion audience)
//   WECHAT_ASSERTION_JWKS      optional: the key set's URL or file
//                              (default ISSUER/wechat_auth/jwks.json)
// Without WECHAT_ASSERTION_AUDIENCE the check is off.

declare(strict_types=1);

const WECHAT_ASSERTION_LEEWAY = 30; // seconds of clock skew allowed
const WECHAT_ASSERTION_JWKS_TTL = 300; // the gateway's Cache-Control max-age

final class WeChatAssertionRefused extends RuntimeException
{
}

function wechat_b64url(string $s): string
{
    $raw = base64_decode(strtr($s, '-_', '+/'), true);
    if ($raw === false) {
        throw new WeChatAssertionRefused('not base64url');
    }
    return $raw;
}

// wechat_der_int encodes a big-endian unsigned integer as DER INTEGER.
function wechat_der_int(string $b): string
{
    $b = ltrim($b, "\0");
    if ($b === '' || ord($b[0]) > 0x7f) {
        $b = "\0" . $b;
    }
    return "\x02" . chr(strlen($b)) . $b;
}

// wechat_jwk_pem turns a P-256 JWK into the PEM public key openssl reads.
function wechat_jwk_pem(array $jwk): string
{
    if (($jwk['kty'] ?? '') !== 'EC' || ($jwk['crv'] ?? '') !== 'P-256') {
        throw new WeChatAssertionRefused('the key is not an EC P-256 key');
    }
    $x = wechat_b64url((string) ($jwk['x'] ?? ''));
    $y = wechat_b64url((string) ($jwk['y'] ?? ''));
    if (strlen($x) !== 32 || strlen($y) !== 32) {
        throw new WeChatAssertionRefused('bad key coordinates');
    }
    // SubjectPublicKeyInfo of id-ecPublicKey / prime256v1, then 04 || X || Y.
    $der = hex2bin('3059301306072a8648ce3d020106082a8648ce3d030107034200') . "\x04" . $x . $y;
    return "-----BEGIN PUBLIC KEY-----\n" . chunk_split(base64_encode($der), 64, "\n") . "-----END PUBLIC KEY-----\n";
}

// wechat_assertion_verify checks a compact JWS and returns its claims, or
// throws WeChatAssertionRefused saying why. Only ES256 is accepted: "none",
// HS256 (a MAC "signed" with the public key) and every other alg are refused
// before any key is looked at.
function wechat_assertion_verify(string $token, array $jwks, string $issuer, string $audience, int $now): array
{
    $parts = explode('.', $token);
    if (count($parts) !== 3) {
        throw new WeChatAssertionRefused('not a compact JWS');
    }
    $header = json_decode(wechat_b64url($parts[0]), true);
    if (!is_array($header) || ($header['alg'] ?? null) !== 'ES256') {
        throw new WeChatAssertionRefused('alg must be ES256');
    }
    $kid = $header['kid'] ?? null;
    $key = null;
    foreach ($jwks['keys'] ?? [] as $k) {
        if (is_array($k) && is_string($kid) && ($k['kid'] ?? null) === $kid) {
            $key = $k;
        }
    }
    if ($key === null) {
        throw new WeChatAssertionRefused('unknown kid');
    }
    // JOSE signatures are r || s (32 bytes each); openssl wants DER.
    $sig = wechat_b64url($parts[2]);
    if (strlen($sig) !== 64) {
        throw new WeChatAssertionRefused('bad signature length');
    }
    $body = wechat_der_int(substr($sig, 0, 32)) . wechat_der_int(substr($sig, 32));
    $der = "\x30" . chr(strlen($body)) . $body;
    if (openssl_verify($parts[0] . '.' . $parts[1], $der, wechat_jwk_pem($key), OPENSSL_ALGO_SHA256) !== 1) {
        throw new WeChatAssertionRefused('bad signature');
    }
    $c = json_decode(wechat_b64url($parts[1]), true);
    if (!is_array($c)) {
        throw new WeChatAssertionRefused('bad claims');
    }
    $aud = $c['aud'] ?? null;
    switch (true) {
        case ($c['iss'] ?? null) !== $issuer:
            throw new WeChatAssertionRefused('wrong issuer');
        case !($aud === $audience || (is_array($aud) && in_array($audience, $aud, true))):
            throw new WeChatAssertionRefused('wrong audience');
        case !is_int($c['exp'] ?? null) || $c['exp'] <= $now - WECHAT_ASSERTION_LEEWAY:
            throw new WeChatAssertionRefused('expired');
        case !is_int($c['nbf'] ?? null) || $c['nbf'] > $now + WECHAT_ASSERTION_LEEWAY:
            throw new WeChatAssertionRefused('not yet valid');
        case !is_string($c['openid'] ?? null) || $c['openid'] === '':
            throw new WeChatAssertionRefused('no openid');
    }
    return $c;
}

// wechat_jwks returns the gateway's key set, cached for its max-age in the
// temp directory; $fresh fetches again (an unknown kid: a key just added,
// at most once per request).
function wechat_jwks(string $source, bool $fresh = false): array
{
    $cache = sys_get_temp_dir() . '/wechat-jwks-' . hash('sha256', $source) . '.json';
    $age = is_file($cache) ? time() - (int) filemtime($cache) : PHP_INT_MAX;
    if ($age < WECHAT_ASSERTION_JWKS_TTL && !$fresh) {
        $set = json_decode((string) file_get_contents($cache), true);
        if (is_array($set)) {
            return $set;
        }
    }
    $ctx = stream_context_create(['http' => ['timeout' => 5]]);
    $text = @file_get_contents($source, false, $ctx);
    $set = is_string($text) ? json_decode($text, true) : null;
    if (!is_array($set) || !isset($set['keys'])) {
        throw new WeChatAssertionRefused('the key set at ' . $source . ' could not be read');
    }
    @file_put_contents($cache . '.tmp', $text);
    @rename($cache . '.tmp', $cache);
    return $set;
}

// wechat_assertion_guard refuses the request (403) unless its assertion
// verifies and the plain identity headers agree with it. It runs once per
// request; without WECHAT_ASSERTION_AUDIENCE it does nothing.
function wechat_assertion_guard(): void
{
    static $done = false;
    $audience = (string) ($_SERVER['WECHAT_ASSERTION_AUDIENCE'] ?? getenv('WECHAT_ASSERTION_AUDIENCE') ?: '');
    if ($done || $audience === '') {
        return;
    }
    $issuer = (string) ($_SERVER['WECHAT_ASSERTION_ISSUER'] ?? getenv('WECHAT_ASSERTION_ISSUER') ?: '');
    $source = (string) ($_SERVER['WECHAT_ASSERTION_JWKS'] ?? getenv('WECHAT_ASSERTION_JWKS') ?: '');
    if ($source === '') {
        $source = rtrim($issuer, '/') . '/wechat_auth/jwks.json';
    }
    $token = (string) ($_SERVER['HTTP_X_WECHAT_ASSERTION'] ?? '');
    try {
        if ($token === '') {
            throw new WeChatAssertionRefused('no assertion');
        }
        try {
            $c = wechat_assertion_verify($token, wechat_jwks($source), $issuer, $audience, time());
        } catch (WeChatAssertionRefused $e) {
            if ($e->getMessage() !== 'unknown kid') {
                throw $e;
            }
            $c = wechat_assertion_verify($token, wechat_jwks($source, true), $issuer, $audience, time());
        }
        $plain = [
            'openid' => 'HTTP_X_WECHAT_OPENID', 'unionid' => 'HTTP_X_WECHAT_UNIONID',
            'scope' => 'HTTP_X_WECHAT_SCOPE', 'source' => 'HTTP_X_WECHAT_SOURCE',
        ];
        foreach ($plain as $claim => $key) {
            if ((string) ($c[$claim] ?? '') !== (string) ($_SERVER[$key] ?? '')) {
                throw new WeChatAssertionRefused('the ' . $claim . ' header disagrees with the assertion');
            }
        }
    } catch (WeChatAssertionRefused $e) {
        error_log('wechat assertion refused: ' . $e->getMessage());
        http_response_code(403);
        header('Content-Type: text/plain; charset=utf-8');
        header('Cache-Control: no-store');
        echo "403: 无法确认您的微信身份（身份签名无效）。请在微信中重新打开本页面。\n";
        exit;
    }
    $done = true;
}
