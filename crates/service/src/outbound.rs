//! Connections the service makes to addresses an organization chose (webhook URLs, S3
//! endpoints): only to public addresses, unless the operator allows more
//! (`network.allow_private`, `network.allow_hosts`). Otherwise any org could make the service
//! reach its own loopback, the cloud metadata endpoint (169.254.169.254) or the private network.
//!
//! Names are checked by the HTTP clients' own resolver ([`GuardedResolver`]): the client connects
//! only to addresses that passed, so a name that resolves to something else a moment later (DNS
//! rebinding) gains nothing. IP literals skip the resolver: they are checked before each request
//! ([`NetworkSettings::check_literal`]) and on every redirect hop. URLs are also checked when they
//! are saved ([`NetworkSettings::check_url`]), so the mistake is reported where it is made.

pub use crate::config::network::{Cidr, NetworkSettings};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Why the service will not connect somewhere.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(
        "`{host}` is {ip}, a {kind} address; the service does not connect to such addresses for an organization. An operator can allow it with network.allow_private (e.g. \"{ip}/32\") or network.allow_hosts"
    )]
    Private {
        host: String,
        ip: IpAddr,
        kind: &'static str,
    },
    #[error("`{0}` does not resolve to any address")]
    NoAddress(String),
    #[error("only http:// and https:// URLs with a host are allowed")]
    NotHttp,
}

/// What kind of non-public address `ip` is; `None` for a public one.
pub fn special_kind(ip: IpAddr) -> Option<&'static str> {
    match ip.to_canonical() {
        IpAddr::V4(ip) => v4_kind(ip),
        IpAddr::V6(ip) => v6_kind(ip),
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "unspecified",
        (127, _, _) => "loopback",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "private",
        (169, 254, _) => "link-local",
        (100, 64..=127, _) => "shared (CGNAT)",
        (192, 0, 0) => "IETF protocol assignment",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved",
        _ => return None,
    })
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    let embedded_v4 = |high: u16, low: u16| {
        Ipv4Addr::new((high >> 8) as u8, high as u8, (low >> 8) as u8, low as u8)
    };
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    Some(match segments {
        // ::a.b.c.d (IPv4-compatible, deprecated): reaches the IPv4 address on some stacks.
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible",
        // NAT64 and 6to4 carry an IPv4 address: they are what that address is.
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => return v4_kind(embedded_v4(high, low)),
        [0x2002, high, low, ..] => return v4_kind(embedded_v4(high, low)),
        [first, ..] if first & 0xfe00 == 0xfc00 => "unique local (private)",
        [first, ..] if first & 0xffc0 == 0xfe80 => "link-local",
        [first, ..] if first & 0xffc0 == 0xfec0 => "site-local",
        [first, ..] if first & 0xff00 == 0xff00 => "multicast",
        [0x2001, 0xdb8, ..] => "documentation",
        // Teredo hides an IPv4 address; discard-only 100::/64.
        [0x2001, 0, ..] => "Teredo",
        [0x100, 0, 0, 0, ..] => "discard-only",
        _ => return None,
    })
}

impl NetworkSettings {
    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.allow_hosts
            .iter()
            .any(|allowed| allowed.trim_end_matches('.').eq_ignore_ascii_case(host))
    }

    /// Whether `ip` (the address of `host`) may be connected to.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), Refused> {
        match special_kind(ip) {
            Some(kind) if !self.allow_private.iter().any(|range| range.contains(ip)) => {
                Err(Refused::Private {
                    host: host.to_string(),
                    ip: ip.to_canonical(),
                    kind,
                })
            }
            _ => Ok(()),
        }
    }

    /// The addresses of `host` that may be connected to; an error when there are none.
    pub fn filter(
        &self,
        host: &str,
        addresses: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, Refused> {
        let addresses: Vec<SocketAddr> = addresses.into_iter().collect();
        if self.host_allowed(host) {
            return Ok(addresses);
        }
        let mut first_refusal = None;
        let allowed: Vec<SocketAddr> = addresses
            .into_iter()
            .filter(|address| match self.check_ip(host, address.ip()) {
                Ok(()) => true,
                Err(refused) => {
                    first_refusal.get_or_insert(refused);
                    false
                }
            })
            .collect();
        match (allowed.is_empty(), first_refusal) {
            (false, _) => Ok(allowed),
            (true, Some(refused)) => Err(refused),
            (true, None) => Err(Refused::NoAddress(host.to_string())),
        }
    }

    /// Checks what the resolver will not see: the scheme, and a host that is an IP literal.
    /// Before every request and on every redirect hop.
    pub fn check_literal(&self, url: &reqwest::Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::NotHttp);
        }
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(&ip.to_string(), IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(&ip.to_string(), IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => Ok(()),
            None => Err(Refused::NotHttp),
        }
    }

    /// The check when a URL is saved: literal hosts, and every address a name resolves to now.
    /// A name that does not resolve now is accepted (it may be created later); the resolver
    /// checks it at each use.
    pub async fn check_url(&self, url: &reqwest::Url) -> Result<(), Refused> {
        self.check_literal(url)?;
        let Some(url::Host::Domain(host)) = url.host() else {
            return Ok(());
        };
        if self.host_allowed(host) {
            return Ok(());
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let lookup = tokio::net::lookup_host((host, port));
        if let Ok(Ok(addresses)) = tokio::time::timeout(Duration::from_secs(5), lookup).await {
            for address in addresses {
                self.check_ip(host, address.ip())?;
            }
        }
        Ok(())
    }
}

/// At most 256 characters of a remote answer, for debug logs.
pub fn shortened(text: &str) -> String {
    match text.char_indices().nth(256) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

/// The first [`Refused`] in an error's chain of causes (a client error wraps the resolver's).
pub fn refusal<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(refused) = error.downcast_ref::<Refused>() {
            return Some(refused);
        }
        next = error.source();
    }
    None
}

/// The resolver of the clients that reach organizations' addresses: resolves with the system,
/// then keeps only the addresses [`NetworkSettings::filter`] allows.
#[derive(Clone)]
pub struct GuardedResolver {
    network: Arc<NetworkSettings>,
}

impl GuardedResolver {
    pub fn new(network: &NetworkSettings) -> Self {
        Self {
            network: Arc::new(network.clone()),
        }
    }

    async fn resolve(
        self,
        host: String,
    ) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        // The port is replaced by the client with the URL's.
        let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
        Ok(self.network.filter(&host, found)?)
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addresses = resolver.resolve(host).await?;
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl reqwest013::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest013::dns::Name) -> reqwest013::dns::Resolving {
        let resolver = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addresses = resolver.resolve(host).await?;
            Ok(Box::new(addresses.into_iter()) as reqwest013::dns::Addrs)
        })
    }
}

/// The client for webhooks: guarded resolver, no proxy (a proxy would resolve names itself,
/// unchecked), no redirects (one would resend the signed body somewhere the org did not set).
pub fn webhook_client(network: &NetworkSettings, timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver::new(network)))
        .user_agent(concat!("orgbackup-webhook/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with a timeout and rustls builds")
}

/// The client OpenDAL uses for S3 endpoints: guarded resolver, no proxy, and each redirect hop
/// checked (a hop to a name is checked again by the resolver when it connects).
pub fn s3_client(network: &NetworkSettings) -> reqwest013::Client {
    let hops = Arc::new(network.clone());
    let policy = reqwest013::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.error("too many redirects");
        }
        match hops.check_literal(attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(refused) => attempt.error(refused),
        }
    });
    reqwest013::Client::builder()
        .redirect(policy)
        .no_proxy()
        .dns_resolver(GuardedResolver::new(network))
        .build()
        .expect("a client with rustls builds")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn addresses(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| SocketAddr::new(ip(a), 443)).collect()
    }

    #[test]
    fn loopback_private_link_local_cgnat_and_their_ipv6_forms_are_not_public() {
        for (address, kind) in [
            ("127.0.0.1", "loopback"),
            ("127.1.2.3", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "shared (CGNAT)"),
            ("100.127.255.255", "shared (CGNAT)"),
            ("0.0.0.0", "unspecified"),
            ("255.255.255.255", "reserved"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.0.0.1", "private"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("2002:7f00:1::", "loopback"),
            ("fe80::1", "link-local"),
            ("fc00::1", "unique local (private)"),
            ("fd12:3456::1", "unique local (private)"),
            ("ff02::1", "multicast"),
        ] {
            assert_eq!(special_kind(ip(address)), Some(kind), "{address}");
        }
        for public in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert_eq!(special_kind(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn ranges_parse_and_contain_addresses_in_either_spelling() {
        let range: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(range.contains(ip("10.200.3.4")));
        assert!(range.contains(ip("::ffff:10.200.3.4")));
        assert!(!range.contains(ip("11.0.0.1")));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6: Cidr = "fc00::/7".parse().unwrap();
        assert!(v6.contains(ip("fd00::1")) && !v6.contains(ip("fe80::1")));
        let loopback: Cidr = "127.0.0.0/8".parse().unwrap();
        assert!(loopback.contains(ip("127.0.0.1")) && !loopback.contains(ip("128.0.0.1")));
        let everything: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(everything.contains(ip("192.168.0.1")));
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0/8", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_resolver_keeps_only_allowed_addresses_and_refuses_a_name_with_none() {
        let strict = NetworkSettings::default();
        // A public-looking name that resolves to loopback (or the metadata endpoint).
        let refused = strict
            .filter("hooks.example.com", addresses(&["127.0.0.1", "::1"]))
            .unwrap_err();
        assert!(
            matches!(
                refused,
                Refused::Private {
                    kind: "loopback",
                    ..
                }
            ),
            "{refused}"
        );
        assert!(
            refused.to_string().contains("network.allow_private"),
            "{refused}"
        );
        // Mixed answers: only the public address is used.
        assert_eq!(
            strict
                .filter(
                    "mixed.example.com",
                    addresses(&["169.254.169.254", "93.184.216.34"])
                )
                .unwrap(),
            addresses(&["93.184.216.34"])
        );
        assert!(matches!(
            strict.filter("empty.example.com", Vec::new()),
            Err(Refused::NoAddress(_))
        ));

        let allowing = NetworkSettings {
            allow_private: vec!["127.0.0.1/32".parse().unwrap()],
            allow_hosts: vec!["minio.internal".into()],
        };
        assert_eq!(
            allowing
                .filter("localhost", addresses(&["127.0.0.1", "::1"]))
                .unwrap(),
            addresses(&["127.0.0.1"])
        );
        assert!(allowing.filter("x", addresses(&["127.0.0.2"])).is_err());
        assert_eq!(
            allowing
                .filter("MINIO.internal.", addresses(&["10.9.9.9"]))
                .unwrap(),
            addresses(&["10.9.9.9"])
        );
    }

    #[test]
    fn ip_literals_are_checked_in_every_spelling_the_url_parser_accepts() {
        let strict = NetworkSettings::default();
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::1]:8080/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fe80::1]/",
            "http://100.64.1.1/",
        ] {
            let parsed = reqwest::Url::parse(url).unwrap();
            assert!(strict.check_literal(&parsed).is_err(), "{url}");
        }
        for url in ["https://8.8.8.8/", "https://hooks.example.com/x"] {
            assert!(
                strict
                    .check_literal(&reqwest::Url::parse(url).unwrap())
                    .is_ok(),
                "{url}"
            );
        }
        assert!(matches!(
            strict.check_literal(&reqwest::Url::parse("ftp://8.8.8.8/").unwrap()),
            Err(Refused::NotHttp)
        ));
    }

    #[tokio::test]
    async fn a_saved_url_whose_name_resolves_to_loopback_is_refused() {
        let strict = NetworkSettings::default();
        let url = reqwest::Url::parse("http://localhost:9000/hook").unwrap();
        let refused = strict.check_url(&url).await.unwrap_err();
        assert!(
            matches!(
                refused,
                Refused::Private {
                    kind: "loopback",
                    ..
                }
            ),
            "{refused}"
        );
    }
}
