//! The HTTP gateway: `POST /v1/events`, `GET /healthz`, `GET /readyz`,
//! `GET /metrics`.
//!
//! A request is answered 202 only after the broker acknowledged every one of
//! its events. Work in flight is bounded by a semaphore counted in events;
//! when it is exhausted the gateway answers 503 with `Retry-After` instead of
//! queueing without bound. While the broker is unreachable `/readyz` and
//! `POST` answer 503 at once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use auditlog_config::IngestConfig;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use schemas::Limits;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::auth::{Auth, Grant};
use crate::body::{BodyError, format_of, parse_body};
use crate::producer::EventProducer;
use crate::{IngestError, telemetry};

/// Everything a request handler needs.
#[derive(Debug)]
pub struct Gateway {
    producer: Arc<EventProducer>,
    limits: Limits,
    cfg: IngestConfig,
    ready: AtomicBool,
    /// Set while the last probe found the broker but not the events topic.
    topic_missing: AtomicBool,
    permits: Semaphore,
    metrics: PrometheusHandle,
    auth: Auth,
}

impl Gateway {
    /// Assembles a gateway. It reports not-ready until the first probe.
    pub fn new(
        producer: Arc<EventProducer>,
        limits: Limits,
        cfg: IngestConfig,
        metrics: PrometheusHandle,
    ) -> Self {
        let permits = Semaphore::new(cfg.max_in_flight_events.get());
        let auth = Auth::new(&cfg.tokens);
        if !auth.enabled() {
            tracing::warn!("no ingest.tokens configured: the gateway accepts events from anyone");
        }
        Self {
            auth,
            producer,
            limits,
            cfg,
            ready: AtomicBool::new(false),
            topic_missing: AtomicBool::new(false),
            permits,
            metrics,
        }
    }

    /// The routes.
    pub fn router(self: Arc<Self>) -> Router {
        let limit = self.cfg.max_body_bytes.get();
        let bound = self.cfg.header_timeout + self.cfg.request_timeout;
        Router::new()
            .route("/v1/events", post(post_events))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    bounded(bound, req, next)
                },
            ))
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    close_after_unread_body(limit, req, next)
                },
            ))
            .layer(DefaultBodyLimit::max(limit))
            .with_state(self)
    }

    /// Probes the broker every `ingest.readiness_interval_ms` until `stop`
    /// resolves, keeping `/readyz` current.
    pub async fn watch_broker(self: Arc<Self>, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let mut result = self.probe().await;
            if !matches!(result, Ok(Ok(_))) && self.ready.load(Ordering::SeqCst) {
                // One failed metadata request is not an outage: right after a
                // broker dies librdkafka may still send it over that broker's
                // dead connection. Ask again at once (the dead broker is
                // marked down by then) before refusing requests.
                result = self.probe().await;
            }
            let ready = matches!(result, Ok(Ok(_)));
            self.topic_missing.store(
                matches!(
                    result,
                    Ok(Err(IngestError::Kafka(
                        auditlog_kafka::KafkaError::TopicMissing { .. }
                    )))
                ),
                Ordering::SeqCst,
            );
            let was = self.ready.swap(ready, Ordering::SeqCst);
            if was != ready {
                match &result {
                    Ok(Ok(partitions)) => tracing::info!(
                        topic = self.producer.topic(),
                        partitions,
                        "broker reachable"
                    ),
                    Ok(Err(error)) => tracing::warn!(%error, "broker not ready"),
                    Err(error) => tracing::warn!(%error, "readiness probe panicked"),
                }
            }
            telemetry::broker_ready(ready);
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(self.cfg.readiness_interval) => {}
            }
        }
    }

    async fn probe(&self) -> Result<Result<usize, IngestError>, tokio::task::JoinError> {
        let producer = Arc::clone(&self.producer);
        tokio::task::spawn_blocking(move || producer.probe()).await
    }

    fn in_flight(&self) -> usize {
        self.cfg.max_in_flight_events.get() - self.permits.available_permits()
    }
}

/// Serves until `shutdown` resolves, then stops accepting, lets requests in
/// flight finish (bounded by `ingest.shutdown_grace_ms`), and flushes the
/// producer.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), IngestError> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let watcher = {
        let mut rx = stop_rx.clone();
        tokio::spawn(Arc::clone(&gateway).watch_broker(async move {
            let _ = rx.wait_for(|s| *s).await;
        }))
    };
    let grace = gateway.cfg.shutdown_grace;
    let app = Arc::clone(&gateway).router();
    let tls = match &gateway.cfg.tls {
        Some((cert, key)) => Some(crate::server::tls_acceptor(cert, key)?),
        None => None,
    };
    let server = crate::server::run(
        listener,
        app,
        tls,
        gateway.cfg.header_timeout,
        stop_rx.clone(),
    );
    let server = tokio::spawn(server);
    shutdown.await;
    tracing::info!(
        in_flight = gateway.in_flight(),
        "shutting down; draining requests in flight"
    );
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(grace, server).await;
    watcher.abort();
    let producer = Arc::clone(&gateway.producer);
    let flushed = tokio::task::spawn_blocking(move || producer.flush(grace)).await;
    match drained {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(e),
        Ok(Err(e)) => return Err(IngestError::Serve(std::io::Error::other(e))),
        Err(_) => tracing::warn!(
            ?grace,
            "requests still in flight when the shutdown grace ran out"
        ),
    }
    if let Ok(Err(error)) = flushed {
        tracing::warn!(%error, "producer queue not empty at exit");
    }
    Ok(())
}

fn retry_after(status: StatusCode, body: serde_json::Value) -> Response {
    let mut r = (status, Json(body)).into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// The 503 answer while the gateway is not ready: a missing events topic
/// is named as such, anything else is an unreachable broker.
fn not_ready(g: &Gateway) -> Response {
    if g.topic_missing.load(Ordering::SeqCst) {
        let topic = g.producer.topic();
        return retry_after(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "topic_missing",
                "message": format!("topic {topic} does not exist (create it with `auditlog topics create`); nothing was published")}),
        );
    }
    retry_after(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"error": "broker_unavailable", "message": "the broker is unreachable; nothing was published"}),
    )
}

async fn readyz(State(g): State<Arc<Gateway>>) -> Response {
    if g.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready\n").into_response()
    } else if g.topic_missing.load(Ordering::SeqCst) {
        not_ready(&g)
    } else {
        retry_after(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "broker_unavailable"}),
        )
    }
}

async fn metrics(State(g): State<Arc<Gateway>>) -> Response {
    telemetry::in_flight(g.in_flight());
    let mut r = g.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

/// Bounds a whole request, body upload included, so a client dripping its
/// body cannot hold a connection and its buffers indefinitely.
async fn bounded(
    bound: std::time::Duration,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(bound, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            telemetry::request_answered(408, bound.as_secs_f64());
            (
                StatusCode::REQUEST_TIMEOUT,
                Json(json!({"error": "request_timeout",
                    "message": format!("the request did not complete within {} ms; resend it with the same event_ids", bound.as_millis())})),
            )
                .into_response()
        }
    }
}

/// A body refused for its size (413) or its upload time (408) was not read
/// to the end, so the server closes the connection after answering; saying
/// `Connection: close` keeps clients from reusing it for their next request.
/// The body limit's own 413 (plain text from axum) is answered in JSON like
/// every other refusal.
async fn close_after_unread_body(
    limit: usize,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(req).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        response = (
            StatusCode::PAYLOAD_TOO_LARGE,
            Json(json!({"error": "body_too_large",
                "message": format!("the body is over ingest.max_body_bytes ({limit} bytes); split it into several requests")})),
        )
            .into_response();
    }
    if matches!(
        response.status(),
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
    ) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Unknown paths get a JSON 404. The body is read first (within the body
/// limit and the request bound): answering before it has arrived makes the
/// server close a keep-alive connection the client may already be reusing.
async fn not_found(_body: Bytes) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "not_found", "message": "no such endpoint; events go to POST /v1/events"})),
    )
        .into_response()
}

/// A known path with the wrong method: JSON 405, body read first as above.
async fn method_not_allowed(_body: Bytes) -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({"error": "method_not_allowed",
            "message": "wrong method: POST /v1/events, GET /healthz, /readyz, /metrics"})),
    )
        .into_response()
}

async fn post_events(State(g): State<Arc<Gateway>>, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    let grant = match g
        .auth
        .check(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()))
    {
        Ok(grant) => grant,
        Err(denied) => {
            telemetry::auth_failed(denied.reason());
            let response = (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"auditlog\"")],
                Json(json!({"error": denied.reason(),
                    "message": "send Authorization: Bearer <token>; nothing was published"})),
            )
                .into_response();
            telemetry::request_answered(401, started.elapsed().as_secs_f64());
            return response;
        }
    };
    let response = match tokio::time::timeout(
        g.cfg.request_timeout,
        handle(&g, grant, &headers, &body),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => retry_after(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "timeout", "message": "the broker did not acknowledge in time; resend with the same event_ids"}),
        ),
    };
    telemetry::request_answered(response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

async fn handle(g: &Gateway, grant: Option<&Grant>, headers: &HeaderMap, body: &[u8]) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let parsed = format_of(content_type)
        .and_then(|format| parse_body(format, body, &g.limits, g.cfg.max_batch_events.get()));
    let events = match parsed {
        Ok(events) => events,
        Err(e) => return refusal(e),
    };
    if let Some(grant) = grant {
        let forbidden: Vec<serde_json::Value> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| !grant.allows(&e.tenant))
            .map(|(index, e)| json!({"index": index, "tenant": e.tenant}))
            .collect();
        if !forbidden.is_empty() {
            telemetry::auth_failed("forbidden_tenant");
            tracing::warn!(token = %grant.name, events = forbidden.len(), "events for tenants the token may not write");
            return (
                StatusCode::FORBIDDEN,
                Json(json!({"error": "forbidden_tenant",
                    "message": format!("token {:?} may not write these tenants; nothing was published", grant.name),
                    "errors": forbidden})),
            )
                .into_response();
        }
    }
    if !g.ready.load(Ordering::SeqCst) {
        return not_ready(g);
    }
    let n = u32::try_from(events.len()).unwrap_or(u32::MAX);
    let Ok(_permit) = g.permits.try_acquire_many(n) else {
        telemetry::overloaded();
        return retry_after(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "overloaded", "message": "too many events in flight; nothing was published"}),
        );
    };
    telemetry::in_flight(g.in_flight());
    let results = g.producer.publish_all(&events).await;
    let failed: Vec<serde_json::Value> = results
        .iter()
        .enumerate()
        .filter_map(|(index, r)| r.as_ref().err().map(|e| json!({"index": index, "event_id": events[index].event_id, "error": e.to_string()})))
        .collect();
    if failed.is_empty() {
        let acks: Vec<_> = results.into_iter().flatten().collect();
        telemetry::events_accepted(acks.len());
        return (
            StatusCode::ACCEPTED,
            Json(json!({"accepted": acks.len(), "events": acks})),
        )
            .into_response();
    }
    telemetry::publish_failed(failed.len());
    telemetry::events_accepted(events.len() - failed.len());
    tracing::warn!(
        failed = failed.len(),
        total = events.len(),
        "events not acknowledged by the broker"
    );
    let acked: Vec<_> = results.into_iter().flatten().collect();
    retry_after(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({
            "error": "not_acknowledged",
            "message": "some events were not acknowledged; resend the failed ones with the event_ids given",
            "failed": failed,
            "events": acked,
        }),
    )
}

fn refusal(e: BodyError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body = match e {
        BodyError::UnsupportedMediaType(ct) if ct.is_empty() => {
            json!({"error": "unsupported_media_type",
            "message": "no Content-Type: send application/json (one event or an array) or application/x-ndjson (one event per line)"})
        }
        BodyError::UnsupportedMediaType(ct) => json!({"error": "unsupported_media_type",
            "message": format!("content type {ct:?} is not application/json or application/x-ndjson")}),
        BodyError::Malformed(message) => json!({"error": "malformed_body", "message": message}),
        BodyError::Empty => json!({"error": "empty_body", "message": "the body holds no event"}),
        BodyError::TooManyEvents { count, max } => json!({"error": "too_many_events",
            "message": format!("{count} events in one request; the limit is {max}")}),
        BodyError::Invalid(items) => {
            telemetry::events_rejected(items.iter().map(|i| i.rule));
            json!({"error": "invalid_events",
                "message": "no event was published because at least one is invalid",
                "errors": items})
        }
    };
    (status, Json(body)).into_response()
}
