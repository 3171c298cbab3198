//! The HTTP edge: `POST /add-checkpoint` (c2sp.org/tlog-witness). The
//! handler moves the body to a blocking thread, where [`Witness`] decides
//! and persists; it holds no lock across an `.await`, and at most
//! [`MAX_IN_FLIGHT`] requests are decided at once. A client that hangs up
//! does not stop a decision under way: its state is written all the same,
//! which is safe (the state only ever moves to a checkpoint the witness
//! would cosign).

use std::future::Future;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::sync::Semaphore;

use crate::core::{Answer, TEXT};
use crate::telemetry::RequestAnswered;
use crate::{Witness, WitnessError};

/// Requests decided at once (each holds a blocking thread); further ones
/// wait for a permit, so a flood queues as connections, not threads.
pub const MAX_IN_FLIGHT: usize = 64;

/// The largest request body: a note of at most 1,000,000 bytes plus the
/// old size and 63 proof lines.
pub const MAX_BODY_BYTES: usize = 1_000_000 + 64 * 46;

/// The witness's routes.
pub fn router(witness: Arc<Witness>) -> Router {
    let state = Shared {
        witness,
        permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
    };
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

#[derive(Debug, Clone)]
struct Shared {
    witness: Arc<Witness>,
    permits: Arc<Semaphore>,
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    witness: Arc<Witness>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WitnessError> {
    axum::serve(listener, router(witness))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(WitnessError::Serve)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn add_checkpoint(State(shared): State<Shared>, body: Bytes) -> Response {
    let Ok(permit) = Arc::clone(&shared.permits).acquire_owned().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let witness = shared.witness;
    let answer = tokio::task::spawn_blocking(move || {
        let answer = witness.add_checkpoint(&body, now());
        drop(permit);
        answer
    })
    .await
    .unwrap_or_else(|error| {
        tracing::error!(%error, "add-checkpoint task failed");
        Answer {
            status: 500,
            content_type: TEXT,
            body: "internal error\n".into(),
        }
    });
    RequestAnswered {
        status: answer.status,
    }
    .emit();
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, answer.content_type)],
        answer.body,
    )
        .into_response()
}
