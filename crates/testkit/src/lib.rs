//! Test helpers shared by the integration tests of several crates (a dev-dependency only).

use std::path::{Path, PathBuf};

pub mod softhsm;

/// A suffix unique within this machine's test runs (process id, time and a counter).
pub fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{:x}{:x}{:x}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Makes a directory unwritable even for root while alive: `chattr +i` when mode bits do not
/// stop the current user (root), mode 0555 otherwise. Dropping it restores both.
#[derive(Debug)]
pub struct Unwritable(PathBuf, u32);

impl Unwritable {
    /// Makes `dir` unwritable.
    ///
    /// # Panics
    ///
    /// If neither mode bits nor `chattr` (e2fsprogs) can make it unwritable: the test that
    /// asked for it cannot mean anything then.
    pub fn new(dir: &Path) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir).expect("stat").permissions().mode() & 0o7777;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
        let probe = dir.join(".probe");
        if std::fs::write(&probe, b"x").is_ok() {
            let _ = std::fs::remove_file(&probe);
            let st = std::process::Command::new("chattr")
                .arg("+i")
                .arg(dir)
                .status()
                .expect("chattr (e2fsprogs) makes a directory unwritable for root");
            assert!(st.success(), "chattr +i failed");
            assert!(
                std::fs::write(&probe, b"x").is_err(),
                "directory still writable"
            );
        }
        Self(dir.to_owned(), mode)
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(self.1));
    }
}

/// Every regular file below `dir`, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Runs the independent FHIR R4 validator (`scripts/validate_fhir.py` under the pinned
/// `fhir.resources` that `scripts/test` installs in `target/fhir-venv`, or the Python named
/// by `CALLVAULT_FHIR_PYTHON`) over `files`; returns whether all are valid, and its output.
pub fn validate_fhir(files: &[&Path]) -> (bool, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var("CALLVAULT_FHIR_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target/fhir-venv/bin/python"));
    let out = std::process::Command::new(&python)
        .arg(root.join("scripts/validate_fhir.py"))
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (the FHIR validator's environment; scripts/test sets it up)",
                python.display()
            )
        });
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The two Garage servers `scripts/integration.sh` starts (sites A and B of the integration
/// suite), read from the variables it exports.
#[derive(Debug, Clone)]
pub struct GarageEnv {
    /// S3 endpoints of site A's and site B's Garage.
    pub endpoints: [String; 2],
    /// Bucket names at A and B.
    pub buckets: [String; 2],
    /// Access key id (imported into both).
    pub key_id: String,
    /// Secret access key.
    pub secret: String,
    /// `scripts/garage.sh`, which stops and starts one of them (`stop a`, `start a`).
    pub control: PathBuf,
}

/// The Garage servers of the integration suite; panics with instructions outside it.
pub fn garage_env() -> GarageEnv {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: this test needs the servers scripts/integration.sh starts")
        })
    };
    GarageEnv {
        endpoints: [
            var("CALLVAULT_IT_S3_ENDPOINT_A"),
            var("CALLVAULT_IT_S3_ENDPOINT_B"),
        ],
        buckets: [
            var("CALLVAULT_IT_S3_BUCKET_A"),
            var("CALLVAULT_IT_S3_BUCKET_B"),
        ],
        key_id: var("CALLVAULT_IT_S3_KEY_ID"),
        secret: var("CALLVAULT_IT_S3_SECRET"),
        control: PathBuf::from(var("CALLVAULT_IT_GARAGE_CONTROL")),
    }
}

impl GarageEnv {
    /// Runs `scripts/garage.sh <verb> <site>` (`stop` or `start`, site `a` or `b`).
    pub fn control(&self, verb: &str, site: &str) {
        let status = std::process::Command::new("bash")
            .arg(&self.control)
            .args([verb, site])
            .status()
            .expect("scripts/garage.sh");
        assert!(status.success(), "scripts/garage.sh {verb} {site} failed");
    }
}

/// A database of its own on the integration suite's PostgreSQL server
/// (`scripts/postgres.sh`), dropped when this is dropped.
#[derive(Debug)]
pub struct PgDatabase {
    /// Its connection string (without the password).
    pub conninfo: String,
    /// The password of the `callvault` role.
    pub password: String,
    name: String,
    server: String,
}

/// Connects to the integration suite's PostgreSQL server (or a database on it).
pub fn pg_client(conninfo: &str, password: &str) -> postgres::Client {
    let mut config: postgres::Config = conninfo.parse().expect("conninfo");
    config.password(password);
    config
        .connect(postgres::NoTls)
        .expect("connect to PostgreSQL")
}

/// Creates a fresh database; panics with instructions outside the integration suite.
pub fn pg_database() -> PgDatabase {
    let var = |n: &str| {
        std::env::var(n).unwrap_or_else(|_| {
            panic!("{n} is not set: this test needs the PostgreSQL server scripts/integration.sh starts")
        })
    };
    let (server, password) = (var("CALLVAULT_IT_PG"), var("CALLVAULT_IT_PG_PASSWORD"));
    let name = format!("cv_{}", unique_suffix());
    pg_client(&server, &password)
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create database");
    PgDatabase {
        // The server's conninfo names a database; the last `dbname` wins.
        conninfo: format!("{server} dbname={name}"),
        password,
        name,
        server,
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = pg_client(&self.server, &self.password).batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// A real, small filesystem (tmpfs) mounted over a directory while alive, for fault
/// injection: it fills up, can be remounted read-only, and can vanish (unmount) under a
/// running vault. Mounting needs root (CAP_SYS_ADMIN); the fault-injection suite
/// (`scripts/faults`) runs as root in CI.
#[derive(Debug)]
pub struct Tmpfs {
    dir: PathBuf,
    mounted: bool,
}

impl Tmpfs {
    /// Mounts a tmpfs of `bytes` over `dir`, keeping what `dir` held (copied onto the new
    /// filesystem with its modes; the root owner-only).
    ///
    /// # Panics
    ///
    /// If the mount fails (not root): a fault-injection test cannot mean anything then.
    pub fn mount_over(dir: &Path, bytes: u64) -> Self {
        mount_keeping(
            dir,
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={bytes},mode=0700"),
                "tmpfs",
            ],
        );
        Self {
            dir: dir.to_owned(),
            mounted: true,
        }
    }

    /// Changes the filesystem's size (to free space, or to take it away).
    pub fn resize(&self, bytes: u64) {
        mount(&["-o", &format!("remount,size={bytes}"), path_str(&self.dir)]);
    }

    /// Remounts read-only (`true`) or read-write (`false`).
    pub fn read_only(&self, ro: bool) {
        let opt = if ro { "remount,ro" } else { "remount,rw" };
        mount(&["-o", opt, path_str(&self.dir)]);
    }

    /// Unmounts it (lazily, as a disk that goes away): its files are gone from the path,
    /// which is an empty directory again.
    pub fn vanish(&mut self) {
        umount(&self.dir);
        self.mounted = false;
    }

    /// Bytes free.
    pub fn free(&self) -> u64 {
        let o = std::process::Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.dir)
            .output()
            .expect("df");
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df output")
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if self.mounted {
            umount(&self.dir);
        }
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn mount(args: &[&str]) {
    root_tool("mount", args);
}

/// Runs a system tool (util-linux, e2fsprogs) that fault injection needs, and fails the test
/// with its message if it fails (most need root).
fn root_tool(tool: &str, args: &[&str]) {
    let o = std::process::Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(
        o.status.success(),
        "{tool} {args:?} failed (fault injection needs root): {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn umount(dir: &Path) {
    let _ = std::process::Command::new("umount")
        .arg("-l")
        .arg(dir)
        .status();
}

/// Mounts a filesystem (`mount ARGS… dir`) over `dir`, keeping what `dir` held: it is moved
/// aside, and copied onto the new filesystem with its modes.
fn mount_keeping(dir: &Path, args: &[&str]) {
    let held = dir.with_extension("before-mount");
    if dir.exists() {
        std::fs::rename(dir, &held).expect("move the directory's content aside");
    }
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut all = args.to_vec();
    all.push(path_str(dir));
    mount(&all);
    if held.exists() {
        let st = std::process::Command::new("cp")
            .arg("-a")
            .arg(held.join("."))
            .arg(dir)
            .status()
            .expect("cp");
        assert!(
            st.success(),
            "copying {} onto the new filesystem",
            held.display()
        );
        std::fs::remove_dir_all(&held).expect("rm");
    }
}

/// An ext4 filesystem on a loop device mounted over a directory while alive, which can be
/// frozen (`fsfreeze`): every write to it then blocks in the kernel, as on a hung disk or
/// network mount, until it is thawed. Needs root, like [`Tmpfs`].
#[derive(Debug)]
pub struct FreezableDisk {
    dir: PathBuf,
    image: PathBuf,
}

impl FreezableDisk {
    /// Makes an ext4 image of `bytes` next to `dir` and mounts it over `dir`, keeping what
    /// `dir` held.
    ///
    /// # Panics
    ///
    /// If the image cannot be made or mounted (not root, no loop devices).
    pub fn mount_over(dir: &Path, bytes: u64) -> Self {
        let image = dir.with_extension("ext4");
        let f = std::fs::File::create(&image).expect("image");
        f.set_len(bytes).expect("size the image");
        root_tool("mkfs.ext4", &["-q", "-F", path_str(&image)]);
        mount_keeping(dir, &["-o", "loop", path_str(&image)]);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        Self {
            dir: dir.to_owned(),
            image,
        }
    }

    /// Freezes the filesystem: writes block until [`FreezableDisk::thaw`].
    pub fn freeze(&self) {
        fsfreeze("-f", &self.dir);
    }

    /// Thaws it: blocked writes go on.
    pub fn thaw(&self) {
        fsfreeze("-u", &self.dir);
    }
}

impl Drop for FreezableDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("fsfreeze")
            .arg("-u")
            .arg(&self.dir)
            .output();
        umount(&self.dir);
        let _ = std::fs::remove_file(&self.image);
    }
}

fn fsfreeze(op: &str, dir: &Path) {
    root_tool("fsfreeze", &[op, path_str(dir)]);
}
