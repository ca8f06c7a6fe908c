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

/// A caller authenticated by mutual TLS: the HSA-ID from the certificate subject's
/// `serialNumber`, the kind of certificate, and the certificate's SHA-256 fingerprint.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthenticatedPrincipal {
    hsa_id: HsaId,
    kind: PrincipalKind,
    fingerprint: [u8; 32],
}

impl AuthenticatedPrincipal {
    /// Asserts that a TLS client certificate chain was verified against the configured trust
    /// anchors and revocation lists, and names the principal it authenticates.
    ///
    /// Only the TLS layer calls this, after verification (the same pattern as rustls's
    /// `ClientCertVerified::assertion`): holding an `AuthenticatedPrincipal` means the
    /// handshake proved possession of the certificate's key.
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
