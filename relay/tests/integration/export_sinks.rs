//! The real sinks the audit export tests deliver to: a certificate authority and a
//! server certificate made by `openssl`, a real `rsyslogd` listening on UDP, TCP and TLS
//! (its gtls driver) on loopback, and an HTTPS receiver that checks the webhook's HMAC
//! signature on its own (not with the relay's code) and records the batches it accepts.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use tower::ServiceExt;
use vigil_wire::audit::{AuditEntry, AuditExportBatch};

use crate::support::R;

const SETUP: &str = "run scripts/setup.sh to install the tools of the operations tests";

/// A CA and a server certificate it signed for `localhost` and 127.0.0.1.
pub struct Certs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn certs(dir: &Path) -> R<Certs> {
    let p = |name: &str| dir.join(name);
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )?;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        Command::new("openssl")
            .args(["req", "-x509"])
            .args(ec)
            .args(["-days", "2", "-subj", "/CN=vigil-test-ca", "-keyout"])
            .arg(p("ca.key"))
            .arg("-out")
            .arg(p("ca.pem")),
    )?;
    openssl(
        Command::new("openssl")
            .arg("req")
            .args(ec)
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(p("key.pem"))
            .arg("-out")
            .arg(p("req.csr")),
    )?;
    openssl(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-in"])
            .arg(p("req.csr"))
            .arg("-CA")
            .arg(p("ca.pem"))
            .arg("-CAkey")
            .arg(p("ca.key"))
            .arg("-CAcreateserial")
            .arg("-extfile")
            .arg(p("ext.cnf"))
            .arg("-out")
            .arg(p("cert.pem")),
    )?;
    Ok(Certs {
        ca: p("ca.pem"),
        cert: p("cert.pem"),
        key: p("key.pem"),
    })
}

fn openssl(cmd: &mut Command) -> R {
    let out = match cmd.stdin(Stdio::null()).output() {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            panic!("openssl is not installed: {SETUP}")
        }
        other => other?,
    };
    assert!(
        out.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A free port on loopback (bound and released; the server takes it right after).
fn free_port(udp: bool) -> R<u16> {
    Ok(if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
    })
}

/// `rsyslogd -n` with a configuration of the test's: one input per transport, each
/// written to its own file (`udp.log`, `tcp.log`, `tls.log`) as the raw message.
pub struct Rsyslog {
    child: Child,
    dir: PathBuf,
    pub udp: u16,
    pub tcp: u16,
    pub tls: u16,
}

impl Rsyslog {
    pub fn start(dir: &Path, certs: &Certs) -> R<Rsyslog> {
        let (udp, tcp, tls) = (free_port(true)?, free_port(false)?, free_port(false)?);
        let d = dir.display();
        let conf = format!(
            r#"global(workDirectory="{d}" maxMessageSize="64k"
  DefaultNetstreamDriverCAFile="{ca}"
  DefaultNetstreamDriverCertFile="{cert}"
  DefaultNetstreamDriverKeyFile="{key}")
module(load="imudp")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\n")
ruleset(name="udp") {{ action(type="omfile" file="{d}/udp.log" template="raw") }}
ruleset(name="tcp") {{ action(type="omfile" file="{d}/tcp.log" template="raw") }}
ruleset(name="tls") {{ action(type="omfile" file="{d}/tls.log" template="raw") }}
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="udp")
input(type="imtcp" address="127.0.0.1" port="{tcp}" ruleset="tcp")
input(type="imtcp" address="127.0.0.1" port="{tls}" ruleset="tls"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
"#,
            ca = certs.ca.display(),
            cert = certs.cert.display(),
            key = certs.key.display(),
        );
        let conf_path = dir.join("rsyslog.conf");
        std::fs::write(&conf_path, conf)?;
        let child = spawn(dir)?;
        let mut r = Rsyslog {
            child,
            dir: dir.to_path_buf(),
            udp,
            tcp,
            tls,
        };
        r.wait_listening();
        Ok(r)
    }

    /// Kills rsyslogd (by its PID) and waits for it: the sinks are down.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same ports and files.
    pub fn restart(&mut self) -> R {
        self.stop();
        self.child = spawn(&self.dir)?;
        self.wait_listening();
        Ok(())
    }

    /// TCP and TLS listening means the configuration loaded (UDP with it).
    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        for port in [self.tcp, self.tls] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)),
                    "rsyslogd does not listen on {port} (is rsyslog-gnutls installed? {SETUP}); it said: {}",
                    std::fs::read_to_string(self.dir.join("rsyslogd.out")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The raw messages received on `transport` (`udp`, `tcp`, `tls`) so far.
    pub fn lines(&self, transport: &str) -> Vec<String> {
        std::fs::read_to_string(self.dir.join(format!("{transport}.log")))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// `rsyslogd -n -f <dir>/rsyslog.conf -i <dir>/rsyslogd.pid`, its output in
/// `rsyslogd.out`.
fn spawn(dir: &Path) -> R<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("rsyslogd.out"))?;
    match Command::new("rsyslogd")
        .arg("-n")
        .arg("-f")
        .arg(dir.join("rsyslog.conf"))
        .arg("-i")
        .arg(dir.join("rsyslogd.pid"))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
    {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            panic!("rsyslogd is not installed (Debian: rsyslog, rsyslog-gnutls): {SETUP}")
        }
        other => Ok(other?),
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        // Only the process this test started, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Accept,
    Unavailable,
}

#[derive(Debug, Default)]
pub struct Received {
    /// Accepted batches, in arrival order.
    pub batches: Vec<Vec<AuditEntry>>,
    /// Requests answered 503.
    pub refused: u32,
    /// Requests whose signature did not verify (answered 401).
    pub bad_signatures: u32,
}

#[derive(Clone)]
struct Shared {
    secret: Arc<Vec<u8>>,
    mode: Arc<Mutex<Mode>>,
    received: Arc<Mutex<Received>>,
}

/// An HTTPS webhook receiver on loopback; it stops when dropped (or [`Receiver::down`]),
/// and may come up again on the same port.
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Shared,
    acceptor: tokio_rustls::TlsAcceptor,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    pub async fn start(certs: &Certs, secret: &[u8], mode: Mode) -> R<Receiver> {
        let acceptor = vigil_relay::tls::acceptor(&certs.cert, &certs.key)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let mut r = Receiver {
            addr: listener.local_addr()?,
            shared: Shared {
                secret: Arc::new(secret.to_vec()),
                mode: Arc::new(Mutex::new(mode)),
                received: Arc::new(Mutex::new(Received::default())),
            },
            acceptor,
            task: None,
        };
        r.serve(listener);
        Ok(r)
    }

    pub fn url(&self) -> String {
        format!("https://localhost:{}/audit", self.addr.port())
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().expect("mode") = mode;
    }

    /// Stops listening: connections are refused.
    pub fn down(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn up(&mut self) -> R {
        let listener = tokio::net::TcpListener::bind(self.addr).await?;
        self.serve(listener);
        Ok(())
    }

    pub fn with<T>(&self, f: impl FnOnce(&Received) -> T) -> T {
        f(&self.shared.received.lock().expect("received"))
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let router = Router::new()
            .route("/audit", post(receive))
            .with_state(self.shared.clone());
        let acceptor = self.acceptor.clone();
        self.task = Some(tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, router) = (acceptor.clone(), router.clone());
                conns.spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service =
                        hyper::service::service_fn(move |req| router.clone().oneshot(req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        }));
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.down();
    }
}

async fn receive(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(timestamp), Some(signature)) =
        (header("x-vigil-timestamp"), header("x-vigil-signature"))
    else {
        return StatusCode::BAD_REQUEST;
    };
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| (t - vigil_relay::store::now_ms() / 1000).abs() <= 300);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&s.secret).expect("hmac key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let mut received = s.received.lock().expect("received");
    if !fresh || signature != expected {
        received.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    if *s.mode.lock().expect("mode") == Mode::Unavailable {
        received.refused += 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let Ok(batch) = serde_json::from_slice::<AuditExportBatch>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    received.batches.push(batch.entries);
    StatusCode::NO_CONTENT
}
