//! The authenticated caller.

use std::fmt;

use callvault_types::HsaId;

/// Which kind of SITHS certificate authenticated the caller (decided by its issuing CA).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PrincipalKind {
    /// A person's certificate (smart card): nurses, investigators, reviewers, administrators.
    Person,
    /// A function certificate: a system such as a call recorder.
    System,
}

/// The CAs whose certificates name principals, by subject (raw DER name): person CAs
/// (smart cards) and function CAs (systems such as recorders).
#[derive(Clone, Debug, Default)]
pub struct Issuers {
    person: Vec<Vec<u8>>,
    function: Vec<Vec<u8>>,
}

impl Issuers {
    /// From the subjects of the configured person and function CAs.
    pub fn new(person: Vec<Vec<u8>>, function: Vec<Vec<u8>>) -> Self {
        Self { person, function }
    }
}

/// Why a verified certificate does not name a principal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The certificate does not parse.
    #[error("client certificate does not parse")]
    Unparseable,
    /// The subject has no `serialNumber`, or it is not an HSA-ID.
    #[error("client certificate subject serialNumber is not an HSA-ID")]
    NoHsaId,
    /// The issuer is neither a configured person CA nor a function CA.
    #[error("client certificate issuer is not a configured person or function CA")]
    UnknownIssuer,
}

/// A caller authenticated by mutual TLS: the HSA-ID from the certificate subject's
/// `serialNumber`, the kind of certificate, and the certificate's SHA-256 fingerprint.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthenticatedPrincipal {
    hsa_id: HsaId,
    kind: PrincipalKind,
    fingerprint: [u8; 32],
}

impl AuthenticatedPrincipal {
    /// The principal a client certificate names, once the TLS layer has verified its chain
    /// (to a configured root, with revocation lists) and the handshake has proved possession
    /// of its key: the HSA-ID from the subject's `serialNumber`, the kind from the issuing
    /// CA (a person CA or a function CA of `issuers`), the fingerprint the SHA-256 of the
    /// DER. The same pattern as rustls's `ClientCertVerified::assertion`: holding an
    /// `AuthenticatedPrincipal` means a verified certificate named it — it cannot be made
    /// from an HSA-ID alone (except with the `test-support` feature, for tests).
    pub fn from_verified_certificate(
        leaf_der: &[u8],
        issuers: &Issuers,
    ) -> Result<Self, IdentityError> {
        use x509_parser::prelude::{FromDer, X509Certificate};
        let (_, x) = X509Certificate::from_der(leaf_der).map_err(|_| IdentityError::Unparseable)?;
        let serial = x
            .subject()
            .iter_by_oid(&x509_parser::oid_registry::OID_X509_SERIALNUMBER)
            .next()
            .and_then(|a| a.as_str().ok())
            .ok_or(IdentityError::NoHsaId)?;
        let hsa_id = HsaId::parse(serial).map_err(|_| IdentityError::NoHsaId)?;
        let issuer = x.issuer().as_raw();
        let kind = if issuers.person.iter().any(|s| s == issuer) {
            PrincipalKind::Person
        } else if issuers.function.iter().any(|s| s == issuer) {
            PrincipalKind::System
        } else {
            return Err(IdentityError::UnknownIssuer);
        };
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, leaf_der).as_ref(),
        );
        Ok(Self {
            hsa_id,
            kind,
            fingerprint,
        })
    }

    /// A principal named without a certificate: for tests only (feature `test-support`,
    /// which no production crate enables — `crates/cli/tests/it/layers.rs`).
    #[cfg(any(test, feature = "test-support"))]
    pub fn assert_verified_certificate(
        hsa_id: HsaId,
        kind: PrincipalKind,
        fingerprint: [u8; 32],
    ) -> Self {
        Self {
            hsa_id,
            kind,
            fingerprint,
        }
    }

    /// The principal's HSA-ID.
    pub fn hsa_id(&self) -> &HsaId {
        &self.hsa_id
    }

    /// Person or system.
    pub fn kind(&self) -> PrincipalKind {
        self.kind
    }

    /// SHA-256 of the client certificate (DER), recorded as the audit event's source.
    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }
}

impl fmt::Debug for AuthenticatedPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AuthenticatedPrincipal({:?}, {})",
            self.kind, self.hsa_id
        )
    }
}
