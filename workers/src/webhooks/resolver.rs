//! Name resolution for deliveries that drops addresses the operator does not allow, so a
//! public name pointed at 127.0.0.1 or the metadata service (DNS rebinding) reaches nothing.

use std::net::SocketAddr;

use app::webhook::Targets;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Resolves with the system resolver, keeping only the addresses `targets` allows.
pub(super) struct GuardedResolver {
    pub(super) targets: Targets,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let targets = self.targets;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| targets.allows(a.ip()))
                .collect();
            if allowed.is_empty() {
                let refused = std::io::Error::other(format!(
                    "{host} resolves to no public address (loopback, private and link-local targets are refused)"
                ));
                return Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_resolves_to_nothing() {
        let guarded = GuardedResolver {
            targets: Targets::PublicOnly,
        };
        let name = Name::from_str("localhost").unwrap();
        let refused = guarded.resolve(name).await.err().expect("refused");
        assert!(
            refused.to_string().contains("no public address"),
            "{refused}"
        );
        let open = GuardedResolver {
            targets: Targets::AnyAddress,
        };
        let found: Vec<SocketAddr> = open
            .resolve(Name::from_str("localhost").unwrap())
            .await
            .unwrap()
            .collect();
        assert!(found.iter().all(|a| a.ip().is_loopback()) && !found.is_empty());
    }
}
