//! The create-only PUT, sent without the SDK's request pipeline.
//!
//! An archiver with transparency logs on PUTs one 8 KiB tile per 256
//! records, and the SDK spends about 0.75 ms of CPU on each (endpoint rules,
//! interceptors, config bags; measured with `archive/examples/put_cost.rs`),
//! which made the logs cost ~40% more CPU per event. This is the same
//! request, built directly: the endpoint is resolved once by the SDK's own
//! resolver, the request is signed with AWS Signature Version 4 by the SDK's
//! own `aws-sigv4` crate (payload hash = the SHA-256 the caller already
//! has), with credentials from the same default chain, cached until shortly
//! before they expire, and sent over a pooled HTTP/1.1 connection (rustls
//! for HTTPS, the system's roots). Reads, listings and HEADs stay on the SDK.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::b64;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// How long one attempt may take, as the SDK's operation attempt timeout.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
/// Connecting, as the SDK's connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Attempts for an answer worth retrying (no answer, 5xx, 429), as the
/// SDK's standard retry mode.
const ATTEMPTS: u32 = 3;
/// Credentials are renewed this long before they expire.
const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// Bytes of an error answer kept for the message.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// What a PUT attempt ended with.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// 2xx, with the version id S3 gave.
    Created(String),
    /// 412: something is already at the key.
    Exists,
    /// Anything else, as a message a person can act on.
    Failed(String),
}

/// One object to PUT.
pub(crate) struct Object<'a> {
    pub key: &'a str,
    pub bytes: Bytes,
    pub sha256: &'a [u8; 32],
    pub retain_until_secs: i64,
    pub content_type: &'a str,
}

/// Signed create-only PUTs to one bucket.
#[derive(Clone)]
pub(crate) struct SignedPut {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    credentials: Option<SharedCredentialsProvider>,
    cached: Arc<Mutex<Option<Credentials>>>,
    /// The bucket's URL: objects are at `<base>/<encoded key>`.
    base: String,
    region: String,
}

impl std::fmt::Debug for SignedPut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedPut")
            .field("base", &self.base)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl SignedPut {
    /// PUTs to `bucket` as the SDK configured by `shared` would address it
    /// (`endpoint`, `path_style`). An endpoint the SDK's rules refuse gives a
    /// message; every PUT then fails with it.
    pub(crate) fn new(
        shared: &aws_config::SdkConfig,
        endpoint: Option<&str>,
        region: &str,
        bucket: &str,
        path_style: bool,
    ) -> Result<Self, String> {
        use aws_sdk_s3::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
        let params = Params::builder()
            .bucket(bucket)
            .region(region)
            .set_endpoint(endpoint.map(str::to_owned))
            .force_path_style(path_style)
            .use_fips(shared.use_fips().unwrap_or(false))
            .use_dual_stack(shared.use_dual_stack().unwrap_or(false))
            .build()
            .map_err(|e| format!("S3 endpoint parameters: {e}"))?;
        let resolved =
            futures::executor::block_on(DefaultResolver::new().resolve_endpoint(&params))
                .map_err(|e| format!("resolving the S3 endpoint of bucket {bucket}: {e}"))?;
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("reading the system's root certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(https),
            credentials: shared.credentials_provider(),
            cached: Arc::new(Mutex::new(None)),
            base: resolved.url().trim_end_matches('/').to_owned(),
            region: region.to_owned(),
        })
    }

    /// The object's URL.
    fn url(&self, key: &str) -> String {
        format!("{}/{}", self.base, encode_key(key))
    }

    /// Credentials from the default chain, cached until [`RENEW_BEFORE`]
    /// their expiry (static ones never expire).
    async fn credentials(&self) -> Result<Credentials, String> {
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|t| t > SystemTime::now() + RENEW_BEFORE)
        };
        if let Ok(guard) = self.cached.lock() {
            if let Some(c) = guard.as_ref().filter(|c| fresh(c)) {
                return Ok(c.clone());
            }
        }
        let provider = self.credentials.as_ref().ok_or_else(no_credentials)?;
        let c = provider
            .provide_credentials()
            .await
            .map_err(|e| format!("{}: {e}", no_credentials()))?;
        if let Ok(mut guard) = self.cached.lock() {
            *guard = Some(c.clone());
        }
        Ok(c)
    }

    /// One create-only PUT, retried while S3 gives no answer or a 5xx/429.
    pub(crate) async fn put(&self, o: Object<'_>) -> Outcome {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            let req = match self.request(&o).await {
                Ok(r) => r,
                Err(m) => return Outcome::Failed(m),
            };
            let answer = tokio::time::timeout(ATTEMPT_TIMEOUT, self.client.request(req)).await;
            let resp = match answer {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    last = format!("no answer: {}", error_chain(&e));
                    continue;
                }
                Err(_) => {
                    last = format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs());
                    continue;
                }
            };
            let status = resp.status();
            let version = resp
                .headers()
                .get("x-amz-version-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let text = match Limited::new(resp.into_body(), MAX_ERROR_BODY)
                .collect()
                .await
            {
                Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
                Err(e) => format!("(its body could not be read: {e})"),
            };
            match status.as_u16() {
                200..=299 => return Outcome::Created(version),
                412 => return Outcome::Exists,
                s if s >= 500 || s == 429 => last = error_message(s, &text),
                s => return Outcome::Failed(error_message(s, &text)),
            }
        }
        Outcome::Failed(format!("{last} ({ATTEMPTS} attempts)"))
    }

    /// The signed request.
    async fn request(&self, o: &Object<'_>) -> Result<hyper::Request<Full<Bytes>>, String> {
        let url = self.url(o.key);
        let retain = DateTime::from_secs(o.retain_until_secs)
            .fmt(Format::DateTime)
            .map_err(|e| format!("retain-until {}: {e}", o.retain_until_secs))?;
        let headers = [
            ("content-type", o.content_type.to_owned()),
            ("if-none-match", "*".to_owned()),
            ("x-amz-checksum-sha256", b64(o.sha256)),
            // S3 requires Content-MD5 or this header on a PUT with Object
            // Lock retention (PutObject, "Object Lock" in its reference).
            ("x-amz-sdk-checksum-algorithm", "SHA256".to_owned()),
            ("x-amz-object-lock-mode", "COMPLIANCE".to_owned()),
            ("x-amz-object-lock-retain-until-date", retain),
        ];
        let mut req = hyper::Request::put(&url);
        for (name, value) in &headers {
            req = req.header(*name, value);
        }
        let mut req = req
            .body(Full::new(o.bytes.clone()))
            .map_err(|e| format!("building the request to {url}: {e}"))?;
        let identity: Identity = self.credentials().await?.into();
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| format!("signing parameters: {e}"))?
            .into();
        let signable = SignableRequest::new(
            "PUT",
            url.as_str(),
            headers.iter().map(|(n, v)| (*n, v.as_str())),
            SignableBody::Precomputed(hex(o.sha256)),
        )
        .map_err(|e| format!("signing a PUT to {url}: {e}"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| format!("signing a PUT to {url}: {e}"))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut req);
        Ok(req)
    }
}

fn no_credentials() -> String {
    super::NO_CREDENTIALS.into()
}

/// An S3 error answer as one line: its status, `<Code>` and `<Message>`.
pub(crate) fn error_message(status: u16, body: &str) -> String {
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(body[start..end].to_owned())
    };
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => format!("HTTP {status} {code}: {message}"),
        (Some(code), None) => format!("HTTP {status} {code}"),
        _ => format!("HTTP {status}"),
    }
}

/// A key in a URL path, as S3 and Signature Version 4 expect it: every
/// byte but the unreserved ones and `/` percent-encoded.
pub(crate) fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An error and its sources on one line (hyper's "client error (Connect)"
/// says why only in a source, e.g. "connection refused").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_as_s3_signs_them() {
        assert_eq!(
            encode_key("p/tlog/t.x/3/tile/0/001.p/54"),
            "p/tlog/t.x/3/tile/0/001.p/54"
        );
        assert_eq!(encode_key("a b/ü+=~"), "a%20b/%C3%BC%2B%3D~");
    }

    #[test]
    fn an_error_answer_names_its_code_and_message() {
        let body = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>\
                    <Message>Access Denied</Message></Error>";
        assert_eq!(
            error_message(403, body),
            "HTTP 403 AccessDenied: Access Denied"
        );
        assert_eq!(error_message(503, ""), "HTTP 503");
    }
}
