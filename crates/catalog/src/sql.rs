//! One way to speak SQL to either database engine.
//!
//! The catalog's queries are written once, against [`Sql`]: statements with numbered
//! placeholders (`?1`, `?2`, … — SQLite's syntax; the PostgreSQL side renumbers them to
//! `$1`, `$2`, …), typed parameters ([`Param`]) and rows of plain values ([`Row`]). Only
//! the SQL both engines accept is used: `INSERT … ON CONFLICT DO NOTHING`, `CAST(… AS
//! BIGINT)`, no engine functions. Every integer column is a 64-bit integer in both schemas,
//! every byte string a BLOB / BYTEA, every text TEXT.

use crate::CatalogError;

/// A statement parameter. `None` is SQL `NULL` of that type.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Param<'a> {
    /// A 64-bit integer.
    I64(Option<i64>),
    /// Text.
    Text(Option<&'a str>),
    /// Bytes.
    Blob(Option<&'a [u8]>),
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Self::I64(Some(v))
    }
}
impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        Self::I64(v)
    }
}
impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Self::Text(Some(v))
    }
}
impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Self::Text(Some(v))
    }
}
impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Self::Text(v)
    }
}
impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(v: &'a [u8]) -> Self {
        Self::Blob(Some(v))
    }
}
impl<'a> From<Option<&'a [u8]>> for Param<'a> {
    fn from(v: Option<&'a [u8]>) -> Self {
        Self::Blob(v)
    }
}
impl<'a, const N: usize> From<&'a [u8; N]> for Param<'a> {
    fn from(v: &'a [u8; N]) -> Self {
        Self::Blob(Some(v))
    }
}
impl<'a> From<&'a Vec<u8>> for Param<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Self::Blob(Some(v))
    }
}

/// Builds a parameter list: `p![a, b, c]`.
macro_rules! p {
    ($($x:expr),* $(,)?) => {
        &[$($crate::sql::Param::from($x)),*][..]
    };
}
pub(crate) use p;

/// A value read from a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    /// SQL `NULL`.
    Null,
    /// An integer (booleans read as 0 or 1).
    I64(i64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// One result row.
#[derive(Debug, Default)]
pub(crate) struct Row {
    pub(crate) values: Vec<Value>,
}

fn wrong(i: usize, want: &str, got: &Value) -> CatalogError {
    let kind = match got {
        Value::Null => "NULL",
        Value::I64(_) => "an integer",
        Value::Text(_) => "text",
        Value::Blob(_) => "bytes",
    };
    CatalogError::Corrupt(format!("column {i}: expected {want}, found {kind}"))
}

impl Row {
    fn at(&self, i: usize) -> Result<&Value, CatalogError> {
        self.values
            .get(i)
            .ok_or_else(|| CatalogError::Corrupt(format!("column {i} missing")))
    }
    /// An integer column.
    pub(crate) fn i64(&self, i: usize) -> Result<i64, CatalogError> {
        match self.at(i)? {
            Value::I64(v) => Ok(*v),
            other => Err(wrong(i, "an integer", other)),
        }
    }
    /// An integer column that may be NULL.
    pub(crate) fn opt_i64(&self, i: usize) -> Result<Option<i64>, CatalogError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::I64(v) => Ok(Some(*v)),
            other => Err(wrong(i, "an integer", other)),
        }
    }
    /// A text column.
    pub(crate) fn text(&self, i: usize) -> Result<String, CatalogError> {
        match self.at(i)? {
            Value::Text(v) => Ok(v.clone()),
            other => Err(wrong(i, "text", other)),
        }
    }
    /// A text column that may be NULL.
    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>, CatalogError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Text(v) => Ok(Some(v.clone())),
            other => Err(wrong(i, "text", other)),
        }
    }
    /// A byte-string column.
    pub(crate) fn blob(&self, i: usize) -> Result<Vec<u8>, CatalogError> {
        match self.at(i)? {
            Value::Blob(v) => Ok(v.clone()),
            other => Err(wrong(i, "bytes", other)),
        }
    }
    /// A byte-string column that may be NULL.
    pub(crate) fn opt_blob(&self, i: usize) -> Result<Option<Vec<u8>>, CatalogError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Blob(v) => Ok(Some(v.clone())),
            other => Err(wrong(i, "bytes", other)),
        }
    }
}

/// A connection or transaction of either engine.
pub(crate) trait Sql {
    /// Runs a statement; returns the number of rows it changed.
    fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<usize, CatalogError>;
    /// Runs a query and hands each row to `f`, in order, without collecting them.
    fn query_each(
        &self,
        sql: &str,
        params: &[Param<'_>],
        f: &mut dyn FnMut(&Row) -> Result<(), CatalogError>,
    ) -> Result<(), CatalogError>;
}

/// Conveniences over [`Sql`].
pub(crate) trait SqlExt: Sql {
    /// Every row, each turned into a `T`.
    fn query_vec<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        mut f: impl FnMut(&Row) -> Result<T, CatalogError>,
    ) -> Result<Vec<T>, CatalogError> {
        let mut out = Vec::new();
        self.query_each(sql, params, &mut |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }
    /// The first row, if any, turned into a `T`.
    fn query_opt<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        f: impl FnOnce(&Row) -> Result<T, CatalogError>,
    ) -> Result<Option<T>, CatalogError> {
        let mut f = Some(f);
        let mut out = None;
        self.query_each(sql, params, &mut |r| {
            if let Some(f) = f.take() {
                out = Some(f(r)?);
            }
            Ok(())
        })?;
        Ok(out)
    }
    /// Exactly one row (a query such as `SELECT COUNT(*)`).
    fn query_one<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        f: impl FnOnce(&Row) -> Result<T, CatalogError>,
    ) -> Result<T, CatalogError> {
        self.query_opt(sql, params, f)?
            .ok_or_else(|| CatalogError::Corrupt("query returned no row".into()))
    }
}

impl<S: Sql + ?Sized> SqlExt for S {}

fn to_sqlite<'a>(p: &Param<'a>) -> rusqlite::types::ToSqlOutput<'a> {
    use rusqlite::types::{ToSqlOutput, ValueRef};
    match p {
        Param::I64(Some(v)) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*v)),
        Param::Text(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
        Param::Blob(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        Param::I64(None) | Param::Text(None) | Param::Blob(None) => {
            ToSqlOutput::Owned(rusqlite::types::Value::Null)
        }
    }
}

struct SqliteParam<'a>(Param<'a>);

impl rusqlite::ToSql for SqliteParam<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(to_sqlite(&self.0))
    }
}

impl Sql for rusqlite::Connection {
    fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<usize, CatalogError> {
        let mut stmt = self.prepare_cached(sql)?;
        let ps: Vec<SqliteParam<'_>> = params.iter().copied().map(SqliteParam).collect();
        Ok(stmt.execute(rusqlite::params_from_iter(ps.iter()))?)
    }

    fn query_each(
        &self,
        sql: &str,
        params: &[Param<'_>],
        f: &mut dyn FnMut(&Row) -> Result<(), CatalogError>,
    ) -> Result<(), CatalogError> {
        use rusqlite::types::ValueRef;
        let mut stmt = self.prepare_cached(sql)?;
        let n = stmt.column_count();
        let ps: Vec<SqliteParam<'_>> = params.iter().copied().map(SqliteParam).collect();
        let mut rows = stmt.query(rusqlite::params_from_iter(ps.iter()))?;
        let mut row = Row::default();
        while let Some(r) = rows.next()? {
            row.values.clear();
            for i in 0..n {
                row.values.push(match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::I64(v),
                    ValueRef::Real(_) => {
                        return Err(CatalogError::Corrupt(format!(
                            "column {i}: a floating-point value"
                        )));
                    }
                    ValueRef::Text(t) => Value::Text(
                        std::str::from_utf8(t)
                            .map_err(|_| CatalogError::Corrupt(format!("column {i}: not UTF-8")))?
                            .to_owned(),
                    ),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                });
            }
            f(&row)?;
        }
        Ok(())
    }
}
