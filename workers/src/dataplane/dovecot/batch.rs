//! Edits of the users file written together: edits arriving while one rewrite runs wait
//! and go into the next rewrite as one batch, so a thousand mailboxes opened at once cost
//! a handful of rewrites instead of a thousand (each reads and writes the whole file).

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::*;

/// An edit applied to the lines; what it gives back is delivered once the file is written.
type Finish = Box<dyn FnOnce() + Send>;
type Apply = Box<dyn FnOnce(&mut Vec<UserLine>) -> Finish + Send>;

/// The edits waiting for the next rewrite, and the turn to write.
#[derive(Default)]
pub(super) struct Batcher {
    waiting: Mutex<Vec<Apply>>,
    writing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Batcher")
    }
}

impl Batcher {
    /// Applies `change` in the next rewrite of the file and answers what it answered.
    pub(super) async fn edit<T: Send + 'static>(
        &self,
        layout: &DovecotLayout,
        change: impl FnOnce(&mut Vec<UserLine>) -> T + Send + 'static,
    ) -> Result<T, DataPlaneError> {
        let (tx, mut rx) = oneshot::channel();
        let apply: Apply = Box::new(move |users| {
            let answer = change(users);
            Box::new(move || {
                let _ = tx.send(answer);
            })
        });
        self.waiting
            .lock()
            .map_err(|_| unavailable(layout, "poisoned"))?
            .push(apply);
        let _turn = self.writing.lock().await;
        // A writer before us may have taken our edit along.
        match rx.try_recv() {
            Ok(answer) => return Ok(answer),
            Err(oneshot::error::TryRecvError::Closed) => {
                return Err(unavailable(layout, "not written"))
            }
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        let batch: Vec<Apply> = std::mem::take(
            &mut *self
                .waiting
                .lock()
                .map_err(|_| unavailable(layout, "poisoned"))?,
        );
        let owned = layout.clone();
        let written = tokio::task::spawn_blocking(move || {
            edit_users(&owned, move |users| {
                batch
                    .into_iter()
                    .map(|apply| apply(users))
                    .collect::<Vec<Finish>>()
            })
        })
        .await
        .map_err(|e| unavailable(layout, &e.to_string()))?;
        match written {
            Ok(finishes) => finishes.into_iter().for_each(|finish| finish()),
            // The edits of the batch are dropped: their callers hear "not written".
            Err(e) => return Err(unavailable(layout, &e.to_string())),
        }
        rx.try_recv()
            .map_err(|_| unavailable(layout, "not written"))
    }
}

fn unavailable(layout: &DovecotLayout, why: &str) -> DataPlaneError {
    DataPlaneError::Unavailable(format!("{}: {why}", layout_users(layout)))
}

/// One batcher per users file, shared by every `Dovecot` driving it in this process.
pub(super) fn batcher_for(layout: &DovecotLayout) -> Arc<Batcher> {
    static ALL: Mutex<Vec<(PathBuf, Arc<Batcher>)>> = Mutex::new(Vec::new());
    let path = layout.users_file();
    let Ok(mut all) = ALL.lock() else {
        return Arc::new(Batcher::default());
    };
    if let Some((_, b)) = all.iter().find(|(p, _)| *p == path) {
        return b.clone();
    }
    let b = Arc::new(Batcher::default());
    all.push((path, b.clone()));
    b
}
