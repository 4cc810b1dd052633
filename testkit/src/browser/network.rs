//! What a browser received over the network, read from Chrome's performance log:
//! WebSocket frames and HTTP bodies, for the tests that check no secret reaches a page.

use std::collections::HashSet;

use anyhow::{bail, Result};
use base64::Engine as _;
use serde_json::{json, Value};

use super::driver::{Cdp, GetPerformanceLog};
use super::Browser;

/// Everything a browser received over the network, as far as DevTools reports it.
#[derive(Default)]
pub(super) struct NetLog {
    /// WebSocket frames received (binary ones decoded from base64).
    ws_frames: Vec<Vec<u8>>,
    /// Bodies of HTTP responses.
    bodies: Vec<(String, Vec<u8>)>,
    /// Responses whose body DevTools could not give back.
    missed: Vec<String>,
    seen: HashSet<String>,
    urls: std::collections::HashMap<String, String>,
}

impl Browser {
    /// Reads what DevTools logged since the last call: keeps every WebSocket frame
    /// received and fetches the body of every HTTP response. Call it while the page
    /// that made the requests is still loaded ([`Browser::goto`] does).
    pub async fn capture_network(&self) -> Result<()> {
        let entries = match self.client.issue_cmd(GetPerformanceLog).await {
            Ok(v) => v,
            Err(e) => bail!("{}: reading the performance log failed: {e}", self.name),
        };
        let mut responses = Vec::new();
        {
            let mut net = self.net.lock().expect("net log lock");
            for entry in entries.as_array().into_iter().flatten() {
                let Some(msg) = entry.get("message").and_then(Value::as_str) else {
                    continue;
                };
                let Ok(msg) = serde_json::from_str::<Value>(msg) else {
                    continue;
                };
                let method = msg
                    .pointer("/message/method")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let params = msg
                    .pointer("/message/params")
                    .cloned()
                    .unwrap_or(Value::Null);
                match method {
                    "Network.webSocketFrameReceived" => {
                        let opcode = params
                            .pointer("/response/opcode")
                            .and_then(Value::as_i64)
                            .unwrap_or(1);
                        let data = params
                            .pointer("/response/payloadData")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        let bytes = if opcode == 2 {
                            base64::engine::general_purpose::STANDARD
                                .decode(data)
                                .unwrap_or_else(|_| data.as_bytes().to_vec())
                        } else {
                            data.as_bytes().to_vec()
                        };
                        net.ws_frames.push(bytes);
                    }
                    "Network.responseReceived" => {
                        let id = params
                            .get("requestId")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        let url = params
                            .pointer("/response/url")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        net.urls.insert(id, url);
                    }
                    "Network.loadingFinished" => {
                        let id = params
                            .get("requestId")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        // Only the pages' own traffic (not chrome:// internals).
                        let ours = net.urls.get(&id).is_some_and(|u| u.starts_with("http"));
                        if ours && net.seen.insert(id.clone()) {
                            responses.push(id);
                        }
                    }
                    _ => {}
                }
            }
        }
        for id in responses {
            let got = self
                .client
                .issue_cmd(Cdp(
                    "Network.getResponseBody".into(),
                    json!({ "requestId": id }),
                ))
                .await;
            let mut net = self.net.lock().expect("net log lock");
            let id = net.urls.get(&id).map(|u| format!("{id} {u}")).unwrap_or(id);
            match got {
                Ok(v) => {
                    let body = v.get("body").and_then(Value::as_str).unwrap_or("");
                    let bytes = if v
                        .get("base64Encoded")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                    {
                        base64::engine::general_purpose::STANDARD
                            .decode(body)
                            .unwrap_or_default()
                    } else {
                        body.as_bytes().to_vec()
                    };
                    net.bodies.push((id, bytes));
                }
                Err(_) => net.missed.push(id),
            }
        }
        Ok(())
    }

    /// Every WebSocket frame and HTTP body received so far (after [`capture_network`]).
    ///
    /// [`capture_network`]: Browser::capture_network
    pub fn received(&self) -> Vec<Vec<u8>> {
        let net = self.net.lock().expect("net log lock");
        net.ws_frames
            .iter()
            .cloned()
            .chain(net.bodies.iter().map(|(_, b)| b.clone()))
            .collect()
    }

    /// Responses whose body DevTools could not give back (request id and URL).
    pub fn missed(&self) -> Vec<String> {
        self.net.lock().expect("net log lock").missed.clone()
    }

    /// (WebSocket frames, HTTP bodies, responses whose body was not available).
    pub fn received_counts(&self) -> (usize, usize, usize) {
        let net = self.net.lock().expect("net log lock");
        (net.ws_frames.len(), net.bodies.len(), net.missed.len())
    }
}
