//! The development PKI: shape, names, validity, revocation, PKCS#12.

use callvault_pki::{DEV_P12_PASSWORD, demo_clients, generate};
use x509_parser::prelude::*;

fn pem_certs(path: &std::path::Path) -> Vec<Vec<u8>> {
    let text = std::fs::read(path).expect("read");
    Pem::iter_from_buffer(&text)
        .map(|p| p.expect("pem").contents)
        .collect()
}

#[test]
fn a_siths_shaped_hierarchy_with_hsa_ids_expired_and_revoked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = ::time::OffsetDateTime::now_utc();
    let pki = generate(&dir.path().join("pki"), &demo_clients(), now).expect("generate");
    assert_eq!(pki.clients.len(), demo_clients().len() + 2);

    let root = pem_certs(&pki.root_ca).remove(0);
    let (_, root) = X509Certificate::from_der(&root).expect("root");
    assert!(root.is_ca());
    for ca_path in [&pki.person_ca, &pki.function_ca] {
        let der = pem_certs(ca_path).remove(0);
        let (_, ca) = X509Certificate::from_der(&der).expect("ca");
        assert!(ca.is_ca());
        assert_eq!(ca.issuer(), root.subject());
        ca.verify_signature(Some(root.public_key()))
            .expect("signed by the root");
    }

    for (name, chain, key, p12) in &pki.clients {
        let certs = pem_certs(chain);
        assert_eq!(certs.len(), 2, "{name}: leaf and issuing CA");
        let (_, leaf) = X509Certificate::from_der(&certs[0]).expect("leaf");
        let serial = leaf
            .subject()
            .iter_by_oid(&oid_registry::OID_X509_SERIALNUMBER)
            .next()
            .and_then(|a| a.as_str().ok())
            .expect("serialNumber");
        callvault_types::HsaId::parse(serial).expect("an HSA-ID in serialNumber");
        let (_, issuer) = X509Certificate::from_der(&certs[1]).expect("issuer");
        leaf.verify_signature(Some(issuer.public_key()))
            .expect("signed by its CA");
        let want_issuer = if name.starts_with("recorder") {
            "Function"
        } else {
            "Person"
        };
        assert!(issuer.subject().to_string().contains(want_issuer), "{name}");
        let expired = leaf.validity().not_after.timestamp() < now.unix_timestamp();
        assert_eq!(expired, name == "expired", "{name}");
        use std::os::unix::fs::PermissionsExt;
        for secret in [key, p12] {
            let mode = std::fs::metadata(secret)
                .expect("meta")
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600, "{}", secret.display());
        }
        let ks = p12_keystore::KeyStore::from_pkcs12(
            &std::fs::read(p12).expect("p12"),
            DEV_P12_PASSWORD,
            p12_keystore::Pkcs12ImportPolicy::Strict,
        )
        .expect("PKCS#12 opens with the dev password");
        let (_, chain) = ks.private_key_chain().expect("key chain");
        assert_eq!(chain.certs()[0].as_der(), &certs[0][..]);
    }

    // The person CA's CRL lists exactly the revoked certificate.
    let revoked_leaf = pem_certs(
        &pki.clients
            .iter()
            .find(|c| c.0 == "revoked")
            .expect("revoked")
            .1,
    )
    .remove(0);
    let (_, revoked_leaf) = X509Certificate::from_der(&revoked_leaf).expect("leaf");
    let person_crl = pki
        .crls
        .iter()
        .find(|p| p.ends_with("person-ca.crl.pem"))
        .expect("crl");
    let der = pem_certs(person_crl).remove(0);
    let (_, crl) = CertificateRevocationList::from_der(&der).expect("crl");
    let serials: Vec<_> = crl
        .iter_revoked_certificates()
        .map(|r| r.raw_serial().to_vec())
        .collect();
    assert_eq!(serials, vec![revoked_leaf.raw_serial().to_vec()]);
    assert!(crl.next_update().expect("next update").timestamp() > now.unix_timestamp());

    // A second run into the same directory is refused.
    assert!(generate(&dir.path().join("pki"), &demo_clients(), now).is_err());
}

/// OpenSSL, an independent implementation, agrees: chains verify, the expired one is
/// expired, the revoked one is revoked by the CRL, and the PKCS#12 files open.
#[test]
fn openssl_verifies_the_chains_crls_and_pkcs12_files() {
    use std::process::Command;
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = generate(
        &dir.path().join("pki"),
        &demo_clients(),
        ::time::OffsetDateTime::now_utc(),
    )
    .expect("generate");
    let p = |x: &std::path::Path| x.to_str().expect("utf-8").to_owned();
    // All CRLs in one file, the intermediates as untrusted.
    let crls = dir.path().join("crls.pem");
    let mut all = Vec::new();
    for c in &pki.crls {
        all.extend(std::fs::read(c).expect("crl"));
    }
    std::fs::write(&crls, all).expect("write");
    let verify = |leaf: &std::path::Path| {
        let out = Command::new("openssl")
            .args([
                "verify",
                "-crl_check",
                "-CAfile",
                &p(&pki.root_ca),
                "-untrusted",
                &p(&pki.person_ca),
                "-untrusted",
                &p(&pki.function_ca),
                "-CRLfile",
                &p(&crls),
                &p(leaf),
            ])
            .output()
            .expect("openssl (Debian package openssl) is needed for this test");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    for (name, chain, _, p12) in &pki.clients {
        let (ok, text) = verify(chain);
        match name.as_str() {
            "expired" => assert!(!ok && text.contains("expired"), "{name}: {text}"),
            "revoked" => assert!(!ok && text.contains("revoked"), "{name}: {text}"),
            _ => assert!(ok, "{name}: {text}"),
        }
        let out = Command::new("openssl")
            .args([
                "pkcs12",
                "-in",
                &p(p12),
                "-passin",
                &format!("pass:{DEV_P12_PASSWORD}"),
                "-nokeys",
                "-clcerts",
            ])
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (ok, text) = verify(&pki.server_chain);
    assert!(ok, "server: {text}");
}
