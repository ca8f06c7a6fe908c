//! The PostgreSQL catalog engine (`postgres` crate, synchronous), for deployments that
//! outgrow one machine: the same statements (`queries.rs`), the same guards
//! (`pg_schema.rs`), the same group commit (`engine.rs`).
//!
//! * Durability: every batch is one transaction; PostgreSQL's default
//!   `synchronous_commit = on` makes its commit wait for the WAL flush (and, with a
//!   synchronous standby, for the standby) before the writer answers.
//! * Statements are prepared once per connection and cached by their text.
//! * Parameters carry their types; an integer is sent as whatever integer type the server
//!   inferred for its placeholder.
//! * Migrations run under a transaction-scoped advisory lock, so two processes starting at
//!   once do not both migrate; the version lives in `callvault_schema`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;

use callvault_audit::merkle::Hash;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, GenericClient, NoTls, Statement};
use zeroize::Zeroizing;

use crate::engine::{Engine, ReadPool, Store, WriteConn, Writer};
use crate::error::corrupt;
use crate::pg_schema::PG_MIGRATIONS;
use crate::schema::MIGRATIONS;
use crate::sql::{Param, Row, Sql, Value};
use crate::{AuditLeafVisitor, CatalogError, Change, Committed};

/// The PostgreSQL catalog.
pub type PostgresCatalog = Store<PostgresEngine>;

/// How to reach the database.
#[derive(Clone)]
pub struct PostgresSettings {
    /// libpq-style connection string without the password, e.g.
    /// `host=db1.dc1.example port=5432 user=callvault dbname=callvault`.
    pub conninfo: String,
    /// The password, if the server asks for one.
    pub password: Option<Zeroizing<String>>,
    /// Read connections kept open.
    pub readers: usize,
    /// PEM of the CA(s) the server's certificate must chain to: the connection is then TLS
    /// (1.2 or 1.3, host name verified) and never falls back to plaintext. Without it, only
    /// a loopback or Unix-socket host is accepted.
    pub tls_ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("conninfo", &self.conninfo)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("readers", &self.readers)
            .field("tls", &self.tls_ca_pem.is_some())
            .finish()
    }
}

/// A connection with its prepared statements; reconnected when the server closed it (a
/// restart, a failover), so one outage does not stop the catalog until callvault restarts.
struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
    settings: std::sync::Arc<PostgresSettings>,
    /// The owning writer's connection holds the catalog's session lock.
    writer: bool,
}

/// Session advisory lock the owning writer holds: one callvault deployment owns a catalog (a
/// second one, on another host where `callvault.lock` cannot see it, is refused). A reading
/// command beside the owner opens the catalog without it ([`Store::open_beside`]).
const WRITER_LOCK: i64 = 7_368_373_712_346;

/// Transaction-scoped advisory lock every write transaction takes first: writers of one
/// catalog (the owner and a reading command beside it recording its read) take turns, each
/// reading the next leaf index inside its own turn.
const WRITE_TURN: i64 = 7_368_373_712_347;

impl Conn {
    fn open(
        settings: &std::sync::Arc<PostgresSettings>,
        writer: bool,
    ) -> Result<Self, CatalogError> {
        let mut client = connect(settings)?;
        if writer {
            let locked: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&WRITER_LOCK])?
                .get(0);
            if !locked {
                return Err(CatalogError::Postgres {
                    code: String::new(),
                    message: "another callvault process is writing this catalog (its session lock is held); one vault writes a catalog at a time".into(),
                });
            }
        }
        Ok(Self {
            client,
            statements: HashMap::new(),
            settings: std::sync::Arc::clone(settings),
            writer,
        })
    }

    /// Reconnects if the server closed the connection.
    fn ensure_open(&mut self) -> Result<(), CatalogError> {
        if self.client.is_closed() {
            *self = Self::open(&self.settings, self.writer)?;
        }
        Ok(())
    }
}

/// The PostgreSQL engine: its read connections.
pub struct PostgresEngine {
    conninfo: String,
    readers: ReadPool<Conn>,
}

impl std::fmt::Debug for PostgresEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresEngine")
            .field("conninfo", &self.conninfo)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Store<PostgresEngine> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresCatalog")
            .field("conninfo", &self.engine.conninfo)
            .finish_non_exhaustive()
    }
}

impl From<postgres::Error> for CatalogError {
    fn from(e: postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => CatalogError::Postgres {
                code: db.code().code().to_owned(),
                message: match db.detail() {
                    Some(d) => format!("{}: {d}", db.message()),
                    None => db.message().to_owned(),
                },
            },
            None => CatalogError::Postgres {
                code: String::new(),
                message: match e.source() {
                    Some(s) => format!("{e}: {s}"),
                    None => e.to_string(),
                },
            },
        }
    }
}

fn connect(settings: &PostgresSettings) -> Result<Client, CatalogError> {
    let mut config: postgres::Config =
        settings
            .conninfo
            .parse()
            .map_err(|e: postgres::Error| CatalogError::Postgres {
                code: String::new(),
                message: match e.source() {
                    Some(cause) => format!("connection string: {e}: {cause}"),
                    None => format!("connection string: {e}"),
                },
            })?;
    if config.get_password().is_some() {
        return Err(CatalogError::Postgres {
            code: String::new(),
            message: "the connection string holds a password; give it in catalog.password_file or catalog.password_env".into(),
        });
    }
    if let Some(p) = &settings.password {
        config.password(p.as_bytes());
    }
    config.application_name("callvault");
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(10));
    }
    let plain_error = |m: String| CatalogError::Postgres {
        code: String::new(),
        message: m,
    };
    match &settings.tls_ca_pem {
        Some(pem) => {
            use rustls_pki_types::CertificateDer;
            use rustls_pki_types::pem::PemObject;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| plain_error(format!("TLS CA file: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| plain_error(format!("TLS CA file: {e}")))?;
            }
            if roots.is_empty() {
                return Err(plain_error("TLS CA file holds no certificate".into()));
            }
            let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| plain_error(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
            // TLS or nothing: no fallback to a plaintext connection.
            config.ssl_mode(postgres::config::SslMode::Require);
            Ok(config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))?)
        }
        None => {
            // Without TLS: loopback or a Unix socket only — by name and by address.
            for host in config.get_hosts() {
                if let postgres::config::Host::Tcp(h) = host
                    && !matches!(h.as_str(), "127.0.0.1" | "::1" | "localhost")
                {
                    return Err(plain_error(format!(
                        "the catalog connection to {h} would be unencrypted; set catalog.tls_ca (plaintext is allowed only to loopback or a Unix socket)"
                    )));
                }
            }
            if let Some(a) = config.get_hostaddrs().iter().find(|a| !a.is_loopback()) {
                return Err(plain_error(format!(
                    "the catalog connection to {a} would be unencrypted; set catalog.tls_ca (plaintext is allowed only to loopback or a Unix socket)"
                )));
            }
            config.ssl_mode(postgres::config::SslMode::Disable);
            Ok(config.connect(NoTls)?)
        }
    }
}

/// `?1` … placeholders (the catalog's SQL) become `$1` …; nothing else in the text changes
/// (the catalog's statements have no `?` in literals).
fn dollar(sql: &str) -> String {
    sql.replace('?', "$")
}

/// A parameter encoded as the type the server inferred for its placeholder.
#[derive(Debug)]
struct PgParam<'a>(Param<'a>);

impl ToSql for PgParam<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self.0 {
            Param::I64(None) | Param::Text(None) | Param::Blob(None) => Ok(IsNull::Yes),
            Param::I64(Some(v)) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
                Type::BOOL => (v != 0).to_sql(ty, out),
                ref other => Err(format!("an integer for a parameter of type {other}").into()),
            },
            Param::Text(Some(s)) => s.to_sql(ty, out),
            Param::Blob(Some(b)) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn value(row: &postgres::Row, i: usize) -> Result<Value, CatalogError> {
    let bad = |e: postgres::Error| CatalogError::Corrupt(format!("column {i}: {e}"));
    let ty = row.columns()[i].type_().clone();
    Ok(match ty {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(i)
            .map_err(bad)?
            .map(Value::I64),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)
            .map_err(bad)?
            .map(|v| Value::I64(v.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)
            .map_err(bad)?
            .map(|v| Value::I64(v.into())),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)
            .map_err(bad)?
            .map(|v| Value::I64(v.into())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row
            .try_get::<_, Option<String>>(i)
            .map_err(bad)?
            .map(Value::Text),
        Type::BYTEA => row
            .try_get::<_, Option<Vec<u8>>>(i)
            .map_err(bad)?
            .map(Value::Blob),
        other => {
            return Err(CatalogError::Corrupt(format!(
                "column {i}: unexpected type {other}"
            )));
        }
    }
    .unwrap_or(Value::Null))
}

/// A client or transaction speaking the catalog's SQL, with a statement cache.
struct PgSql<'c, 'm, C: GenericClient> {
    client: RefCell<&'c mut C>,
    statements: &'c RefCell<&'m mut HashMap<String, Statement>>,
}

fn pg_type(p: &Param<'_>) -> Type {
    match p {
        Param::I64(_) => Type::INT8,
        Param::Text(_) => Type::TEXT,
        Param::Blob(_) => Type::BYTEA,
    }
}

impl<C: GenericClient> PgSql<'_, '_, C> {
    /// The statement prepared with its parameters' declared types (a placeholder seen
    /// first in `?1 IS NULL` has no type PostgreSQL could infer), cached by text and types.
    fn statement(&self, sql: &str, params: &[Param<'_>]) -> Result<Statement, CatalogError> {
        let types: Vec<Type> = params.iter().map(pg_type).collect();
        let key = format!(
            "{sql}\u{0}{}",
            types.iter().map(Type::name).collect::<Vec<_>>().join(",")
        );
        if let Some(s) = self.statements.borrow().get(&key) {
            return Ok(s.clone());
        }
        let s = self
            .client
            .borrow_mut()
            .prepare_typed(&dollar(sql), &types)?;
        self.statements.borrow_mut().insert(key, s.clone());
        Ok(s)
    }
}

impl<C: GenericClient> Sql for PgSql<'_, '_, C> {
    fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<usize, CatalogError> {
        let stmt = self.statement(sql, params)?;
        let ps: Vec<PgParam<'_>> = params.iter().copied().map(PgParam).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        Ok(self.client.borrow_mut().execute(&stmt, &refs)? as usize)
    }

    fn query_each(
        &self,
        sql: &str,
        params: &[Param<'_>],
        f: &mut dyn FnMut(&Row) -> Result<(), CatalogError>,
    ) -> Result<(), CatalogError> {
        use postgres::fallible_iterator::FallibleIterator;
        let stmt = self.statement(sql, params)?;
        let ps: Vec<PgParam<'_>> = params.iter().copied().map(PgParam).collect();
        let mut client = self.client.borrow_mut();
        let mut rows = client.query_raw(&stmt, ps.iter())?;
        let mut row = Row::default();
        while let Some(r) = rows.next()? {
            row.values.clear();
            for i in 0..r.len() {
                row.values.push(value(&r, i)?);
            }
            f(&row)?;
        }
        Ok(())
    }
}

/// Runs `f` with the connection as `&dyn Sql`.
fn with_sql<T>(
    conn: &mut Conn,
    f: impl FnOnce(&dyn Sql) -> Result<T, CatalogError>,
) -> Result<T, CatalogError> {
    conn.ensure_open()?;
    let statements = RefCell::new(&mut conn.statements);
    let sql = PgSql {
        client: RefCell::new(&mut conn.client),
        statements: &statements,
    };
    f(&sql)
}

fn migrate(client: &mut Client) -> Result<(), CatalogError> {
    let mut tx = client.transaction()?;
    // One migrator at a time (released at commit).
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(7368373712345);
         CREATE TABLE IF NOT EXISTS callvault_schema (
             id      BIGINT PRIMARY KEY CHECK (id = 1),
             version BIGINT NOT NULL
         );",
    )?;
    let version: i64 = tx
        .query_opt("SELECT version FROM callvault_schema WHERE id = 1", &[])?
        .map(|r| r.get(0))
        .unwrap_or(0);
    let supported = MIGRATIONS.len() as i64;
    if version > supported {
        return Err(CatalogError::SchemaTooNew {
            found: version,
            supported,
        });
    }
    let newest = PG_MIGRATIONS.last().map(|(v, _)| *v).unwrap_or(0);
    if newest != supported {
        return Err(CatalogError::Corrupt(format!(
            "this build's PostgreSQL schema is version {newest} but its SQLite schema {supported}"
        )));
    }
    for (target, sql) in PG_MIGRATIONS.iter().filter(|(v, _)| *v > version) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO callvault_schema (id, version) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            &[target],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// A catalog opened beside its owner is not migrated: it must already be at this build's
/// version (an older or newer schema is the owner's to change).
fn check_schema(client: &mut Client) -> Result<(), CatalogError> {
    let version: i64 = client
        .query_opt("SELECT version FROM callvault_schema WHERE id = 1", &[])?
        .map(|r| r.get(0))
        .unwrap_or(0);
    let supported = MIGRATIONS.len() as i64;
    if version > supported {
        return Err(CatalogError::SchemaTooNew {
            found: version,
            supported,
        });
    }
    if version < supported {
        return Err(CatalogError::Corrupt(format!(
            "the catalog's schema is version {version}, this build's {supported}; the process that owns the catalog migrates it"
        )));
    }
    Ok(())
}

/// The writer's connection.
struct PgWrite(Conn);

impl WriteConn for PgWrite {
    fn batch(
        &mut self,
        changes: &[&Change],
        apply: &mut dyn FnMut(&dyn Sql, &Change) -> Result<Committed, CatalogError>,
    ) -> Result<Vec<Result<Committed, CatalogError>>, CatalogError> {
        self.0.ensure_open()?;
        let Conn {
            client, statements, ..
        } = &mut self.0;
        let statements = RefCell::new(statements);
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_TURN])?;
        let mut results = Vec::with_capacity(changes.len());
        for change in changes {
            let mut savepoint = tx.savepoint("change")?;
            let applied = apply(
                &PgSql {
                    client: RefCell::new(&mut savepoint),
                    statements: &statements,
                },
                change,
            );
            match applied {
                Ok(c) => {
                    savepoint.commit()?;
                    results.push(Ok(c));
                }
                Err(e) => {
                    // Undo this change only.
                    savepoint.rollback()?;
                    results.push(Err(e));
                }
            }
        }
        tx.commit()?;
        Ok(results)
    }
}

impl Store<PostgresEngine> {
    /// Connects, creates or migrates the schema, takes the catalog's session lock (one
    /// deployment owns a catalog), and starts the writer.
    pub fn open(settings: &PostgresSettings) -> Result<Self, CatalogError> {
        Self::open_as(settings, true)
    }

    /// Opens the catalog beside the process that owns it (a reading command of the same
    /// deployment while its server runs): no session lock, no migration; its few writes
    /// (the records of its reads) take turns with the owner's.
    pub fn open_beside(settings: &PostgresSettings) -> Result<Self, CatalogError> {
        Self::open_as(settings, false)
    }

    fn open_as(settings: &PostgresSettings, owner: bool) -> Result<Self, CatalogError> {
        let settings = std::sync::Arc::new(settings.clone());
        let mut writer = Conn::open(&settings, owner)?;
        if owner {
            migrate(&mut writer.client)?;
        } else {
            check_schema(&mut writer.client)?;
        }
        let readers = (0..settings.readers.max(1))
            .map(|_| Conn::open(&settings, false))
            .collect::<Result<Vec<_>, CatalogError>>()?;
        Ok(Self {
            writer: Writer::start(PgWrite(writer))?,
            engine: PostgresEngine {
                conninfo: settings.conninfo.clone(),
                readers: ReadPool::new(readers),
            },
        })
    }
}

impl PostgresEngine {
    /// A pooled read connection: the first idle one, or wait for one.
    fn reader(&self) -> Result<std::sync::MutexGuard<'_, Conn>, CatalogError> {
        self.readers.get()
    }
}

impl Engine for PostgresEngine {
    fn read<T>(&self, f: impl Fn(&dyn Sql) -> Result<T, CatalogError>) -> Result<T, CatalogError> {
        let mut conn = self.reader()?;
        // A read on a connection the server has just closed (a restart, a failover) fails
        // once; reads change nothing, so it runs again on a new connection.
        match with_sql(&mut conn, &f) {
            Err(_) if conn.client.is_closed() => with_sql(&mut conn, &f),
            other => other,
        }
    }

    fn audit_leaves(
        &self,
        by_time: bool,
        from: i64,
        to: i64,
        f: &mut AuditLeafVisitor<'_>,
    ) -> Result<(), CatalogError> {
        let sql = if by_time {
            "SELECT idx, event, leaf_hash FROM audit_log WHERE time_us >= ?1 AND time_us < ?2 ORDER BY idx"
        } else {
            "SELECT idx, event, leaf_hash FROM audit_log WHERE idx >= ?1 AND idx < ?2 ORDER BY idx"
        };
        // Not retried: the visitor may have seen some leaves already.
        let mut conn = self.reader()?;
        with_sql(&mut conn, |c| {
            c.query_each(sql, crate::sql::p![from, to], &mut |r| {
                let lh: Hash = r
                    .blob(2)?
                    .try_into()
                    .map_err(|_| corrupt("leaf hash length"))?;
                f(r.i64(0)? as u64, &r.blob(1)?, &lh)
            })
        })
    }

    /// PostgreSQL keeps no separate log file callvault could truncate: its WAL is recycled
    /// by the server, and a deleted row's bytes stay in the table's pages until `VACUUM`
    /// reuses them (and in WAL archives, base backups and standbys). A destroyed
    /// recording's wrapped data key is therefore made useless by key rotation and the
    /// destruction of the retired KEK version (docs/security.md), not by this call.
    fn truncate_wal(&self) -> Result<(), CatalogError> {
        Ok(())
    }
}
