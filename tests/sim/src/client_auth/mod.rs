//! OAuth in the client simulation ([`ClientSimConfig::auth`](crate::ClientSimConfig::auth)):
//! the MCP server is a protected resource, and the client gets its tokens by running the
//! sans-IO [`AuthFlow`] against a simulated authorization server and person (`world.rs`),
//! driven as the smol adapter's driver does: on `AuthorizationRequired`, one flow (unless one
//! runs) from what the last one left; its tokens go to `set_authorization`, its failure to
//! `authorization_failed`; a flow still running when the client closes is dropped.
//!
//! After every step: at most one flow runs; a running flow has a deadline that has not
//! passed; every fetch under way, and the person's answer, belong to the running flow; a flow
//! with an outcome is finished at once, and what was still under way for it is delivered to
//! it anyway and must change nothing (no action, no deadline, the same outcome); while the
//! client waits for credentials a flow runs. In the liveness phase the faults stop, and at
//! the end no flow runs and nothing is under way: no fetch, no person, no verification.

mod world;

use mcpwire_core::client::Client;
use mcpwire_core::client::auth::{
    AuthAction, AuthFlow, AuthState, FetchId, FlowLimits, OAuthConfig,
};
use mcpwire_core::engine::{Engine, ResourceServer, Verdict, VerificationId};
use mcpwire_core::time::{Duration, Instant};

pub(crate) use self::world::Origin;
use self::world::{Answer, MCP_ORIGIN, Person, REDIRECT, World};
use crate::rng::Rng;

/// A deliberate defect in the simulator's flow driver, to prove the checks catch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFault {
    /// A flow that fails is not reported with `authorization_failed`: the client is left
    /// waiting for credentials with no flow to bring them.
    ForgetFailure,
    /// The driver never calls `handle_timeout`: a fetch never answered, or a person who never
    /// comes back, leaves its flow running forever.
    IgnoreFlowDeadline,
}

impl std::fmt::Display for AuthFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthFault::ForgetFailure => "forget-failure",
            AuthFault::IgnoreFlowDeadline => "ignore-flow-deadline",
        })
    }
}

impl std::str::FromStr for AuthFault {
    type Err = String;

    fn from_str(s: &str) -> Result<AuthFault, String> {
        match s {
            "forget-failure" => Ok(AuthFault::ForgetFailure),
            "ignore-flow-deadline" => Ok(AuthFault::IgnoreFlowDeadline),
            other => Err(format!(
                "unknown auth fault {other:?} (forget-failure, ignore-flow-deadline)"
            )),
        }
    }
}

/// What the OAuth side of a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthReport {
    /// Waits for credentials the client asked for: for a 401, for a 403 (step-up).
    pub required: (u64, u64),
    /// Flows started, succeeded, failed.
    pub flows: (u64, u64, u64),
    /// Fetches made.
    pub fetches: u64,
    /// Answers (fetches, the person's) that arrived for a flow that had already ended.
    pub stale: u64,
    /// Authorization server restarts, tokens issued, refreshes granted.
    pub server: (u64, u64, u64),
    /// Token verifications the MCP server asked for.
    pub verifications: u64,
}

struct Running {
    no: u64,
    flow: AuthFlow,
}

/// A fetch under way.
struct InFlight {
    flow: u64,
    id: FetchId,
    at: Option<Instant>,
    answer: Answer,
}

/// A token verification the MCP server asked for.
struct Verifying {
    id: VerificationId,
    token: String,
    at: Option<Instant>,
    unavailable: bool,
}

/// The OAuth side of a client simulation. See the [module docs](self).
pub(crate) struct AuthSim {
    rng: Rng,
    world: World,
    fault: Option<AuthFault>,
    config: OAuthConfig,
    server_url: String,
    flow: Option<Running>,
    next_flow: u64,
    /// What the last flow left, for the next (this client's life).
    state: AuthState,
    /// The token store: the registered client and its tokens, across clients (the tokens
    /// of the last flow that got some, the registration of the last flow).
    stored: AuthState,
    fetches: Vec<InFlight>,
    person: Option<(u64, Person, Option<Instant>)>,
    verifying: Vec<Verifying>,
    report: AuthReport,
    /// A check that failed where no error could be returned; reported by the next check.
    failure: Option<String>,
}

impl AuthSim {
    /// The OAuth side for a client of `path` (`/mcp`, or `/sse`: then the resource is the
    /// server's origin, which covers both).
    pub(crate) fn new(seed: u64, path: &str, fault: Option<AuthFault>) -> AuthSim {
        let resource = if path == "/mcp" {
            format!("{MCP_ORIGIN}/mcp")
        } else {
            MCP_ORIGIN.to_string()
        };
        let mut config = OAuthConfig::authorization_code(REDIRECT, "sim-client");
        config.limits = FlowLimits {
            fetch_timeout: Duration::from_secs(10),
            authorize_timeout: Duration::from_secs(60),
            ..FlowLimits::default()
        };
        AuthSim {
            rng: Rng::new(seed ^ 0x00f1_0f1e),
            world: World::new(seed, &resource),
            fault,
            config,
            server_url: format!("{MCP_ORIGIN}{path}"),
            flow: None,
            next_flow: 1,
            state: AuthState::default(),
            stored: AuthState::default(),
            fetches: Vec::new(),
            person: None,
            verifying: Vec::new(),
            report: AuthReport::default(),
            failure: None,
        }
    }

    /// The MCP server as a protected resource: every request needs `mcp`, the `admin` tool
    /// needs `admin` too (step-up).
    pub(crate) fn resource_server(&self) -> ResourceServer {
        let resource = if self.server_url.ends_with("/mcp") {
            self.server_url.clone()
        } else {
            MCP_ORIGIN.to_string()
        };
        ResourceServer::new(&resource)
            .and_then(|r| r.authorization_server(self.world.issuer()))
            .expect("loopback URLs")
            .scopes_supported(["mcp", "admin"])
            .require_scope("mcp")
            .scope_for_tool("admin", "admin")
    }

    /// The `Authorization` value a new client starts with: the stored token's, as an adapter
    /// loads it from its store.
    pub(crate) fn stored_authorization(&mut self) -> Option<String> {
        // A new client starts from the store: the metadata an earlier one discovered is gone.
        self.state = self.stored.clone();
        self.stored.authorization()
    }

    pub(crate) fn report(&self) -> AuthReport {
        AuthReport {
            server: self.world.counts,
            ..self.report
        }
    }

    /// Faults stop: answers come, soon and right; the person authorizes.
    pub(crate) fn calm(&mut self) {
        self.world.calm();
    }

    /// A fault of the world, drawn by the simulation's step.
    pub(crate) fn disturb(&mut self, now: Instant) -> Option<String> {
        if !self.world.faulty {
            return None;
        }
        Some(self.world.restart(now))
    }

    /// The MCP server restarted: its verifications went with it.
    pub(crate) fn server_restarted(&mut self) {
        self.verifying.clear();
    }

    /// The MCP server asks for a verdict on `token`.
    pub(crate) fn verify(&mut self, now: Instant, id: VerificationId, token: String) {
        self.report.verifications += 1;
        let (at, unavailable) = self.world.verification(now);
        self.verifying.push(Verifying {
            id,
            token,
            at,
            unavailable,
        });
    }

    /// The MCP server gave up on a verification (it timed out, or its requests left).
    pub(crate) fn verification_cancelled(&mut self, id: VerificationId) -> Result<(), String> {
        let before = self.verifying.len();
        self.verifying.retain(|v| v.id != id);
        if self.verifying.len() == before {
            return Err(format!("{id:?} cancelled, but it was not pending"));
        }
        Ok(())
    }

    /// Gives the verdicts that are due.
    pub(crate) fn answer_verifications(
        &mut self,
        now: Instant,
        server: &mut Engine,
    ) -> Result<bool, String> {
        let mut moved = false;
        while let Some(i) = self
            .verifying
            .iter()
            .position(|v| v.at.is_some_and(|at| at <= now))
        {
            let v = self.verifying.remove(i);
            let verdict = if v.unavailable {
                Verdict::Unavailable
            } else {
                self.world.verdict_at(now, &v.token)
            };
            server
                .token_verified(now, v.id, verdict)
                .map_err(|e| format!("{:?} was pending but its verdict got {e:?}", v.id))?;
            moved = true;
        }
        Ok(moved)
    }

    /// The client asks for credentials: a flow starts, unless one runs.
    pub(crate) fn authorization_required(
        &mut self,
        now: Instant,
        client: &mut Client,
        status: u16,
        challenge: &str,
    ) {
        if status == 403 {
            self.report.required.1 += 1;
        } else {
            self.report.required.0 += 1;
        }
        if self.flow.is_some() {
            // The gate opens once per wait; the running flow's tokens will end this one.
            return;
        }
        let mut seed = [0u8; 32];
        for chunk in seed.chunks_mut(8) {
            chunk.copy_from_slice(&self.rng.next_u64().to_le_bytes());
        }
        let state = self.state.clone();
        match AuthFlow::new(
            self.config.clone(),
            &self.server_url,
            challenge,
            state,
            now,
            seed,
        ) {
            Ok(flow) => {
                self.report.flows.0 += 1;
                let no = self.next_flow;
                self.next_flow += 1;
                self.flow = Some(Running { no, flow });
            }
            Err(e) => client.authorization_failed(now, &e.to_string()),
        }
    }

    /// The client closed: the flow running for it is dropped, with whatever it waited for.
    pub(crate) fn client_closed(&mut self) {
        if let Some(running) = self.flow.take() {
            self.fetches.retain(|f| f.flow != running.no);
            self.person = None;
        }
    }

    /// When the flow next needs time to pass: its deadline, an answer due.
    pub(crate) fn next_event(&self) -> Option<Instant> {
        let running = self.flow.as_ref()?;
        let deadline = running
            .flow
            .poll_timeout()
            .filter(|_| self.fault != Some(AuthFault::IgnoreFlowDeadline));
        let fetch = self.fetches.iter().filter_map(|f| f.at).min();
        let person = self.person.as_ref().and_then(|(_, _, at)| *at);
        [deadline, fetch, person].into_iter().flatten().min()
    }

    /// Runs the flow as far as it goes at `now`: its actions, the answers due, its deadline,
    /// and its end. Whether anything happened.
    pub(crate) fn pump(&mut self, now: Instant, client: &mut Client, origin: Origin) -> bool {
        let mut moved = false;
        for _ in 0..1_000 {
            match self.pump_once(now, client, origin) {
                Ok(true) => moved = true,
                Ok(false) => return moved,
                Err(why) => {
                    self.failure.get_or_insert(why);
                    return moved;
                }
            }
        }
        self.failure.get_or_insert("the flow never settled".into());
        moved
    }

    fn pump_once(
        &mut self,
        now: Instant,
        client: &mut Client,
        origin: Origin,
    ) -> Result<bool, String> {
        let Some(running) = self.flow.as_mut() else {
            return Ok(false);
        };
        let no = running.no;
        if let Some(action) = running.flow.poll_action() {
            match action {
                AuthAction::Fetch(request) => {
                    self.report.fetches += 1;
                    let (answer, at) = self.world.fetch(now, &request, origin)?;
                    self.fetches.push(InFlight {
                        flow: no,
                        id: request.id,
                        at,
                        answer,
                    });
                }
                AuthAction::Authorize { url } => {
                    let (what, at) = self.world.authorize(now, &url)?;
                    self.person = Some((no, what, at));
                }
                AuthAction::SignAssertion { .. } => {
                    return Err(
                        "a flow of the authorization-code grant asked for an assertion".into(),
                    );
                }
            }
            return Ok(true);
        }
        if let Some(i) = self
            .fetches
            .iter()
            .position(|f| f.at.is_some_and(|at| at <= now))
        {
            let fetch = self.fetches.remove(i);
            deliver_fetch(&mut running.flow, now, &fetch);
            return Ok(true);
        }
        if self
            .person
            .as_ref()
            .is_some_and(|(_, _, at)| at.is_some_and(|at| at <= now))
        {
            if let Some((_, what, _)) = self.person.take() {
                deliver_person(&mut running.flow, now, &what);
            }
            return Ok(true);
        }
        let ignore = self.fault == Some(AuthFault::IgnoreFlowDeadline);
        if !ignore && running.flow.poll_timeout().is_some_and(|at| at <= now) {
            running.flow.handle_timeout(now);
            return Ok(true);
        }
        if running.flow.outcome().is_some() {
            self.finish(now, client)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The flow ended: what was still under way for it arrives anyway (a late answer, the
    /// person coming back) and must change nothing; then its tokens, or its failure, go to
    /// the client.
    fn finish(&mut self, now: Instant, client: &mut Client) -> Result<(), String> {
        let Some(Running { no, mut flow }) = self.flow.take() else {
            return Ok(());
        };
        let outcome = flow.outcome().cloned();
        let late: Vec<InFlight> = self.fetches.drain(..).collect();
        for fetch in late {
            if fetch.flow != no {
                return Err(format!("a fetch of flow {} outlived it", fetch.flow));
            }
            self.report.stale += 1;
            deliver_fetch(&mut flow, now, &fetch);
        }
        if let Some((owner, what, _)) = self.person.take() {
            if owner != no {
                return Err(format!("the person still answers flow {owner}"));
            }
            self.report.stale += 1;
            deliver_person(&mut flow, now, &what);
        }
        flow.handle_timeout(now + Duration::from_secs(3_600));
        if flow.outcome() != outcome.as_ref() {
            return Err(format!(
                "an ended flow changed its outcome from {outcome:?} to {:?}",
                flow.outcome()
            ));
        }
        if let Some(action) = flow.poll_action() {
            return Err(format!("an ended flow asked for more: {action:?}"));
        }
        if let Some(at) = flow.poll_timeout() {
            return Err(format!("an ended flow still has a deadline: {at:?}"));
        }
        self.state = flow.into_state();
        // The store keeps the registration as the flow left it, even after a failure: one
        // the flow dropped as refused must not come back with the next client.
        self.stored.client = self.state.client.clone();
        match outcome {
            Some(Ok(())) => {
                self.report.flows.1 += 1;
                self.stored.tokens = self.state.tokens.clone();
                let header = self.state.authorization().unwrap_or_default();
                if let Err(e) = client.set_authorization(now, Some(&header)) {
                    client.authorization_failed(now, &format!("the token: {e}"));
                }
            }
            Some(Err(e)) => {
                self.report.flows.2 += 1;
                if self.fault != Some(AuthFault::ForgetFailure) {
                    client.authorization_failed(now, &e.to_string());
                }
            }
            None => {}
        }
        Ok(())
    }

    /// The checks after every step. See the [module docs](self).
    pub(crate) fn check(&mut self, now: Instant, client: &Client) -> Result<(), String> {
        if let Some(why) = self.failure.take() {
            return Err(why);
        }
        let running = self.flow.as_ref().map(|r| r.no);
        if client.is_awaiting_authorization() && running.is_none() {
            return Err("the client waits for credentials and no flow runs to bring them".into());
        }
        if let Some(stray) = self.fetches.iter().find(|f| Some(f.flow) != running) {
            return Err(format!("a fetch of flow {} outlived it", stray.flow));
        }
        if self.fetches.len() > 1 {
            return Err(format!(
                "{} fetches of one flow under way",
                self.fetches.len()
            ));
        }
        if let Some((owner, _, _)) = &self.person {
            if Some(*owner) != running {
                return Err(format!("the person still answers flow {owner}"));
            }
        }
        if let Some(running) = &self.flow {
            if running.flow.outcome().is_some() {
                return Err("a flow ended and was not finished".into());
            }
            match running.flow.poll_timeout() {
                None => return Err("a running flow waits without a deadline".into()),
                Some(at) if at <= now => {
                    return Err(format!("flow {} outlived its deadline {at:?}", running.no));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// At the very end: nothing runs, nothing is under way.
    pub(crate) fn check_idle(&self) -> Result<(), String> {
        if let Some(running) = &self.flow {
            return Err(format!("flow {} still runs", running.no));
        }
        if !self.fetches.is_empty() || self.person.is_some() {
            return Err("a fetch or the person is still under way".into());
        }
        if !self.verifying.is_empty() {
            return Err(format!(
                "{} token verifications neither answered nor cancelled",
                self.verifying.len()
            ));
        }
        Ok(())
    }

    /// Whether a flow runs.
    pub(crate) fn flow_running(&self) -> bool {
        self.flow.is_some()
    }
}

fn deliver_fetch(flow: &mut AuthFlow, now: Instant, fetch: &InFlight) {
    match &fetch.answer {
        Answer::Response(status, body) => flow.handle_response(now, fetch.id, *status, body),
        Answer::Failed(why) => flow.handle_fetch_failed(now, fetch.id, why),
    }
}

fn deliver_person(flow: &mut AuthFlow, now: Instant, what: &Person) {
    match what {
        Person::Redirect(url) => flow.handle_redirect(now, url),
        Person::Gives(why) => flow.handle_authorization_failed(why),
    }
}
