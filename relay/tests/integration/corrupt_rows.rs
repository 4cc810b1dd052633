//! A row the relay cannot read is an error that names it, never a default: a rule whose
//! tags or protocol did not parse must not select more assets than the one written, and an
//! asset whose credential kind or tags did not parse must not launch as something else.

use vigil_relay::store::{self, assets::CredentialKind, assets::NewAssetRow};
use vigil_wire::api::{AssetSelector, GrantedRole, Protocol};

async fn db() -> anyhow::Result<(tempfile::TempDir, store::Db)> {
    let dir = tempfile::tempdir()?;
    let db = store::open(&dir.path().join("vigil.db")).await?;
    Ok((dir, db))
}

async fn asset(db: &store::Db) -> anyhow::Result<i64> {
    Ok(store::assets::insert(
        db,
        NewAssetRow {
            name: "web-1",
            protocol: Protocol::Ssh,
            host: "127.0.0.1",
            port: 22,
            account: "root",
            tags: &["prod".to_string()],
            credential_kind: CredentialKind::Password,
            host_key: None,
        },
    )
    .await?)
}

/// Sets `column` of every row of `table` (one row here) to `value`; returns what it held.
async fn set(db: &store::Db, table: &str, column: &str, value: &str) -> anyhow::Result<String> {
    let old: String = sqlx::query_scalar(&format!("SELECT {column} FROM {table}"))
        .fetch_one(db)
        .await?;

    sqlx::query(&format!("UPDATE {table} SET {column} = $1"))
        .bind(value)
        .execute(db)
        .await?;
    Ok(old)
}

/// Reading fails, and the error names `row` and the bad `value`.
fn names<T>(result: Result<T, sqlx::Error>, row: &str, value: &str) {
    let Err(err) = result else {
        panic!("{row} with `{value}` read back as if whole");
    };
    let text = err.to_string();
    assert!(
        text.contains(row) && text.contains(value),
        "the error names neither {row} nor {value}: {text}"
    );
}

#[tokio::test]
async fn a_rule_with_unreadable_tags_roles_or_protocol_is_an_error_naming_it() -> anyhow::Result<()>
{
    let (_dir, db) = db().await?;
    let selector = AssetSelector {
        name_glob: None,
        protocol: Some(Protocol::Ssh),
        tags: vec!["prod".into()],
    };
    let id = store::rules::insert(&db, "r", &selector, "ops", &[GrantedRole::Isa], false).await?;
    assert_eq!(store::rules::list(&db).await?[0].selector, selector);
    let rule = format!("rule {id}");
    for (column, bad) in [
        ("tags", "not json"),
        ("roles", "[\"root\"]"),
        ("protocol", "telnet"),
    ] {
        let good = set(&db, "smart_rules", column, bad).await?;
        names(store::rules::list(&db).await, &rule, bad);
        set(&db, "smart_rules", column, &good).await?;
    }
    assert_eq!(store::rules::list(&db).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn an_asset_with_an_unreadable_credential_kind_or_tags_is_an_error_naming_it(
) -> anyhow::Result<()> {
    let (_dir, db) = db().await?;
    let id = asset(&db).await?;
    assert!(store::assets::get(&db, id).await?.is_some());
    let row = format!("asset {id}");
    // (`rdp_codec` has a CHECK in the schema; the reader refuses an unknown one too.)
    for (column, bad) in [("credential_kind", "kerberos"), ("tags", "{oops")] {
        let good = set(&db, "assets", column, bad).await?;
        names(store::assets::get(&db, id).await, &row, bad);
        set(&db, "assets", column, &good).await?;
    }
    sqlx::query("UPDATE assets SET credential = x'00', credential_kind = 'kerberos'")
        .execute(&db)
        .await?;
    names(
        store::assets::sealed_credentials(&db).await,
        &row,
        "kerberos",
    );
    Ok(())
}
