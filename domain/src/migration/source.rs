//! The old server a task copies from.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;

/// How mail is read from the old server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MailProtocol {
    /// Every folder, with flags.
    Imap,
    /// The inbox only (what POP3 offers).
    Pop3,
}

/// The old server: host, port, protocol, and whether the connection is TLS from the start
/// (IMAPS 993, POP3S 995).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MailSource {
    pub host: String,
    pub port: u16,
    pub protocol: MailProtocol,
    pub tls: bool,
}

impl MailSource {
    /// A host name (letters, digits, `-`, `.`; ASCII, IDN in punycode) or an IP literal,
    /// and a port other than 0. The host reaches a configuration file of the data plane, so
    /// nothing else may pass.
    pub fn validate(&self) -> Result<(), DomainError> {
        let host = self.host.as_str();
        let ip = host.parse::<std::net::IpAddr>().is_ok();
        let name = !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !ip && !name {
            return Err(DomainError::invalid(
                "host",
                "a host name (e.g. imap.example.com) or an IP address",
            ));
        }
        if self.port == 0 {
            return Err(DomainError::invalid("port", "a port from 1 to 65535"));
        }
        Ok(())
    }

    /// The usual port of a protocol (IMAP 143/993, POP3 110/995).
    pub fn default_port(protocol: MailProtocol, tls: bool) -> u16 {
        match (protocol, tls) {
            (MailProtocol::Imap, false) => 143,
            (MailProtocol::Imap, true) => 993,
            (MailProtocol::Pop3, false) => 110,
            (MailProtocol::Pop3, true) => 995,
        }
    }
}
