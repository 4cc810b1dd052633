//! The app's files as `cargo xtask dist` lays them out: content-hashed names cached for a
//! year, `index.html` (and the app routes' fallback) always revalidated, and the `.br` /
//! `.gz` copy sent to a browser that accepts it.

use std::io::{Read as _, Write as _};

use reqwest::{Client, StatusCode};

use crate::support::{relay, R};

const JS: &str = "boot.0123456789abcdef.js";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A hashed script with its brotli and gzip copies, and a precompressed index.html.
fn lay_out(dist: &std::path::Path) -> R<Vec<u8>> {
    let script = "console.log('vigil');\n".repeat(200).into_bytes();
    std::fs::write(dist.join(JS), &script)?;
    let mut br = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut br, 4096, 11, 22);
        w.write_all(&script)?;
    }
    std::fs::write(dist.join(format!("{JS}.br")), &br)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&script)?;
    std::fs::write(dist.join(format!("{JS}.gz")), gz.finish()?)?;
    let index = std::fs::read(dist.join("index.html"))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&index)?;
    std::fs::write(dist.join("index.html.gz"), gz.finish()?)?;
    Ok(script)
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn hashed_files_are_immutable_and_the_page_is_revalidated() -> R {
    let r = relay().await?;
    lay_out(&r.dir.path().join("dist"))?;
    let root = r.base.trim_end_matches("/api/v1").to_owned();
    let c = Client::new();

    let js = c.get(format!("{root}/{JS}")).send().await?;
    assert_eq!(js.status(), StatusCode::OK);
    assert_eq!(header(&js, "cache-control"), Some(IMMUTABLE));
    assert_eq!(header(&js, "x-content-type-options"), Some("nosniff"));
    assert!(header(&js, "content-security-policy").is_some());

    for page in ["/", "/index.html", "/sessions/42", "/robots.txt"] {
        let resp = c.get(format!("{root}{page}")).send().await?;
        assert_eq!(header(&resp, "cache-control"), Some("no-cache"), "{page}");
        assert!(header(&resp, "content-security-policy").is_some(), "{page}");
    }

    // A hashed name that is not in the bundle is a 404, neither the page nor cached.
    let gone = c
        .get(format!("{root}/boot.fedcba9876543210.js"))
        .send()
        .await?;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_ne!(header(&gone, "cache-control"), Some(IMMUTABLE));
    assert!(!gone.text().await?.contains("<title>"));
    Ok(())
}

#[tokio::test]
async fn the_accepted_precompressed_copy_is_sent() -> R {
    let r = relay().await?;
    let script = lay_out(&r.dir.path().join("dist"))?;
    let root = r.base.trim_end_matches("/api/v1").to_owned();
    let c = Client::new();
    let get = |accept: Option<&'static str>| {
        let mut req = c.get(format!("{root}/{JS}"));
        if let Some(a) = accept {
            req = req.header("accept-encoding", a);
        }
        req.send()
    };

    let br = get(Some("gzip, deflate, br")).await?;
    assert_eq!(header(&br, "content-encoding"), Some("br"));
    assert!(header(&br, "vary").is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")));
    assert_eq!(header(&br, "cache-control"), Some(IMMUTABLE));
    let body = br.bytes().await?;
    assert!(body.len() < script.len() / 10, "{} bytes", body.len());
    let mut back = Vec::new();
    brotli::Decompressor::new(&body[..], 4096).read_to_end(&mut back)?;
    assert_eq!(back, script);

    let gz = get(Some("gzip")).await?;
    assert_eq!(header(&gz, "content-encoding"), Some("gzip"));
    let body = gz.bytes().await?;
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut back)?;
    assert_eq!(back, script);

    for accept in [None, Some("identity")] {
        let plain = get(accept).await?;
        assert_eq!(header(&plain, "content-encoding"), None, "{accept:?}");
        assert_eq!(plain.bytes().await?, script, "{accept:?}");
    }

    // index.html (and the fallback of an app route) is precompressed too.
    for page in ["/", "/sessions/42"] {
        let page = c
            .get(format!("{root}{page}"))
            .header("accept-encoding", "gzip")
            .send()
            .await?;
        assert_eq!(header(&page, "content-encoding"), Some("gzip"));
        let body = page.bytes().await?;
        let mut html = String::new();
        flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut html)?;
        assert!(html.contains("<title>vigil</title>"), "{html}");
    }
    Ok(())
}

#[tokio::test]
async fn the_login_page_is_served_at_login_like_the_app_page() -> R {
    let r = relay().await?;
    let dist = r.dir.path().join("dist");
    let page =
        "<!doctype html><title>Log in — Vigil</title><form data-testid=\"login-form\"></form>\n";
    std::fs::write(dist.join("login.html"), page)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(page.as_bytes())?;
    std::fs::write(dist.join("login.html.gz"), gz.finish()?)?;
    let root = r.base.trim_end_matches("/api/v1").to_owned();
    let c = Client::new();

    for url in ["/login", "/login?next=%2Fshare%3Fx%3D1"] {
        let resp = c.get(format!("{root}{url}")).send().await?;
        assert_eq!(resp.status(), StatusCode::OK, "{url}");
        assert_eq!(header(&resp, "cache-control"), Some("no-cache"), "{url}");
        assert_eq!(
            header(&resp, "content-security-policy"),
            Some(vigil_relay::web::CSP),
            "{url}"
        );
        assert_eq!(header(&resp, "x-content-type-options"), Some("nosniff"));
        assert_eq!(header(&resp, "referrer-policy"), Some("no-referrer"));
        assert!(header(&resp, "content-type").is_some_and(|t| t.starts_with("text/html")));
        assert_eq!(
            resp.text().await?,
            page,
            "{url}: the login page, not the app's"
        );
    }
    // Precompressed like the app's page.
    let resp = c
        .get(format!("{root}/login"))
        .header("accept-encoding", "gzip")
        .send()
        .await?;
    assert_eq!(header(&resp, "content-encoding"), Some("gzip"));
    let mut html = String::new();
    flate2::read::GzDecoder::new(&resp.bytes().await?[..]).read_to_string(&mut html)?;
    assert_eq!(html, page);
    // Only `/login` itself: a path below it is an app route (the app's page).
    let below = c.get(format!("{root}/login/x")).send().await?;
    assert!(!below.text().await?.contains("login-form"));
    Ok(())
}
