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
pub struct Postgres {
    name: String,
    server: String,
    password: String,
}

fn pg_env() -> (String, String) {
    let var = |n: &str| {
        std::env::var(n).unwrap_or_else(|_| {
            panic!("{n} is not set: this test needs the PostgreSQL server scripts/integration.sh starts")
        })
    };
    (var("CALLVAULT_IT_PG"), var("CALLVAULT_IT_PG_PASSWORD"))
}

fn client(conninfo: &str, password: &str) -> postgres::Client {
    let mut config: postgres::Config = conninfo.parse().expect("conninfo");
    config.password(password);
    config
        .connect(postgres::NoTls)
        .expect("connect to PostgreSQL")
}

impl Postgres {
    pub fn new() -> Self {
        let (server, password) = pg_env();
        let name = format!("cv_{}", callvault_testkit::unique_suffix());
        client(&server, &password)
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        Self {
            name,
            server,
            password,
        }
    }

    fn conninfo(&self) -> String {
        // The server's conninfo names the `callvault` database; ours is appended last, and
        // the last `dbname` wins.
        format!("{} dbname={}", self.server, self.name)
    }
}

impl Db for Postgres {
    fn open(&self) -> Arc<dyn Catalog> {
        Arc::new(
            PostgresCatalog::open(&PostgresSettings {
                conninfo: self.conninfo(),
                password: Some(zeroize::Zeroizing::new(self.password.clone())),
                readers: 4,
            })
            .expect("open PostgreSQL catalog"),
        )
    }
    fn raw(&self, sql: &str) -> Result<u64, String> {
        client(&self.conninfo(), &self.password)
            .execute(sql, &[])
            .map_err(|e| match e.as_db_error() {
                Some(db) => db.message().to_owned(),
                None => e.to_string(),
            })
    }
    fn set_schema_version(&self, v: i64) {
        client(&self.conninfo(), &self.password)
            .execute("UPDATE callvault_schema SET version = $1", &[&v])
            .expect("bump");
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = client(&self.server, &self.password).batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}
