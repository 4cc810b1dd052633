//! The size-budget rows: read from the sizes report `cargo xtask dist` writes
//! (`<target>/xtask/<bundle>.sizes.json`), one row per file that has a brotli copy.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;
use vigil_bench::rows::{Baseline, Goal, Measure, Row, Unit};

/// One file of the report, as xtask writes it.
#[derive(Debug, Deserialize)]
struct FileSizes {
    file: String,
    raw: u64,
    brotli: Option<u64>,
    budget: Option<u64>,
}

/// The rows of the report at `path`: brotli KiB against the budget, the raw size as the
/// baseline. A compressed file without a budget is a row that misses (budget 0).
pub fn budget_rows(path: &Path) -> Result<Vec<Row>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading {} (made by `cargo xtask dist --bench`)",
            path.display()
        )
    })?;
    rows_of(&text).with_context(|| format!("reading {}", path.display()))
}

fn rows_of(text: &str) -> Result<Vec<Row>> {
    let files: Vec<FileSizes> = serde_json::from_str(text)?;
    Ok(files
        .into_iter()
        .filter_map(|f| {
            let brotli = f.brotli?;
            Some(Row {
                measure: Measure::AssetBudget,
                label: f.file,
                value: kib(brotli),
                unit: Unit::KiB,
                baseline: Some(Baseline {
                    label: "uncompressed".into(),
                    value: kib(f.raw),
                }),
                goal: Goal::AtMost(kib(f.budget.unwrap_or(0))),
            })
        })
        .collect())
}

fn kib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_bench::rows::Verdict;

    #[test]
    fn a_file_over_its_budget_or_without_one_misses() {
        let rows = rows_of(
            r#"[{"file":"a.wasm","raw":9000,"gzip":5000,"brotli":4000,"budget":4096},
                {"file":"b.js","raw":900,"gzip":500,"brotli":5000,"budget":4096},
                {"file":"c.js","raw":900,"gzip":500,"brotli":400,"budget":null},
                {"file":"d.png","raw":900,"gzip":null,"brotli":null,"budget":null}]"#,
        )
        .expect("a valid report");
        let verdicts: Vec<_> = rows
            .iter()
            .map(|r| (r.label.as_str(), r.verdict()))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("a.wasm", Verdict::Met),
                ("b.js", Verdict::Missed),
                ("c.js", Verdict::Missed)
            ]
        );
    }
}
