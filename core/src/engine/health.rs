//! The health check: whether this node takes new clients, for a load balancer's probe.

use super::Engine;
use super::ids::ExchangeId;
use crate::http1::{Method, Request};

impl Engine {
    /// Answers a request for [`Config::health_path`](super::Config::health_path): `200`. Once
    /// the engine shuts down, a probe never gets here: idle connections are closed and new
    /// ones are answered `503` with `Retry-After`, which is what takes a draining node out.
    pub(super) fn serve_health(&mut self, exchange: ExchangeId, request: &Request) {
        if !matches!(request.method(), Method::Get | Method::Head) {
            return self.method_not_allowed(exchange, "GET, HEAD");
        }
        let headers = [
            ("content-type", "application/json"),
            ("cache-control", "no-store"),
        ];
        self.send_full(exchange, 200, &headers, br#"{"status":"ok"}"#);
    }
}
