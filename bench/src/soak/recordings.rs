//! Every recording read back and checked against what its session did.

use super::*;

/// Every recording read back through the API, 8 at a time.
pub(crate) async fn check_recordings(api: &Api, ended: &[Ended]) -> Vec<Result<(), String>> {
    let mut out = Vec::with_capacity(ended.len());
    for chunk in ended.chunks(8) {
        let checks = chunk.iter().map(|e| async move {
            match api.get_bytes(&format!("sessions/{}/recording", e.id)).await {
                Ok(cast) => check_cast(&cast, e).map_err(|why| format!("{}: {why}", e.id)),
                Err(err) => Err(format!("{}: {err:#}", e.id)),
            }
        });
        out.extend(futures_util::future::join_all(checks).await);
    }
    out
}

/// An asciicast v2 file read whole: header, events, what the session did, the end.
pub(crate) fn check_cast(cast: &[u8], e: &Ended) -> Result<(), String> {
    let text = std::str::from_utf8(cast).map_err(|_| "not UTF-8".to_string())?;
    if !text.ends_with('\n') {
        return Err("last line cut short".into());
    }
    let mut lines = text.lines();
    let header: serde_json::Value = lines
        .next()
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or("no header")?;
    if header["version"] != 2 {
        return Err(format!("header {header}"));
    }
    let mut output = String::new();
    let mut markers = Vec::new();
    let mut last_time = 0.0f64;
    for (i, line) in lines.enumerate() {
        let ev: (f64, String, String) =
            serde_json::from_str(line).map_err(|err| format!("event {}: {err}", i + 1))?;
        if ev.0 < last_time {
            return Err(format!("event {} goes back in time", i + 1));
        }
        last_time = ev.0;
        match ev.1.as_str() {
            "o" => output.push_str(&ev.2),
            "m" => markers.push(ev.2),
            _ => {}
        }
    }
    if !output.contains(&e.printed) {
        return Err(format!("output lacks {}", e.printed));
    }
    if output.contains("never-42") {
        return Err("input typed while locked was run".into());
    }
    let has = |m: &str| markers.iter().any(|x| x == m);
    if e.locked && !has("lock") {
        return Err("no lock marker".into());
    }
    if e.unlocked && !has("unlock") {
        return Err("no unlock marker".into());
    }
    match markers.last() {
        Some(m) if m.starts_with("terminate") => Ok(()),
        other => Err(format!("last marker {other:?}, not terminate")),
    }
}
