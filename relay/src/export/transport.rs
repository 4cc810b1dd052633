//! Syslog delivery: UDP (RFC 5426, one datagram per entry), TCP (RFC 6587) or TLS
//! (RFC 5425), both octet-counted. A stream connection is kept between batches and
//! opened again after any failure; before each batch it is checked for a close by the
//! server (a syslog server never sends data), so a batch is not written into a
//! connection the server already dropped.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;
use vigil_wire::audit::AuditEntry;

use super::config::{SyslogConfig, Transport};
use super::sink::{SetupError, SinkError};
use super::syslog::{self, Header};

/// How long connecting, a handshake or writing one batch may take.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

pub struct SyslogSink {
    way: Way,
    address: String,
    header: Header,
    max_datagram: usize,
    conn: Option<Conn>,
}

/// The transport, with what TLS needs.
enum Way {
    Udp,
    Tcp,
    Tls(TlsConnector, ServerName<'static>),
}

enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl SyslogSink {
    pub fn new(c: &SyslogConfig) -> Result<SyslogSink, SetupError> {
        let way = match c.transport {
            Transport::Udp => Way::Udp,
            Transport::Tcp => Way::Tcp,
            Transport::Tls => {
                let config = super::tls::client_config(c.ca_file.as_deref(), &[])?;
                let name = c
                    .server_name
                    .clone()
                    .unwrap_or_else(|| host_of(&c.address).to_string());
                let server =
                    ServerName::try_from(name.clone()).map_err(|_| SetupError::ServerName(name))?;
                Way::Tls(TlsConnector::from(Arc::new(config)), server)
            }
        };
        let hostname = c.hostname.clone().unwrap_or_else(local_hostname);
        Ok(SyslogSink {
            way,
            address: c.address.clone(),
            header: Header {
                facility: c.facility,
                hostname: syslog::hostname(&hostname),
                procid: std::process::id(),
                enterprise_id: c.enterprise_id,
            },
            max_datagram: c.max_datagram,
            conn: None,
        })
    }

    pub async fn deliver(&mut self, entries: &[AuditEntry]) -> Result<(), SinkError> {
        if self.conn.as_mut().is_some_and(|c| !c.open()) {
            self.conn = None;
        }
        let conn = match self.conn.take() {
            Some(c) => c,
            None => self.connect().await?,
        };
        let sent = tokio::time::timeout(IO_TIMEOUT, self.send(conn, entries)).await;
        match sent {
            Ok(Ok(conn)) => {
                self.conn = Some(conn);
                Ok(())
            }
            Ok(Err(source)) => Err(SinkError::Send {
                address: self.address.clone(),
                source,
            }),
            Err(_) => Err(self.timeout()),
        }
    }

    /// Sends `entries` on `conn`, handing it back if it still works.
    async fn send(&self, mut conn: Conn, entries: &[AuditEntry]) -> std::io::Result<Conn> {
        match &mut conn {
            Conn::Udp(sock) => {
                for e in entries {
                    let d = syslog::datagram(&self.header, e, self.max_datagram);
                    sock.send(d.as_bytes()).await?;
                }
            }
            Conn::Tcp(stream) => {
                stream.write_all(&self.framed(entries)).await?;
                stream.flush().await?;
            }
            Conn::Tls(stream) => {
                stream.write_all(&self.framed(entries)).await?;
                stream.flush().await?;
            }
        }
        Ok(conn)
    }

    fn framed(&self, entries: &[AuditEntry]) -> Vec<u8> {
        let mut out = Vec::new();
        for e in entries {
            let msg = syslog::message(&self.header, e, syslog::Body::Full);
            out.extend_from_slice(&syslog::octet_counted(&msg));
        }
        out
    }

    async fn connect(&self) -> Result<Conn, SinkError> {
        tokio::time::timeout(IO_TIMEOUT, self.connect_now())
            .await
            .map_err(|_| self.timeout())?
    }

    async fn connect_now(&self) -> Result<Conn, SinkError> {
        let connect_err = |source| SinkError::Connect {
            address: self.address.clone(),
            source,
        };
        let addr = tokio::net::lookup_host(&self.address)
            .await
            .map_err(connect_err)?
            .next()
            .ok_or_else(|| SinkError::Unresolved {
                address: self.address.clone(),
            })?;
        match &self.way {
            Way::Udp => {
                let local = if addr.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let sock = UdpSocket::bind(local).await.map_err(connect_err)?;
                sock.connect(addr).await.map_err(connect_err)?;
                Ok(Conn::Udp(sock))
            }
            Way::Tcp => Ok(Conn::Tcp(
                TcpStream::connect(addr).await.map_err(connect_err)?,
            )),
            Way::Tls(connector, name) => {
                let tcp = TcpStream::connect(addr).await.map_err(connect_err)?;
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|source| SinkError::Handshake {
                        address: self.address.clone(),
                        source,
                    })?;
                Ok(Conn::Tls(Box::new(tls)))
            }
        }
    }

    fn timeout(&self) -> SinkError {
        SinkError::Timeout {
            address: self.address.clone(),
            secs: IO_TIMEOUT.as_secs(),
        }
    }
}

impl Conn {
    /// Whether a kept stream still looks open: the server never sends data, so anything
    /// read now (its close, a reset, unexpected bytes) means it is gone. Polled once,
    /// through TLS for a TLS stream, so that session tickets are taken in stride.
    fn open(&mut self) -> bool {
        let mut byte = [0u8; 1];
        let read = match self {
            Conn::Udp(_) => return true,
            Conn::Tcp(s) => s.read(&mut byte).now_or_never(),
            Conn::Tls(s) => s.read(&mut byte).now_or_never(),
        };
        read.is_none()
    }
}

/// The host part of `host:port` (or `[v6]:port`).
fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// This machine's name (Linux), or nothing.
fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn hosts() {
        assert_eq!(host_of("siem.example:6514"), "siem.example");
        assert_eq!(host_of("[::1]:6514"), "::1");
    }
}
