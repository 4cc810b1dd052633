//! Who may read `/metrics`: the facts of one scrape (address, bearer token) gathered for
//! `policy::scrape_metrics`. The token is compared in constant time.

use std::net::IpAddr;

use axum::http::{header, HeaderMap};
use subtle::ConstantTimeEq;

use super::config::MetricsConfig;
use crate::policy::ScrapeFacts;

/// The facts of a scrape from `peer` (the TCP peer: `ClientAddr`) with `headers`.
pub fn facts(config: &MetricsConfig, peer: Option<IpAddr>, headers: &HeaderMap) -> ScrapeFacts {
    let address_allowed = peer.is_some_and(|ip| allowed(config, ip));
    let token_matches = match &config.token {
        Some(token) => bearer(headers).is_some_and(|given| same(given, token.expose())),
        None => false,
    };
    ScrapeFacts {
        enabled: config.enabled,
        address_allowed,
        token_required: config.token.is_some(),
        token_matches,
    }
}

fn allowed(config: &MetricsConfig, ip: IpAddr) -> bool {
    // An IPv4 peer on a dual-stack socket arrives as `::ffff:a.b.c.d`.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    config.allow.iter().any(|net| net.contains(&ip))
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Constant time in the bytes compared (a length difference alone is not secret).
fn same(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use vigil_secret::Secret;

    use super::*;

    fn config(token: Option<&str>, allow: &[&str]) -> MetricsConfig {
        MetricsConfig {
            enabled: true,
            token: token.map(Secret::new),
            allow: allow.iter().map(|a| a.parse().expect("net")).collect(),
        }
    }

    fn with_auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    #[test]
    fn addresses_and_tokens() {
        let c = config(Some("tok"), &["10.0.0.0/8", "::1/128"]);
        let ip = |s: &str| Some(s.parse::<IpAddr>().expect("ip"));
        let f = facts(&c, ip("10.1.2.3"), &with_auth("Bearer tok"));
        assert!(f.address_allowed && f.token_required && f.token_matches);
        let f = facts(&c, ip("::ffff:10.1.2.3"), &with_auth("bearer  tok"));
        assert!(f.address_allowed && f.token_matches, "mapped v4, any case");
        let f = facts(&c, ip("192.0.2.1"), &with_auth("Bearer tok"));
        assert!(!f.address_allowed);
        assert!(!facts(&c, None, &HeaderMap::new()).address_allowed);
        assert!(!facts(&c, ip("::1"), &with_auth("Bearer to")).token_matches);
        assert!(!facts(&c, ip("::1"), &with_auth("Basic tok")).token_matches);
        assert!(!facts(&c, ip("::1"), &HeaderMap::new()).token_matches);
        let open = config(None, &["0.0.0.0/0"]);
        let f = facts(&open, ip("203.0.113.9"), &HeaderMap::new());
        assert!(f.address_allowed && !f.token_required);
    }
}
