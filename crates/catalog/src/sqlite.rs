//! The embedded catalog engine: SQLite (bundled) in WAL mode with `synchronous = FULL`.
//!
//! The writer thread (`engine.rs`) owns the write connection and commits batches of changes
//! in `IMMEDIATE` transactions, one savepoint per change. Point reads use a pool of
//! read-only connections, long scans one memory-mapped connection that hands event bytes to
//! the visitor without copying them.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use callvault_audit::merkle::Hash;
use rusqlite::{Connection, OpenFlags, params};
use time::OffsetDateTime;

use crate::engine::{Engine, ReadPool, Store, WriteConn, Writer};
use crate::error::corrupt;
use crate::schema::MIGRATIONS;
use crate::sql::Sql;
use crate::{AuditLeafVisitor, CatalogError, Change, Committed};

/// The SQLite catalog.
pub type SqliteCatalog = Store<SqliteEngine>;

/// The SQLite engine: the file, its read connections and its scan connection.
pub struct SqliteEngine {
    path: PathBuf,
    readers: ReadPool<Connection>,
    scanner: Mutex<Connection>,
}

/// Read connections kept open for point reads: concurrent readers (HTTP requests) do not
/// queue behind one another. WAL mode lets them read while the writer commits.
const READERS: usize = 8;

fn open_reader(path: &Path, mmap: bool) -> Result<Connection, CatalogError> {
    let reader = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    reader.busy_timeout(std::time::Duration::from_secs(10))?;
    if mmap {
        // Memory-mapped reads make full scans (verification, proofs) markedly faster; but
        // SQLite remaps as the file grows, which costs point reads more than it saves.
        reader.pragma_update(None, "mmap_size", 1i64 << 30)?;
        reader.pragma_update(None, "cache_size", -65_536i64)?;
    } else {
        reader.pragma_update(None, "cache_size", -16_384i64)?;
    }
    Ok(reader)
}

impl std::fmt::Debug for SqliteEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteEngine")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Store<SqliteEngine> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteCatalog")
            .field("path", &self.engine.path)
            .finish_non_exhaustive()
    }
}

fn configure(conn: &Connection) -> Result<(), CatalogError> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Deleted content (a destroyed recording's wrapped data key) is overwritten, not only
    // unlinked from the b-tree.
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(())
}

pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

pub(crate) fn from_micros(us: i64) -> Result<OffsetDateTime, CatalogError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .map_err(|_| CatalogError::Corrupt(format!("timestamp {us}")))
}

fn migrate(conn: &mut Connection) -> Result<(), CatalogError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let supported = MIGRATIONS.len() as i64;
    if version > supported {
        return Err(CatalogError::SchemaTooNew {
            found: version,
            supported,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// The writer's connection.
struct SqliteWrite(Connection);

impl WriteConn for SqliteWrite {
    fn batch(
        &mut self,
        changes: &[&Change],
        apply: &mut dyn FnMut(&dyn Sql, &Change) -> Result<Committed, CatalogError>,
    ) -> Result<Vec<Result<Committed, CatalogError>>, CatalogError> {
        let tx = self
            .0
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut results = Vec::with_capacity(changes.len());
        for change in changes {
            // Savepoints by cached statements: parsing them anew for every change was a
            // measurable share of the writer's time.
            tx.prepare_cached("SAVEPOINT change")?.execute([])?;
            match apply(&*tx, change) {
                Ok(c) => {
                    tx.prepare_cached("RELEASE change")?.execute([])?;
                    results.push(Ok(c));
                }
                Err(e) => {
                    // Undo this change only.
                    tx.prepare_cached("ROLLBACK TO change")?.execute([])?;
                    tx.prepare_cached("RELEASE change")?.execute([])?;
                    results.push(Err(e));
                }
            }
        }
        // On a failed COMMIT the transaction is rolled back when `tx` drops (the default
        // drop behaviour): every change of the batch then reports failure.
        tx.commit()?;
        Ok(results)
    }
}

impl Store<SqliteEngine> {
    /// Opens (creating and migrating if needed) the catalog file.
    pub fn open(path: &Path) -> Result<Self, CatalogError> {
        Self::open_as(path, true)
    }

    /// Opens an existing catalog file beside the process that owns it (a reading command
    /// while the server runs): nothing is created or migrated; its few writes (the records
    /// of its reads) take turns with the owner's through SQLite's own write lock.
    pub fn open_beside(path: &Path) -> Result<Self, CatalogError> {
        Self::open_as(path, false)
    }

    fn open_as(path: &Path, owner: bool) -> Result<Self, CatalogError> {
        let mut conn = if owner {
            Connection::open(path)?
        } else {
            Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?
        };
        configure(&conn)?;
        if owner {
            migrate(&mut conn)?;
        } else {
            let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            let supported = MIGRATIONS.len() as i64;
            if version != supported {
                return Err(CatalogError::Corrupt(format!(
                    "the catalog's schema is version {version}, this build's {supported}; the process that owns the catalog migrates it"
                )));
            }
        }
        let readers = (0..READERS)
            .map(|_| open_reader(path, false))
            .collect::<Result<Vec<_>, CatalogError>>()?;
        let scanner = Mutex::new(open_reader(path, true)?);
        Ok(Self {
            writer: Writer::start(SqliteWrite(conn))?,
            engine: SqliteEngine {
                path: path.to_owned(),
                readers: ReadPool::new(readers),
                scanner,
            },
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.engine.path
    }
}

impl Engine for SqliteEngine {
    fn read<T>(&self, f: impl Fn(&dyn Sql) -> Result<T, CatalogError>) -> Result<T, CatalogError> {
        let conn = self.readers.get()?;
        f(&*conn)
    }

    fn audit_leaves(
        &self,
        by_time: bool,
        from: i64,
        to: i64,
        f: &mut AuditLeafVisitor<'_>,
    ) -> Result<(), CatalogError> {
        let c = self
            .scanner
            .lock()
            .map_err(|_| CatalogError::WriterStopped)?;
        let sql = if by_time {
            "SELECT idx, event, leaf_hash FROM audit_log WHERE time_us >= ?1 AND time_us < ?2 ORDER BY idx"
        } else {
            "SELECT idx, event, leaf_hash FROM audit_log WHERE idx >= ?1 AND idx < ?2 ORDER BY idx"
        };
        let mut stmt = c.prepare_cached(sql)?;
        let mut rows = stmt.query(params![from, to])?;
        while let Some(row) = rows.next()? {
            let idx = row.get::<_, i64>(0)? as u64;
            let event = row
                .get_ref(1)?
                .as_blob()
                .map_err(|_| corrupt("audit event column"))?;
            let lh = row
                .get_ref(2)?
                .as_blob()
                .map_err(|_| corrupt("leaf hash column"))?;
            let lh: Hash = lh.try_into().map_err(|_| corrupt("leaf hash length"))?;
            f(idx, event, &lh)?;
        }
        Ok(())
    }

    fn truncate_wal(&self) -> Result<(), CatalogError> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        for _ in 0..50 {
            let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
            if busy == 0 {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Err(CatalogError::Busy)
    }
}

/// Opens the catalog file read-write without the writer thread, for tests that simulate an
/// attacker editing the database. Not for production use.
pub fn raw_connection(path: &Path) -> Result<Connection, CatalogError> {
    Ok(Connection::open(path)?)
}
