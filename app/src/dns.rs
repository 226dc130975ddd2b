//! Real DNS lookups for domain verification (hickory-resolver), against the resolver at
//! `MAILPLANE_DNS` (ip:port) or the system's.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use domain::maildomain::{DnsAnswers, RecordType, RequiredRecord};
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::{RData, RecordType as Rr};
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::TokioResolver;

/// Where verification looks a domain's records up: DNS itself ([`DnsLookup`]), or, for
/// tests of the rules around it, fixed answers ([`FixedAnswers`]).
pub trait Resolve: Send + Sync {
    /// What `domain` publishes of the records verification needs.
    fn resolve<'a>(
        &'a self,
        domain: &'a str,
        required: &'a [RequiredRecord],
    ) -> Pin<Box<dyn Future<Output = DnsAnswers> + Send + 'a>>;
}

impl Resolve for DnsLookup {
    fn resolve<'a>(
        &'a self,
        domain: &'a str,
        required: &'a [RequiredRecord],
    ) -> Pin<Box<dyn Future<Output = DnsAnswers> + Send + 'a>> {
        Box::pin(self.answers(domain, required))
    }
}

/// The same answers for every domain (tests of what happens after a lookup).
#[derive(Debug, Clone, Default)]
pub struct FixedAnswers(pub DnsAnswers);

impl Resolve for FixedAnswers {
    fn resolve<'a>(
        &'a self,
        _domain: &'a str,
        _required: &'a [RequiredRecord],
    ) -> Pin<Box<dyn Future<Output = DnsAnswers> + Send + 'a>> {
        let answers = self.0.clone();
        Box::pin(async move { answers })
    }
}

/// Why a resolver could not be set up.
/// Fixed answers plus, for each domain asked about, the `_dnsauth` token its records ask
/// for: a domain whose owner published everything (tests and demos without a DNS server).
#[derive(Debug, Clone, Default)]
pub struct PublishedByOwner(pub DnsAnswers);

impl Resolve for PublishedByOwner {
    fn resolve<'a>(
        &'a self,
        _domain: &'a str,
        required: &'a [RequiredRecord],
    ) -> Pin<Box<dyn Future<Output = DnsAnswers> + Send + 'a>> {
        let mut answers = self.0.clone();
        answers.dnsauth_txt.extend(
            required
                .iter()
                .filter(|r| r.record_type == RecordType::Txt && r.host == "_dnsauth")
                .map(|r| r.value.clone()),
        );
        Box::pin(async move { answers })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("DNS resolver: {0}")]
pub struct DnsError(String);

/// Looks up what a domain publishes.
#[derive(Clone)]
pub struct DnsLookup {
    resolver: TokioResolver,
}

impl DnsLookup {
    /// A resolver asking `server` (UDP), or the system's resolvers when `None`.
    pub fn new(server: Option<SocketAddr>) -> Result<Self, DnsError> {
        let mut opts = ResolverOpts::default();
        // Verification must see the record just published: no answers from a cache.
        opts.cache_size = 0;
        opts.attempts = 2;
        opts.timeout = std::time::Duration::from_secs(3);
        let resolver = match server {
            Some(addr) => {
                let mut config = ResolverConfig::new();
                config.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
                TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
                    .with_options(opts)
                    .build()
            }
            None => TokioResolver::builder_tokio()
                .map_err(|e| DnsError(e.to_string()))?
                .with_options(opts)
                .build(),
        };
        Ok(DnsLookup { resolver })
    }

    /// The answers the verification needs: MX and TXT of the domain, each CNAME the
    /// required records name, and TXT of `_dnsauth`. A name that does not resolve counts
    /// as publishing nothing (the check then says MISSING).
    pub async fn answers(&self, domain: &str, required: &[RequiredRecord]) -> DnsAnswers {
        let mut answers = DnsAnswers::default();
        for r in self.records(domain, Rr::MX).await {
            if let RData::MX(mx) = r {
                answers.mx.push((
                    mx.preference(),
                    mx.exchange().to_utf8().trim_end_matches('.').to_owned(),
                ));
            }
        }
        answers.txt = self.texts(domain).await;
        answers.dnsauth_txt = self.texts(&format!("_dnsauth.{domain}")).await;
        for r in required
            .iter()
            .filter(|r| r.record_type == RecordType::Cname)
        {
            for data in self
                .records(&format!("{}.{domain}", r.host), Rr::CNAME)
                .await
            {
                if let RData::CNAME(target) = data {
                    answers.cname.push((
                        r.host.clone(),
                        target.0.to_utf8().trim_end_matches('.').to_owned(),
                    ));
                }
            }
        }
        answers
    }

    async fn texts(&self, name: &str) -> Vec<String> {
        self.records(name, Rr::TXT)
            .await
            .into_iter()
            .filter_map(|r| match r {
                RData::TXT(txt) => Some(
                    txt.iter()
                        .map(|part| String::from_utf8_lossy(part).into_owned())
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    }

    async fn records(&self, name: &str, rr: Rr) -> Vec<RData> {
        // Fully qualified, so no search domain is appended.
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.resolver.lookup(fqdn.as_str(), rr).await {
            Ok(lookup) => lookup.iter().cloned().collect(),
            Err(e) => {
                if !e.is_no_records_found() && !e.is_nx_domain() {
                    tracing::warn!(name, record = %rr, error = %e, "DNS lookup failed");
                }
                vec![]
            }
        }
    }
}
