//! Development PKI shaped like SITHS: a root CA, a person-certificate CA and a
//! function-certificate CA; a server certificate; client certificates whose subject
//! `serialNumber` (OID 2.5.4.5) holds an HSA-ID; an expired and a revoked certificate;
//! and a CRL per CA. Written as PEM, and client identities also as PKCS#12 for browsers.
//!
//! For development and tests only: production trusts the real SITHS roots.

use std::path::{Path, PathBuf};

use callvault_types::HsaId;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevocationReason, RevokedCertParams, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// OID of the X.520 `serialNumber` attribute, where SITHS puts the HSA-ID.
pub const SERIAL_NUMBER_OID: [u64; 4] = [2, 5, 4, 5];
/// Password of the development PKCS#12 files (printed by `callvault pki dev`).
pub const DEV_P12_PASSWORD: &str = "callvault-dev";

/// Errors of PKI generation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// Certificate or CRL generation failed.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// Writing a file failed.
    #[error("writing {path}: {source}")]
    Write {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// PKCS#12 encoding failed.
    #[error("PKCS#12: {0}")]
    Pkcs12(String),
    /// The output directory already holds a PKI.
    #[error("{0} already holds a development PKI; choose another directory")]
    Exists(PathBuf),
}

/// Which CA issues a client certificate.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ClientKind {
    /// Person certificate (smart card).
    Person,
    /// Function certificate (system).
    Function,
}

/// A client identity to issue.
#[derive(Clone, Debug)]
pub struct ClientSpec {
    /// File name stem, e.g. `nurse-a`.
    pub name: String,
    /// Common name, e.g. "Anna Andersson".
    pub common_name: String,
    /// HSA-ID in the subject's serialNumber.
    pub hsa_id: HsaId,
    /// Issuing CA.
    pub kind: ClientKind,
}

/// Paths of what was written.
#[derive(Clone, Debug)]
pub struct DevPki {
    /// Directory.
    pub dir: PathBuf,
    /// Root CA certificate (trust anchor).
    pub root_ca: PathBuf,
    /// Person CA certificate.
    pub person_ca: PathBuf,
    /// Function CA certificate.
    pub function_ca: PathBuf,
    /// CRLs of the root, person and function CAs.
    pub crls: Vec<PathBuf>,
    /// Server certificate chain and key.
    pub server_chain: PathBuf,
    /// Server key.
    pub server_key: PathBuf,
    /// Per client: name, chain PEM, key PEM, PKCS#12.
    pub clients: Vec<(String, PathBuf, PathBuf, PathBuf)>,
}

struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
    der: Vec<u8>,
}

fn dn(cn: &str, serial: Option<&str>) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::CountryName, "SE");
    d.push(
        DnType::OrganizationName,
        "callvault development PKI (not SITHS)",
    );
    d.push(DnType::CommonName, cn);
    if let Some(s) = serial {
        d.push(DnType::CustomDnType(SERIAL_NUMBER_OID.to_vec()), s);
    }
    d
}

fn ca_params(cn: &str, serial: u64, now: OffsetDateTime) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn, None);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = now - Duration::days(1);
    p.not_after = now + Duration::days(3650);
    p.serial_number = Some(SerialNumber::from(serial));
    p.use_authority_key_identifier_extension = true;
    p.key_identifier_method = KeyIdMethod::Sha256;
    p
}

fn write(dir: &Path, name: &str, data: &[u8], private: bool) -> Result<PathBuf, PkiError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&path)
        .map_err(|source| PkiError::Write {
            path: path.clone(),
            source,
        })?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(|source| PkiError::Write {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

/// The demo's client identities.
pub fn demo_clients() -> Vec<ClientSpec> {
    let spec = |name: &str, cn: &str, hsa: &str, kind| ClientSpec {
        name: name.into(),
        common_name: cn.into(),
        hsa_id: HsaId::parse(hsa).unwrap_or_else(|_| unreachable_hsa()),
        kind,
    };
    vec![
        spec(
            "nurse-a",
            "Anna Andersson (sjuksköterska, Region Stockholm)",
            "SE2321000016-N001",
            ClientKind::Person,
        ),
        spec(
            "nurse-b",
            "Bo Berg (sjuksköterska, Region Värmland)",
            "SE2321000156-N001",
            ClientKind::Person,
        ),
        spec(
            "investigator-a",
            "Cecilia Carlsson (patientsäkerhet)",
            "SE2321000016-Q001",
            ClientKind::Person,
        ),
        spec(
            "reviewer-a",
            "David Dahl (loggranskare)",
            "SE2321000016-L001",
            ClientKind::Person,
        ),
        spec(
            "admin-a",
            "Eva Ek (behörighetsadministratör)",
            "SE2321000016-A001",
            ClientKind::Person,
        ),
        spec(
            "admin-a2",
            "Fredrik Falk (behörighetsadministratör)",
            "SE2321000016-A002",
            ClientKind::Person,
        ),
        spec(
            "admin-b",
            "Gustav Gran (behörighetsadministratör, Region Värmland)",
            "SE2321000156-A001",
            ClientKind::Person,
        ),
        spec(
            "admin-b2",
            "Helena Holm (behörighetsadministratör, Region Värmland)",
            "SE2321000156-A002",
            ClientKind::Person,
        ),
        spec(
            "recorder-a",
            "Inspelningssystem Region Stockholm",
            "SE2321000016-R001",
            ClientKind::Function,
        ),
        spec(
            "recorder-b",
            "Inspelningssystem Region Värmland",
            "SE2321000156-R001",
            ClientKind::Function,
        ),
        spec(
            "records-a",
            "Rut Ros (arkivansvarig, Region Stockholm)",
            "SE2321000016-M001",
            ClientKind::Person,
        ),
        spec(
            "records-a2",
            "Sven Sjö (arkivansvarig, Region Stockholm)",
            "SE2321000016-M002",
            ClientKind::Person,
        ),
        spec(
            "operator-a",
            "Olle Ohlsson (drift, Region Stockholm)",
            "SE2321000016-O001",
            ClientKind::Person,
        ),
    ]
}

#[allow(clippy::panic)]
fn unreachable_hsa() -> HsaId {
    panic!("the demo HSA-IDs are valid constants")
}

/// The person CA's signing key, held in memory only (never written to disk), so that a
/// test can issue a new CRL and check that the server applies it on reload.
pub struct PersonCrlSigner {
    ca: Ca,
    dir: PathBuf,
    serials: Vec<(String, u64)>,
    number: u64,
}

impl std::fmt::Debug for PersonCrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonCrlSigner")
            .field("dir", &self.dir)
            .field("number", &self.number)
            .finish_non_exhaustive()
    }
}

impl PersonCrlSigner {
    /// Rewrites `person-ca.crl.pem` with a new CRL (next CRL number) revoking `revoked`
    /// (client names) plus the demo's `revoked` client, valid from `this_update` to
    /// `next_update` (a past `next_update` makes an expired CRL).
    pub fn write_crl(
        &mut self,
        revoked: &[&str],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<PathBuf, PkiError> {
        self.number += 1;
        let revoked_certs = self
            .serials
            .iter()
            .filter(|(name, _)| name == "revoked" || revoked.contains(&name.as_str()))
            .map(|(_, serial)| RevokedCertParams {
                serial_number: SerialNumber::from(*serial),
                revocation_time: this_update,
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect();
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(self.number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let issuer = Issuer::from_params(&self.ca.params, &self.ca.key);
        let pem = params.signed_by(&issuer)?.pem()?;
        // Replace atomically: a server reloading at this moment sees the old or the new CRL.
        let path = self.dir.join("person-ca.crl.pem");
        let tmp = self.dir.join("person-ca.crl.pem.new");
        let _ = std::fs::remove_file(&tmp);
        write(&self.dir, "person-ca.crl.pem.new", pem.as_bytes(), false)?;
        std::fs::rename(&tmp, &path).map_err(|source| PkiError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

/// Generates the development PKI into `dir` (created; must not hold one already).
/// Besides `clients`, it issues `expired` (a person certificate that expired yesterday) and
/// `revoked` (a valid person certificate listed on the person CA's CRL).
pub fn generate(
    dir: &Path,
    clients: &[ClientSpec],
    now: OffsetDateTime,
) -> Result<DevPki, PkiError> {
    generate_keeping_person_ca(dir, clients, now).map(|(pki, _)| pki)
}

/// [`generate`], also returning the person CA's key in memory (for CRL tests).
pub fn generate_keeping_person_ca(
    dir: &Path,
    clients: &[ClientSpec],
    now: OffsetDateTime,
) -> Result<(DevPki, PersonCrlSigner), PkiError> {
    if dir.join("root-ca.pem").exists() {
        return Err(PkiError::Exists(dir.to_owned()));
    }
    std::fs::create_dir_all(dir).map_err(|source| PkiError::Write {
        path: dir.to_owned(),
        source,
    })?;

    let root_key = KeyPair::generate()?;
    let root_params = ca_params("SITHS-shaped Dev Root CA v1", 1, now);
    let root_cert = root_params.clone().self_signed(&root_key)?;
    let root = Ca {
        params: root_params,
        key: root_key,
        pem: root_cert.pem(),
        der: root_cert.der().to_vec(),
    };
    let root_issuer = Issuer::from_params(&root.params, &root.key);

    let sub = |cn: &str, serial: u64| -> Result<Ca, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = ca_params(cn, serial, now);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let cert = params.clone().signed_by(&key, &root_issuer)?;
        Ok(Ca {
            params,
            key,
            pem: cert.pem(),
            der: cert.der().to_vec(),
        })
    };
    let person = sub("SITHS-shaped Dev e-id Person CA v1", 2)?;
    let function = sub("SITHS-shaped Dev e-id Function CA v1", 3)?;
    let person_issuer = Issuer::from_params(&person.params, &person.key);
    let function_issuer = Issuer::from_params(&function.params, &function.key);

    let root_ca = write(dir, "root-ca.pem", root.pem.as_bytes(), false)?;
    let person_ca = write(dir, "person-ca.pem", person.pem.as_bytes(), false)?;
    let function_ca = write(dir, "function-ca.pem", function.pem.as_bytes(), false)?;

    // Server certificate, from the function CA (as SITHS issues server certificates).
    let server_key = KeyPair::generate()?;
    let mut sp = CertificateParams::new(vec!["localhost".to_owned()])?;
    sp.subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    sp.distinguished_name = dn("localhost", None);
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    sp.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    sp.not_before = now - Duration::days(1);
    sp.not_after = now + Duration::days(397);
    sp.serial_number = Some(SerialNumber::from(100));
    sp.use_authority_key_identifier_extension = true;
    // Where relying parties fetch the issuing CA's revocation list, as on a SITHS server
    // certificate (a name that resolves nowhere: this PKI publishes its CRLs as files).
    sp.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
        uris: vec!["http://crl.callvault-dev.invalid/function-ca.crl".to_owned()],
    }];
    let server_pem = sp.signed_by(&server_key, &function_issuer)?.pem();
    let server_chain = write(
        dir,
        "server-chain.pem",
        format!("{server_pem}{}", function.pem).as_bytes(),
        false,
    )?;
    let server_key_path = write(
        dir,
        "server-key.pem",
        server_key.serialize_pem().as_bytes(),
        true,
    )?;

    let mut all = clients.to_vec();
    let extra = |name: &str, hsa: &str| ClientSpec {
        name: name.into(),
        common_name: format!("Test {name}"),
        hsa_id: HsaId::parse(hsa).unwrap_or_else(|_| unreachable_hsa()),
        kind: ClientKind::Person,
    };
    all.push(extra("expired", "SE2321000016-X001"));
    all.push(extra("revoked", "SE2321000016-X002"));

    let mut out_clients = Vec::new();
    let mut serials = Vec::new();
    let mut revoked_serial = None;
    for (i, c) in all.iter().enumerate() {
        let serial = 1000 + i as u64;
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::default();
        p.distinguished_name = dn(&c.common_name, Some(c.hsa_id.as_str()));
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.serial_number = Some(SerialNumber::from(serial));
        p.use_authority_key_identifier_extension = true;
        if c.name == "expired" {
            p.not_before = now - Duration::days(400);
            p.not_after = now - Duration::days(1);
        } else {
            p.not_before = now - Duration::days(1);
            p.not_after = now + Duration::days(365);
        }
        if c.name == "revoked" {
            revoked_serial = Some(serial);
        }
        if c.kind == ClientKind::Person {
            serials.push((c.name.clone(), serial));
        }
        let (issuer, ca) = match c.kind {
            ClientKind::Person => (&person_issuer, &person),
            ClientKind::Function => (&function_issuer, &function),
        };
        let ca_pem = &ca.pem;
        let cert = p.signed_by(&key, issuer)?;
        let chain = write(
            dir,
            &format!("{}.pem", c.name),
            format!("{}{ca_pem}", cert.pem()).as_bytes(),
            false,
        )?;
        let key_path = write(
            dir,
            &format!("{}-key.pem", c.name),
            key.serialize_pem().as_bytes(),
            true,
        )?;
        let key_der = zeroize::Zeroizing::new(key.serialize_der());
        let p12 = pkcs12(cert.der(), &key_der, &[&ca.der, &root.der])?;
        let p12_path = write(dir, &format!("{}.p12", c.name), &p12, true)?;
        out_clients.push((c.name.clone(), chain, key_path, p12_path));
    }

    // CRLs: the person CA revokes `revoked`; the others revoke nothing. Valid for 30 days.
    let crl = |issuer: &Issuer<'_, &KeyPair>,
               revoked: Vec<RevokedCertParams>,
               name: &str|
     -> Result<PathBuf, PkiError> {
        let params = CertificateRevocationListParams {
            this_update: now - Duration::hours(1),
            next_update: now + Duration::days(30),
            crl_number: SerialNumber::from(1),
            issuing_distribution_point: None,
            revoked_certs: revoked,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let pem = params.signed_by(issuer)?.pem()?;
        write(dir, name, pem.as_bytes(), false)
    };
    let revoked = revoked_serial
        .map(|s| {
            vec![RevokedCertParams {
                serial_number: SerialNumber::from(s),
                revocation_time: now - Duration::hours(2),
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            }]
        })
        .unwrap_or_default();
    let crls = vec![
        crl(&root_issuer, Vec::new(), "root-ca.crl.pem")?,
        crl(&person_issuer, revoked, "person-ca.crl.pem")?,
        crl(&function_issuer, Vec::new(), "function-ca.crl.pem")?,
    ];
    let pki = DevPki {
        dir: dir.to_owned(),
        root_ca,
        person_ca,
        function_ca,
        crls,
        server_chain,
        server_key: server_key_path,
        clients: out_clients,
    };
    let signer = PersonCrlSigner {
        ca: person,
        dir: dir.to_owned(),
        serials,
        number: 1,
    };
    Ok((pki, signer))
}

/// A PKCS#12 file (PBES2 with AES-256, HMAC-SHA-256) holding the key and its chain, for
/// browsers and tools that import client identities.
fn pkcs12(cert_der: &[u8], key_der: &[u8], ca_ders: &[&Vec<u8>]) -> Result<Vec<u8>, PkiError> {
    use p12_keystore::{
        Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
        PrivateKeyChain,
    };
    let e = |e: p12_keystore::error::Error| PkiError::Pkcs12(e.to_string());
    let mut certs = vec![Certificate::from_der(cert_der).map_err(e)?];
    for ca in ca_ders {
        certs.push(Certificate::from_der(ca).map_err(e)?);
    }
    // The bag's local key id: the certificate's SHA-256 (stable and unique).
    let local_key_id = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert_der)
        .as_ref()
        .to_vec();
    let chain = PrivateKeyChain::new(
        local_key_id,
        PrivateKey::from_der(key_der).map_err(e)?,
        certs,
    );
    let mut ks = KeyStore::new();
    ks.add_entry("callvault", KeyStoreEntry::PrivateKeyChain(chain));
    ks.writer(DEV_P12_PASSWORD)
        .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
        .mac_algorithm(MacAlgorithm::HmacSha256)
        .write()
        .map_err(e)
}
