//! What a browser received over the network, read from Chrome's performance log (Chromium
//! only: in Firefox these fail with an error naming the browser):
//! WebSocket frames and HTTP bodies, for the tests that check no secret reaches a page,
//! and the bytes each HTTP response took on the wire, for the download benchmark.

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
    /// Decoded body bytes per request id so far (`Network.dataReceived`).
    decoded: std::collections::HashMap<String, u64>,
    transfers: Vec<Transfer>,
}

/// One HTTP response the page loaded, as DevTools reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub url: String,
    /// Bytes on the wire, headers included (`Network.loadingFinished.encodedDataLength`);
    /// 0 for a response the browser's cache answered.
    pub encoded: u64,
    /// The body's bytes after decompression (the sum of `Network.dataReceived.dataLength`).
    pub decoded: u64,
}

impl Browser {
    /// Reads what DevTools logged since the last call: keeps every WebSocket frame
    /// received and fetches the body of every HTTP response. Call it while the page
    /// that made the requests is still loaded ([`Browser::goto`] does).
    pub async fn capture_network(&self) -> Result<()> {
        self.chromium_only("reading what the browser received (the performance log)")?;
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
                    "Network.dataReceived" => {
                        let id = params
                            .get("requestId")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        let n = params
                            .get("dataLength")
                            .and_then(Value::as_u64)
                            .unwrap_or(0);
                        *net.decoded.entry(id).or_default() += n;
                    }
                    "Network.loadingFinished" => {
                        let id = params
                            .get("requestId")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        // Only the pages' own traffic (not chrome:// internals).
                        let ours = net.urls.get(&id).is_some_and(|u| u.starts_with("http"));
                        if ours {
                            let transfer = Transfer {
                                url: net.urls.get(&id).cloned().unwrap_or_default(),
                                encoded: params
                                    .get("encodedDataLength")
                                    .and_then(Value::as_f64)
                                    .map_or(0, |n| n.max(0.0) as u64),
                                decoded: net.decoded.remove(&id).unwrap_or(0),
                            };
                            net.transfers.push(transfer);
                        }
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

    /// The HTTP responses loaded since the last call (every page so far on the first),
    /// with their bytes on the wire: reads the log first.
    pub async fn take_transfers(&self) -> Result<Vec<Transfer>> {
        self.capture_network().await?;
        let mut net = self.net.lock().expect("net log lock");
        Ok(std::mem::take(&mut net.transfers))
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
