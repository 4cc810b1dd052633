//! The API contract as outsiders read it: the relay's served OpenAPI document
//! (`GET /api/v1/openapi.json`) passes a real validator (`openapi-spec-validator`), and
//! a real generator (`openapi-python-client`) makes a Python client from it that logs
//! in and calls the running relay.
//!
//! Both tools live in the operations venv that `scripts/setup.sh` makes at
//! `target/ops-venv` (or wherever `VIGIL_OPS_VENV` points).

use std::path::{Path, PathBuf};
use std::process::Output;

use tokio::process::Command;

use crate::support::{relay, Relay, R};

/// A program of the operations venv; panics, naming the setup script, when it is missing.
fn ops_tool(name: &str) -> PathBuf {
    let venv = std::env::var_os("VIGIL_OPS_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ops-venv"),
        PathBuf::from,
    );
    let tool = venv.join("bin").join(name);
    assert!(
        tool.is_file(),
        "{} is missing: run scripts/setup.sh (it makes the operations venv at target/ops-venv; \
         VIGIL_OPS_VENV may point at another one)",
        tool.display()
    );
    tool
}

/// The document the relay serves, as it serves it.
async fn served_document(r: &Relay) -> R<String> {
    let resp = reqwest::get(format!("{}/openapi.json", r.base)).await?;
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    Ok(resp.text().await?)
}

fn assert_ran(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_served_document_passes_openapi_spec_validator() -> R {
    let validator = ops_tool("openapi-spec-validator");
    let r = relay().await?;
    let dir = tempfile::tempdir()?;
    let doc = dir.path().join("openapi.json");
    std::fs::write(&doc, served_document(&r).await?)?;
    let out = Command::new(&validator).arg(&doc).output().await?;
    assert_ran("openapi-spec-validator", &out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("OK"), "the validator said: {said}");

    // The same document with one operation id repeated, as the relay's once were: the
    // validator refuses it, so its "OK" above means something.
    let mut repeated: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&doc)?)?;
    repeated["paths"]["/api/v1/rules"]["get"]["operationId"] = "listAssets".into();
    let bad = dir.path().join("repeated.json");
    std::fs::write(&bad, serde_json::to_vec(&repeated)?)?;
    let out = Command::new(&validator).arg(&bad).output().await?;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && said.contains("'listAssets'") && said.contains("not unique"),
        "the validator passed a repeated operation id ({}): {said}",
        out.status
    );
    Ok(())
}

/// The generator's settings: the audit export's JSON Lines (`application/x-ndjson`, a
/// type it does not know) are read as bytes, as `application/octet-stream` would be.
const GENERATOR_CONFIG: &str =
    r#"{"content_type_overrides": {"application/x-ndjson": "application/octet-stream"}}"#;

/// What the generated client does: log in with the generated `login` operation, then,
/// as the logged-in user, `getMe` (the cookie) and `logout` (cookie and CSRF header).
const CLIENT_SCRIPT: &str = r#"
import sys
from vigil_client import Client
from vigil_client.api.auth import get_me, login, logout
from vigil_client.models import LoginRequest, Me

base, username, password = sys.argv[1:4]
anonymous = Client(base_url=base, raise_on_unexpected_status=True)
answer = login.sync_detailed(client=anonymous, body=LoginRequest(username=username, password=password))
assert isinstance(answer.parsed, Me), f"login answered {answer.status_code}: {answer.content!r}"
cookie = answer.headers["set-cookie"].split(";")[0]
name, _, value = cookie.partition("=")
client = Client(
    base_url=base,
    cookies={name: value},
    headers={"x-vigil-csrf": answer.parsed.csrf_token},
    raise_on_unexpected_status=True,
)
me = get_me.sync(client=client)
assert isinstance(me, Me), f"getMe answered {me!r}"
print(f"me: {me.username} admin={me.is_admin}")
out = logout.sync_detailed(client=client)
print(f"logout: {int(out.status_code)}")
after = get_me.sync_detailed(client=client)
print(f"after logout: {int(after.status_code)} {after.parsed.code}")
"#;

#[tokio::test]
async fn a_generated_python_client_logs_in_and_calls_the_relay() -> R {
    let generator = ops_tool("openapi-python-client");
    let python = ops_tool("python");
    let r = relay().await?;
    r.user("carol", true, &[]).await?;
    let dir = tempfile::tempdir()?;
    let doc = dir.path().join("openapi.json");
    std::fs::write(&doc, served_document(&r).await?)?;
    let config = dir.path().join("generator.json");
    std::fs::write(&config, GENERATOR_CONFIG)?;
    let package = dir.path().join("vigil_client");
    // The venv's `bin` first: the generator formats its output with the venv's `ruff`.
    let venv_bin = generator
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(venv_bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))?;
    let out = Command::new(&generator)
        .arg("generate")
        .arg("--path")
        .arg(&doc)
        .arg("--config")
        .arg(&config)
        .arg("--output-path")
        .arg(&package)
        .args(["--meta", "none", "--fail-on-warning"])
        .env("PATH", path)
        .output()
        .await?;
    assert_ran("openapi-python-client generate", &out);

    let script = dir.path().join("call.py");
    std::fs::write(&script, CLIENT_SCRIPT)?;
    // `r.base` ends in `/api/v1`; the document's paths carry it themselves.
    let origin = r.base.trim_end_matches("/api/v1");
    let out = Command::new(&python)
        .arg(&script)
        .args([origin, "carol", "pw-carol"])
        .env("PYTHONPATH", dir.path())
        .output()
        .await?;
    assert_ran("the generated client", &out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("me: carol admin=True"),
        "the client said: {said}"
    );
    assert!(said.contains("logout: 204"), "the client said: {said}");
    assert!(
        said.contains("after logout: 401 unauthenticated"),
        "the client said: {said}"
    );
    Ok(())
}
