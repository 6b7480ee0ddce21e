-- db.php runs this file on every connection: it creates the tables of a new
-- database and adds a missing one to an older database.

-- One row per person and the mainland mobile number bound to them. person is
-- "unionid:<unionid>" once wechat_auth has forwarded a unionid for them: the
-- same for the Official Account in WeChat and the website application on a
-- desktop (desktop_login), so a phone bound on one side is found from the
-- other. Before that it is "<source>:<openid>" (source mp or web), an identity
-- of that one app only. Both columns are unique: a person binds one phone
-- (rebinding replaces it), and a phone belongs to one person.
CREATE TABLE IF NOT EXISTS person_phones (
    person   TEXT PRIMARY KEY NOT NULL,
    phone    TEXT NOT NULL UNIQUE,
    bound_at TEXT NOT NULL
);

-- Which unionid an openid belongs to, written when one request carries both
-- (after 完善资料, or any desktop login). A silent snsapi_base sign-in in
-- WeChat carries the openid only; this row still finds the person.
-- openid is "<source>:<openid>", as in person_phones.
CREATE TABLE IF NOT EXISTS openid_unionids (
    openid    TEXT PRIMARY KEY NOT NULL,
    unionid   TEXT NOT NULL,
    linked_at TEXT NOT NULL
);
