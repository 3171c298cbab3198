//! `auditlog archive`: the archiver's start-up (keys, bucket check with
//! patience for an S3 that gives no answer, settings) and
//! `--print-log-vkey`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use auditlog_config::Config;

use crate::commands::{install_metrics, serve_metrics, shutdown_signal, store};

/// `archive --print-log-vkey`: the vkey of each partition's transparency
/// log (docs/FORMAT.md §11.11), whose key name is the log's origin: one
/// line per topic and partition, so each line gives a witness both the
/// origin (the name before the first `+`) and the key.
pub fn print_log_vkey(config: &Config) -> Result<ExitCode> {
    let ac = &config.archiver;
    let prefix = ac.log_origin.as_deref().context(
        "config field archiver.transparency_log is false: no transparency log, so no log vkey",
    )?;
    let key = sealer::keys::load_signing_key(&ac.key_file)?;
    let mut out = String::new();
    for topic in &ac.topics {
        for partition in 0..config.kafka.partitions {
            let origin = archiver::translog::log_origin(prefix, topic, partition);
            let signer = tlog::Ed25519Signer::new(&origin, key.clone())?;
            out.push_str(&signer.verifier().vkey());
            out.push('\n');
        }
    }
    crate::output::print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// How long `archive` waits at start-up for an S3 endpoint that gives no
/// answer before it exits 1 (once running it retries a range for ever).
const S3_STARTUP_PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// The start-up bucket check, asked again while S3 gives no answer (an
/// outage, a restart), with a warning every 10 s; a refusal or a bucket
/// without Object Lock is final at once.
async fn check_bucket_patiently(
    store: &archive::store::Store,
    s3: &auditlog_config::S3Config,
) -> Result<()> {
    let start = std::time::Instant::now();
    let mut warned: Option<std::time::Instant> = None;
    loop {
        match store.check_bucket().await {
            Err(e @ archive::StoreError::Unreachable { .. }) => {
                let waited = start.elapsed();
                if waited >= S3_STARTUP_PATIENCE {
                    return Err(e).with_context(|| {
                        format!(
                            "S3 at {} gave no answer for {} s; check s3.endpoint and the network",
                            s3.endpoint.as_deref().unwrap_or("AWS"),
                            waited.as_secs()
                        )
                    });
                }
                if warned.is_none_or(|w| w.elapsed() >= std::time::Duration::from_secs(10)) {
                    tracing::warn!(error = %e, waited_s = waited.as_secs(), patience_s = S3_STARTUP_PATIENCE.as_secs(), "waiting for S3 before starting");
                    warned = Some(std::time::Instant::now());
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            other => return Ok(other?),
        }
    }
}

pub async fn archive(config: Config) -> Result<ExitCode> {
    let handle = install_metrics(
        archiver::telemetry::UPLOAD_SECONDS,
        archiver::telemetry::UPLOAD_BUCKETS,
    )?;
    archiver::telemetry::describe();
    auditlog_kafka::telemetry::describe();
    crate::telemetry::spawn_process_metrics();
    let ac = &config.archiver;
    if let Some(addr) = ac.metrics_listen {
        serve_metrics("archiver.metrics_listen", addr, handle).await?;
    }
    let (store, s3) = store(&config, "the archiver").await?;
    let key = sealer::keys::load_signing_key(&ac.key_file)?;
    let mut seal_keys = Vec::new();
    for path in &ac.seal_keys {
        seal_keys.push(sealer::keys::load_verifying_key(path)?);
    }
    if seal_keys.is_empty() {
        anyhow::bail!(
            "config field archiver.seal_keys: list the sealers' public key files, or no seal can be trusted"
        );
    }
    check_bucket_patiently(&store, s3).await?;
    tracing::info!(bucket = %s3.bucket, topics = ?ac.topics, "archiver starting");
    let settings = archiver::runtime::Settings {
        kafka: config.kafka.clone(),
        group_id: ac.group_id.clone(),
        topics: ac.topics.clone(),
        seals_suffix: config.sealer.seals_topic_suffix.clone(),
        prefix: ac.prefix.clone(),
        retention: archive::Retention {
            default: ac.retention,
            by_topic: ac.retention_by_topic.clone(),
            by_action: ac.retention_by_action.clone(),
        },
        key,
        seal_keys,
        limits: config.limits.clone(),
        store_every_value: ac.store_every_value,
        checkpoint_interval: ac.checkpoint_interval,
        checkpoint_idle: ac.checkpoint_idle,
        memory: ac.memory,
        seal_max_bytes: config.sealer.max_bytes,
        group: archiver::group::GroupRule {
            max_records: ac.group_max_records,
            max_seals: usize::try_from(ac.group_max_seals).unwrap_or(usize::MAX),
            max_age_ms: i64::try_from(ac.group_max_age_ms).unwrap_or(i64::MAX),
        },
        log_origin: ac.log_origin.clone(),
        cosigning: ac.cosigning.clone(),
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("stop requested; finishing the batch in hand");
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let handle = tokio::runtime::Handle::current();
    let brokers = config.kafka.bootstrap_servers.clone();
    tokio::task::spawn_blocking(move || {
        archiver::runtime::Archiver::connect(settings, store, handle)?.run(&stop)
    })
    .await?
    .with_context(|| {
        format!(
            "the archiver stopped (Kafka brokers {brokers}, bucket {}, group {})",
            s3.bucket, ac.group_id
        )
    })?;
    tracing::info!("archiver stopped");
    Ok(ExitCode::SUCCESS)
}
