<?php
// index.php: who you are and which phone number is bound to you.

declare(strict_types=1);

require __DIR__ . '/db.php';
require __DIR__ . '/page.php';

$person = require_person();
$nickname = visitor_nickname();
$phone = bound_phone($person);

$notice = '';
if (($_GET['bound'] ?? '') === '1' && $phone !== null) {
    $notice = '<p class="ok">绑定成功。</p>';
}

$greeting = $nickname !== '' ? '您好，' . $nickname : '您好';

// The site signs in silently (scope snsapi_base: openid only, no nickname, no
// unionid). Asking for the profile is the visitor's choice: this button leads
// to WeChat's consent page and back. Forcing consent on page load instead may
// get the snapshot page (快照页), whose visitor is a virtual user.
$profile = '';
if (($_SERVER['HTTP_X_WECHAT_SOURCE'] ?? '') !== 'web' && ($_SERVER['HTTP_X_WECHAT_SCOPE'] ?? '') !== 'snsapi_userinfo') {
    $profile = '<p><a id="profile" href="/wechat_auth/login?scope=snsapi_userinfo&amp;rd=/">完善资料：使用微信头像昵称</a></p>';
    if (!str_starts_with($person, 'unionid:')) {
        $profile .= '<p id="link-hint" class="hint">在电脑上扫码登录绑定过手机号？点“完善资料”，这里也能找到它。</p>';
    }
}

$status = $phone !== null
    ? '<p>已绑定手机号：<strong id="phone">' . h($phone) . '</strong></p><p>输入新号码可以更换绑定。</p>'
    : '<p id="phone-none">您还没有绑定手机号。</p>';

render_page(200, '绑定手机号',
    '<h1 id="greeting">' . h($greeting) . '</h1>' . $profile . $notice . $status .
    '<form method="post" action="/bind.php">' .
    '<label for="phone-input">手机号（11 位中国大陆手机号）</label><br>' .
    '<input id="phone-input" name="phone" type="tel" inputmode="numeric" maxlength="20" required ' .
    'pattern="[\s\-]*1[\s\-]*[3-9](?:[\s\-]*[0-9]){9}[\s\-]*" placeholder="13800138000" autocomplete="tel"> ' .
    '<button type="submit">绑定</button></form>' .
    '<p><a href="/wechat_auth/logout?rd=/">退出登录</a></p>');
