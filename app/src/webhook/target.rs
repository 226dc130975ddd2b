//! Where a webhook may point: public hosts only, unless the operator allows private ones
//! (`MAILPLANE_WEBHOOK_ALLOW_PRIVATE`, for tests and closed networks). Otherwise an operator
//! token, or a stolen one, turns the delivery worker into a scanner of our own network and
//! the cloud's metadata service.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether private, loopback and link-local targets are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Targets {
    /// Only addresses on the public internet (the default).
    #[default]
    PublicOnly,
    /// Any address (tests, closed networks).
    AnyAddress,
}

impl Targets {
    /// Whether a delivery may connect to `ip`.
    pub fn allows(self, ip: IpAddr) -> bool {
        self == Targets::AnyAddress || is_public(ip)
    }

    /// Whether a host, as written in a URL, may be the target: names that only ever mean
    /// this machine or a private network are refused before any lookup; IP literals by
    /// address. Names are checked again after resolution, at delivery.
    pub fn allows_host(self, host: &url::Host<&str>) -> bool {
        if self == Targets::AnyAddress {
            return true;
        }
        match host {
            url::Host::Ipv4(ip) => is_public(IpAddr::V4(*ip)),
            url::Host::Ipv6(ip) => is_public(IpAddr::V6(*ip)),
            url::Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                let local = ["localhost", "local", "internal", "localdomain", "home.arpa"];
                name.contains('.')
                    && !local
                        .iter()
                        .any(|l| name == *l || name.ends_with(&format!(".{l}")))
            }
        }
    }
}

/// On the public internet: not loopback, private, shared (CGNAT), link-local (the metadata
/// service lives at 169.254.169.254), multicast, documentation or reserved space.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public_v4(v4);
            }
            let s = v6.segments();
            let embeds_v4 = (s[0] == 0x64 && s[1] == 0xff9b) || s[0] == 0x2002;
            if embeds_v4 {
                // NAT64 and 6to4 carry an IPv4 address that may be private.
                let (hi, lo) = if s[0] == 0x2002 {
                    (s[1], s[2])
                } else {
                    (s[6], s[7])
                };
                return public_v4(Ipv4Addr::new(
                    (hi >> 8) as u8,
                    hi as u8,
                    (lo >> 8) as u8,
                    lo as u8,
                ));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || v6 == Ipv6Addr::from_bits(1) // ::1 spelled otherwise
                || s[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
        }
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_and_metadata_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::127.0.0.1",
        ] {
            let ip: IpAddr = private.parse().unwrap();
            assert!(!is_public(ip), "{private}");
            assert!(Targets::AnyAddress.allows(ip));
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn names_that_mean_this_machine_are_refused_before_any_lookup() {
        let t = Targets::PublicOnly;
        for name in [
            "localhost",
            "api.localhost",
            "metadata.google.internal",
            "nas.local",
            "intranet",
        ] {
            assert!(!t.allows_host(&url::Host::Domain(name)), "{name}");
        }
        assert!(t.allows_host(&url::Host::Domain("billing.example.com")));
        assert!(Targets::AnyAddress.allows_host(&url::Host::Domain("localhost")));
    }
}
