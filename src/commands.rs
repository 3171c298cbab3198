//! One function per subcommand.

use std::io::{BufReader, IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use auditlog_config::{Config, ConfigError, LogFormat};
use ingest::gateway::Gateway;
use ingest::producer::EventProducer;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

use crate::output::outln;
use crate::{Cli, Command};

/// Exit code for usage and configuration errors; 1 is for everything else.
const EXIT_USAGE: u8 = 2;

/// 2 for what the person running the command must fix (configuration,
/// key files), 1 for everything else (README, "Exit codes").
pub fn exit_code(e: &anyhow::Error) -> u8 {
    use archive::StoreError as S;
    use archiver::ArchiverError as A;
    use ingest::IngestError as I;
    let usage = e.chain().any(|c| {
        c.downcast_ref::<ConfigError>().is_some()
            || matches!(
                c.downcast_ref::<sealer::SealerError>(),
                Some(sealer::SealerError::Key { .. })
            )
            || matches!(
                c.downcast_ref::<I>(),
                Some(I::Bind { .. } | I::Read { .. } | I::Tls(_))
            )
            || matches!(c.downcast_ref::<S>(), Some(S::BucketNotLocked { .. }))
            || matches!(
                c.downcast_ref::<A>(),
                Some(A::Store(S::BucketNotLocked { .. }))
            )
            || c.downcast_ref::<auditlog_kafka::KafkaError>()
                .or(match c.downcast_ref::<sealer::SealerError>() {
                    Some(sealer::SealerError::Preflight(k)) => Some(k),
                    _ => None,
                })
                .or(match c.downcast_ref::<A>() {
                    Some(A::Preflight(k)) => Some(k),
                    _ => None,
                })
                .or(match c.downcast_ref::<I>() {
                    Some(I::Kafka(k)) => Some(k),
                    _ => None,
                })
                .is_some_and(|k| {
                    matches!(
                        k,
                        auditlog_kafka::KafkaError::UnsafeTopic(_)
                            | auditlog_kafka::KafkaError::Client(_)
                            | auditlog_kafka::KafkaError::Property { .. }
                    )
                })
    });
    let usage = usage
        || e.chain().any(|c| {
            c.downcast_ref::<witness::WitnessError>()
                .is_some_and(|w| w.is_usage())
        });
    if usage { EXIT_USAGE } else { 1 }
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    if let Command::Sample {
        count,
        seed,
        tenants,
    } = cli.command
    {
        return sample(count, seed, tenants);
    }
    if let Command::Keygen { out, convert, kind } = &cli.command {
        return keygen(out, convert.as_deref(), *kind);
    }
    if let Command::VerifyMerge(args) = cli.command {
        return Ok(crate::merge_cmd::verify_merge(args));
    }
    if let Command::VerifyProof {
        file,
        keys,
        witness_keys,
        witness_quorum,
    } = &cli.command
    {
        // Offline: the config is optional when --keys names the registry.
        let config = match (keys, &cli.config) {
            (Some(_), None) => None,
            _ => Some(Config::load(cli.config.as_deref(), std::env::vars())?),
        };
        return Ok(crate::verify_cmd::verify_proof(
            config,
            file,
            keys.as_deref(),
            (witness_keys, *witness_quorum),
        ));
    }
    let config = Config::load(cli.config.as_deref(), std::env::vars())?;
    if matches!(
        cli.command,
        Command::Ingest
            | Command::Publish { .. }
            | Command::Topics { .. }
            | Command::Config
            | Command::Seal
            | Command::Archive {
                print_log_vkey: false
            }
    ) {
        auditlog_kafka::client::validate(&config.kafka)?;
    }
    init_logging(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Ingest => runtime.block_on(ingest(config)),
        Command::Publish { file } => runtime.block_on(publish(config, &file)),
        Command::Topics { action } => runtime.block_on(crate::topics_cmd::topics(config, action)),
        Command::Config => {
            let (shown, notes) = crate::show_config::render(&config)?;
            for note in notes {
                eprintln!("{note}");
            }
            outln!("{}", serde_json::to_string_pretty(&shown)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Seal => runtime.block_on(seal(config)),
        Command::Archive {
            print_log_vkey: true,
        } => crate::archive_cmd::print_log_vkey(&config),
        Command::Archive {
            print_log_vkey: false,
        } => runtime.block_on(crate::archive_cmd::archive(config)),
        Command::Verify(args) => Ok(runtime.block_on(crate::verify_cmd::verify(config, args))),
        Command::Prove(args) => Ok(runtime.block_on(crate::verify_cmd::prove(config, args))),
        Command::Witness { print_vkey } => {
            runtime.block_on(crate::witness_cmd::witness(config, print_vkey))
        }
        Command::Sample { .. }
        | Command::Keygen { .. }
        | Command::VerifyProof { .. }
        | Command::VerifyMerge(_) => {
            unreachable!("handled above")
        }
    }
}

fn keygen(
    out: &std::path::Path,
    convert: Option<&std::path::Path>,
    kind: Option<crate::KeyKindArg>,
) -> Result<ExitCode> {
    use chain::keyfile::KeyKind;
    if let Some(file) = convert {
        let kind = match kind {
            Some(crate::KeyKindArg::Public) => KeyKind::Public,
            _ => KeyKind::Secret,
        };
        let (written, id) = sealer::keys::convert(file, kind)?;
        for w in &written {
            outln!("converted:  {}", w.display())?;
        }
        outln!("key id:     {id}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let (public, id) = sealer::keys::generate(out)?;
    outln!(
        "secret key: {} (mode 0600)\npublic key: {}\nkey id:     {id}",
        out.display(),
        public.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn init_logging(config: &Config) {
    let filter = std::env::var("AUDITLOG_LOG").unwrap_or_else(|_| config.log_level.clone());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

fn producer(config: &Config) -> Result<EventProducer> {
    let (producer, overrides) = EventProducer::new(&config.kafka)?;
    for o in overrides {
        tracing::warn!(
            property = %o.key,
            configured = %o.user_value,
            in_effect = %o.forced_value,
            "kafka property overridden: delivery guarantees depend on it"
        );
    }
    Ok(producer)
}

pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Installs the Prometheus recorder, with `buckets` for the one histogram
/// `histogram` of the command.
pub fn install_metrics(
    histogram: &str,
    buckets: &[f64],
) -> Result<metrics_exporter_prometheus::PrometheusHandle> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(histogram.into()), buckets)
        .context("configuring metrics")?
        .install_recorder()
        .context("installing the metrics recorder")
}

async fn ingest(config: Config) -> Result<ExitCode> {
    let metrics = install_metrics(
        ingest::telemetry::REQUEST_SECONDS,
        ingest::telemetry::REQUEST_BUCKETS,
    )?;
    ingest::telemetry::describe();
    crate::telemetry::spawn_process_metrics();
    let producer = Arc::new(producer(&config)?);
    let addr = config.ingest.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ingest::IngestError::Bind { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    tracing::info!(listen = %local, topic = %config.kafka.events_topic, bootstrap = %config.kafka.bootstrap_servers, "ingest gateway listening");
    let gateway = Arc::new(Gateway::new(
        producer,
        config.limits.clone(),
        config.ingest.clone(),
        metrics,
    ));
    ingest::gateway::serve(gateway, listener, shutdown_signal()).await?;
    tracing::info!("ingest gateway stopped");
    Ok(ExitCode::SUCCESS)
}

/// Serves `GET /metrics` from `handle` on `addr` until the process ends. A
/// port that cannot be had is a configuration error (`field` names it).
pub async fn serve_metrics(
    field: &str,
    addr: std::net::SocketAddr,
    handle: metrics_exporter_prometheus::PrometheusHandle,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ConfigError::Invalid {
            field: field.to_owned(),
            message: format!(
                "cannot listen on {addr} for metrics: {e}; give each instance on a host its own port, \"127.0.0.1:0\" to have one chosen and logged, or \"\" to disable"
            ),
        })?;
    // With port 0 the system picks a free port: several instances on one
    // host can share one config, and each says where its metrics are.
    match listener.local_addr() {
        Ok(bound) => tracing::info!(%bound, field, "serving /metrics"),
        Err(error) => tracing::warn!(%error, field, "metrics listener has no local address"),
    }
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || std::future::ready(handle.render())),
    );
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::warn!(%error, "metrics server stopped");
        }
    });
    Ok(())
}

async fn seal(config: Config) -> Result<ExitCode> {
    let handle = install_metrics(
        sealer::telemetry::SEAL_LATENCY,
        sealer::telemetry::LATENCY_BUCKETS,
    )?;
    sealer::telemetry::describe();
    auditlog_kafka::telemetry::describe();
    crate::telemetry::spawn_process_metrics();
    let sc = &config.sealer;
    if let Some(addr) = sc.metrics_listen {
        serve_metrics("sealer.metrics_listen", addr, handle).await?;
    }
    let key = sealer::keys::load_signing_key(&sc.key_file)?;
    let mut public = vec![key.verifying_key()];
    for path in &sc.trusted_keys {
        public.push(sealer::keys::load_verifying_key(path)?);
    }
    let settings = sealer::runtime::Settings {
        kafka: config.kafka.clone(),
        group_id: sc.group_id.clone(),
        topics: sc.topics.clone(),
        seals_suffix: sc.seals_topic_suffix.clone(),
        policy: sealer::cutter::CutPolicy {
            max_records: sc.max_records.get(),
            max_bytes: sc.max_bytes,
            max_interval: sc.max_interval,
            heartbeat_interval: sc.heartbeat_interval,
        },
        key,
        keys: sealer::seals_log::KeySet::new(public),
    };
    tracing::info!(
        group = %sc.group_id, topics = ?sc.topics,
        key_id = %chain::seal::KeyId::of(&settings.key.verifying_key()),
        "sealer starting"
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    tokio::spawn(async move {
        shutdown_signal().await;
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let brokers = config.kafka.bootstrap_servers.clone();
    tokio::task::spawn_blocking(move || sealer::runtime::run(settings, stop))
        .await?
        .with_context(|| {
            format!(
                "the sealer stopped (Kafka brokers {brokers}, group {})",
                sc.group_id
            )
        })?;
    tracing::info!("sealer stopped");
    Ok(ExitCode::SUCCESS)
}

/// The configured bucket, for `who` (named in the error if there is none).
pub async fn store<'c>(
    config: &'c Config,
    who: &str,
) -> Result<(archive::store::Store, &'c auditlog_config::S3Config)> {
    let s3 = config
        .s3
        .as_ref()
        .with_context(|| format!("config field s3.bucket: {who} needs a bucket"))?;
    let store = archive::store::Store::connect(
        s3.endpoint.as_deref(),
        &s3.region,
        &s3.bucket,
        s3.force_path_style,
    )
    .await;
    Ok((store, s3))
}

async fn publish(config: Config, file: &str) -> Result<ExitCode> {
    // Standard input cannot be read twice, so it is held in memory.
    let stdin_bytes = if file == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        Some(buf)
    } else {
        None
    };
    let open = || -> Result<Box<dyn std::io::BufRead>> {
        Ok(match &stdin_bytes {
            Some(b) => Box::new(std::io::Cursor::new(b.clone())),
            None => Box::new(BufReader::with_capacity(
                1 << 20,
                std::fs::File::open(file).with_context(|| format!("cannot open {file}"))?,
            )),
        })
    };
    let validation = ingest::publish::validate(open()?, &config.limits, file)?;
    if !validation.invalid.is_empty() {
        let mut err = std::io::stderr().lock();
        for bad in validation.invalid.iter().take(50) {
            for e in &bad.errors {
                let _ = writeln!(err, "{file}:{}: {e}", bad.line);
            }
        }
        let lines: Vec<String> = validation
            .invalid
            .iter()
            .map(|b| b.line.to_string())
            .collect();
        let shown = if lines.len() > 50 {
            format!("{} …", lines[..50].join(", "))
        } else {
            lines.join(", ")
        };
        bail!(
            "{} of {} events in {file} are invalid (lines {shown}); nothing was published",
            validation.invalid.len(),
            validation.events
        );
    }
    let producer = producer(&config)?;
    let probe = tokio::task::block_in_place(|| producer.probe());
    probe.context("checking the events topic before publishing")?;
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(validation.events as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    let summary = ingest::publish::publish(open()?, file, &config.limits, &producer, |n| {
        bar.set_position(n as u64)
    })
    .await?;
    bar.finish_and_clear();
    let secs = summary.elapsed.as_secs_f64().max(1e-9);
    let parts: Vec<String> = summary
        .per_partition
        .iter()
        .map(|(p, n)| format!("{p}:{n}"))
        .collect();
    outln!(
        "published {} of {} events from {file} to {} in {:.1}s ({:.0} events/s); per partition {}",
        summary.published,
        validation.events,
        config.kafka.events_topic,
        secs,
        summary.published as f64 / secs,
        parts.join(" ")
    )?;
    if !summary.failed.is_empty() {
        for (line, why) in summary.failed.iter().take(50) {
            eprintln!("{file}:{line}: not acknowledged: {why}");
        }
        let lines: Vec<String> = summary.failed.iter().map(|(l, _)| l.to_string()).collect();
        bail!(
            "{} events were not acknowledged (lines {}); publish those lines again (their event_ids are in the file only if set there)",
            summary.failed.len(),
            lines.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn sample(count: usize, seed: u64, tenants: usize) -> Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for e in schemas::sample::sample_events(count, seed, tenants) {
        out.write_all(&e.to_canonical_json())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
