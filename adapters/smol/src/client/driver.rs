//! The client's driver: one thread owns the sans-IO client and its connections' tasks. It
//! sleeps on one inbox and one timer; handlers for the server's requests run on smol's global
//! executor, never here, each a task the driver owns until the request is answered or ends.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_channel::{Receiver, Sender};
use futures_lite::FutureExt;
use futures_rustls::rustls::ClientConfig;
use mcpwire_core::client::{
    CallError, CallId, CallOptions, Client as Core, ClientConnId, ClientEvent, ClientStats,
    CommandError, ServerRequestId, Transmit,
};
use mcpwire_core::jsonrpc::{ErrorCode, ErrorObject, RawValue};
use serde_json::Value;
use smol::{LocalExecutor, Task, Timer};

use super::oauth::AuthState;
use super::{Handlers, Notification, RunningCall};
use crate::clock::Clock;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::AtomicBool;

/// What a call's owner receives.
pub(crate) struct CallSinks {
    pub(crate) outcome: Sender<Result<Value, CallError>>,
    pub(crate) notes: Option<Sender<Notification>>,
}

/// Commands from the [`Client`](super::Client) handles.
pub(crate) enum Command {
    Request {
        method: String,
        params: Option<Value>,
        options: CallOptions,
        listen: bool,
        /// Gets the call's owner, or why there is none.
        started: Sender<Result<RunningCall, CommandError>>,
        sinks: CallSinks,
        /// The receiving ends of `sinks`, for the owner.
        ends: (Receiver<Result<Value, CallError>>, Receiver<Notification>),
    },
    /// The core's stats, and the driver's live tasks (one per connection, one per server
    /// request being answered).
    Stats(Sender<(ClientStats, usize)>),
}

/// What must never be lost: these are sent from `Drop` and from `cancel(&self)`, where nothing
/// can wait for room, so their channel is unbounded; each handle sends at most one, so what
/// waits in it is bounded by the handles that exist. The driver takes them before anything
/// else.
pub(crate) enum Control {
    /// Routes `notifications/resources/updated` for `uri` to `sink` (and re-subscribes in
    /// each new session) until `Unsubscribe`: on this channel, so that the `Unsubscribe` of
    /// the same handle can never overtake it.
    Subscribe {
        token: u64,
        uri: String,
        sink: Sender<Notification>,
    },
    /// Ends a call (a dropped or cancelled [`RunningCall`](super::RunningCall)).
    Cancel(CallId),
    /// Ends a resource subscription (`resources/unsubscribe` in the session era).
    Unsubscribe(u64),
    /// Ends the client (`close()`, or the last handle dropped).
    Close,
}

/// Where server notifications that belong to no call go.
pub(crate) struct Unsolicited {
    pub(crate) general: Sender<Notification>,
    pub(crate) resources: BTreeMap<u64, (String, Sender<Notification>)>,
}

/// Everything that wakes the driver.
pub(crate) enum Inbox {
    Connected(ClientConnId),
    /// With why, when TLS failed.
    ConnectFailed(ClientConnId, Option<crate::tls::ConnectError>),
    Bytes(ClientConnId, Vec<u8>),
    Closed(ClientConnId),
    /// The child ended and was reaped: its exit status and the tail of its stderr.
    ChildExited(ClientConnId, String),
    /// What the child left in its process group is ended too: its task is done.
    ChildGone(ClientConnId),
    Command(Command),
    Answer(ServerRequestId, Result<Value, ErrorObject>),
    /// A flow ended: the state to keep, and the `Authorization` value or why there is none.
    Authorized(Box<AuthState>, Result<String, String>),
}

/// The client's OAuth, where it has one.
pub(crate) struct Authorization {
    pub(crate) oauth: super::oauth::OAuth,
    /// The MCP endpoint, as the flow checks resources against it.
    pub(crate) server_url: String,
    /// The trust the flow's fetches use (the client's own).
    pub(crate) tls: Arc<ClientConfig>,
    /// What the store held when the client started.
    pub(crate) initial: AuthState,
}

/// Where the server is.
pub(crate) enum Target {
    /// At this `host:port`, through TLS with this configuration if any.
    Http(String, Option<Arc<ClientConfig>>),
    /// A child to start when the core asks for its connection (once).
    Child(Option<super::child::Spawn>),
}

/// What woke the driver.
enum Wake {
    Control(Control),
    Inbox(Inbox),
}

struct ConnTask {
    writes: Sender<Vec<u8>>,
    _task: Task<()>,
}

/// The driver's channels to and from the client's handles.
pub(crate) struct Wires {
    /// Everything but [`Control`]; its sender is cloned into each connection's task.
    pub(crate) inbox: (Sender<Inbox>, Receiver<Inbox>),
    /// What must never be lost; the driver keeps a sender for the calls it starts.
    pub(crate) control: (Sender<Control>, Receiver<Control>),
    /// Hears the handshake's end, once.
    pub(crate) ready: Sender<Result<mcpwire_core::client::Era, String>>,
    /// Notifications of no call that no resource subscription takes.
    pub(crate) unsolicited: Sender<Notification>,
}

/// Runs until the client has closed and nothing is left. `ready` hears the handshake's end.
/// Connections use TLS with `tls`.
pub(crate) fn run(
    mut core: Core,
    clock: Clock,
    mut target: Target,
    handlers: Handlers,
    mut authorization: Option<Authorization>,
    wires: Wires,
) {
    let Wires {
        inbox,
        control,
        ready,
        unsolicited,
    } = wires;
    let (control_sender, control) = control;
    let mut unsolicited = Unsolicited {
        general: unsolicited,
        resources: BTreeMap::new(),
    };
    let local = LocalExecutor::new();
    let (sender, receiver) = inbox;
    let mut conns: BTreeMap<ClientConnId, ConnTask> = BTreeMap::new();
    let mut calls: BTreeMap<CallId, CallSinks> = BTreeMap::new();
    let mut answering: BTreeMap<ServerRequestId, Task<()>> = BTreeMap::new();
    // The one OAuth flow running, and what the last one left (its client, its tokens).
    let mut authorizing: Option<Task<()>> = None;
    let mut auth_state = authorization
        .as_mut()
        .map(|a| std::mem::take(&mut a.initial))
        .unwrap_or_default();
    let mut ready = Some(ready);
    // Why the last TLS connection failed, since the last one that opened: the reason a
    // client that gives up is given, rather than "unreachable" alone.
    let mut tls_failure: Option<String> = None;
    // The child, until it has been reaped: the driver outlives the core for that.
    let mut child: Option<super::child::Running> = None;
    let mut out = Vec::new();
    smol::block_on(local.run(async {
        loop {
            let now = clock.now();
            core.handle_timeout(now);
            while let Some(transmit) = core.poll_transmit(&mut out) {
                match transmit {
                    Transmit::Open { conn } => {
                        let (authority, tls) = match &mut target {
                            Target::Http(authority, tls) => (authority.clone(), tls.clone()),
                            Target::Child(spawn) => {
                                let started = match spawn.take() {
                                    Some(spawn) => {
                                        super::child::start(spawn, conn, &local, sender.clone())
                                    }
                                    None => Err("the child was started already".into()),
                                };
                                match started {
                                    Ok(running) => {
                                        child = Some(running);
                                        core.handle_connected(now, conn);
                                    }
                                    Err(why) => core.handle_pipe_ended(now, conn, &why),
                                }
                                out.clear();
                                continue;
                            }
                        };
                        let (writes, pending) = async_channel::bounded(64);
                        let task = local.spawn(super::conn::run(
                            conn,
                            authority.clone(),
                            tls.clone(),
                            sender.clone(),
                            pending,
                        ));
                        conns.insert(
                            conn,
                            ConnTask {
                                writes,
                                _task: task,
                            },
                        );
                    }
                    Transmit::Write { conn, len } => {
                        let bytes = out.split_off(out.len() - len);
                        if let Some(running) = child.as_mut().filter(|c| c.conn == conn) {
                            running.write(bytes);
                            out.clear();
                            continue;
                        }
                        let full = conns
                            .get(&conn)
                            .is_some_and(|c| c.writes.try_send(bytes).is_err());
                        if full {
                            // A server that reads nothing for 64 requests is gone.
                            conns.remove(&conn);
                            core.handle_closed(now, conn);
                        }
                    }
                    Transmit::Close { conn } => {
                        conns.remove(&conn);
                        if let Some(running) = child.as_mut().filter(|c| c.conn == conn) {
                            // Its stdin closes; the task ends it and reaps it.
                            running.close();
                        }
                    }
                }
                out.clear();
            }
            while let Some(event) = core.poll_event() {
                match event {
                    ClientEvent::Connected { era, .. } => {
                        match ready.take() {
                            Some(ready) => {
                                let _ = ready.try_send(Ok(era));
                            }
                            // A new session after a lost one: its subscriptions are new too.
                            None => resubscribe(&mut core, now, &unsolicited),
                        }
                    }
                    ClientEvent::Response { call, result } => {
                        if let Some(sinks) = calls.remove(&call) {
                            let value = serde_json::from_str(result.get()).unwrap_or(Value::Null);
                            let _ = sinks.outcome.try_send(Ok(value));
                        }
                    }
                    ClientEvent::Failed { call, error } => {
                        if let Some(sinks) = calls.remove(&call) {
                            let _ = sinks.outcome.try_send(Err(error));
                        }
                    }
                    ClientEvent::Notification {
                        call: Some(call),
                        method,
                        params,
                    } => {
                        if let Some(notes) = calls.get(&call).and_then(|s| s.notes.as_ref()) {
                            let params = to_value(params);
                            // A listener that does not keep up loses frames, never the driver.
                            let _ = notes.try_send(Notification { method, params });
                        }
                    }
                    ClientEvent::Notification {
                        call: None,
                        method,
                        params,
                    } => {
                        let params = to_value(params);
                        route_unsolicited(&unsolicited, Notification { method, params });
                    }
                    ClientEvent::SessionLost => {}
                    ClientEvent::ServerRequest {
                        request,
                        method,
                        params,
                        ..
                    } => {
                        let params = to_value(params);
                        let handler = handlers.get(&method).cloned();
                        let answers = sender.clone();
                        let task = smol::spawn(async move {
                            let outcome = match handler {
                                // A handler that panics answers with an error at once, not
                                // with silence until the server's request times out.
                                Some(handler) => AssertUnwindSafe(handler(params))
                                    .catch_unwind()
                                    .await
                                    .unwrap_or_else(|_| {
                                        Err(ErrorObject {
                                            code: ErrorCode::INTERNAL_ERROR.0,
                                            message: format!("the {method} handler panicked"),
                                            data: None,
                                        })
                                    }),
                                None => Err(ErrorObject {
                                    code: ErrorCode::METHOD_NOT_FOUND.0,
                                    message: format!("Method not found: {method}"),
                                    data: None,
                                }),
                            };
                            let _ = answers.send(Inbox::Answer(request, outcome)).await;
                        });
                        answering.insert(request, task);
                    }
                    ClientEvent::AuthorizationRequired { status, challenge } => {
                        match &authorization {
                            None => {
                                let why = format!(
                                    "the server requires authorization (HTTP {status}) and the client has no OAuth configured (ClientBuilder::oauth)"
                                );
                                core.authorization_failed(now, &why);
                            }
                            Some(auth) if authorizing.is_none() => {
                                let oauth = auth.oauth.clone();
                                let server_url = auth.server_url.clone();
                                let tls = auth.tls.clone();
                                let state = std::mem::take(&mut auth_state);
                                let done = sender.clone();
                                authorizing = Some(smol::spawn(async move {
                                    // The application's handler, store and key run in the
                                    // flow: one that panics ends the flow with an error, not
                                    // the client's last chance of credentials.
                                    let kept = state.clone();
                                    let run = oauth.run(&server_url, &challenge, state, tls);
                                    let (state, outcome) = AssertUnwindSafe(run)
                                        .catch_unwind()
                                        .await
                                        .unwrap_or_else(|_| {
                                            let why = mcpwire_core::client::auth::AuthError {
                                                step: mcpwire_core::client::auth::AuthStep::Authorization,
                                                reason: "the OAuth flow panicked (the authorize handler, the token store or the key)".into(),
                                            };
                                            (kept, Err(why))
                                        });
                                    let outcome = outcome.map_err(|e| e.to_string());
                                    let _ = done.send(Inbox::Authorized(Box::new(state), outcome)).await;
                                }));
                            }
                            // The gate opens once per wait: a flow is already running.
                            Some(_) => {}
                        }
                    }
                    ClientEvent::Closed { reason } => {
                        // A flow still running has no one to give its token to.
                        authorizing = None;
                        if let Some(ready) = ready.take() {
                            let why = match tls_failure.take() {
                                Some(tls) => tls,
                                None => reason.to_string(),
                            };
                            let _ = ready.try_send(Err(why));
                        }
                        for (_, sinks) in std::mem::take(&mut calls) {
                            let _ = sinks.outcome.try_send(Err(CallError::Closed));
                        }
                        answering.clear();
                    }
                }
            }
            // A handler whose server request ended unanswered (timed out, withdrawn, session
            // lost, client closed) is dropped, which cancels it. Here, so that an end by
            // timeout counts as much as one by input.
            answering.retain(|request, _| core.is_server_request_pending(*request));
            if core.is_closed() && core.poll_timeout().is_none() && child.is_none() {
                // A command sent since the client closed would wait in the inbox for as long
                // as a handle keeps it: closed and emptied, every asker hears "closed" now.
                receiver.close();
                while receiver.try_recv().is_ok() {}
                return;
            }
            let deadline = core.poll_timeout().map(|at| clock.to_std(at));
            let sleep = async {
                match deadline {
                    Some(at) => {
                        Timer::at(at).await;
                    }
                    None => std::future::pending::<()>().await,
                }
                None
            };
            let wake = async {
                match control.recv().await {
                    Ok(order) => Some(Wake::Control(order)),
                    // Cannot happen while the driver holds a sender; were it to, the inbox and
                    // the timer are left to wake the driver (never a spin).
                    Err(_) => std::future::pending().await,
                }
            }
            .or(async { receiver.recv().await.ok().map(Wake::Inbox) })
            .or(sleep)
            .await;
            let now = clock.now();
            let input = match wake {
                None => continue,
                Some(Wake::Control(order)) => {
                    control_in(&mut core, now, order, &mut unsolicited);
                    continue;
                }
                Some(Wake::Inbox(input)) => input,
            };
            match input {
                Inbox::Connected(conn) => {
                    tls_failure = None;
                    core.handle_connected(now, conn);
                }
                Inbox::ConnectFailed(conn, tls_error) => {
                    conns.remove(&conn);
                    core.handle_connect_failed(now, conn);
                    if let Some(error) = tls_error {
                        if error.lasting && ready.is_some() {
                            // An untrusted certificate stays untrusted: the first connection
                            // says so at once rather than after every retry. (Later, with a
                            // session to keep, the client retries as for any failure.)
                            core.close(now);
                        }
                        tls_failure = Some(error.why);
                    }
                }
                Inbox::Bytes(conn, bytes) => core.handle_bytes(now, conn, &bytes),
                Inbox::Closed(conn) => {
                    conns.remove(&conn);
                    core.handle_closed(now, conn);
                }
                Inbox::ChildExited(conn, why) => core.handle_pipe_ended(now, conn, &why),
                Inbox::ChildGone(conn) => {
                    if child.as_ref().is_some_and(|c| c.conn == conn) {
                        child = None;
                    }
                }
                Inbox::Answer(request, outcome) => {
                    answering.remove(&request);
                    let result = outcome.and_then(|value| {
                        serde_json::value::to_raw_value(&value).map_err(|e| ErrorObject {
                            code: ErrorCode::INTERNAL_ERROR.0,
                            message: e.to_string(),
                            data: None,
                        })
                    });
                    let _ = match &result {
                        Ok(raw) => core.respond(now, request, Ok(raw)),
                        Err(error) => core.respond(now, request, Err(error)),
                    };
                }
                Inbox::Authorized(state, outcome) => {
                    authorizing = None;
                    auth_state = *state;
                    match outcome {
                        Ok(header) => {
                            if let Err(e) = core.set_authorization(now, Some(&header)) {
                                core.authorization_failed(now, &format!("the token: {e}"));
                            }
                        }
                        Err(why) => core.authorization_failed(now, &why),
                    }
                }
                Inbox::Command(Command::Stats(reply)) => {
                    let tasks = conns.len()
                        + answering.len()
                        + usize::from(authorizing.is_some())
                        + usize::from(child.is_some());
                    let _ = reply.try_send((core.stats(), tasks));
                }
                Inbox::Command(command) => {
                    command_in(&mut core, now, command, &mut calls, &control_sender);
                }
            }
        }
    }));
}

/// A message's params as a value (`null` when absent).
fn to_value(params: Option<Box<RawValue>>) -> Value {
    params
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .unwrap_or(Value::Null)
}

/// A notification of no call: to the subscriptions of its resource, or to the general stream.
/// A reader that does not keep up loses notifications, never the driver.
fn route_unsolicited(unsolicited: &Unsolicited, note: Notification) {
    if note.method == "notifications/resources/updated" {
        let uri = note
            .params
            .get("uri")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut delivered = false;
        for (wanted, sink) in unsolicited.resources.values() {
            // A subscription whose receiver is gone takes nothing (its Unsubscribe is on
            // the way): the update goes to the general stream instead.
            if wanted == uri && !sink.is_closed() {
                let _ = sink.try_send(note.clone());
                delivered = true;
            }
        }
        if delivered {
            return;
        }
    }
    let _ = unsolicited.general.try_send(note);
}

/// `resources/subscribe` (session era) for `uri`; its outcome goes to no one.
fn subscribe_request(core: &mut Core, now: mcpwire_core::time::Instant, method: &str, uri: &str) {
    if let Ok(params) = serde_json::value::to_raw_value(&serde_json::json!({ "uri": uri })) {
        let _ = core.request(now, method, Some(&params), CallOptions::default());
    }
}

fn resubscribe(core: &mut Core, now: mcpwire_core::time::Instant, unsolicited: &Unsolicited) {
    if core.era() != Some(mcpwire_core::client::Era::Modern) {
        for (uri, _) in unsolicited.resources.values() {
            subscribe_request(core, now, "resources/subscribe", uri);
        }
    }
}

fn command_in(
    core: &mut Core,
    now: mcpwire_core::time::Instant,
    command: Command,
    calls: &mut BTreeMap<CallId, CallSinks>,
    control: &Sender<Control>,
) {
    match command {
        Command::Request {
            method,
            params,
            options,
            listen,
            started,
            sinks,
            ends,
        } => {
            let raw: Option<Box<RawValue>> =
                params.and_then(|p| serde_json::value::to_raw_value(&p).ok());
            let outcome = if listen {
                let filter = raw.unwrap_or_else(|| {
                    RawValue::from_string("{}".into()).expect("an empty object parses")
                });
                core.listen(now, &filter)
            } else {
                core.request(now, &method, raw.as_deref(), options)
            };
            let owner = outcome.map(|call| {
                calls.insert(call, sinks);
                RunningCall {
                    call,
                    control: control.clone(),
                    cancelled: AtomicBool::new(false),
                    outcome: ends.0,
                    notes: ends.1,
                    done: false,
                }
            });
            // Its asker gone, the RunningCall is dropped here, or later with the channel,
            // and cancels its call either way.
            let _ = started.try_send(owner);
        }
        Command::Stats(_) => {}
    }
}

fn control_in(
    core: &mut Core,
    now: mcpwire_core::time::Instant,
    order: Control,
    unsolicited: &mut Unsolicited,
) {
    match order {
        Control::Subscribe { token, uri, sink } => {
            unsolicited.resources.insert(token, (uri, sink));
        }
        Control::Cancel(call) => {
            let _ = core.cancel(now, call);
        }
        Control::Unsubscribe(token) => {
            if let Some((uri, _)) = unsolicited.resources.remove(&token) {
                let still_wanted = unsolicited.resources.values().any(|(u, _)| *u == uri);
                if !still_wanted && core.era() != Some(mcpwire_core::client::Era::Modern) {
                    subscribe_request(core, now, "resources/unsubscribe", &uri);
                }
            }
        }
        Control::Close => core.close(now),
    }
}
