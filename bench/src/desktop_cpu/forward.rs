//! The baseline: a bare TCP forward between the relay and xrdp. Each connection is copied
//! both ways by two OS threads of this process (blocking reads and writes, 64 KiB buffer),
//! and those threads' own CPU time is read from `/proc/self/task/<tid>/schedstat`
//! (nanoseconds on a CPU), so the benchmark's other work (Chromium's driver, the clock)
//! is never counted in it.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use anyhow::{Context, Result};

const BUF: usize = 64 * 1024;

/// A running forward: its port, and what its copying threads did.
pub struct Forward {
    pub port: u16,
    tids: Arc<Mutex<Vec<u32>>>,
    bytes: Arc<AtomicU64>,
}

/// What the forward's threads had done at one instant.
#[derive(Debug, Clone, Copy)]
pub struct ForwardSample {
    /// Nanoseconds on a CPU, summed over the copying threads alive now.
    pub cpu_ns: u64,
    /// Bytes copied, both ways.
    pub bytes: u64,
}

impl Forward {
    /// Listens on a free loopback port and forwards every connection to `target_port`.
    pub fn start(target_port: u16) -> Result<Forward> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let tids = Arc::new(Mutex::new(Vec::new()));
        let bytes = Arc::new(AtomicU64::new(0));
        let (t, b) = (tids.clone(), bytes.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(inbound) = conn else { continue };
                let Ok(outbound) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    continue;
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                for (from, to) in [(&inbound, &outbound), (&outbound, &inbound)] {
                    let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
                        continue;
                    };
                    let (tids, bytes) = (t.clone(), b.clone());
                    thread::spawn(move || copy(from, to, &tids, &bytes));
                }
            }
        });
        Ok(Forward { port, tids, bytes })
    }

    pub fn sample(&self) -> Result<ForwardSample> {
        let tids = self
            .tids
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .clone();
        let mut cpu_ns = 0;
        for tid in tids {
            // A thread that ended (its connection closed) has no file: it is not copying.
            if let Ok(text) = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")) {
                cpu_ns += text
                    .split_whitespace()
                    .next()
                    .context("empty schedstat")?
                    .parse::<u64>()?;
            }
        }
        Ok(ForwardSample {
            cpu_ns,
            bytes: self.bytes.load(Ordering::Relaxed),
        })
    }
}

/// This thread's id, from `/proc/thread-self` (a link to `<pid>/task/<tid>`).
fn own_tid() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

fn copy(mut from: TcpStream, mut to: TcpStream, tids: &Mutex<Vec<u32>>, bytes: &AtomicU64) {
    if let (Some(tid), Ok(mut list)) = (own_tid(), tids.lock()) {
        list.push(tid);
    }
    let mut buf = vec![0u8; BUF];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
