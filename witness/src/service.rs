//! The HTTP edge: `POST /add-checkpoint` (c2sp.org/tlog-witness). The
//! handler moves the body to a blocking thread, where [`Witness`] decides
//! and persists; it holds no lock across an `.await`. A client that hangs up
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

use crate::core::{Answer, TEXT};
use crate::telemetry::RequestAnswered;
use crate::{Witness, WitnessError};

/// The largest request body: a note of at most 1,000,000 bytes plus the
/// old size and 63 proof lines.
pub const MAX_BODY_BYTES: usize = 1_000_000 + 64 * 46;

/// The witness's routes.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(witness)
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

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    let answer = tokio::task::spawn_blocking(move || witness.add_checkpoint(&body, now()))
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
