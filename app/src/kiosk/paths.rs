//! Where the kiosk's pages are. The login page (`public/login.js`) makes a kiosk login
//! for the same paths (`isKioskPath`).

/// Active Sessions in the kiosk.
pub const ACTIVE: &str = "/kiosk";

/// Where a kiosk logout goes: the login page, coming back to the kiosk, so the next
/// login is a kiosk login too.
pub const LOGIN: &str = "/login?next=%2Fkiosk";

/// `/kiosk` or a page under it.
pub fn is_kiosk_path(path: &str) -> bool {
    path == ACTIVE || path.starts_with("/kiosk/")
}

/// The kiosk's live player for a session (`seg`: the id, already escaped for a path).
pub fn player(seg: &str) -> String {
    format!("{ACTIVE}/sessions/{seg}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kiosk_paths() {
        assert!(is_kiosk_path("/kiosk"));
        assert!(is_kiosk_path("/kiosk/sessions/abc"));
        assert!(is_kiosk_path(&player("abc")));
        assert!(!is_kiosk_path("/kiosks"));
        assert!(!is_kiosk_path("/active"));
        assert!(!is_kiosk_path("/sessions/abc"));
        assert_eq!(player("a%2Fb"), "/kiosk/sessions/a%2Fb");
    }
}
