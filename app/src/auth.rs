//! Identity from bearer tokens: HS256 JWTs naming a principal (API.md, "Transport and
//! identity"). What a principal may touch is decided from the event log, not here.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

mod policy;

pub use policy::TokenPolicy;

/// How far a token's `iat` may lie ahead of our clock (clock skew between issuers).
const ISSUED_AHEAD: i64 = 60;

/// The kinds of principal a token can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    /// A cloud account: a buyer or an organization admin.
    Account,
    /// Another system: the marketplace order system or billing, told apart by `scope`.
    Service,
    /// A mailplane operator.
    Operator,
}

impl FromStr for PrincipalKind {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "account" => Ok(PrincipalKind::Account),
            "service" => Ok(PrincipalKind::Service),
            "operator" => Ok(PrincipalKind::Operator),
            other => Err(AuthError::UnknownKind(other.to_owned())),
        }
    }
}

impl fmt::Display for PrincipalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PrincipalKind::Account => "account",
            PrincipalKind::Service => "service",
            PrincipalKind::Operator => "operator",
        })
    }
}

/// The claims of a mailplane token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub kind: PrincipalKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub exp: i64,
    pub iat: i64,
    /// Who minted the token; must be the configured issuer.
    pub iss: String,
    /// Whom the token is for; must be the configured audience.
    pub aud: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// A random id, so two tokens minted in the same second differ (a console sign-in
    /// link is taken once by its hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// What the token is for when it is not an API token: `console-sign-in` for the
    /// console's one-time sign-in links, which the API refuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
}

/// The purpose claim of a console sign-in link.
pub const SIGN_IN_PURPOSE: &str = "console-sign-in";
/// A sign-in link lives at most this long.
pub const MAX_SIGN_IN: Duration = Duration::from_secs(15 * 60);

/// A verified sign-in link: whose, its id (taken once), when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    pub account: String,
    pub jti: String,
    pub expires: i64,
}

/// Who is calling, as established from a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: String,
    pub kind: PrincipalKind,
    pub scope: Option<String>,
}

impl Principal {
    /// The actor recorded in event metadata: `account:…`, `service:marketplace`, `operator:…`.
    pub fn actor(&self) -> String {
        match (&self.kind, &self.scope) {
            (PrincipalKind::Service, Some(scope)) => format!("service:{scope}/{}", self.id),
            (kind, _) => format!("{kind}:{}", self.id),
        }
    }
}

/// Why a token or a token request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not a valid mailplane token")]
    Invalid,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by someone else or for another service")]
    WrongIssuerOrAudience,
    #[error("the token lives longer than a {kind} token may ({max_seconds} s)")]
    TooLong {
        kind: PrincipalKind,
        max_seconds: u64,
    },
    #[error("MAILPLANE_TOKEN_MAX_TTL: {0:?} is not kind=lifetime (account, service, operator; 1s or more)")]
    BadPolicy(String),
    #[error("unknown principal kind {0:?}; use account, service or operator")]
    UnknownKind(String),
    #[error("a service token needs a scope (marketplace or billing)")]
    MissingScope,
    #[error("unknown service scope {0:?}; use marketplace or billing")]
    UnknownScope(String),
    #[error("only service tokens carry a scope")]
    UnexpectedScope,
    #[error("the subject must be 1 to 256 characters")]
    BadSubject,
    #[error("the lifetime must be 1 second or more")]
    BadTtl,
    #[error("the signing secret must be at least 32 bytes")]
    WeakSecret,
    #[error("a console sign-in link is not an API token")]
    SignInLink,
    #[error("not a console sign-in link (print one with `mailplane console-link`)")]
    NotSignIn,
}

/// The service scopes API.md names.
pub const SERVICE_SCOPES: [&str; 2] = ["marketplace", "billing"];

/// The HS256 signing and verifying keys.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    policy: TokenPolicy,
}

impl JwtKeys {
    /// Keys from a shared secret of at least 32 bytes, with the default [`TokenPolicy`].
    pub fn from_secret(secret: &[u8]) -> Result<Self, AuthError> {
        JwtKeys::with_policy(secret, TokenPolicy::default())
    }

    /// Keys from a shared secret of at least 32 bytes that accept what `policy` allows.
    pub fn with_policy(secret: &[u8], policy: TokenPolicy) -> Result<Self, AuthError> {
        if secret.len() < 32 {
            return Err(AuthError::WeakSecret);
        }
        // Only HS256: a token claiming `none` or another algorithm is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.set_issuer(&[&policy.issuer]);
        validation.set_audience(&[&policy.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        Ok(JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            policy,
        })
    }

    /// What tokens must say to be accepted.
    pub fn policy(&self) -> &TokenPolicy {
        &self.policy
    }

    /// Signs a token for a principal that lives `ttl` from `now` (unix seconds).
    pub fn issue(
        &self,
        sub: &str,
        kind: PrincipalKind,
        scope: Option<&str>,
        ttl: Duration,
        now: i64,
    ) -> Result<String, AuthError> {
        if sub.is_empty() || sub.chars().count() > 256 {
            return Err(AuthError::BadSubject);
        }
        if ttl.is_zero() {
            return Err(AuthError::BadTtl);
        }
        let max = self.policy.max_lifetime(kind);
        if ttl > max {
            return Err(AuthError::TooLong {
                kind,
                max_seconds: max.as_secs(),
            });
        }
        check_scope(kind, scope)?;
        let claims = Claims {
            sub: sub.to_owned(),
            kind,
            scope: scope.map(str::to_owned),
            exp: now + ttl.as_secs() as i64,
            iat: now,
            iss: self.policy.issuer.clone(),
            aud: self.policy.audience.clone(),
            nbf: None,
            jti: Some(uuid::Uuid::new_v4().simple().to_string()),
            purpose: None,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| AuthError::Invalid)
    }

    /// Signs a one-time console sign-in link for `account`, living `ttl` (15 minutes at
    /// most) from `now`; the API refuses it.
    pub fn issue_sign_in(
        &self,
        account: &str,
        ttl: Duration,
        now: i64,
    ) -> Result<String, AuthError> {
        if account.is_empty() || account.chars().count() > 256 {
            return Err(AuthError::BadSubject);
        }
        if ttl.is_zero() {
            return Err(AuthError::BadTtl);
        }
        if ttl > MAX_SIGN_IN {
            return Err(AuthError::TooLong {
                kind: PrincipalKind::Account,
                max_seconds: MAX_SIGN_IN.as_secs(),
            });
        }
        let claims = Claims {
            sub: account.to_owned(),
            kind: PrincipalKind::Account,
            scope: None,
            exp: now + ttl.as_secs() as i64,
            iat: now,
            iss: self.policy.issuer.clone(),
            aud: self.policy.audience.clone(),
            nbf: None,
            jti: Some(uuid::Uuid::new_v4().simple().to_string()),
            purpose: Some(SIGN_IN_PURPOSE.to_owned()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| AuthError::Invalid)
    }

    /// Checks a console sign-in link: signed, unexpired, an account's, for signing in, with
    /// an id, living 15 minutes at most. An API token is no sign-in link.
    pub fn verify_sign_in(&self, token: &str) -> Result<SignIn, AuthError> {
        let c = self.claims(token)?;
        if c.purpose.as_deref() != Some(SIGN_IN_PURPOSE) || c.kind != PrincipalKind::Account {
            return Err(AuthError::NotSignIn);
        }
        if c.exp.saturating_sub(c.iat) > MAX_SIGN_IN.as_secs() as i64 {
            return Err(AuthError::TooLong {
                kind: PrincipalKind::Account,
                max_seconds: MAX_SIGN_IN.as_secs(),
            });
        }
        let jti = c
            .jti
            .filter(|j| !j.is_empty())
            .ok_or(AuthError::NotSignIn)?;
        Ok(SignIn {
            account: c.sub,
            jti,
            expires: c.exp,
        })
    }

    /// Checks a token's signature, algorithm, expiry and claims.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify_token(token).map(|(p, _)| p)
    }

    /// Like [`verify_header`](Self::verify_header), also answering when the token expires
    /// (unix seconds), for connections that outlive a request.
    pub fn verify_with_expiry(&self, header: &str) -> Result<(Principal, i64), AuthError> {
        self.verify_token(bearer(Some(header))?)
    }

    fn verify_token(&self, token: &str) -> Result<(Principal, i64), AuthError> {
        let c = self.claims(token)?;
        // A sign-in link opens a console session once; it calls nothing.
        if c.purpose.is_some() {
            return Err(AuthError::SignInLink);
        }
        let max = self.policy.max_lifetime(c.kind);
        if c.exp.saturating_sub(c.iat) > max.as_secs() as i64 {
            return Err(AuthError::TooLong {
                kind: c.kind,
                max_seconds: max.as_secs(),
            });
        }
        check_scope(c.kind, c.scope.as_deref()).map_err(|_| AuthError::Invalid)?;
        Ok((
            Principal {
                id: c.sub,
                kind: c.kind,
                scope: c.scope,
            },
            c.exp,
        ))
    }

    /// The claims of a token whose signature, algorithm, issuer, audience and times hold.
    fn claims(&self, token: &str) -> Result<Claims, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                jsonwebtoken::errors::ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                jsonwebtoken::errors::ErrorKind::InvalidIssuer
                | jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                    AuthError::WrongIssuerOrAudience
                }
                _ => AuthError::Invalid,
            })?;
        let c = data.claims;
        if c.sub.is_empty() {
            return Err(AuthError::Invalid);
        }
        let now = chrono::Utc::now().timestamp();
        if c.iat > now + ISSUED_AHEAD {
            return Err(AuthError::NotYetValid);
        }
        Ok(c)
    }

    /// Reads `Authorization: Bearer <token>` and verifies it.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        self.verify(bearer(header)?)
    }
}

fn bearer(header: Option<&str>) -> Result<&str, AuthError> {
    header
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::Missing)
}

fn check_scope(kind: PrincipalKind, scope: Option<&str>) -> Result<(), AuthError> {
    match (kind, scope) {
        (PrincipalKind::Service, None) => Err(AuthError::MissingScope),
        (PrincipalKind::Service, Some(s)) if !SERVICE_SCOPES.contains(&s) => {
            Err(AuthError::UnknownScope(s.to_owned()))
        }
        (PrincipalKind::Service, Some(_)) => Ok(()),
        (_, Some(_)) => Err(AuthError::UnexpectedScope),
        (_, None) => Ok(()),
    }
}

/// Parses a lifetime like `90s`, `15m`, `1h`, `7d` (a bare number is seconds).
pub fn parse_ttl(text: &str) -> Result<Duration, AuthError> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let n: u64 = number.parse().map_err(|_| AuthError::BadTtl)?;
    let seconds = match unit {
        's' => n,
        'm' => n.checked_mul(60).ok_or(AuthError::BadTtl)?,
        'h' => n.checked_mul(3600).ok_or(AuthError::BadTtl)?,
        'd' => n.checked_mul(86_400).ok_or(AuthError::BadTtl)?,
        _ => return Err(AuthError::BadTtl),
    };
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const LONG_AGO: i64 = 1_700_000_000;

    fn keys() -> JwtKeys {
        JwtKeys::from_secret(SECRET).unwrap()
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn an_issued_token_verifies_to_its_principal() {
        let k = keys();
        let t = k
            .issue(
                "buyer-1",
                PrincipalKind::Account,
                None,
                Duration::from_secs(3600),
                now(),
            )
            .unwrap();
        let p = k.verify_header(Some(&format!("Bearer {t}"))).unwrap();
        assert_eq!(p.id, "buyer-1");
        assert_eq!(p.kind, PrincipalKind::Account);
        assert_eq!(p.actor(), "account:buyer-1");
        let s = k
            .issue(
                "orders",
                PrincipalKind::Service,
                Some("marketplace"),
                Duration::from_secs(60),
                now(),
            )
            .unwrap();
        assert_eq!(k.verify(&s).unwrap().actor(), "service:marketplace/orders");
    }

    #[test]
    fn expired_tokens_are_refused() {
        let k = keys();
        let t = k
            .issue(
                "buyer-1",
                PrincipalKind::Account,
                None,
                Duration::from_secs(60),
                LONG_AGO,
            )
            .unwrap();
        assert_eq!(k.verify(&t), Err(AuthError::Expired));
    }

    #[test]
    fn tokens_signed_with_another_secret_are_refused() {
        let other = JwtKeys::from_secret(b"another-secret-another-secret-xx").unwrap();
        let t = other
            .issue(
                "buyer-1",
                PrincipalKind::Account,
                None,
                Duration::from_secs(60),
                now(),
            )
            .unwrap();
        assert_eq!(keys().verify(&t), Err(AuthError::Invalid));
    }

    #[test]
    fn unsigned_alg_none_tokens_are_refused() {
        use base64_free::encode_url;
        let header = encode_url(br#"{"alg":"none","typ":"JWT"}"#);
        let body = encode_url(
            format!(r#"{{"sub":"op","kind":"operator","exp":{}}}"#, now() + 600).as_bytes(),
        );
        for token in [format!("{header}.{body}."), format!("{header}.{body}")] {
            assert_eq!(keys().verify(&token), Err(AuthError::Invalid));
        }
    }

    #[test]
    fn wrong_kinds_and_scopes_are_refused() {
        let k = keys();
        let d = Duration::from_secs(60);
        assert_eq!(
            "admin".parse::<PrincipalKind>(),
            Err(AuthError::UnknownKind("admin".into()))
        );
        assert_eq!(
            k.issue("x", PrincipalKind::Service, None, d, now()),
            Err(AuthError::MissingScope)
        );
        assert_eq!(
            k.issue("x", PrincipalKind::Service, Some("root"), d, now()),
            Err(AuthError::UnknownScope("root".into()))
        );
        assert_eq!(
            k.issue("x", PrincipalKind::Account, Some("billing"), d, now()),
            Err(AuthError::UnexpectedScope)
        );
        assert_eq!(
            k.issue("", PrincipalKind::Account, None, d, now()),
            Err(AuthError::BadSubject)
        );
        // A token whose kind is not one of ours does not verify.
        let forged = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "x", "kind": "root", "exp": now() + 60}),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(k.verify(&forged), Err(AuthError::Invalid));
    }

    /// Signs arbitrary claims with our own secret, as a careless or hostile issuer would.
    fn signed(claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    }

    #[test]
    fn a_token_minted_for_another_service_is_refused() {
        let k = keys();
        let base = |iss: &str, aud: &str| {
            serde_json::json!({"sub": "op", "kind": "operator", "iat": now(),
                               "exp": now() + 600, "iss": iss, "aud": aud})
        };
        assert!(k.verify(&signed(base("mailplane", "mailplane"))).is_ok());
        for (iss, aud) in [
            ("mailplane", "billing-portal"),
            ("sso.example", "mailplane"),
        ] {
            assert_eq!(
                k.verify(&signed(base(iss, aud))),
                Err(AuthError::WrongIssuerOrAudience),
                "{iss} {aud}"
            );
        }
        // Without either claim at all.
        let bare =
            serde_json::json!({"sub": "op", "kind": "operator", "iat": now(), "exp": now() + 600});
        assert_eq!(k.verify(&signed(bare)), Err(AuthError::Invalid));
        // Configured names are what counts.
        let policy = TokenPolicy {
            issuer: "idp.example".into(),
            audience: "mail".into(),
            ..TokenPolicy::default()
        };
        let theirs = JwtKeys::with_policy(SECRET, policy).unwrap();
        assert!(theirs.verify(&signed(base("idp.example", "mail"))).is_ok());
        assert_eq!(
            theirs.verify(&signed(base("mailplane", "mailplane"))),
            Err(AuthError::WrongIssuerOrAudience)
        );
    }

    #[test]
    fn a_token_not_valid_yet_is_refused() {
        let k = keys();
        let nbf = serde_json::json!({"sub": "b", "kind": "account", "iat": now(),
            "nbf": now() + 300, "exp": now() + 600, "iss": "mailplane", "aud": "mailplane"});
        assert_eq!(k.verify(&signed(nbf)), Err(AuthError::NotYetValid));
        let future = serde_json::json!({"sub": "b", "kind": "account", "iat": now() + 3000,
            "exp": now() + 3600, "iss": "mailplane", "aud": "mailplane"});
        assert_eq!(k.verify(&signed(future)), Err(AuthError::NotYetValid));
    }

    #[test]
    fn a_hundred_year_token_is_refused() {
        let k = keys();
        let century = 100 * 366 * 86_400;
        let token = signed(
            serde_json::json!({"sub": "b", "kind": "account", "iat": now(),
            "exp": now() + century, "iss": "mailplane", "aud": "mailplane"}),
        );
        assert!(matches!(k.verify(&token), Err(AuthError::TooLong { .. })));
        // Nor can `mailplane token` mint one longer than its kind allows.
        let day = Duration::from_secs(86_400);
        assert!(k
            .issue("b", PrincipalKind::Account, None, day, now())
            .is_ok());
        assert!(matches!(
            k.issue("b", PrincipalKind::Account, None, day * 2, now()),
            Err(AuthError::TooLong { .. })
        ));
        let month = Duration::from_secs(30 * 86_400);
        assert!(k
            .issue("o", PrincipalKind::Service, Some("billing"), month, now())
            .is_ok());
        assert!(matches!(
            k.issue("op", PrincipalKind::Operator, None, day, now()),
            Err(AuthError::TooLong { .. })
        ));
    }

    #[test]
    fn missing_or_malformed_headers_are_refused() {
        let k = keys();
        assert_eq!(k.verify_header(None), Err(AuthError::Missing));
        assert_eq!(k.verify_header(Some("Basic abc")), Err(AuthError::Missing));
        assert_eq!(k.verify_header(Some("Bearer ")), Err(AuthError::Missing));
        assert_eq!(
            k.verify_header(Some("Bearer not.a.jwt")),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(matches!(
            JwtKeys::from_secret(b"short"),
            Err(AuthError::WeakSecret)
        ));
    }

    #[test]
    fn lifetimes_parse() {
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_ttl("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_ttl("30"), Ok(Duration::from_secs(30)));
        for bad in ["", "h", "1x", "-1h", "1.5h", "99999999999999999999d"] {
            assert_eq!(parse_ttl(bad), Err(AuthError::BadTtl), "{bad}");
        }
    }

    /// Unpadded base64url, enough to forge a header in a test.
    mod base64_free {
        pub fn encode_url(bytes: &[u8]) -> String {
            const A: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut out = String::new();
            for chunk in bytes.chunks(3) {
                let b = [
                    chunk[0],
                    *chunk.get(1).unwrap_or(&0),
                    *chunk.get(2).unwrap_or(&0),
                ];
                let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
                for i in 0..=chunk.len() {
                    out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
            out
        }
    }
}
