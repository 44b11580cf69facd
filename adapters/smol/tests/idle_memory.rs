//! What an idle connection costs: a counting allocator (this test binary's own) measures the
//! heap the server holds per session with an open GET stream. A read buffer kept past its
//! read, 16 to 64 KiB per connection, shows here at once; `tests/bench` reports the figure.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use common::Session;
use mcpwire_smol::{App, Server};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A GET stream on a bare socket, read up to the end of its head into the stack, so that the
/// client side of this process allocates nothing per stream.
fn open_stream(addr: std::net::SocketAddr, session: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(common::PATIENCE)).unwrap();
    let request = format!(
        "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\
         Mcp-Session-Id: {session}\r\nMCP-Protocol-Version: 2025-11-25\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = [0u8; 2048];
    let mut filled = 0;
    while !head[..filled].windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut head[filled..]).unwrap();
        assert!(n > 0, "the stream closed before its head");
        filled += n;
    }
    assert!(head.starts_with(b"HTTP/1.1 200"));
    stream
}

#[test]
fn a_session_with_an_open_stream_holds_under_12_kib() {
    const SESSIONS: usize = 100;
    let listener = smol::block_on(smol::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::new(App::builder("memory", "1").build()).handle_signals(false);
    let handle = server.handle();
    let serving = std::thread::spawn(move || smol::block_on(server.serve(listener)));

    // One of each first, so that lazily built state is not counted per session.
    let warm = Session::open(addr);
    let _warm_stream = open_stream(addr, &warm.id);
    let ids: Vec<String> = (0..SESSIONS).map(|_| Session::open(addr).id).collect();
    let _ = smol::block_on(handle.stats()).unwrap();
    let before = LIVE.load(Ordering::Relaxed);

    let streams: Vec<TcpStream> = ids.iter().map(|id| open_stream(addr, id)).collect();
    // A round trip through the driver: every read it was sent has been handled.
    let stats = smol::block_on(handle.stats()).unwrap();
    assert_eq!(stats.engine.streams, SESSIONS as u64 + 1);
    let per_stream = (LIVE.load(Ordering::Relaxed) - before) / SESSIONS as isize;
    assert!(
        per_stream < 12 * 1024,
        "{per_stream} bytes of heap per open stream and its connection"
    );

    drop(streams);
    smol::block_on(handle.shutdown(Duration::from_secs(1))).unwrap();
    serving.join().unwrap().unwrap();
}
