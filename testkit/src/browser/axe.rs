//! axe-core's accessibility check on the page a [`Browser`] shows now.
//!
//! axe-core comes from npm (`node_modules/axe-core/axe.min.js`, pinned in
//! `package.json`). It is injected through WebDriver's script execution, which the page's
//! CSP (`script-src 'self'`) does not govern, where a `<script>` element would be
//! refused; then `axe.run` runs as an asynchronous script. Nothing here is specific to
//! one browser.

use std::fmt;
use std::sync::OnceLock;

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

use super::Browser;
use crate::workspace_root;

/// How bad axe-core says a violation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Impact {
    Minor,
    Moderate,
    Serious,
    Critical,
}

impl Impact {
    /// Serious and critical violations fail Vigil's pages.
    pub fn fails(self) -> bool {
        self >= Impact::Serious
    }
}

impl fmt::Display for Impact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Impact::Minor => "minor",
            Impact::Moderate => "moderate",
            Impact::Serious => "serious",
            Impact::Critical => "critical",
        })
    }
}

/// One element a rule failed on.
#[derive(Debug, Clone, Deserialize)]
pub struct AxeNode {
    /// The element's selectors (nested when it sits in a shadow root or a frame).
    pub target: Vec<Value>,
    #[serde(rename = "failureSummary", default)]
    pub failure_summary: Option<String>,
}

impl AxeNode {
    fn selector(&self) -> String {
        self.target
            .iter()
            .map(|t| match t {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" >> ")
    }
}

/// One rule that failed, with the elements it failed on.
#[derive(Debug, Clone, Deserialize)]
pub struct AxeViolation {
    pub id: String,
    /// `None` when axe-core gives none (it always does for violations today).
    pub impact: Option<Impact>,
    pub help: String,
    #[serde(rename = "helpUrl", default)]
    pub help_url: String,
    pub nodes: Vec<AxeNode>,
}

impl AxeViolation {
    pub fn fails(&self) -> bool {
        self.impact.is_some_and(Impact::fails)
    }
}

impl fmt::Display for AxeViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let impact = self
            .impact
            .map(|i| i.to_string())
            .unwrap_or_else(|| "unknown".into());
        writeln!(f, "  {} ({impact}): {}", self.id, self.help)?;
        for node in &self.nodes {
            write!(f, "    at {}", node.selector())?;
            if let Some(why) = &node.failure_summary {
                write!(f, ": {}", why.replace('\n', " "))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// axe-core's source, read once per test binary.
fn axe_source() -> Result<&'static str> {
    static SOURCE: OnceLock<std::result::Result<String, String>> = OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let path = workspace_root().join("node_modules/axe-core/axe.min.js");
            std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "read {}: {e} (run `npm ci` to install axe-core)",
                    path.display()
                )
            })
        })
        .as_deref()
        .map_err(|e| anyhow!("axe-core: {e}"))
}

/// `axe.run` on the whole document; its violations as JSON, or `{error}`.
const RUN: &str = r#"
const done = arguments[arguments.length - 1];
window.axe.run(document, { resultTypes: ['violations'] })
  .then(r => done({ violations: r.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
      nodes: v.nodes.map(n => ({ target: n.target, failureSummary: n.failureSummary })),
  })) }))
  .catch(e => done({ error: String(e) }));
"#;

#[derive(Deserialize)]
struct RunOutcome {
    #[serde(default)]
    violations: Vec<AxeViolation>,
    #[serde(default)]
    error: Option<String>,
}

impl Browser {
    /// Runs axe-core on the page as it is now; returns every violation, whatever its
    /// impact.
    pub async fn axe_violations(&self) -> Result<Vec<AxeViolation>> {
        let present = self
            .js("return typeof window.axe === 'object';", vec![])
            .await?;
        if present != json!(true) {
            self.js(axe_source()?, vec![])
                .await
                .context("inject axe-core")?;
        }
        let outcome = self
            .client
            .execute_async(RUN, vec![])
            .await
            .with_context(|| format!("{}: axe.run", self.name))?;
        let outcome: RunOutcome =
            serde_json::from_value(outcome).context("read axe-core's results")?;
        if let Some(error) = outcome.error {
            return Err(anyhow!("{}: axe.run failed: {error}", self.name));
        }
        Ok(outcome.violations)
    }

    /// Runs axe-core on the page as it is now. When any violation is serious or
    /// critical: saves the page source and a screenshot, and returns a readable list
    /// (rule, impact, elements, help) naming them and `page`. `None` when there is none.
    pub async fn axe_serious(&self, page: &str) -> Result<Option<String>> {
        let failing: Vec<_> = self
            .axe_violations()
            .await?
            .into_iter()
            .filter(AxeViolation::fails)
            .collect();
        if failing.is_empty() {
            return Ok(None);
        }
        let list: String = failing.iter().map(ToString::to_string).collect();
        let report = self
            .fail(format!(
                "axe-core: {} serious or critical violation(s) on {page}:\n{list}",
                failing.len()
            ))
            .await;
        Ok(Some(format!("{report:#}")))
    }

    /// [`Browser::axe_serious`], failing when there is any.
    pub async fn check_axe(&self, page: &str) -> Result<()> {
        match self.axe_serious(page).await? {
            None => Ok(()),
            Some(report) => Err(anyhow!(report)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_serious_and_critical_fail() -> Result<()> {
        let v: Vec<AxeViolation> = serde_json::from_value(json!([
            {"id": "a", "impact": "minor", "help": "h", "nodes": []},
            {"id": "b", "impact": "moderate", "help": "h", "nodes": []},
            {"id": "c", "impact": "serious", "help": "h", "nodes": []},
            {"id": "d", "impact": "critical", "help": "h", "nodes": []},
            {"id": "e", "impact": null, "help": "h", "nodes": []},
        ]))?;
        let failing: Vec<_> = v
            .iter()
            .filter(|v| v.fails())
            .map(|v| v.id.as_str())
            .collect();
        assert_eq!(failing, ["c", "d"]);
        Ok(())
    }

    #[test]
    fn a_violation_lists_its_rule_impact_elements_and_help() -> Result<()> {
        let v: AxeViolation = serde_json::from_value(json!({
            "id": "button-name", "impact": "critical", "help": "Buttons must have discernible text",
            "helpUrl": "https://example.invalid",
            "nodes": [{"target": ["#main > button"], "failureSummary": "Fix any of:\n  no text"}],
        }))?;
        let shown = v.to_string();
        assert!(shown.contains("button-name (critical): Buttons must have discernible text"));
        assert!(shown.contains("at #main > button: Fix any of:   no text"));
        Ok(())
    }
}
