//! The conformance suite against S3 buckets on real Garage servers (integration suite:
//! `scripts/integration.sh` starts them), and the S3 backend's own refusals.

use callvault_blobstore::s3::{DEFAULT_PART_SIZE, MIN_PART_SIZE};
use callvault_blobstore::{BlobError, S3Settings, S3Store, SiteId};

fn settings(site: usize, prefix: &str) -> S3Settings {
    let g = callvault_testkit::garage_env();
    S3Settings {
        endpoint: g.endpoints[site].clone(),
        bucket: g.buckets[site].clone(),
        region: "garage".into(),
        access_key_id: g.key_id.clone(),
        secret_access_key: zeroize::Zeroizing::new(g.secret.clone()),
        prefix: prefix.into(),
        part_size: MIN_PART_SIZE,
        allow_http: true,
        timeout_secs: 20,
    }
}

fn fresh_prefix() -> String {
    format!("t-{}/", callvault_testkit::unique_suffix())
}

fn site(s: &str) -> SiteId {
    SiteId::parse(s).expect("site")
}

#[test]
#[ignore = "integration: needs the Garage servers scripts/integration.sh starts"]
fn an_s3_bucket_on_garage_conforms() {
    for (i, name) in ["a", "b"].iter().enumerate() {
        let store = S3Store::create(site(name), &settings(i, &fresh_prefix())).expect("create");
        crate::conformance(&store, MIN_PART_SIZE);
    }
}

#[test]
#[ignore = "integration: needs the Garage servers scripts/integration.sh starts"]
fn a_bucket_without_the_marker_or_of_another_site_is_refused() {
    let prefix = fresh_prefix();
    let err = S3Store::open(site("a"), &settings(0, &prefix)).expect_err("no marker");
    assert!(
        err.to_string()
            .contains("is not a callvault site (no callvault-site marker)"),
        "{err}"
    );
    drop(S3Store::create(site("a"), &settings(0, &prefix)).expect("create"));
    S3Store::create(site("a"), &settings(0, &prefix)).expect("create again is open");
    let err = S3Store::open(site("b"), &settings(0, &prefix)).expect_err("wrong site");
    assert!(err.to_string().contains("belongs to site \"a\""), "{err}");
    let mut wrong = settings(0, &prefix);
    wrong.secret_access_key = zeroize::Zeroizing::new("0".repeat(64));
    let err = S3Store::open(site("a"), &wrong).expect_err("bad secret");
    assert!(
        err.to_string().contains("site a: read site marker"),
        "{err}"
    );
}

#[test]
fn an_unreachable_endpoint_or_bad_settings_are_clear_errors() {
    // Nothing listens on port 9 of loopback: refused at once.
    let s = S3Settings {
        endpoint: "http://127.0.0.1:9".into(),
        bucket: "callvault-a".into(),
        region: "garage".into(),
        access_key_id: "GK0123456789abcdef01234567".into(),
        secret_access_key: zeroize::Zeroizing::new("0".repeat(64)),
        prefix: String::new(),
        part_size: DEFAULT_PART_SIZE,
        allow_http: true,
        timeout_secs: 2,
    };
    let err = S3Store::open(site("a"), &s).expect_err("unreachable");
    assert!(matches!(err, BlobError::Remote { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("site a: read site marker callvault-site"),
        "{err}"
    );
    let mut small = s.clone();
    small.part_size = 1024;
    let err = S3Store::open(site("a"), &small).expect_err("small parts");
    assert!(err.to_string().contains("below S3's minimum"), "{err}");
    let mut prefix = s.clone();
    prefix.prefix = "no-slash".into();
    let err = S3Store::open(site("a"), &prefix).expect_err("prefix");
    assert!(
        err.to_string().contains("must be empty or end in '/'"),
        "{err}"
    );
    let mut http = s;
    http.allow_http = false;
    let err = S3Store::open(site("a"), &http).expect_err("plain http refused");
    assert!(err.to_string().contains("site a"), "{err}");
}
