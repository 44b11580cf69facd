//! Live-task accounting. Every task the adapter spawns is counted from its spawn until its
//! future is dropped, finished or cancelled; `mcpwire_tasks` is this count, so a task that
//! outlives its owner shows up as a number that does not come back down.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use smol::{Executor, Task};

/// Counts the adapter's live tasks.
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskCounter(Arc<AtomicUsize>);

/// Held by a task's future: dropping the future (at its end or on cancellation) uncounts it.
struct Live(Arc<AtomicUsize>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl TaskCounter {
    /// Tasks alive now.
    pub(crate) fn live(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    /// Spawns `future` on `executor`, counted. Dropping the returned task cancels it.
    pub(crate) fn spawn<T: Send + 'static>(
        &self,
        executor: &Executor<'static>,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Task<T> {
        self.0.fetch_add(1, Ordering::Relaxed);
        let live = Live(self.0.clone());
        executor.spawn(async move {
            let _live = live;
            future.await
        })
    }
}
