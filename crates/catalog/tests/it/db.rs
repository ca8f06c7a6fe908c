//! The databases the catalog conformance suite runs on: a SQLite file, and a fresh database
//! on the integration suite's PostgreSQL server (`scripts/integration.sh` starts it).

use std::path::PathBuf;
use std::sync::Arc;

use callvault_catalog::{
    Catalog, PostgresCatalog, PostgresSettings, SqliteCatalog, raw_connection,
};

/// A database catalogs can be opened on, again and again, and edited behind their back.
pub trait Db {
    /// Opens a catalog on it (creating the schema the first time).
    fn open(&self) -> Arc<dyn Catalog>;
    /// Opens a catalog beside the one that owns it (a reading command while the server runs).
    fn open_beside(&self) -> Arc<dyn Catalog>;
    /// Runs one statement directly, as someone with database access could; the error's
    /// text if the database refuses it.
    fn raw(&self, sql: &str) -> Result<u64, String>;
    /// Marks the schema as version `v` (a newer build's catalog).
    fn set_schema_version(&self, v: i64);
}

pub struct Sqlite {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Sqlite {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.sqlite3");
        Self { _dir: dir, path }
    }
}

impl Db for Sqlite {
    fn open(&self) -> Arc<dyn Catalog> {
        Arc::new(SqliteCatalog::open(&self.path).expect("open SQLite catalog"))
    }
    fn open_beside(&self) -> Arc<dyn Catalog> {
        Arc::new(SqliteCatalog::open_beside(&self.path).expect("open SQLite catalog beside"))
    }
    fn raw(&self, sql: &str) -> Result<u64, String> {
        let conn = raw_connection(&self.path).expect("raw");
        conn.execute(sql, [])
            .map(|n| n as u64)
            .map_err(|e| e.to_string())
    }
    fn set_schema_version(&self, v: i64) {
        let conn = raw_connection(&self.path).expect("raw");
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
        conn.pragma_update(None, "user_version", v).expect("bump");
    }
}

/// A database of its own on the integration suite's PostgreSQL server, dropped afterwards.
pub struct Postgres(callvault_testkit::PgDatabase);

impl Postgres {
    pub fn new() -> Self {
        Self(callvault_testkit::pg_database())
    }
}

impl Postgres {
    fn settings(&self) -> PostgresSettings {
        PostgresSettings {
            conninfo: self.0.conninfo.clone(),
            password: Some(zeroize::Zeroizing::new(self.0.password.clone())),
            readers: 4,
            tls_ca_pem: None,
        }
    }
}

impl Db for Postgres {
    fn open(&self) -> Arc<dyn Catalog> {
        Arc::new(PostgresCatalog::open(&self.settings()).expect("open PostgreSQL catalog"))
    }
    fn open_beside(&self) -> Arc<dyn Catalog> {
        Arc::new(
            PostgresCatalog::open_beside(&self.settings()).expect("open PostgreSQL catalog beside"),
        )
    }
    fn raw(&self, sql: &str) -> Result<u64, String> {
        callvault_testkit::pg_client(&self.0.conninfo, &self.0.password)
            .execute(sql, &[])
            .map_err(|e| match e.as_db_error() {
                Some(db) => db.message().to_owned(),
                None => e.to_string(),
            })
    }
    fn set_schema_version(&self, v: i64) {
        callvault_testkit::pg_client(&self.0.conninfo, &self.0.password)
            .execute("UPDATE callvault_schema SET version = $1", &[&v])
            .expect("bump");
    }
}
