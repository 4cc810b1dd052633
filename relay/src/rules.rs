//! Smart Rule matching: which assets a rule selects, and the grants that follow
//! from the rules × a user's groups. Pure; the policy module consumes the result.

use std::collections::HashSet;

use globset::{Glob, GlobMatcher};
use vigil_wire::api::{AssetId, AssetSelector, GrantedRole, Protocol, SmartRule};

/// What rule matching needs to know about an asset.
#[derive(Debug, Clone)]
pub struct AssetFacts {
    pub id: AssetId,
    pub name: String,
    pub protocol: Protocol,
    pub tags: Vec<String>,
}

/// The (asset, role) pairs a user holds.
pub type Grants = HashSet<(AssetId, GrantedRole)>;

#[derive(Debug, thiserror::Error)]
#[error("invalid name glob `{glob}`: {reason}")]
pub struct BadGlob {
    pub glob: String,
    pub reason: String,
}

/// A selector compiled once for matching many assets.
pub struct CompiledSelector {
    glob: Option<GlobMatcher>,
    protocol: Option<Protocol>,
    tags: Vec<String>,
}

impl CompiledSelector {
    pub fn new(selector: &AssetSelector) -> Result<Self, BadGlob> {
        let glob = match &selector.name_glob {
            Some(g) => Some(
                Glob::new(g)
                    .map_err(|e| BadGlob {
                        glob: g.clone(),
                        reason: e.kind().to_string(),
                    })?
                    .compile_matcher(),
            ),
            None => None,
        };
        Ok(CompiledSelector {
            glob,
            protocol: selector.protocol,
            tags: selector.tags.clone(),
        })
    }

    pub fn matches(&self, asset: &AssetFacts) -> bool {
        self.glob.as_ref().is_none_or(|g| g.is_match(&asset.name))
            && self.protocol.is_none_or(|p| p == asset.protocol)
            && self.tags.iter().all(|t| asset.tags.contains(t))
    }
}

/// Checks that a selector compiles (for rule creation).
pub fn validate(selector: &AssetSelector) -> Result<(), BadGlob> {
    CompiledSelector::new(selector).map(|_| ())
}

/// Rules that apply to a user in `groups`, with their compiled selectors.
/// A rule with a glob that no longer compiles selects nothing.
fn applicable<'a>(
    rules: &'a [SmartRule],
    groups: &'a [String],
) -> impl Iterator<Item = (&'a SmartRule, CompiledSelector)> + 'a {
    rules
        .iter()
        .filter(|r| groups.contains(&r.group))
        .filter_map(|r| CompiledSelector::new(&r.selector).ok().map(|c| (r, c)))
}

/// Every (asset, role) the rules grant to a member of `groups`.
pub fn grants(rules: &[SmartRule], groups: &[String], assets: &[AssetFacts]) -> Grants {
    let mut out = Grants::new();
    for (rule, sel) in applicable(rules, groups) {
        for asset in assets.iter().filter(|a| sel.matches(a)) {
            for role in &rule.roles {
                out.insert((asset.id, *role));
            }
        }
    }
    out
}

/// Whether a request by a member of `groups` on `asset` is approved at once: some rule
/// that makes them a requestor on it says so.
pub fn auto_approves(rules: &[SmartRule], groups: &[String], asset: &AssetFacts) -> bool {
    applicable(rules, groups).any(|(rule, sel)| {
        rule.auto_approve && rule.roles.contains(&GrantedRole::Requestor) && sel.matches(asset)
    })
}

/// How many live sessions one approved request of a member of `groups` on `asset` may
/// have at once: the smallest `sessions_per_request` of the rules that make them a
/// requestor on it (the strictest applies). No such rule: the default.
pub fn sessions_per_request(rules: &[SmartRule], groups: &[String], asset: &AssetFacts) -> u32 {
    applicable(rules, groups)
        .filter(|(rule, sel)| rule.roles.contains(&GrantedRole::Requestor) && sel.matches(asset))
        .map(|(rule, _)| rule.sessions_per_request)
        .min()
        .unwrap_or(crate::policy::SESSIONS_PER_REQUEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(id: AssetId, name: &str, protocol: Protocol, tags: &[&str]) -> AssetFacts {
        AssetFacts {
            id,
            name: name.into(),
            protocol,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn sel(glob: Option<&str>, protocol: Option<Protocol>, tags: &[&str]) -> AssetSelector {
        AssetSelector {
            name_glob: glob.map(Into::into),
            protocol,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn rule(
        id: i64,
        group: &str,
        selector: AssetSelector,
        roles: &[GrantedRole],
        auto: bool,
    ) -> SmartRule {
        SmartRule {
            id,
            name: format!("r{id}"),
            selector,
            group: group.into(),
            roles: roles.to_vec(),
            auto_approve: auto,
            sessions_per_request: 1,
        }
    }

    #[test]
    fn selector_matching_table() {
        let web = asset(1, "web-1", Protocol::Ssh, &["prod", "linux"]);
        let db = asset(2, "db-1", Protocol::Ssh, &["prod"]);
        let win = asset(3, "web-win", Protocol::Rdp, &["prod", "windows"]);
        let cases: &[(AssetSelector, [bool; 3])] = &[
            (sel(None, None, &[]), [true, true, true]),
            (sel(Some("web-*"), None, &[]), [true, false, true]),
            (sel(Some("web-?"), None, &[]), [true, false, false]),
            (sel(Some("[dw]*-1"), None, &[]), [true, true, false]),
            (sel(None, Some(Protocol::Rdp), &[]), [false, false, true]),
            (
                sel(Some("web-*"), Some(Protocol::Ssh), &[]),
                [true, false, false],
            ),
            (sel(None, None, &["prod"]), [true, true, true]),
            (sel(None, None, &["prod", "linux"]), [true, false, false]),
            (sel(None, None, &["staging"]), [false, false, false]),
        ];
        for (s, expected) in cases {
            let c = CompiledSelector::new(s).expect("glob compiles");
            let got = [c.matches(&web), c.matches(&db), c.matches(&win)];
            assert_eq!(&got, expected, "selector {s:?}");
        }
    }

    #[test]
    fn bad_glob_is_an_error() {
        assert!(validate(&sel(Some("web-["), None, &[])).is_err());
    }

    #[test]
    fn grants_follow_groups_and_selectors() {
        let assets = [
            asset(1, "web-1", Protocol::Ssh, &["prod"]),
            asset(2, "db-1", Protocol::Ssh, &[]),
        ];
        let rules = [
            rule(
                1,
                "ops",
                sel(Some("web-*"), None, &[]),
                &[GrantedRole::Isa],
                false,
            ),
            rule(
                2,
                "devs",
                sel(None, None, &[]),
                &[GrantedRole::Requestor],
                true,
            ),
            rule(
                3,
                "audit",
                sel(None, None, &["prod"]),
                &[GrantedRole::ActiveSessionReviewer],
                false,
            ),
        ];
        let g = grants(&rules, &["ops".into()], &assets);
        assert_eq!(g, Grants::from([(1, GrantedRole::Isa)]));
        let g = grants(&rules, &["devs".into(), "audit".into()], &assets);
        assert_eq!(
            g,
            Grants::from([
                (1, GrantedRole::Requestor),
                (2, GrantedRole::Requestor),
                (1, GrantedRole::ActiveSessionReviewer)
            ])
        );
        assert!(grants(&rules, &["nobody".into()], &assets).is_empty());
        assert!(auto_approves(&rules, &["devs".into()], &assets[0]));
        assert!(!auto_approves(&rules, &["ops".into()], &assets[0]));
    }

    /// The strictest of the rules that make the user a requestor on the asset applies;
    /// rules of other groups, other assets or other roles do not count.
    #[test]
    fn sessions_per_request_is_the_strictest_covering_rule() {
        let web = asset(1, "web-1", Protocol::Ssh, &["prod"]);
        let with = |id, group: &str, glob, roles: &[GrantedRole], n| SmartRule {
            sessions_per_request: n,
            ..rule(id, group, sel(Some(glob), None, &[]), roles, false)
        };
        use GrantedRole::{Approver, Isa, Requestor};
        let devs_5 = with(1, "devs", "*", &[Requestor], 5);
        let devs_web_2 = with(2, "devs", "web-*", &[Requestor], 2);
        let ops_web_3 = with(3, "ops", "web-*", &[Requestor], 3);
        let devs_db_1 = with(4, "devs", "db-*", &[Requestor], 1);
        let devs_isa_1 = with(5, "devs", "web-*", &[Isa, Approver], 1);
        let bad_glob_1 = with(6, "devs", "web-[", &[Requestor], 1);
        let devs: &[&str] = &["devs"];
        let both: &[&str] = &["devs", "ops"];
        let table: &[(&[&SmartRule], &[&str], u32)] = &[
            (&[], devs, 1),
            (&[&devs_5], devs, 5),
            (&[&devs_5, &devs_web_2], devs, 2),
            (&[&devs_web_2, &devs_5], devs, 2),
            (&[&devs_5, &ops_web_3], devs, 5),
            (&[&devs_5, &ops_web_3], both, 3),
            (&[&devs_web_2, &ops_web_3], both, 2),
            (&[&devs_5, &devs_db_1], devs, 5),
            (&[&devs_5, &devs_isa_1], devs, 5),
            (&[&devs_5, &bad_glob_1], devs, 5),
            (&[&ops_web_3], devs, 1),
        ];
        for (rules, groups, want) in table {
            let rules: Vec<SmartRule> = rules.iter().map(|r| (*r).clone()).collect();
            let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
            let ids: Vec<_> = rules.iter().map(|r| r.id).collect();
            assert_eq!(
                sessions_per_request(&rules, &groups, &web),
                *want,
                "rules {ids:?}, groups {groups:?}"
            );
        }
    }
}
