//! The threads application handlers run on, away from the driver's: a handler that computes
//! for a second delays other handlers on its thread, never another session's I/O, keep-alives
//! or deadlines.
//!
//! Each thread runs the shared executor until the pool stops. Handler tasks stay owned by the
//! driver (dropping one cancels it wherever it runs); the pool owns only the threads.
//!
//! A reply goes to the driver as soon as its handler returns. Holding replies back to send
//! several at once was tried and dropped: a reply then waited for every task its thread ran
//! after it, one that never yields included.

use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use futures_lite::FutureExt;
use smol::Executor;

/// A fixed set of threads running one executor.
pub(crate) struct Workers {
    executor: Arc<Executor<'static>>,
    /// Closed to stop the threads: each ends when its executor's `run` sees it closed.
    stop: Option<async_channel::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `count` threads (at least one).
    pub(crate) fn start(count: usize) -> io::Result<Workers> {
        let executor = Arc::new(Executor::new());
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let mut workers = Workers {
            executor,
            stop: Some(stop),
            threads: Vec::new(),
        };
        for index in 0..count.max(1) {
            let executor = workers.executor.clone();
            let stopped = stopped.clone();
            let thread = std::thread::Builder::new()
                .name(format!("mcpwire-handler-{index}"))
                .spawn(move || {
                    // Not smol's block_on: the driver's thread is the one that polls the
                    // reactor, so that socket readiness is seen where the sockets are served.
                    futures_lite::future::block_on(executor.run(async {
                        let _ = stopped.recv().await;
                    }));
                })?;
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    pub(crate) fn executor(&self) -> &Arc<Executor<'static>> {
        &self.executor
    }

    /// Stops the threads and waits for them, for at most `patience`. An idle thread ends at
    /// once; one inside a poll that never yields (a cancelled handler that computes) ends on
    /// its own when that poll returns, since nothing is left for it to run.
    pub(crate) async fn stop(mut self, patience: Duration) {
        self.stop = None;
        let threads = std::mem::take(&mut self.threads);
        if patience.is_zero() {
            return;
        }
        let joined = smol::unblock(move || {
            for thread in threads {
                let _ = thread.join();
            }
        });
        joined
            .or(async {
                async_io::Timer::after(patience).await;
            })
            .await;
    }
}

impl Drop for Workers {
    /// A server future dropped before it finished: the threads are told to stop and end on
    /// their own after their current poll (nothing of the server is left for them to run).
    fn drop(&mut self) {
        self.stop = None;
    }
}
