//! The HTTP edge of the collector: one `POST <url>/add-checkpoint` and its
//! answer as a [`super::Answer`]. HTTPS through rustls with the system's
//! roots; HTTP/1.1; every request bounded by a timeout.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use archive::store::error_chain;

use super::{Answer, parse_conflict};

/// Bytes of an answer read at most (a cosignature line is ~100).
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// How long one request may take, connecting included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A client for the witnesses.
#[derive(Clone)]
pub struct WitnessClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for WitnessClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitnessClient").finish_non_exhaustive()
    }
}

impl WitnessClient {
    /// A client trusting the system's root certificates.
    pub fn new() -> Result<Self, std::io::Error> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(WitnessClient { client })
    }

    /// Sends an `add-checkpoint` body to the witness at `base_url`.
    pub async fn add_checkpoint(&self, base_url: &str, body: Vec<u8>) -> Answer {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.send(base_url, body)).await {
            Ok(a) => a,
            Err(_) => {
                Answer::Unreachable(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()))
            }
        }
    }

    async fn send(&self, base_url: &str, body: Vec<u8>) -> Answer {
        let req = hyper::Request::post(format!("{base_url}/add-checkpoint"))
            .header(hyper::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from(body)));
        let req = match req {
            Ok(r) => r,
            Err(e) => return Answer::Unreachable(format!("bad request to {base_url}: {e}")),
        };
        let resp = match self.client.request(req).await {
            Ok(r) => r,
            Err(e) => return Answer::Unreachable(error_chain(&e)),
        };
        let status = resp.status().as_u16();
        let body = match Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes().to_vec(),
            Err(e) => return Answer::Unreachable(format!("reading the answer: {e}")),
        };
        answer(status, body)
    }
}

/// An HTTP status and body as an [`Answer`].
pub fn answer(status: u16, body: Vec<u8>) -> Answer {
    match status {
        200 => Answer::Cosigned(body),
        409 => match parse_conflict(&body) {
            Some(size) => Answer::Conflict(size),
            None => Answer::Refused {
                status,
                body: "409 whose body is not a tree size".into(),
            },
        },
        _ => {
            let text = String::from_utf8_lossy(&body);
            let line: String = text
                .lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect();
            Answer::Refused { status, body: line }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_answers() {
        assert_eq!(
            answer(200, b"x\n".to_vec()),
            Answer::Cosigned(b"x\n".to_vec())
        );
        assert_eq!(answer(409, b"12\n".to_vec()), Answer::Conflict(12));
        assert!(matches!(
            answer(409, b"?".to_vec()),
            Answer::Refused { status: 409, .. }
        ));
        assert_eq!(
            answer(422, b"422 inconsistent\nmore".to_vec()),
            Answer::Refused {
                status: 422,
                body: "422 inconsistent".into()
            }
        );
    }
}
