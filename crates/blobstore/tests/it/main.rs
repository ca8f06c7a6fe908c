//! Blob store conformance suite (run against every backend: directories here, S3 buckets
//! on Garage in `s3.rs`) and replication tests.

mod s3;

use std::sync::Arc;

use callvault_blobstore::{
    BlobError, BlobKey, BlobStore, DirStore, PutOutcome, SiteId, put_bytes, replicate,
};

use callvault_testkit::Unwritable;

/// A blob larger than `part` bytes, streamed in 1 MiB chunks: several parts of a multipart
/// upload at an S3 site.
fn large_blob(store: &dyn BlobStore, part: usize) {
    let k = key("rec/1f/large.cvr");
    let len = part * 2 + part / 3;
    let data: Vec<u8> = (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut put = store.begin_put(&k).expect("begin");
    for c in data.chunks(1 << 20) {
        put.write(c).expect("write");
    }
    assert_eq!(put.commit().expect("commit"), PutOutcome::Created);
    assert_eq!(store.head(&k).expect("head"), Some(len as u64));
    for (a, b) in [(0, 10), (part - 5, part + 5), (len - 100, len), (0, len)] {
        assert_eq!(
            store.get_range(&k, a as u64..b as u64).expect("range"),
            data[a..b],
            "{a}..{b}"
        );
    }
    // Never overwritten, by a small or a large put.
    assert_eq!(
        put_bytes(store, &k, b"x").expect("put"),
        PutOutcome::AlreadyExists
    );
    let mut again = store.begin_put(&k).expect("begin");
    for c in data.chunks(1 << 20) {
        again
            .write(&c.iter().map(|b| !b).collect::<Vec<u8>>())
            .expect("write");
    }
    assert_eq!(again.commit().expect("commit"), PutOutcome::AlreadyExists);
    assert_eq!(store.get_range(&k, 0..10).expect("range"), data[..10]);
    // An abandoned large upload leaves nothing.
    let k2 = key("rec/1f/abandoned-large.cvr");
    {
        let mut put = store.begin_put(&k2).expect("begin");
        for c in data.chunks(1 << 20) {
            put.write(c).expect("write");
        }
    }
    assert_eq!(store.head(&k2).expect("head"), None);
    store.delete(&k).expect("delete");
    assert_eq!(store.head(&k).expect("head"), None);
}

/// Eight threads put and read at once through one store.
fn concurrent(store: &dyn BlobStore) {
    std::thread::scope(|s| {
        for t in 0..8u8 {
            s.spawn(move || {
                for i in 0..4u8 {
                    let k = key(&format!("rec/{t:02x}/c{i}.cvr"));
                    let data = vec![t ^ i; 70_000 + usize::from(i)];
                    assert_eq!(
                        put_bytes(store, &k, &data).expect("put"),
                        PutOutcome::Created
                    );
                    assert_eq!(
                        store.get_range(&k, 0..data.len() as u64).expect("get"),
                        data
                    );
                }
            });
        }
    });
    assert_eq!(store.list().expect("list").len(), 32);
    for k in store.list().expect("list") {
        store.delete(&k).expect("delete");
    }
}

fn key(s: &str) -> BlobKey {
    BlobKey::parse(s).expect("key")
}

/// The behaviour every `BlobStore` backend must have (on an empty store).
pub(crate) fn conformance(store: &dyn BlobStore, part: usize) {
    small_blobs(store);
    for k in store.list().expect("list") {
        store.delete(&k).expect("delete");
    }
    large_blob(store, part);
    concurrent(store);
    assert!(store.list().expect("list").is_empty());
}

fn small_blobs(store: &dyn BlobStore) {
    let k = key("rec/0a/0a1b2c3d.cvr");
    assert_eq!(store.head(&k).expect("head"), None);
    assert!(matches!(
        store.get_range(&k, 0..1),
        Err(BlobError::NotFound { .. })
    ));

    // Streamed put, then ranged reads.
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let mut put = store.begin_put(&k).expect("begin");
    for c in data.chunks(65_536) {
        put.write(c).expect("write");
    }
    assert_eq!(put.commit().expect("commit"), PutOutcome::Created);
    assert_eq!(store.head(&k).expect("head"), Some(data.len() as u64));
    for (a, b) in [
        (0u64, 0u64),
        (0, 1),
        (65_535, 65_537),
        (199_999, 200_000),
        (0, 200_000),
    ] {
        assert_eq!(
            store.get_range(&k, a..b).expect("range"),
            data[a as usize..b as usize],
            "{a}..{b}"
        );
    }
    assert!(matches!(
        store.get_range(&k, 199_999..200_001),
        Err(BlobError::RangeOutOfBounds { len: 200_000, .. })
    ));

    // Never overwritten.
    assert_eq!(
        put_bytes(store, &k, b"other").expect("put"),
        PutOutcome::AlreadyExists
    );
    assert_eq!(store.get_range(&k, 0..5).expect("range"), data[..5]);

    // An abandoned upload leaves nothing.
    let k2 = key("rec/0b/abandoned.cvr");
    {
        let mut put = store.begin_put(&k2).expect("begin");
        put.write(b"partial").expect("write");
    }
    assert_eq!(store.head(&k2).expect("head"), None);

    // List and delete.
    put_bytes(store, &key("rec/0c/second.cvr"), b"x").expect("put");
    let mut listed = store.list().expect("list");
    listed.sort();
    assert_eq!(listed, vec![k.clone(), key("rec/0c/second.cvr")]);
    store.delete(&k).expect("delete");
    store.delete(&k).expect("delete twice is fine");
    assert_eq!(store.head(&k).expect("head"), None);
}

#[test]
fn dir_store_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = DirStore::create(SiteId::parse("a").expect("site"), dir.path()).expect("create");
    conformance(&store, callvault_blobstore::s3::MIN_PART_SIZE);
    // Nothing left in tmp/.
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp"))
            .expect("tmp")
            .count(),
        0
    );
}

#[test]
fn a_directory_without_the_site_marker_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = SiteId::parse("a").expect("site");
    // An empty directory (an unmounted mount point) is not a site.
    let err = DirStore::open(a.clone(), dir.path()).expect_err("no marker");
    assert!(matches!(err, BlobError::NotASite { .. }), "{err}");
    assert!(err.to_string().contains("is its disk mounted"), "{err}");
    drop(DirStore::create(a, dir.path()).expect("create"));
    let err =
        DirStore::open(SiteId::parse("b").expect("site"), dir.path()).expect_err("wrong site");
    assert!(matches!(err, BlobError::WrongSite { .. }), "{err}");
}

#[test]
fn keys_and_site_names_are_validated() {
    for bad in ["", "/abs", "a//b", "../x", "a/./b", "UPPER", "sp ace"] {
        assert!(BlobKey::parse(bad).is_err(), "{bad:?}");
    }
    for bad in ["", "A", "site_1", &"x".repeat(33)] {
        assert!(SiteId::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn stale_uploads_are_removed_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = SiteId::parse("a").expect("site");
    drop(DirStore::create(site.clone(), dir.path()).expect("create"));
    std::fs::write(dir.path().join("tmp/crashed.part"), b"ciphertext").expect("write");
    DirStore::open(site, dir.path()).expect("reopen");
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp"))
            .expect("tmp")
            .count(),
        0
    );
}

#[test]
fn replication_writes_every_site_and_survives_one_failing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a: Arc<dyn BlobStore> = Arc::new(
        DirStore::create(SiteId::parse("a").expect("s"), &dir.path().join("a")).expect("a"),
    );
    let b: Arc<dyn BlobStore> = Arc::new(
        DirStore::create(SiteId::parse("b").expect("s"), &dir.path().join("b")).expect("b"),
    );
    let stores = vec![a.clone(), b.clone()];
    let chunks = || {
        let mut v: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 10_000]).collect();
        v.reverse();
        move || Ok::<_, std::io::Error>(v.pop())
    };
    let k = key("rec/ok.cvr");
    let mut seen = 0usize;
    let mut count = |c: &[u8]| seen += c.len();
    let out = replicate(&stores, &k, chunks(), Some(&mut count)).expect("replicate");
    assert_eq!(seen, 200_000, "the observer sees every byte");
    assert!(
        out.iter()
            .all(|o| matches!(o.result, Ok(PutOutcome::Created)))
    );
    assert_eq!(a.head(&k).expect("head"), Some(200_000));
    assert_eq!(b.head(&k).expect("head"), Some(200_000));

    // Site b cannot write: a still gets the blob, b reports its error.
    let k2 = key("rec/half.cvr");
    let guard = Unwritable::new(&dir.path().join("b/tmp"));
    let out = replicate(&stores, &k2, chunks(), None).expect("replicate");
    drop(guard);
    assert!(matches!(out[0].result, Ok(PutOutcome::Created)));
    assert!(
        matches!(out[1].result, Err(BlobError::Io { .. })),
        "{:?}",
        out[1].result
    );
    assert_eq!(a.head(&k2).expect("head"), Some(200_000));
    assert_eq!(b.head(&k2).expect("head"), None);

    // If the producer fails, no site keeps anything.
    let k3 = key("rec/failed.cvr");
    let mut n = 0;
    let err = replicate(
        &stores,
        &k3,
        || {
            n += 1;
            if n < 3 {
                Ok(Some(vec![1u8; 1000]))
            } else {
                Err("input broke")
            }
        },
        None,
    )
    .expect_err("producer error");
    assert_eq!(err, "input broke");
    assert_eq!(a.head(&k3).expect("head"), None);
    assert_eq!(b.head(&k3).expect("head"), None);
}
