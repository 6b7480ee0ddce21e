<?php
// bind.php: POST phone=<number> binds that number to the visitor (db.php: visitor_person).
//
// Rules: an 11-digit mainland mobile number; one phone per person (binding
// again replaces the old number); a number already bound to another person is
// refused. Every query is prepared.

declare(strict_types=1);

require __DIR__ . '/db.php';
require __DIR__ . '/page.php';

if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
    // A GET lands here when a login that started from a form post comes back:
    // show the form again rather than an error.
    header('Location: /index.php', true, 303);
    exit;
}

// The session cookie is SameSite=Lax, so a cross-site form post arrives
// without it and never gets here; refusing a foreign Origin as well costs nothing.
$origin = $_SERVER['HTTP_ORIGIN'] ?? '';
if ($origin !== '' && parse_url($origin, PHP_URL_HOST) !== parse_url('//' . ($_SERVER['HTTP_HOST'] ?? ''), PHP_URL_HOST)) {
    error_page(403, '请求来源不正确',
        '这个绑定请求不是从本站页面提交的。',
        '请回到本站的“绑定手机号”页面重新提交。');
    exit;
}

$person = require_person();

$phone = preg_replace('/[\s-]+/u', '', (string) ($_POST['phone'] ?? ''));
if (!is_string($phone) || !preg_match('/^1[3-9]\d{9}$/D', $phone)) {
    error_page(400, '手机号格式不正确',
        '请输入 11 位中国大陆手机号，以 1 开头，第二位是 3 到 9，例如 13800138000。',
        '请返回上一页，检查号码后重新提交（不要加 +86 或其他符号）。');
    exit;
}

function phone_taken(string $phone, string $owner, string $person): void
{
    // A number bound by unionid (on the computer, or after 完善资料) may be
    // this visitor's own: a silent sign-in carries no unionid until the
    // profile is shared, and then the two are known to be one person.
    if (str_starts_with($owner, 'unionid:') && !str_starts_with($person, 'unionid:')) {
        error_page(409, '这个号码可能是您在电脑上绑定的',
            '号码 ' . $phone . ' 已经绑定在一个微信用户名下，可能就是您：静默登录时我们还不知道您在电脑上扫码登录的是不是同一个人。',
            '请先在首页点“完善资料：使用微信头像昵称”并允许授权，我们就能认出是同一个人并显示这个号码；如果不是您的号码，请换一个号码绑定。');
        exit;
    }
    error_page(409, '该手机号已被其他微信账号绑定',
        '号码 ' . $phone . ' 已经绑定在另一个微信账号上，一个号码只能绑定一个微信账号。',
        '如果这是您本人的号码，请用原来的微信账号进入本页换绑其他号码，再回来绑定；或联系客服处理。');
    exit;
}

$pdo = db();
try {
    $pdo->beginTransaction();
    $owner = $pdo->prepare('SELECT person FROM person_phones WHERE phone = ?');
    $owner->execute([$phone]);
    $current = $owner->fetchColumn();
    if ($current !== false && $current !== $person) {
        $pdo->rollBack();
        phone_taken($phone, (string) $current, $person);
    }
    $upsert = $pdo->prepare(
        'INSERT INTO person_phones (person, phone, bound_at) VALUES (?, ?, ?) ' .
        'ON CONFLICT(person) DO UPDATE SET phone = excluded.phone, bound_at = excluded.bound_at');
    $upsert->execute([$person, $phone, gmdate('Y-m-d\TH:i:s\Z')]);
    $pdo->commit();
} catch (PDOException $e) {
    if ($pdo->inTransaction()) {
        $pdo->rollBack();
    }
    if ($e->getCode() === '23000') {
        // UNIQUE(phone): another visitor bound this number between our check and our write.
        phone_taken($phone, '', $person);
    }
    error_log('bind.php: ' . $e->getMessage());
    error_page(500, '暂时无法绑定',
        '保存绑定时出错了，您的号码没有被保存。',
        '请稍后重试；如果一直出现，请联系客服。');
    exit;
}

header('Location: /index.php?bound=1', true, 303);
