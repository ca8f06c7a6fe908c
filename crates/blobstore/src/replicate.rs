//! Writing one blob to every site at once.

use std::sync::Arc;
use std::sync::mpsc::sync_channel;

use crate::{BlobError, BlobKey, BlobStore, PutOutcome, SiteId};

/// Chunks in flight per site before the producer waits for the slowest site.
const QUEUE_DEPTH: usize = 8;

/// Sees every chunk of a replicated blob, in order, on its own thread.
pub type ChunkObserver<'a> = dyn FnMut(&[u8]) + Send + 'a;

/// What happened at one site.
#[derive(Debug)]
pub struct SiteOutcome {
    /// The site.
    pub site: SiteId,
    /// Created, already present, or the error that stopped this site.
    pub result: Result<PutOutcome, BlobError>,
}

/// Streams the chunks from `next_chunk` to every store concurrently (one writer thread per
/// site) and commits at each site that received every chunk.
///
/// A site that fails is reported and the others go on: the caller decides whether enough
/// sites hold the blob. If `next_chunk` itself fails, no site commits and the error is
/// returned. `observer`, if given, sees every chunk in order on a thread of its own (used
/// to hash the blob without slowing the producer).
pub fn replicate<E>(
    stores: &[Arc<dyn BlobStore>],
    key: &BlobKey,
    mut next_chunk: impl FnMut() -> Result<Option<Vec<u8>>, E>,
    observer: Option<&mut ChunkObserver<'_>>,
) -> Result<Vec<SiteOutcome>, E> {
    std::thread::scope(|scope| {
        let mut senders = Vec::with_capacity(stores.len() + 1);
        let mut handles = Vec::with_capacity(stores.len());
        if let Some(observe) = observer {
            let (tx, rx) = sync_channel::<Option<Arc<Vec<u8>>>>(QUEUE_DEPTH);
            senders.push(tx);
            scope.spawn(move || {
                while let Ok(Some(chunk)) = rx.recv() {
                    observe(&chunk);
                }
            });
        }
        for store in stores {
            let (tx, rx) = sync_channel::<Option<Arc<Vec<u8>>>>(QUEUE_DEPTH);
            senders.push(tx);
            let store = Arc::clone(store);
            handles.push(
                scope.spawn(move || -> Result<Option<PutOutcome>, BlobError> {
                    let mut put = store.begin_put(key)?;
                    loop {
                        match rx.recv() {
                            // A chunk to write.
                            Ok(Some(chunk)) => put.write(&chunk)?,
                            // End of stream: commit.
                            Ok(None) => return put.commit().map(Some),
                            // Producer gave up: drop the handle, discarding the upload.
                            Err(_) => return Ok(None),
                        }
                    }
                }),
            );
        }
        let mut producer_error = None;
        loop {
            match next_chunk() {
                Ok(Some(chunk)) => {
                    let chunk = Arc::new(chunk);
                    for tx in &senders {
                        // A site whose writer failed has hung up; the others go on.
                        let _ = tx.send(Some(Arc::clone(&chunk)));
                    }
                }
                Ok(None) => {
                    for tx in &senders {
                        let _ = tx.send(None);
                    }
                    break;
                }
                Err(e) => {
                    producer_error = Some(e);
                    break;
                }
            }
        }
        drop(senders);
        let outcomes: Vec<SiteOutcome> = stores
            .iter()
            .zip(handles)
            .map(|(store, h)| {
                let site = store.site().clone();
                let result = match h.join() {
                    Ok(Ok(Some(o))) => Ok(o),
                    Ok(Ok(None)) => Err(BlobError::WriterGone(site.to_string())),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(BlobError::WriterGone(site.to_string())),
                };
                SiteOutcome { site, result }
            })
            .collect();
        match producer_error {
            // Writers only commit on end of stream, so no site committed anything.
            Some(e) => Err(e),
            None => Ok(outcomes),
        }
    })
}
