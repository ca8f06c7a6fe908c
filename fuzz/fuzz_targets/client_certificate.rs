//! A client certificate's subject and issuer, as the TLS layer maps a verified leaf to a
//! principal: any DER is refused or named by the HSA-ID in its subject's serialNumber,
//! and only under a configured issuer.
#![no_main]

use std::sync::LazyLock;

use callvault_server::{Identities, TlsSettings};
use libfuzzer_sys::fuzz_target;
use rustls_pki_types::CertificateDer;

static IDENTITIES: LazyLock<(tempfile::TempDir, Identities)> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = callvault_pki::generate(
        dir.path(),
        &callvault_pki::demo_clients(),
        time::OffsetDateTime::now_utc(),
    )
    .expect("pki");
    let settings = TlsSettings {
        server_chain: pki.server_chain.clone(),
        server_key: pki.server_key.clone(),
        client_roots: vec![pki.root_ca.clone()],
        person_cas: vec![pki.person_ca.clone()],
        function_cas: vec![pki.function_ca.clone()],
        crls: pki.crls.clone(),
        allow_tls12: false,
    };
    let ids = Identities::load(&settings).expect("identities");
    (dir, ids)
});

fuzz_target!(|data: &[u8]| {
    let (_, ids) = &*IDENTITIES;
    if let Ok(p) = ids.principal(&CertificateDer::from(data)) {
        assert!(
            data.windows(p.hsa_id().as_str().len())
                .any(|w| w == p.hsa_id().as_str().as_bytes()),
            "the HSA-ID {} is not in the certificate",
            p.hsa_id()
        );
    }
});
