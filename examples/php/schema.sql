-- One row per WeChat visitor: the openid of this Official Account and the
-- mainland mobile number bound to it. Both are unique: a visitor binds one
-- phone (rebinding replaces it), and a phone belongs to one visitor.
CREATE TABLE IF NOT EXISTS phone_bindings (
    openid   TEXT PRIMARY KEY NOT NULL,
    phone    TEXT NOT NULL UNIQUE,
    bound_at TEXT NOT NULL
);
