//! Pieces the benchmark's Rust peers share: a counting global allocator, so that live heap is
//! measured the same way in every Rust server, and the stdin command that reports it.
//!
//! Every peer (Rust, Node, Python) follows one contract, so the load generator drives them
//! alike:
//!
//! - `--port P` binds 127.0.0.1:P; `ready` on stdout once it accepts connections.
//! - Streamable HTTP at `/mcp`, stateful (an `Mcp-Session-Id` per session), the SDK's default
//!   response framing; peers of the 2026-07-28 era also answer stateless requests and
//!   `subscriptions/listen` (the TypeScript SDK v2's peer serves that era only).
//! - Tool `echo {message}` answers the message as text content and registers the calling
//!   session; tool `broadcast {}` sends `notifications/tools/list_changed` to every session and
//!   to every listen stream that asked for tool list changes.
//! - A line `heap` on stdin prints the live heap in bytes on its own stdout line, after a
//!   collection where the runtime has a collector.
//! - SIGTERM shuts down the way the SDK's own examples do.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the bytes currently allocated through it; install it with `#[global_allocator]`.
pub struct CountingAllocator;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to `System` with the caller's layout unchanged; the counter
// only observes sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        }
        new
    }
}

/// Bytes allocated through [`CountingAllocator`] and not yet freed.
pub fn live_heap_bytes() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// Answers `heap` lines on stdin with [`live_heap_bytes`], from a thread that ends with stdin.
pub fn report_heap_on_stdin() {
    std::thread::spawn(|| {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if line.trim() == "heap" {
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{}", live_heap_bytes());
                let _ = stdout.flush();
            }
        }
    });
}

/// The port from `--port P` in the process arguments, or 0.
pub fn port_argument() -> u16 {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|pair| pair[0] == "--port")
        .and_then(|pair| pair[1].parse().ok())
        .unwrap_or(0)
}
