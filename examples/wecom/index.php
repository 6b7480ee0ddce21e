<?php
// index.php: an internal page for the corp's staff. wechat_auth (wecom) has
// signed the member in and decided they may enter; PHP only reads who they
// are. The gateway removes any X-WeCom-* header a client sends, so these
// can only be the gateway's.

declare(strict_types=1);

header('Cache-Control: no-store');
header("Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'");
header('Content-Type: text/html; charset=utf-8');

function h(string $s): string
{
    return htmlspecialchars($s, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
}

$userid = $_SERVER['HTTP_X_WECOM_USERID'] ?? '';
if ($userid === '') {
    // Reached without the gateway (or by a non-member the site admits).
    http_response_code(403);
    echo '<!doctype html><meta charset="utf-8"><title>无权访问</title><h1 id="denied">无权访问</h1>',
        '<p>请在企业微信中打开本页，或用企业微信扫码登录。</p>';
    exit;
}
// The name is percent-encoded UTF-8: headers carry ASCII only.
$name = rawurldecode($_SERVER['HTTP_X_WECOM_NAME'] ?? '');
$corp = $_SERVER['HTTP_X_WECOM_CORPID'] ?? '';
// Department ids, comma-separated, the main department first.
$departments = array_filter(explode(',', $_SERVER['HTTP_X_WECOM_DEPARTMENTS'] ?? ''), 'strlen');

echo '<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width">',
    '<title>订单台</title>',
    '<h1 id="greeting">', h(($name !== '' ? $name : $userid) . '，您好'), '</h1>',
    '<p>账号 <code id="userid">', h($userid), '</code>，企业 <code id="corp">', h($corp), '</code></p>',
    '<p>部门 <span id="departments">', h(implode(',', $departments)), '</span></p>',
    '<p><a href="/wechat_auth/logout?rd=/">退出登录</a></p>';
