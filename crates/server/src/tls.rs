//! Mutual TLS: the server configuration (rustls, aws-lc-rs) and the principal a verified
//! client certificate names.
//!
//! A client certificate is required on every connection and verified against the
//! configured trust anchors and CRLs; an expired CRL is an error, not a pass. The HSA-ID is
//! taken from the subject's `serialNumber`; the issuing CA decides whether the principal is
//! a person or a system.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use callvault_auth::{AuthenticatedPrincipal, Issuers};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, X509Certificate};

/// Errors of TLS setup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {reason}")]
    Pem {
        /// File.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built (e.g. no trust anchors, a bad CRL).
    #[error("client certificate verifier: {0}")]
    Verifier(String),
}

pub use callvault_auth::IdentityError;

/// Where the TLS material is.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    /// Server certificate chain (PEM, leaf first).
    pub server_chain: PathBuf,
    /// Server private key (PEM).
    pub server_key: PathBuf,
    /// Trust anchors for client certificates (PEM; the SITHS roots in production).
    pub client_roots: Vec<PathBuf>,
    /// CAs that issue person certificates (PEM).
    pub person_cas: Vec<PathBuf>,
    /// CAs that issue function (system) certificates (PEM).
    pub function_cas: Vec<PathBuf>,
    /// CRLs of every CA in the chains (PEM); reloaded on SIGHUP.
    pub crls: Vec<PathBuf>,
    /// Allow TLS 1.2 (ECDHE with AEAD suites only). Off: TLS 1.3 only.
    pub allow_tls12: bool,
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = |reason: String| TlsError::Pem {
        path: path.to_owned(),
        reason,
    };
    let v = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(e.to_string()))?;
    if v.is_empty() {
        return Err(pem("no certificate in file".into()));
    }
    Ok(v)
}

/// Subject DNs (raw DER) of the CAs in these files.
fn subjects(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>, TlsError> {
    let mut out = Vec::new();
    for p in paths {
        for c in certs(p)? {
            let (_, x) = X509Certificate::from_der(&c).map_err(|e| TlsError::Pem {
                path: p.clone(),
                reason: format!("not an X.509 certificate: {e}"),
            })?;
            out.push(x.subject().as_raw().to_vec());
        }
    }
    Ok(out)
}

/// Maps verified client certificates to principals.
#[derive(Clone, Debug)]
pub struct Identities {
    issuers: Issuers,
}

impl Identities {
    /// From the configured person and function CA files.
    pub fn load(settings: &TlsSettings) -> Result<Self, TlsError> {
        Ok(Self {
            issuers: Issuers::new(
                subjects(&settings.person_cas)?,
                subjects(&settings.function_cas)?,
            ),
        })
    }

    /// The principal of a client certificate that rustls has verified in this handshake.
    pub fn principal(
        &self,
        verified_leaf: &CertificateDer<'_>,
    ) -> Result<AuthenticatedPrincipal, IdentityError> {
        AuthenticatedPrincipal::from_verified_certificate(verified_leaf, &self.issuers)
    }
}

impl Identities {
    /// The principal a certificate file on this machine names (its first certificate), as
    /// the TLS layer would name it after a verified handshake. For scripted steps of the
    /// demo run by an operator who holds the PKI directory (keys included) — never for
    /// certificates that arrive over the network, which only [`Identities::principal`]
    /// handles after rustls has verified them.
    pub fn principal_of_local_certificate(
        &self,
        path: &Path,
    ) -> Result<AuthenticatedPrincipal, TlsError> {
        let leaf = certs(path)?.remove(0);
        self.principal(&leaf).map_err(|e| TlsError::Pem {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }
}

/// Builds the rustls server configuration: client certificates required and verified with
/// CRLs (expired CRLs refused), TLS 1.3 (and TLS 1.2 with ECDHE-AEAD suites if allowed).
pub fn server_config(settings: &TlsSettings) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    for p in &settings.client_roots {
        for c in certs(p)? {
            roots
                .add(c)
                .map_err(|e| TlsError::Verifier(format!("{}: {e}", p.display())))?;
        }
    }
    let mut crls = Vec::new();
    for p in &settings.crls {
        let list = CertificateRevocationListDer::pem_file_iter(p)
            .map_err(|e| TlsError::Pem {
                path: p.clone(),
                reason: e.to_string(),
            })?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Pem {
                path: p.clone(),
                reason: e.to_string(),
            })?;
        crls.extend(list);
    }
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .with_crls(crls)
            .enforce_revocation_expiration()
            .build()
            .map_err(|e| TlsError::Verifier(e.to_string()))?;
    let versions: &[&'static rustls::SupportedProtocolVersion] = if settings.allow_tls12 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let chain = certs(&settings.server_chain)?;
    let key = PrivateKeyDer::from_pem_file(&settings.server_key).map_err(|e| TlsError::Pem {
        path: settings.server_key.clone(),
        reason: e.to_string(),
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
