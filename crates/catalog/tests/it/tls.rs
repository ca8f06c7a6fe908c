//! The PostgreSQL connection's TLS: required for any host but loopback, verified against the
//! configured CA, and never falling back to plaintext.

use callvault_audit::event::Action;
use callvault_catalog::{Catalog, CatalogRead, Change, PostgresCatalog, PostgresSettings};

use crate::event;

fn settings(conninfo: &str, tls_ca_pem: Option<Vec<u8>>) -> PostgresSettings {
    PostgresSettings {
        conninfo: conninfo.into(),
        password: Some(zeroize::Zeroizing::new(
            std::env::var("CALLVAULT_IT_PG_PASSWORD").unwrap_or_default(),
        )),
        readers: 1,
        tls_ca_pem,
    }
}

#[test]
fn a_plaintext_connection_to_another_host_is_refused_before_connecting() {
    let err = PostgresCatalog::open(&settings(
        "host=db.dc2.invalid port=5432 user=callvault dbname=callvault",
        None,
    ))
    .expect_err("plaintext to a remote host");
    assert!(
        err.to_string().contains(
            "the catalog connection to db.dc2.invalid would be unencrypted; set catalog.tls_ca"
        ),
        "{err}"
    );
    let err = PostgresCatalog::open(&settings(
        "host=127.0.0.1 port=1",
        Some(b"not a pem".to_vec()),
    ))
    .expect_err("no certificate in the CA file");
    assert!(err.to_string().contains("TLS CA file"), "{err}");
}

#[test]
#[ignore = "integration: needs the PostgreSQL server scripts/integration.sh starts"]
fn the_catalog_connects_over_verified_tls_only() {
    let db = callvault_testkit::pg_database();
    // A role the server admits over TLS only (pg_hba: hostssl, and hostnossl reject).
    callvault_testkit::pg_client(&db.conninfo, &db.password)
        .batch_execute("GRANT ALL ON SCHEMA public TO callvault_tls")
        .expect("grant");
    let conninfo = format!("{} user=callvault_tls", db.conninfo);
    let ca = std::fs::read(std::env::var("CALLVAULT_IT_PG_TLS_CA").expect("CA")).expect("read CA");
    let cat = PostgresCatalog::open(&settings(&conninfo, Some(ca))).expect("TLS connection");
    cat.commit(Change::new(event(Action::View)))
        .expect("commit over TLS");
    assert_eq!(cat.audit_size().expect("size"), 1);
    drop(cat);

    // Without TLS the server refuses this role.
    let err = PostgresCatalog::open(&settings(&conninfo, None)).expect_err("plaintext");
    assert!(err.to_string().contains("pg_hba.conf"), "{err}");

    // A server certificate from another CA is refused by the client.
    let dir = tempfile::tempdir().expect("tempdir");
    let other = dir.path().join("other-ca.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=someone else"])
        .arg("-keyout")
        .arg(dir.path().join("other-ca.key"))
        .arg("-out")
        .arg(&other)
        .output()
        .expect("openssl");
    assert!(made.status.success());
    let err = PostgresCatalog::open(&settings(
        &conninfo,
        Some(std::fs::read(&other).expect("read")),
    ))
    .expect_err("wrong CA");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
}

#[test]
fn a_remote_address_or_a_password_in_the_connection_string_is_refused() {
    for (conninfo, expected) in [
        (
            "host=localhost hostaddr=10.0.0.5 user=callvault dbname=callvault",
            "the catalog connection to 10.0.0.5 would be unencrypted",
        ),
        (
            "host=127.0.0.1 user=callvault password=secret dbname=callvault",
            "the connection string holds a password",
        ),
        (
            "postgresql://callvault:secret@127.0.0.1/callvault",
            "the connection string holds a password",
        ),
        (
            "host=127.0.0.1 no_such_key=1",
            "connection string: invalid connection string",
        ),
    ] {
        let err = PostgresCatalog::open(&settings(conninfo, None)).expect_err(conninfo);
        assert!(err.to_string().contains(expected), "{conninfo}: {err}");
    }
}

#[test]
#[ignore = "integration: needs the PostgreSQL server scripts/integration.sh starts"]
fn one_writer_per_catalog_and_it_survives_its_connections_being_closed() {
    let db = callvault_testkit::pg_database();
    let open = || {
        PostgresCatalog::open(&PostgresSettings {
            conninfo: db.conninfo.clone(),
            password: Some(zeroize::Zeroizing::new(db.password.clone())),
            readers: 2,
            tls_ca_pem: None,
        })
    };
    let cat = open().expect("first");
    let err = open().expect_err("a second writer");
    assert!(
        err.to_string()
            .contains("another callvault process is writing this catalog"),
        "{err}"
    );
    cat.commit(Change::new(event(Action::View)))
        .expect("before");

    // The server closes every connection of this catalog, as a restart or a failover
    // would (only this test's database and only callvault's connections: the other tests
    // share the server).
    let killed: i64 = callvault_testkit::pg_client(&db.conninfo, &db.password)
        .query_one(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'callvault'
               AND pid <> pg_backend_pid()",
            &[],
        )
        .expect("terminate")
        .get(0);
    assert!(killed >= 3, "writer and readers: {killed}");
    // A write in flight when the connection broke fails whole; the next ones go through on
    // a new connection, at the next index.
    let mut written = Vec::new();
    for _ in 0..3 {
        if let Ok(c) = cat.commit(Change::new(event(Action::View))) {
            written.extend(c.leaf_indexes);
        }
    }
    assert!(!written.is_empty(), "no write after the restart");
    assert_eq!(written[0], 1, "the log continues at the next index");
    assert_eq!(cat.audit_size().expect("size"), 1 + written.len() as u64);
    assert!(
        cat.recording(&callvault_types::RecordingId::new_random())
            .expect("read")
            .is_none()
    );
}
