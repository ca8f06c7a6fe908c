//! A small HTTPS client of the access API for the command line: the person at the keyboard
//! authenticates with their own client certificate (mutual TLS, as a browser would with a
//! SITHS card), so governance steps from the CLI go through the same policy, four-eyes
//! checks and audit as the API — an operator's shell account never stands in for a person.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// Why a call could not be made (an HTTP error status is not an error here).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server URL is not `https://host:port`.
    #[error("server {0:?} is not an https://host:port URL")]
    Url(String),
    /// A certificate or key file is unusable.
    #[error("{path}: {reason}")]
    Pem {
        /// File.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Connecting, the TLS handshake or HTTP failed.
    #[error("{0}")]
    Transport(String),
}

/// A response.
#[derive(Debug)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: String,
    /// Body.
    pub body: Vec<u8>,
}

/// An authenticated client of one server.
#[derive(Debug)]
pub struct ApiClient {
    addr: SocketAddr,
    host: ServerName<'static>,
    authority: String,
    config: Arc<rustls::ClientConfig>,
}

fn pem_err(path: &Path, e: impl std::fmt::Display) -> ClientError {
    ClientError::Pem {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Percent-encodes a query or path value (RFC 3986: every byte but the unreserved ones).
pub fn percent_encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A TLS client configuration (TLS 1.2 and 1.3, aws-lc-rs) that trusts the CA certificates
/// in `ca` and, with `identity`, presents that certificate chain and private key (PEM).
pub fn tls_client_config(
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).map_err(|e| pem_err(ca, e))? {
        roots
            .add(c.map_err(|e| pem_err(ca, e))?)
            .map_err(|e| pem_err(ca, e))?;
    }
    if roots.is_empty() {
        return Err(pem_err(ca, "no CA certificate in file"));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Transport(e.to_string()))?
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| pem_err(cert, e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| pem_err(cert, e))?;
            if chain.is_empty() {
                return Err(pem_err(cert, "no certificate in file"));
            }
            let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, e))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| pem_err(cert, e))?
        }
    };
    Ok(Arc::new(config))
}

impl ApiClient {
    /// A client of `server` (`https://host:port`) that trusts the CA certificates in `ca`
    /// and presents the certificate chain `cert` with its private key `key` (PEM).
    pub fn new(server: &str, ca: &Path, cert: &Path, key: &Path) -> Result<Self, ClientError> {
        Self::build(server, ca, Some((cert, key)))
    }

    /// A client that presents no certificate (for services that authenticate the request
    /// otherwise, like a witness, which checks the log's signature).
    pub fn anonymous(server: &str, ca: &Path) -> Result<Self, ClientError> {
        Self::build(server, ca, None)
    }

    fn build(
        server: &str,
        ca: &Path,
        identity: Option<(&Path, &Path)>,
    ) -> Result<Self, ClientError> {
        let authority = server
            .strip_prefix("https://")
            .map(|r| r.trim_end_matches('/'))
            .filter(|r| !r.is_empty() && !r.contains('/'))
            .ok_or_else(|| ClientError::Url(server.to_owned()))?
            .to_owned();
        let (host, _) = authority
            .rsplit_once(':')
            .ok_or_else(|| ClientError::Url(server.to_owned()))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let addr = authority
            .to_socket_addrs()
            .map_err(|e| ClientError::Transport(format!("resolving {authority}: {e}")))?
            .next()
            .ok_or_else(|| ClientError::Transport(format!("{authority} has no address")))?;
        let host = ServerName::try_from(host).map_err(|_| ClientError::Url(server.to_owned()))?;
        let config = tls_client_config(ca, identity)?;
        Ok(Self {
            addr,
            host,
            authority,
            config,
        })
    }

    /// One request; JSON body if given. Blocks (its own small runtime).
    pub fn call(
        &self,
        method: &str,
        path_and_query: &str,
        json: Option<&str>,
    ) -> Result<ApiResponse, ClientError> {
        self.call_with(
            method,
            path_and_query,
            json.map(|j| ("application/json", j.as_bytes())),
        )
    }

    /// One request with a body of the given content type. Blocks.
    pub fn call_with(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<ApiResponse, ClientError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        rt.block_on(self.call_async(method, path_and_query, body))
    }

    async fn call_async(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<ApiResponse, ClientError> {
        let t = |what: &str, e: &dyn std::fmt::Display| {
            ClientError::Transport(format!("{what} {}: {e}", self.authority))
        };
        let tcp = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tokio::net::TcpStream::connect(self.addr),
        )
        .await
        .map_err(|e| t("connecting to", &e))?
        .map_err(|e| t("connecting to", &e))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::clone(&self.config))
            .connect(self.host.clone(), tcp)
            .await
            .map_err(|e| t("TLS handshake with", &e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| t("HTTP to", &e))?;
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path_and_query)
            .header("host", &self.authority);
        if let Some((ctype, _)) = body {
            req = req.header("content-type", ctype);
        }
        let body = body
            .map(|(_, b)| Bytes::from(b.to_vec()))
            .unwrap_or_default();
        let req = req
            .body(http_body_util::Full::new(body))
            .map_err(|e| t("building a request to", &e))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| t("request to", &e))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| t("reading the answer of", &e))?
            .to_bytes()
            .to_vec();
        Ok(ApiResponse {
            status,
            content_type,
            body,
        })
    }
}
