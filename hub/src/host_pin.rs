//! Host identities as the relay pins them and people compare them: an SSH host key by
//! its fingerprint (`SHA256:<base64>`, as `ssh-keygen -l` prints it), an RDP server by
//! its certificate key pin (`sha256:<hex>` of the SubjectPublicKeyInfo). A stored SSH
//! pin may also be a whole OpenSSH public key (what trust on first use pins).

use base64::Engine as _;
use russh::keys::{HashAlg, PublicKey};
use vigil_wire::api::Protocol;

/// A fingerprint given for an asset is not in its protocol's form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error(
        "an SSH host key fingerprint is `SHA256:` followed by 43 base64 characters, \
         as `ssh-keygen -lf` prints it"
    )]
    Ssh,
    #[error(
        "an RDP certificate pin is `sha256:` followed by 64 hex digits (the SHA-256 of \
         the certificate's SubjectPublicKeyInfo)"
    )]
    Rdp,
}

const SSH_PREFIX: &str = "SHA256:";
const RDP_PREFIX: &str = "sha256:";

/// Checks a fingerprint an administrator gives for an asset of `protocol`, and returns it
/// in the one form the relay stores and compares (unpadded base64 for SSH, lowercase hex
/// for RDP).
pub fn parse_fingerprint(protocol: Protocol, text: &str) -> Result<String, PinError> {
    let text = text.trim();
    match protocol {
        Protocol::Ssh => {
            let b64 = text.strip_prefix(SSH_PREFIX).ok_or(PinError::Ssh)?;
            let digest = base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(b64.trim_end_matches('='))
                .map_err(|_| PinError::Ssh)?;
            if digest.len() != 32 {
                return Err(PinError::Ssh);
            }
            Ok(format!(
                "{SSH_PREFIX}{}",
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
            ))
        }
        Protocol::Rdp => {
            let lower = text.to_ascii_lowercase();
            let hex = lower.strip_prefix(RDP_PREFIX).ok_or(PinError::Rdp)?;
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(PinError::Rdp);
            }
            Ok(lower)
        }
    }
}

/// `SHA256:<unpadded base64>` of an SSH public key.
pub(crate) fn ssh_fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// The fingerprint people compare for a stored pin: a whole OpenSSH public key gives its
/// SHA-256 fingerprint; a fingerprint is itself.
pub fn fingerprint_of_pin(pin: &str) -> String {
    match PublicKey::from_openssh(pin.trim()) {
        Ok(key) => ssh_fingerprint(&key),
        Err(_) => pin.trim().to_string(),
    }
}

/// A pinned SSH host key, as the handshake compares it.
#[derive(Debug, Clone)]
pub(crate) enum SshPin {
    /// Pinned on first use: the key itself (a comment, if any, does not count).
    Key(PublicKey),
    /// Provisioned or accepted: the key's fingerprint.
    Fingerprint(String),
}

impl SshPin {
    pub(crate) fn parse(text: &str) -> Result<SshPin, String> {
        let text = text.trim();
        if text.starts_with(SSH_PREFIX) {
            return parse_fingerprint(Protocol::Ssh, text)
                .map(SshPin::Fingerprint)
                .map_err(|e| e.to_string());
        }
        PublicKey::from_openssh(text)
            .map(SshPin::Key)
            .map_err(|e| e.to_string())
    }

    pub(crate) fn matches(&self, key: &PublicKey) -> bool {
        match self {
            SshPin::Key(pinned) => pinned.key_data() == key.key_data(),
            SshPin::Fingerprint(fp) => *fp == ssh_fingerprint(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test";

    #[test]
    fn ssh_fingerprints_are_checked_and_normalised() {
        let key = PublicKey::from_openssh(KEY).expect("key");
        let fp = ssh_fingerprint(&key);
        assert!(fp.starts_with("SHA256:") && fp.len() == 7 + 43, "{fp}");
        assert_eq!(
            parse_fingerprint(Protocol::Ssh, &format!(" {fp} ")),
            Ok(fp.clone())
        );
        assert_eq!(
            parse_fingerprint(Protocol::Ssh, &format!("{fp}=")),
            Ok(fp.clone())
        );
        for bad in [
            "",
            "SHA256:",
            "sha256:abc",
            "MD5:aa:bb",
            &fp[..fp.len() - 1],
            &format!("{fp}AAAA"),
            "SHA256:!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
            KEY,
        ] {
            assert_eq!(
                parse_fingerprint(Protocol::Ssh, bad),
                Err(PinError::Ssh),
                "{bad}"
            );
        }
        assert_eq!(fingerprint_of_pin(KEY), fp);
        assert_eq!(fingerprint_of_pin(&fp), fp);
    }

    #[test]
    fn rdp_pins_are_checked_and_lowercased() {
        let hex = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
        let pin = parse_fingerprint(Protocol::Rdp, &format!("SHA256:{hex}")).expect("pin");
        assert_eq!(pin, format!("sha256:{}", hex.to_ascii_lowercase()));
        for bad in [
            "sha256:",
            "sha256:xyz",
            &format!("sha256:{hex}00"),
            "SHA256:ungA",
        ] {
            assert_eq!(
                parse_fingerprint(Protocol::Rdp, bad),
                Err(PinError::Rdp),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_ssh_pin_matches_by_key_or_by_fingerprint() {
        let key = PublicKey::from_openssh(KEY).expect("key");
        let other = PublicKey::from_openssh(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBfmB8tMFuvJv8XCpSmvpUQSVvNv4x4oYSoLzl8kQMyn",
        )
        .expect("other key");
        let by_key = SshPin::parse(KEY).expect("key pin");
        let by_fp = SshPin::parse(&ssh_fingerprint(&key)).expect("fingerprint pin");
        for pin in [&by_key, &by_fp] {
            assert!(pin.matches(&key));
            assert!(!pin.matches(&other));
        }
        assert!(SshPin::parse("SHA256:short").is_err());
        assert!(SshPin::parse("not a key").is_err());
    }
}
