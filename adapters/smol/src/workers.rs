//! The threads application handlers run on, away from the driver's: a handler that computes
//! for a second delays other handlers on its thread, never another session's I/O, keep-alives
//! or deadlines.
//!
//! Each thread runs the shared executor until the pool stops. Handler tasks stay owned by the
//! driver (dropping one cancels it wherever it runs); the pool owns only the threads.
//!
//! Replies go back in batches: a handler that finishes leaves its reply with its thread, and
//! the thread sends what it collected once it has run every task that was ready (at most
//! [`BURST`]). Under load that is one hand-off, and one wake-up of the driver, for many calls
//! instead of one each: on a machine with one core, each wake-up is a switch between threads.

use std::cell::RefCell;
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;

use mcpwire_core::engine::{Reply, RequestHandle};
use smol::Executor;

use crate::input::Input;

/// Tasks a thread runs before it sends the replies they left: bounds a batch, and how long a
/// finished call can wait for its batch.
pub(crate) const BURST: usize = 64;

thread_local! {
    /// Replies of the handlers this thread finished since its last batch; `None` on threads
    /// that are not workers.
    static REPLIES: RefCell<Option<Vec<(RequestHandle, Reply)>>> = const { RefCell::new(None) };
}

/// A handler's reply: left with its worker thread for the next batch, or, on any other
/// thread, given back to be sent on its own.
pub(crate) fn leave_reply(handle: RequestHandle, reply: Reply) -> Option<(RequestHandle, Reply)> {
    REPLIES.with(|replies| match replies.borrow_mut().as_mut() {
        Some(batch) => {
            batch.push((handle, reply));
            None
        }
        None => Some((handle, reply)),
    })
}

fn take_replies() -> Vec<(RequestHandle, Reply)> {
    REPLIES.with(|replies| {
        replies
            .borrow_mut()
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    })
}

/// A fixed set of threads running one executor.
pub(crate) struct Workers {
    executor: Arc<Executor<'static>>,
    /// Closed to stop the threads: each ends when it sees it closed.
    stop: Option<async_channel::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `count` threads (at least one), which send their replies on `input`.
    pub(crate) fn start(count: usize, input: async_channel::Sender<Input>) -> io::Result<Workers> {
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
            let input = input.clone();
            let thread = std::thread::Builder::new()
                .name(format!("mcpwire-handler-{index}"))
                // Not smol's block_on: the driver's thread is the one that polls the reactor,
                // so that socket readiness is seen where the sockets are served.
                .spawn(move || futures_lite::future::block_on(work(&executor, &stopped, &input)))?;
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    pub(crate) fn executor(&self) -> &Arc<Executor<'static>> {
        &self.executor
    }

    /// Stops the threads and waits for them: each ends after the task it is running returns
    /// to it.
    pub(crate) async fn stop(mut self) {
        self.stop = None;
        let threads = std::mem::take(&mut self.threads);
        smol::unblock(move || {
            for thread in threads {
                let _ = thread.join();
            }
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

/// One worker thread: bursts of ready tasks, each followed by the batch of their replies, until
/// the pool stops.
async fn work(
    executor: &Executor<'static>,
    stopped: &async_channel::Receiver<()>,
    input: &async_channel::Sender<Input>,
) {
    REPLIES.with(|replies| *replies.borrow_mut() = Some(Vec::new()));
    loop {
        let mut ran = 0;
        while ran < BURST && executor.try_tick() {
            ran += 1;
        }
        let batch = take_replies();
        if !batch.is_empty() && input.send(Input::Replies(batch)).await.is_err() {
            return;
        }
        if ran == BURST {
            continue;
        }
        // Nothing ready: sleep until a task is (running it) or the pool stops.
        let stop = async {
            let _ = stopped.recv().await;
            true
        };
        let tick = async {
            executor.tick().await;
            false
        };
        if futures_lite::future::or(stop, tick).await {
            return;
        }
    }
}
