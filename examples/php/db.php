<?php
// db.php: the database and the visitor's identity, shared by index.php and bind.php.
//
// The database path comes from the PHONE_DB FastCGI parameter that the
// Caddyfile sets (php_fastcgi { env PHONE_DB ... }). Keep the file outside the
// web root: anything under the root could otherwise be requested by URL.

declare(strict_types=1);

const DEFAULT_PHONE_DB = '/var/lib/phone-binding/phones.sqlite';

function db(): PDO
{
    static $pdo = null;
    if ($pdo !== null) {
        return $pdo;
    }
    $path = $_SERVER['PHONE_DB'] ?? getenv('PHONE_DB');
    if (!is_string($path) || $path === '') {
        $path = DEFAULT_PHONE_DB;
    }
    $pdo = new PDO('sqlite:' . $path, null, null, [
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
        PDO::ATTR_DEFAULT_FETCH_MODE => PDO::FETCH_ASSOC,
        PDO::ATTR_EMULATE_PREPARES => false,
        PDO::ATTR_TIMEOUT => 5, // seconds to wait for a lock held by another worker
    ]);
    $pdo->exec((string) file_get_contents(__DIR__ . '/schema.sql'));
    return $pdo;
}

// visitor_openid returns the openid that wechat_auth put in front of this
// request, or null when there is none.
//
// The header is trustworthy only because every request reaches PHP through
// wechat_auth, which removes client-sent copies of it (any case, "_" for "-")
// before setting its own. Never expose php-fpm to anything else.
function visitor_openid(): ?string
{
    $openid = $_SERVER['HTTP_X_WECHAT_OPENID'] ?? '';
    if (!is_string($openid) || !preg_match('/^[A-Za-z0-9_-]{1,64}$/D', $openid)) {
        return null;
    }
    return $openid;
}

// visitor_person is the key the phone binding is stored under: the unionid
// when wechat_auth forwards one (X-WeChat-UnionID: the same person in WeChat
// and on a desktop signed in with desktop_login), else the openid prefixed
// with its app (X-WeChat-Source: mp or web), so openids of two apps never
// meet. Null without an identity.
function visitor_person(): ?string
{
    $openid = visitor_openid();
    if ($openid === null) {
        return null;
    }
    $unionid = $_SERVER['HTTP_X_WECHAT_UNIONID'] ?? '';
    if (is_string($unionid) && preg_match('/^[A-Za-z0-9_-]{1,64}$/D', $unionid)) {
        return 'unionid:' . $unionid;
    }
    $source = ($_SERVER['HTTP_X_WECHAT_SOURCE'] ?? '') === 'web' ? 'web' : 'mp';
    return $source . ':' . $openid;
}

// visitor_nickname decodes the percent-encoded UTF-8 nickname (snsapi_userinfo only).
function visitor_nickname(): string
{
    $raw = $_SERVER['HTTP_X_WECHAT_NICKNAME'] ?? '';
    $nickname = is_string($raw) ? rawurldecode($raw) : '';
    return preg_match('//u', $nickname) === 1 ? $nickname : ''; // valid UTF-8 only
}

function bound_phone(string $person): ?string
{
    $stmt = db()->prepare('SELECT phone FROM person_phones WHERE person = ?');
    $stmt->execute([$person]);
    $phone = $stmt->fetchColumn();
    return $phone === false ? null : (string) $phone;
}
