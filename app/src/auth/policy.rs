//! What a token must say besides its signature: who issued it, for whom, and how long a
//! token of each kind may live, so a token minted for another service or for a century is
//! refused even when it is signed with our secret.

use std::time::Duration;

use super::{AuthError, PrincipalKind};

/// Issuer and audience a token must name, and the longest lifetime per principal kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPolicy {
    /// The `iss` claim tokens must carry (and that `mailplane token` writes).
    pub issuer: String,
    /// The `aud` claim tokens must carry.
    pub audience: String,
    pub max_account: Duration,
    pub max_service: Duration,
    pub max_operator: Duration,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        TokenPolicy {
            issuer: "mailplane".into(),
            audience: "mailplane".into(),
            // People sign in again every day; operators hold the most power, so less;
            // services rotate monthly.
            max_account: Duration::from_secs(24 * 3600),
            max_service: Duration::from_secs(30 * 24 * 3600),
            max_operator: Duration::from_secs(12 * 3600),
        }
    }
}

impl TokenPolicy {
    /// The longest lifetime (`exp - iat`) a token of this kind may have.
    pub fn max_lifetime(&self, kind: PrincipalKind) -> Duration {
        match kind {
            PrincipalKind::Account => self.max_account,
            PrincipalKind::Service => self.max_service,
            PrincipalKind::Operator => self.max_operator,
        }
    }

    /// Applies `account=24h,service=30d,operator=12h` (any subset) on top of the defaults.
    pub fn with_max_lifetimes(mut self, text: &str) -> Result<Self, AuthError> {
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (kind, ttl) = part
                .split_once('=')
                .ok_or_else(|| AuthError::BadPolicy(part.to_owned()))?;
            let ttl = super::parse_ttl(ttl)
                .ok()
                .filter(|t| !t.is_zero())
                .ok_or_else(|| AuthError::BadPolicy(part.to_owned()))?;
            match kind.trim().parse::<PrincipalKind>() {
                Ok(PrincipalKind::Account) => self.max_account = ttl,
                Ok(PrincipalKind::Service) => self.max_service = ttl,
                Ok(PrincipalKind::Operator) => self.max_operator = ttl,
                Err(_) => return Err(AuthError::BadPolicy(part.to_owned())),
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_set_per_kind() {
        let p = TokenPolicy::default()
            .with_max_lifetimes("account=2h, service=7d")
            .unwrap();
        assert_eq!(
            p.max_lifetime(PrincipalKind::Account),
            Duration::from_secs(7200)
        );
        assert_eq!(
            p.max_lifetime(PrincipalKind::Service),
            Duration::from_secs(7 * 86400)
        );
        assert_eq!(
            p.max_lifetime(PrincipalKind::Operator),
            Duration::from_secs(12 * 3600)
        );
        for bad in ["account", "admin=1h", "account=forever", "account=0s"] {
            assert!(
                TokenPolicy::default().with_max_lifetimes(bad).is_err(),
                "{bad}"
            );
        }
    }
}
