<?php
// page.php: HTML output. Everything printed goes through h().

declare(strict_types=1);

function h(string $s): string
{
    return htmlspecialchars($s, ENT_QUOTES | ENT_SUBSTITUTE | ENT_HTML5, 'UTF-8');
}

// render_page prints a whole page; $body is HTML the caller already escaped.
function render_page(int $status, string $title, string $body): void
{
    http_response_code($status);
    header('Content-Type: text/html; charset=utf-8');
    header('Cache-Control: no-store');
    header('X-Content-Type-Options: nosniff');
    header("Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; form-action 'self'");
    echo '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<title>', h($title), '</title>',
        '<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;line-height:1.6}',
        'input,button{font-size:1.1rem;padding:.4rem}.err{color:#b00020}.ok{color:#1a7f37}.hint{color:#666;font-size:.9rem}</style>',
        '</head><body>', $body, '</body></html>';
}

// error_page explains what went wrong and what the visitor can do about it.
function error_page(int $status, string $title, string $what, string $todo): void
{
    render_page($status, $title,
        '<h1 class="err">' . h($title) . '</h1>' .
        '<p>' . h($what) . '</p>' .
        '<p><strong>怎么办：</strong>' . h($todo) . '</p>' .
        '<p><a href="/index.php">返回首页</a></p>');
}

// Anything unexpected (the database unreadable, a disk full) is logged for the
// operator and shown as a page saying what to do, never as a blank 500.
set_exception_handler(function (Throwable $e): void {
    error_log('phone-binding: ' . $e->getMessage());
    error_page(500, '暂时无法打开页面',
        '服务器读写绑定记录时出错了。',
        '请稍后重试；如果一直出现，请联系客服。');
});

function require_person(): string
{
    $person = visitor_person();
    if ($person === null) {
        error_page(403, '无法确认您的微信身份',
            '这个页面只能通过微信网页授权访问，本次请求没有带上您的微信身份。',
            '请在微信中打开本公众号，从菜单“绑定手机号”进入。如果您已经在微信中，请关闭页面后重新进入。');
        exit;
    }
    return $person;
}
