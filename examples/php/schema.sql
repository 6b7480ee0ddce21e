-- One row per person and the mainland mobile number bound to them. person is
-- "unionid:<unionid>" when wechat_auth forwards a unionid: the same for the
-- Official Account in WeChat and the website application on a desktop
-- (desktop_login), so a phone bound on one side is found from the other.
-- Without a unionid it is "<source>:<openid>" (source mp or web), an identity
-- of that one app only. Both columns are unique: a person binds one phone
-- (rebinding replaces it), and a phone belongs to one person.
CREATE TABLE IF NOT EXISTS person_phones (
    person   TEXT PRIMARY KEY NOT NULL,
    phone    TEXT NOT NULL UNIQUE,
    bound_at TEXT NOT NULL
);
