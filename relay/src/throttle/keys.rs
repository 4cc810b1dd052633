//! What a login attempt is counted under: its throttle keys, each a keyed hash.
//!
//! The hashes are stored, so they are keyed with a secret derived from `secret.key`:
//! someone holding a copy of the database cannot hash every address and known username
//! to learn who failed to log in from where.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

/// What a key counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A username from one address.
    Pair,
    /// An address (IPv4, or an IPv6 /64), across usernames.
    Address,
    /// A username, across addresses.
    User,
}

impl Kind {
    /// As stored in `login_throttle.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pair => "pair",
            Kind::Address => "address",
            Kind::User => "user",
        }
    }
}

/// A throttle key: what it counts and a 128-bit keyed hash of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub kind: Kind,
    hash: [u8; 16],
}

impl Key {
    /// The stored form: 32 hex digits.
    pub fn hex(&self) -> String {
        hex::encode(self.hash)
    }
}

/// The secret the key hashes are keyed with. Never logged.
#[derive(Clone)]
pub struct KeySecret([u8; 32]);

impl KeySecret {
    pub fn new(bytes: [u8; 32]) -> KeySecret {
        KeySecret(bytes)
    }
}

impl std::fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySecret(***)")
    }
}

/// SHA-256 over `secret` (may be empty) and length-prefixed `parts`, cut to 128 bits.
fn digest(secret: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(secret);
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let full = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// A short, stable hash of a username for logs (the raw name never is logged).
pub fn username_hash(username: &str) -> String {
    hex::encode(&digest(&[], &[b"user", username.to_lowercase().as_bytes()])[..8])
}

/// The address as throttled: IPv4 (or IPv4-mapped) as is, IPv6 by its /64.
pub fn address_prefix(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The keys of one login attempt: the username, and with a known address the pair and
/// the address.
#[derive(Debug, Clone)]
pub struct LoginKeys {
    pub keys: Vec<Key>,
}

impl LoginKeys {
    pub fn new(secret: &KeySecret, username: &str, ip: Option<IpAddr>) -> LoginKeys {
        let user = username.to_lowercase();
        let s = &secret.0[..];
        let mut keys = vec![Key {
            kind: Kind::User,
            hash: digest(s, &[b"user", user.as_bytes()]),
        }];
        if let Some(ip) = ip {
            let addr = address_prefix(ip).to_string();
            keys.push(Key {
                kind: Kind::Pair,
                hash: digest(s, &[b"pair", user.as_bytes(), addr.as_bytes()]),
            });
            keys.push(Key {
                kind: Kind::Address,
                hash: digest(s, &[b"ip", addr.as_bytes()]),
            });
        }
        LoginKeys { keys }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn usernames_are_hashed_for_logs() {
        let h = username_hash("Alice");
        assert_eq!(h, username_hash("alice"));
        assert_eq!(h.len(), 16);
        assert!(!h.contains("alice"));
    }

    #[test]
    fn keys_fold_case_and_the_ipv6_host_part_and_depend_on_the_secret() {
        let s = KeySecret::new([1; 32]);
        let a = LoginKeys::new(&s, "Alice", ip("2001:db8:1:2::1"));
        let b = LoginKeys::new(&s, "alice", ip("2001:db8:1:2:ffff::9"));
        assert_eq!(a.keys, b.keys);
        let kinds: Vec<Kind> = a.keys.iter().map(|k| k.kind).collect();
        assert_eq!(kinds, [Kind::User, Kind::Pair, Kind::Address]);
        let other_net = LoginKeys::new(&s, "alice", ip("2001:db8:1:3::1"));
        assert_eq!(other_net.keys[0], a.keys[0], "same user");
        assert_ne!(other_net.keys[1], a.keys[1]);
        assert_ne!(other_net.keys[2], a.keys[2]);
        let other_secret = LoginKeys::new(&KeySecret::new([2; 32]), "alice", ip("2001:db8:1:2::1"));
        assert!(a.keys.iter().zip(&other_secret.keys).all(|(x, y)| x != y));
        assert_eq!(LoginKeys::new(&s, "alice", None).keys.len(), 1);
        assert_eq!(a.keys[0].hex().len(), 32);
        assert_eq!(
            address_prefix("::ffff:10.0.0.1".parse().expect("ip")),
            "10.0.0.1".parse::<IpAddr>().expect("ip")
        );
    }
}
