//! The webhook's signature: `X-Vigil-Signature: sha256=<hex HMAC-SHA256(secret,
//! timestamp "." body)>` beside `X-Vigil-Timestamp: <Unix seconds>`, so a receiver can
//! check both that Vigil sent the body and when (and refuse old replays).

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const TIMESTAMP_HEADER: &str = "x-vigil-timestamp";
pub const SIGNATURE_HEADER: &str = "x-vigil-signature";

/// The `X-Vigil-Signature` value for `body` sent at `timestamp`.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(tag(secret, timestamp, body)))
}

/// Whether `signature` (a header value) is `body`'s at `timestamp` (constant-time).
pub fn verify(secret: &[u8], timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex_tag) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(given) = hex::decode(hex_tag) else {
        return false;
    };
    mac(secret, timestamp, body).verify_slice(&given).is_ok()
}

fn tag(secret: &[u8], timestamp: &str, body: &[u8]) -> Vec<u8> {
    mac(secret, timestamp, body)
        .finalize()
        .into_bytes()
        .to_vec()
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(timestamp.as_bytes());
    m.update(b".");
    m.update(body);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_and_checks() {
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"key",b"1700000000.{}",hashlib.sha256).hexdigest())'
        let s = sign(b"key", "1700000000", b"{}");
        assert_eq!(
            s,
            "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
        assert!(verify(b"key", "1700000000", b"{}", &s));
        assert!(!verify(b"other", "1700000000", b"{}", &s), "another secret");
        assert!(!verify(b"key", "1700000001", b"{}", &s), "another time");
        assert!(!verify(b"key", "1700000000", b"{ }", &s), "another body");
        assert!(!verify(b"key", "1700000000", b"{}", "sha1=00"));
        assert!(!verify(b"key", "1700000000", b"{}", "sha256=zz"));
    }
}
