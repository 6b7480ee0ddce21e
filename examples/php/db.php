<?php
// db.php: the database and the visitor's identity, shared by index.php and bind.php.
//
// The database path comes from the PHONE_DB FastCGI parameter that the
// Caddyfile sets (php_fastcgi { env PHONE_DB ... }). Keep the file outside the
// web root: anything under the root could otherwise be requested by URL.

declare(strict_types=1);

require_once __DIR__ . '/assertion.php';

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

// wechat_id returns the id that wechat_auth put in front of this request
// under $key (HTTP_X_WECHAT_OPENID, HTTP_X_WECHAT_UNIONID), or null when
// there is none.
//
// The headers are trustworthy only because every request reaches PHP through
// wechat_auth, which removes client-sent copies of them (any case, "_" for
// "-") before setting its own. Never expose php-fpm to anything else.
function wechat_id(string $key): ?string
{
    wechat_assertion_guard(); // the signed identity, when configured (assertion.php)
    $id = $_SERVER[$key] ?? '';
    if (!is_string($id) || !preg_match('/^[A-Za-z0-9_-]{1,64}$/D', $id)) {
        return null;
    }
    return $id;
}

// visitor_app_openid is the openid prefixed with its app (X-WeChat-Source:
// mp in WeChat, web on a desktop with desktop_login), so the openids of two
// apps never meet. Null without an identity.
function visitor_app_openid(): ?string
{
    $openid = wechat_id('HTTP_X_WECHAT_OPENID');
    if ($openid === null) {
        return null;
    }
    $source = ($_SERVER['HTTP_X_WECHAT_SOURCE'] ?? '') === 'web' ? 'web' : 'mp';
    return $source . ':' . $openid;
}

// visitor_person is the key the phone binding is stored under:
// "unionid:<unionid>" once the person's unionid is known, else the app's
// openid ("mp:<openid>" or "web:<openid>"). Null without an identity.
//
// A request that carries a unionid links the openid to it (openid_unionids),
// so later silent visits find the person by openid alone, and moves a number
// bound under the openid before the unionid was known to the unionid, unless
// the unionid already has a number of its own. Only wechat_auth sets these
// headers, so an openid is linked only to the unionid WeChat gave with it.
function visitor_person(): ?string
{
    $openid = visitor_app_openid();
    if ($openid === null) {
        return null;
    }
    $pdo = db();
    $linked = $pdo->prepare('SELECT unionid FROM openid_unionids WHERE openid = ?');
    $linked->execute([$openid]);
    $known = $linked->fetchColumn();

    // X-WeChat-UnionID: the same person in WeChat and on a desktop. A silent
    // snsapi_base sign-in carries none.
    $unionid = wechat_id('HTTP_X_WECHAT_UNIONID');
    if ($unionid === null) {
        return $known === false ? $openid : 'unionid:' . $known;
    }
    $person = 'unionid:' . $unionid;
    if ($known === $unionid) {
        return $person; // linked before: nothing to write
    }
    // The link and the move must agree: both or neither.
    $pdo->beginTransaction();
    try {
        $pdo->prepare(
            'INSERT INTO openid_unionids (openid, unionid, linked_at) VALUES (?, ?, ?) ' .
            'ON CONFLICT(openid) DO UPDATE SET unionid = excluded.unionid, linked_at = excluded.linked_at')
            ->execute([$openid, $unionid, gmdate('Y-m-d\TH:i:s\Z')]);
        $pdo->prepare(
            'UPDATE person_phones SET person = ? WHERE person = ? ' .
            'AND NOT EXISTS (SELECT 1 FROM person_phones WHERE person = ?)')
            ->execute([$person, $openid, $person]);
        $pdo->commit();
    } catch (PDOException $e) {
        $pdo->rollBack();
        throw $e;
    }
    return $person;
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
