//! A server the client runs as its child (the stdio transport): one task on the driver's
//! executor owns the process from spawn to reaping.
//!
//! The child runs in a process group of its own, so that signals reach whatever it started
//! (`npx` → `node`). Its stdout goes to the core, what the core writes goes to its stdin, and
//! its stderr is always read (a child blocked on a full stderr pipe would hang every call)
//! into a bounded tail that the error names when it ends. Its end is learnt from its exit,
//! awaited on the process (a grandchild may hold the pipes open long after), never by
//! polling. Closing: stdin closed, then SIGTERM to the group after the grace period, then
//! SIGKILL after the kill wait; the child is always reaped before the task ends, and what it
//! left in its group gets the same signals (after its calls are told of its end).

use std::cell::Cell;
use std::collections::VecDeque;
use std::process::ExitStatus;
use std::rc::Rc;
use std::time::Duration;

use async_channel::{Receiver, Sender};
use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use mcpwire_core::client::ClientConnId;
use rustix::process::{Pid, Signal, kill_process_group};
use smol::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use smol::{LocalExecutor, Task, Timer};

use super::driver::Inbox;

/// Reads at most this much at a time: the core takes any split.
const READ_CHUNK: usize = 16 * 1024;
/// The most of the child's stderr kept for the error that reports its end.
pub(crate) const STDERR_TAIL: usize = 8 * 1024;
/// Writes the child has not taken yet, in count and in bytes; past either the child is taken
/// for stuck and closed. Far above what a child that reads slowly (one line at a time, its
/// pipe's buffer full) can be owed by a client within its default limits (1,024 calls, as
/// many cancellations, 64 MiB of params).
const QUEUED_WRITES: usize = 4096;
const QUEUED_BYTES: usize = 80 * 1024 * 1024;

/// Writes handed to the child's task and not yet taken by the child: how many, how many
/// bytes.
type Queued = Cell<(usize, usize)>;

/// What to run, and how long to wait for it to end.
#[derive(Debug)]
pub(crate) struct Spawn {
    pub(crate) command: std::process::Command,
    /// From stdin closed to SIGTERM.
    pub(crate) grace: Duration,
    /// From SIGTERM to SIGKILL.
    pub(crate) kill_wait: Duration,
}

/// The running child, as the driver holds it.
pub(crate) struct Running {
    pub(crate) conn: ClientConnId,
    /// Dropping it closes the child's stdin and starts its shutdown. Unbounded itself: its
    /// bounds are `queued`'s.
    writes: Option<Sender<Vec<u8>>>,
    /// Writes handed over and not yet taken by the child: how many, how many bytes.
    queued: Rc<Queued>,
    /// Never sent on; dropped with `writes`, so that a close is heard even while a write to
    /// a child that reads nothing is blocked (the queue's end would wait behind it).
    closing: Option<Sender<()>>,
    /// Ends with the child reaped (and reported to the inbox); dropping it earlier kills the
    /// child (`kill_on_drop`) and reaps it in the background (`reap_on_drop`).
    _task: Task<()>,
}

impl Running {
    /// Hands bytes to the child's stdin; a child that takes nothing for a while is closed.
    pub(crate) fn write(&mut self, bytes: Vec<u8>) {
        let Some(writes) = self.writes.as_ref() else {
            return;
        };
        let (count, held) = self.queued.get();
        let (count, held) = (count + 1, held + bytes.len());
        if count > QUEUED_WRITES || held > QUEUED_BYTES {
            self.close();
            return;
        }
        self.queued.set((count, held));
        if writes.try_send(bytes).is_err() {
            self.close();
        }
    }

    /// Closes the child's stdin (once what is queued is written, within the grace period)
    /// and starts its shutdown.
    pub(crate) fn close(&mut self) {
        self.writes = None;
        self.closing = None;
    }
}

/// Starts `spawn` as `conn`, or says why it could not.
pub(crate) fn start(
    spawn: Spawn,
    conn: ClientConnId,
    local: &LocalExecutor<'_>,
    inbox: Sender<Inbox>,
) -> Result<Running, String> {
    let Spawn {
        mut command,
        grace,
        kill_wait,
    } = spawn;
    let program = command.get_program().to_string_lossy().into_owned();
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    end_with_parent(&mut command);
    let mut command = Command::from(command);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| format!("could not start {program}: {e}"))?;
    let (writes, pending) = async_channel::unbounded();
    let (closing, closed) = async_channel::bounded(1);
    let queued = Rc::new(Cell::new((0, 0)));
    let task = local.spawn(run(
        conn,
        child_parts(&mut child),
        child,
        (grace, kill_wait),
        inbox,
        (pending, closed, queued.clone()),
    ));
    Ok(Running {
        conn,
        writes: Some(writes),
        queued,
        closing: Some(closing),
        _task: task,
    })
}

/// Linux: the child gets SIGTERM when the thread that started it ends, which is the driver's,
/// and it ends only once the child is reaped, or with the whole process: so a client whose
/// process exits (no destructor runs then) still ends its child, not only by its stdin's end,
/// which a child may ignore.
#[cfg(target_os = "linux")]
fn end_with_parent(command: &mut std::process::Command) {
    let parent = rustix::process::getpid();
    let in_child = move || {
        rustix::process::set_parent_process_death_signal(Some(Signal::TERM))?;
        // The parent may have gone before the signal was asked for: then it never comes.
        if rustix::process::getppid() != Some(parent) {
            return Err(rustix::io::Errno::SRCH.into());
        }
        Ok(())
    };
    // SAFETY: the closure runs between fork and exec, where only async-signal-safe calls are
    // allowed: it makes raw system calls (prctl, getppid) and allocates nothing (its errors
    // are OS error codes).
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(command, in_child);
    }
}

#[cfg(not(target_os = "linux"))]
fn end_with_parent(_command: &mut std::process::Command) {}

type Parts = (Option<ChildStdin>, Option<ChildStdout>, Option<ChildStderr>);

fn child_parts(child: &mut Child) -> Parts {
    (child.stdin.take(), child.stdout.take(), child.stderr.take())
}

/// Why the phase of a running child ended.
enum Ended {
    Exited(std::io::Result<ExitStatus>),
    /// Its stdin is closed: the driver closed it and all of it was written, or a write
    /// failed.
    Written,
    /// The driver closed it: what is queued for stdin may not be written yet.
    Closing,
    /// Its stdout ended: nothing more is written to it.
    Silent,
}

async fn run(
    conn: ClientConnId,
    (stdin, stdout, stderr): Parts,
    mut child: Child,
    (grace, kill_wait): (Duration, Duration),
    inbox: Sender<Inbox>,
    (writes, closed, queued): (Receiver<Vec<u8>>, Receiver<()>, Rc<Queued>),
) {
    let group = Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
    let tail = std::cell::RefCell::new(VecDeque::with_capacity(STDERR_TAIL));
    // Closed (never sent on) when stdout has ended and all of it is in the inbox.
    let (stdout_ended, stdout_end) = async_channel::bounded::<()>(1);
    // The child's output is read for as long as the task lives: stdout to the core, stderr
    // into its tail, whatever phase the lifecycle is in.
    let reading = async {
        let out = async {
            if let Some(stdout) = stdout {
                super::conn::read_into_inbox(conn, stdout, &inbox).await;
            }
            drop(stdout_ended);
            std::future::pending::<()>().await;
        };
        let err = async {
            if let Some(stderr) = stderr {
                drain_stderr(stderr, &tail).await;
            }
            std::future::pending::<()>().await;
        };
        out.or(err).await;
        None
    };
    let lifecycle = async {
        let mut exit = Box::pin(child.status());
        let mut writing = Box::pin(write_stdin(stdin, &writes, &queued));
        let running = async { Ended::Exited((&mut exit).await) }
            .or(async {
                (&mut writing).await;
                Ended::Written
            })
            .or(async {
                let _ = closed.recv().await;
                Ended::Closing
            })
            .or(async {
                let _ = stdout_end.recv().await;
                Ended::Silent
            })
            .await;
        let status = match running {
            Ended::Exited(status) => {
                // What it left behind in its group goes with it (and, were it to hold stdout
                // open, its end is not waited for as long as the kill wait).
                let _ = group.map(|g| kill_process_group(g, Signal::TERM));
                status
            }
            Ended::Written => shut_down(&mut exit, group, grace, kill_wait).await,
            Ended::Silent => {
                drop(writing);
                shut_down(&mut exit, group, grace, kill_wait).await
            }
            Ended::Closing => {
                // What was queued before the close still goes, within the grace period; a
                // child that does not take it is stuck, and gets SIGTERM at once.
                let flushing = async {
                    (&mut writing).await;
                    None
                }
                .or(async { Some((&mut exit).await) });
                let flushed = within(&mut Box::pin(flushing), grace).await;
                // Its stdin closes here, written or not.
                drop(writing);
                match flushed {
                    Some(Some(status)) => status,
                    Some(None) => shut_down(&mut exit, group, grace, kill_wait).await,
                    None => shut_down(&mut exit, group, Duration::ZERO, kill_wait).await,
                }
            }
        };
        Some(status)
    };
    let mut reading = std::pin::pin!(reading);
    let status = lifecycle.or(reading.as_mut()).await;
    // A child that answers and exits at once may be reaped before its last lines are read:
    // they are read to stdout's end, for as long as the kill wait at most (a grandchild may
    // hold stdout open for ever).
    let read_all = async {
        let _ = stdout_end.recv().await;
    }
    .or(async {
        Timer::after(kill_wait).await;
    });
    read_all
        .or(async {
            reading.as_mut().await;
        })
        .await;
    let why = describe(status, &tail.borrow());
    let _ = inbox.send(Inbox::ChildExited(conn, why)).await;
    // The calls have their outcome; what the child left in its group (a grandchild that
    // outlived a leader which exited by itself, or on its stdin's end) goes as the leader
    // would have, before the task ends and the close is done.
    end_leftovers(group, kill_wait).await;
    let _ = inbox.send(Inbox::ChildGone(conn)).await;
}

/// SIGTERM to the group, and SIGKILL after `kill_wait` if anyone was there to get it.
async fn end_leftovers(group: Option<Pid>, kill_wait: Duration) {
    let Some(group) = group else {
        return;
    };
    // No one left in the group (the common case): nothing to wait for.
    if kill_process_group(group, Signal::TERM).is_err() {
        return;
    }
    Timer::after(kill_wait).await;
    let _ = kill_process_group(group, Signal::KILL);
}

/// Closing: stdin is already closed; SIGTERM to the group after `grace`, SIGKILL after
/// `kill_wait` more; then the exit, which SIGKILL makes certain.
async fn shut_down(
    exit: &mut (impl Future<Output = std::io::Result<ExitStatus>> + Unpin),
    group: Option<Pid>,
    grace: Duration,
    kill_wait: Duration,
) -> std::io::Result<ExitStatus> {
    if let Some(status) = within(&mut *exit, grace).await {
        return status;
    }
    if let Some(group) = group {
        let _ = kill_process_group(group, Signal::TERM);
    }
    if let Some(status) = within(&mut *exit, kill_wait).await {
        if let Some(group) = group {
            // Its leader gone, the rest of the group (a grandchild holding the pipes) too.
            let _ = kill_process_group(group, Signal::KILL);
        }
        return status;
    }
    if let Some(group) = group {
        let _ = kill_process_group(group, Signal::KILL);
    }
    exit.await
}

async fn within<T>(future: &mut (impl Future<Output = T> + Unpin), wait: Duration) -> Option<T> {
    async { Some(future.await) }
        .or(async {
            Timer::after(wait).await;
            None
        })
        .await
}

/// Writes what the driver sends until it closes (drops its sender) or the child stops
/// reading; stdin is closed on return.
async fn write_stdin(stdin: Option<ChildStdin>, writes: &Receiver<Vec<u8>>, queued: &Queued) {
    let Some(mut stdin) = stdin else {
        return;
    };
    while let Ok(bytes) = writes.recv().await {
        if stdin.write_all(&bytes).await.is_err() || stdin.flush().await.is_err() {
            return;
        }
        let (count, held) = queued.get();
        queued.set((count.saturating_sub(1), held.saturating_sub(bytes.len())));
    }
}

/// Reads stderr to its end, keeping the last [`STDERR_TAIL`] bytes.
async fn drain_stderr(mut stderr: ChildStderr, tail: &std::cell::RefCell<VecDeque<u8>>) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let mut tail = tail.borrow_mut();
                let keep = &buf[n.saturating_sub(STDERR_TAIL)..n];
                let over = (tail.len() + keep.len()).saturating_sub(STDERR_TAIL);
                tail.drain(..over);
                tail.extend(keep);
            }
        }
    }
}

/// "exit status: 3; stderr: …" (the tail from its first whole line).
fn describe(status: Option<std::io::Result<ExitStatus>>, tail: &VecDeque<u8>) -> String {
    let mut why = match status {
        Some(Ok(status)) => status.to_string(),
        Some(Err(e)) => format!("its exit could not be awaited: {e}"),
        None => "its output ended".to_string(),
    };
    let bytes: Vec<u8> = tail.iter().copied().collect();
    let text = String::from_utf8_lossy(&bytes);
    // A cut tail starts mid-line (or mid-character): from the next line on.
    let text = if bytes.len() >= STDERR_TAIL {
        text.split_once('\n').map_or(&*text, |(_, rest)| rest)
    } else {
        &text
    };
    let text = text.trim();
    if !text.is_empty() {
        why.push_str("; stderr: ");
        why.push_str(text);
    }
    why
}
