//! The listener: accepts TCP connections (127.0.0.1 and ::1), does the TLS handshake by hand
//! with tokio-rustls when asked, and serves each connection with hyper-util, handing requests to
//! the instance router or the IdP router by their Host.
//!
//! Each request carries a [`ConnInfo`] extension: whether it came over TLS, the peer's
//! certificates (judged by `mtls`), and a token that closes the connection with
//! no reply, which is how faults drop requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::header;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// What the connection knows about itself, in every request's extensions.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub tls: bool,
    #[allow(dead_code)] // for logs
    pub peer: SocketAddr,
    /// Client certificates presented in the handshake (end entity first), judged by `mtls`.
    pub peer_certificates: Option<Arc<Vec<CertificateDer<'static>>>>,
    /// Cancelling closes the connection at once, without a reply.
    pub kill: CancellationToken,
}

/// The two sites on one listener: the instance, and the IdP on its own host name.
#[derive(Clone)]
pub struct Sites {
    pub instance: Router,
    pub idp: Router,
    pub idp_host: String,
}

impl Sites {
    fn route(&self, req: &Request) -> &Router {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(String::from)
            .or_else(|| req.uri().host().map(String::from))
            .unwrap_or_default();
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host.as_str(),
        };
        if name.eq_ignore_ascii_case(&self.idp_host) {
            &self.idp
        } else {
            &self.instance
        }
    }
}

/// Accepts on every listener until `shutdown` turns true.
pub async fn serve(
    listeners: Vec<TcpListener>,
    tls: Option<TlsAcceptor>,
    sites: Sites,
    shutdown: watch::Receiver<bool>,
) {
    let mut tasks = Vec::new();
    for listener in listeners {
        tasks.push(tokio::spawn(accept_loop(
            listener,
            tls.clone(),
            sites.clone(),
            shutdown.clone(),
        )));
    }
    for task in tasks {
        let _ = task.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    sites: Sites,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, peer)) = accepted else {
            // Out of file descriptors and the like: back off briefly rather than spin.
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        let sites = sites.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                            .await;
                    let Ok(Ok(stream)) = handshake else { return };
                    let certificates = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .map(|c| Arc::new(c.iter().map(|c| c.clone().into_owned()).collect()));
                    serve_connection(
                        TokioIo::new(stream),
                        peer,
                        true,
                        certificates,
                        sites,
                        shutdown,
                    )
                    .await;
                }
                None => {
                    serve_connection(TokioIo::new(stream), peer, false, None, sites, shutdown).await
                }
            }
        });
    }
}

async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    tls: bool,
    peer_certificates: Option<Arc<Vec<CertificateDer<'static>>>>,
    sites: Sites,
    mut shutdown: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let kill = CancellationToken::new();
    let info = ConnInfo {
        tls,
        peer,
        peer_certificates,
        kill: kill.clone(),
    };
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(info.clone());
            let req = req.map(axum::body::Body::new);
            let router = sites.route(&req).clone();
            router.oneshot(req)
        });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::select! {
        _ = connection => {}
        _ = kill.cancelled() => {}
        _ = shutdown.changed() => {}
    }
}
