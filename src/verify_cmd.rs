//! `auditlog verify`: exit 0 clean, 1 findings, 2 usage, IO or credential error.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use auditlog_config::Config;
use verify::{Registry, Role, State};

use crate::output::{outln, print};

/// Exit codes of `verify`.
const CLEAN: u8 = 0;
const FINDINGS: u8 = 1;
const CANNOT: u8 = 2;

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A summary for people.
    Text,
    /// One JSON document.
    Json,
    /// A self-contained one-page HTML report (coverage picture included).
    Html,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Key prefix [default: archiver.prefix].
    #[arg(long)]
    prefix: Option<String>,
    /// Only this topic (repeatable, or a comma-separated list).
    #[arg(long = "topic", alias = "topics", value_delimiter = ',')]
    topics: Vec<String>,
    /// Only these partitions: a number, a range `0-5` or a list `1,3,8-11`
    /// (repeatable). With --topic, a shard: see `verify-merge`.
    #[arg(long = "partition", alias = "partitions", value_parser = parse_partitions)]
    partitions: Vec<Partitions>,
    /// Only ranges sealed at or after this time (RFC 3339). Missing
    /// manifests before the first one in the window are not reported.
    #[arg(long, value_parser = verify::registry::rfc3339_ms)]
    since: Option<i64>,
    /// Only ranges sealed before this time (RFC 3339).
    #[arg(long, value_parser = verify::registry::rfc3339_ms)]
    until: Option<i64>,
    /// Key registry (TOML) with roles and validity windows [default:
    /// archiver.seal_keys sign seals, archiver.key_file's .pub manifests].
    #[arg(long, value_name = "FILE")]
    keys: Option<PathBuf>,
    /// A trusted witness's cosignature/v1 verifier key (repeat for each):
    /// each log's newest checkpoint must carry a quorum of their
    /// cosignatures [default: the keys of [[archiver.witnesses]]].
    #[arg(long = "witness-key", value_name = "VKEY", value_parser = parse_witness_key)]
    witness_keys: Vec<tlog::CosignatureVerifier>,
    /// How many trusted witnesses must cosign [default:
    /// archiver.witness_quorum with the config's keys, all with --witness-key].
    #[arg(long, value_name = "K")]
    witness_quorum: Option<usize>,
    /// State file: what the last clean run accepted and verified. Catches
    /// rollback and truncation, and makes the run incremental: only what is
    /// new or changed since is read in full, the rest is checked by listing.
    /// Written (atomically) only after a clean run; one file per archive.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Read every object in full even with --state (and refresh the state).
    #[arg(long)]
    deep: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Also write the results as Prometheus text to FILE (atomically), for a
    /// node_exporter textfile collector.
    #[arg(long, value_name = "FILE")]
    metrics_file: Option<PathBuf>,
    /// S3 requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// MiB that manifests being checked may hold at once (their objects'
    /// bodies and decoded rows, estimated from the manifest before any
    /// object is read); a manifest heavier than this runs alone. Fractions
    /// are allowed (0.5 is 512 KiB).
    #[arg(long, default_value_t = 128.0, value_parser = parse_memory_mib)]
    memory_mib: f64,
    /// An empty selection (no manifest, no object) is expected: exit 0
    /// instead of 2. Without it, a run that verified nothing never passes.
    #[arg(long)]
    allow_empty: bool,
}

fn parse_memory_mib(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1_048_576.0 => Ok(v),
        _ => Err(format!(
            "{s:?} is not a memory budget: a number of MiB above 0 and at most 1048576, such as 128 or 0.5"
        )),
    }
}

/// Partitions given as `3`, `0-5` or `1,3,8-11`.
#[derive(Debug, Clone)]
pub struct Partitions(Vec<i32>);

fn parse_partitions(s: &str) -> Result<Partitions, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        let bad = || format!("{part:?} is not a partition number or range such as 0-5");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (i32, i32) = (
                    a.trim().parse().map_err(|_| bad())?,
                    b.trim().parse().map_err(|_| bad())?,
                );
                if a < 0 || b < a {
                    return Err(format!(
                        "{part:?}: a range runs from a partition up to one at least as high"
                    ));
                }
                out.extend(a..=b);
            }
            None => out.push(
                part.parse()
                    .ok()
                    .filter(|p: &i32| *p >= 0)
                    .ok_or_else(bad)?,
            ),
        }
    }
    Ok(Partitions(out))
}

/// A prefix names a directory: `audit` is read as `audit/` (the archiver
/// refuses a prefix without the slash, so no archive lives at one), and
/// stderr says so.
pub fn normalise_prefix(prefix: String) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        return prefix;
    }
    let with_slash = format!("{prefix}/");
    eprintln!("note: prefix {prefix:?} read as {with_slash:?} (a prefix is a directory)");
    with_slash
}

/// What only S3 can say about an empty selection: whether the bucket has
/// Object Lock at all, and which prefixes exist one level above.
async fn surroundings(
    store: &archive::store::Store,
    prefix: &str,
) -> verify::selection::Surroundings {
    let bucket_not_locked = match store.check_bucket().await {
        Err(archive::StoreError::BucketNotLocked { message, .. }) => Some(message),
        _ => None,
    };
    let parent = prefix
        .trim_end_matches('/')
        .rsplit_once('/')
        .map_or(String::new(), |(p, _)| format!("{p}/"));
    let nearby_prefixes = store
        .list_dirs(&parent)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|d| d != prefix)
        .collect();
    verify::selection::Surroundings {
        bucket_not_locked,
        nearby_prefixes,
    }
}

/// Runs `verify`; any error is exit 2 (verification could not run).
pub async fn verify(config: Config, args: VerifyArgs) -> ExitCode {
    match run(config, args).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(CANNOT)
        }
    }
}

/// The registry from `--keys`, else from the config: `archiver.seal_keys`
/// sign seals, the `.pub` beside `archiver.key_file` signs manifests.
fn registry(config: &Config, keys: Option<&Path>) -> Result<Registry> {
    if let Some(path) = keys {
        return Ok(Registry::load(path)?);
    }
    let mut reg = Registry::default();
    for p in &config.archiver.seal_keys {
        reg.add(verify::registry::read_public_key(p)?, Role::Sealer);
    }
    let archiver_pub = config.archiver.key_file.with_extension("pub");
    reg.add(
        verify::registry::read_public_key(&archiver_pub).context(
            "config field archiver.key_file: its .pub is the manifest key (or pass --keys)",
        )?,
        Role::Archiver,
    );
    Ok(reg)
}

pub fn parse_witness_key(s: &str) -> Result<tlog::CosignatureVerifier, String> {
    tlog::CosignatureVerifier::from_vkey(s).map_err(|e| {
        format!("{e}; expected a witness's cosignature/v1 vkey (`auditlog witness --print-vkey`)")
    })
}

/// The trusted witnesses: `--witness-key`s, else `[[archiver.witnesses]]`
/// (none without a config).
fn witnesses(
    config: Option<&Config>,
    keys: &[tlog::CosignatureVerifier],
    quorum: Option<usize>,
) -> Result<verify::Witnesses> {
    let (keys, default) = match (keys, config) {
        ([], Some(config)) => {
            let c = &config.archiver.cosigning;
            (
                c.witnesses.iter().map(|w| w.key.clone()).collect(),
                c.quorum,
            )
        }
        (keys, _) => (keys.to_vec(), keys.len()),
    };
    let quorum = quorum.unwrap_or(default);
    if !keys.is_empty() && !(1..=keys.len()).contains(&quorum) {
        anyhow::bail!(
            "--witness-quorum {quorum}: must be between 1 and the {} trusted witness key(s)",
            keys.len()
        );
    }
    Ok(verify::Witnesses { keys, quorum })
}

async fn run(config: Config, args: VerifyArgs) -> Result<u8> {
    let (store, s3) = crate::commands::store(&config, "verify").await?;
    let registry = registry(&config, args.keys.as_deref())?;
    let prefix = normalise_prefix(
        args.prefix
            .unwrap_or_else(|| config.archiver.prefix.clone()),
    );
    let here = verify::Location {
        bucket: s3.bucket.clone(),
        prefix: prefix.clone(),
    };
    let state = args
        .state
        .as_deref()
        .map(|p| State::load(p, &here))
        .transpose()?;
    let mut partitions: Vec<i32> = args.partitions.iter().flat_map(|p| p.0.clone()).collect();
    partitions.sort_unstable();
    partitions.dedup();
    let opts = verify::Options {
        prefix: prefix.clone(),
        topics: args.topics.clone(),
        partitions: partitions.clone(),
        retention: archive::Retention {
            default: config.archiver.retention,
            by_topic: config.archiver.retention_by_topic.clone(),
            by_action: config.archiver.retention_by_action.clone(),
        },
        concurrency: args.concurrency,
        // In range by `parse_memory_mib`: a positive number of KiB that fits.
        memory_kib: (args.memory_mib * 1024.0).ceil() as u64,
        since_ms: args.since,
        until_ms: args.until,
        deep: args.deep,
        log_origin: auditlog_config::log_origin(
            &config.archiver.log_origin_setting,
            &s3.bucket,
            &prefix,
        )?,
        logs_expected: config.archiver.log_origin.is_some() && prefix == config.archiver.prefix,
        witnesses: witnesses(Some(&config), &args.witness_keys, args.witness_quorum)?,
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} manifests {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let progress = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let (mut report, next) =
        verify::verify(&store, &registry, &opts, state.as_ref(), &progress).await?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let location = format!("s3://{}/{prefix}", s3.bucket);
    report.scope.location.clone_from(&location);
    if report.selected_nothing() {
        let filters = verify::selection::Filters {
            location: &location,
            topics: &args.topics,
            partitions: &partitions,
            since_ms: args.since,
            until_ms: args.until,
        };
        let around = surroundings(&store, &prefix).await;
        report.nothing_verified = Some(verify::selection::explain(
            &report.selection,
            &filters,
            &around,
        ));
        report.empty_allowed = args.allow_empty;
    }
    let finished_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
    let written = match args.format {
        Format::Json => outln!("{}", report.to_json()),
        Format::Html => print(&verify::html::render(&report, &location, finished_ms)),
        Format::Text => print(&report.to_text(&location)),
    };
    if let Err(e) = written {
        // Exit 2 whatever was found: a verdict nobody could read is no verdict.
        eprintln!("error: {e:#}; the report was not delivered (exit 2)");
        return Ok(CANNOT);
    }
    if let Some(path) = &args.metrics_file {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, verify::metrics::render(&report, finished_ms / 1000))
            .and_then(|()| std::fs::rename(&tmp, path))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if !report.findings.is_empty() {
        return Ok(FINDINGS);
    }
    if let (Some(why), false) = (&report.nothing_verified, args.allow_empty) {
        eprintln!(
            "error: nothing verified: {why}. Exit 2: an empty selection is never clean; pass --allow-empty if it is expected"
        );
        return Ok(CANNOT);
    }
    if let Some(path) = &args.state {
        next.save(path)?;
    }
    Ok(CLEAN)
}

#[derive(Debug, clap::Args)]
pub struct ProveArgs {
    /// The event's event_id.
    #[arg(long, conflicts_with_all = ["topic", "partition", "offset"])]
    event_id: Option<String>,
    /// Topic [default: kafka.events_topic].
    #[arg(long)]
    topic: Option<String>,
    /// Partition.
    #[arg(long, requires = "offset")]
    partition: Option<i32>,
    /// Offset.
    #[arg(long, requires = "partition")]
    offset: Option<i64>,
    /// Key prefix [default: archiver.prefix].
    #[arg(long)]
    prefix: Option<String>,
    /// Write the proof here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// `prove`: exit 0 with the proof written, 2 if it cannot be built.
pub async fn prove(config: Config, args: ProveArgs) -> ExitCode {
    match run_prove(config, args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(CANNOT)
        }
    }
}

async fn run_prove(config: Config, a: ProveArgs) -> Result<()> {
    let target = match (a.event_id, a.topic, a.partition, a.offset) {
        (Some(id), None, None, None) => verify::prove::Target::EventId(id),
        (None, topic, Some(partition), Some(offset)) => verify::prove::Target::Offset {
            topic: topic.unwrap_or_else(|| config.kafka.events_topic.clone()),
            partition,
            offset,
        },
        _ => anyhow::bail!(
            "give --event-id, or --partition and --offset (with --topic, default kafka.events_topic)"
        ),
    };
    let (store, _) = crate::commands::store(&config, "prove").await?;
    let prefix = normalise_prefix(a.prefix.unwrap_or_else(|| config.archiver.prefix.clone()));
    let proof = verify::prove::prove(&store, &prefix, &target).await?;
    let json = verify::proof::to_json(&proof);
    match &a.out {
        Some(path) => {
            std::fs::write(path, format!("{json}\n"))
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "proof of {}/{} offset {} written to {} ({} path hashes)",
                proof.record.topic,
                proof.record.partition,
                proof.record.offset,
                path.display(),
                proof.path.len()
            );
        }
        None => outln!("{json}")?,
    }
    Ok(())
}

/// `verify-proof`: exit 0 valid, 1 invalid, 2 cannot run.
pub fn verify_proof(
    config: Option<Config>,
    file: &Path,
    keys: Option<&Path>,
    (witness_keys, quorum): (&[tlog::CosignatureVerifier], Option<usize>),
) -> ExitCode {
    type Checked = Result<Option<(String, u64)>, Vec<String>>;
    let run = || -> Result<Checked> {
        let registry = match (keys, &config) {
            (Some(path), _) => Registry::load(path)?,
            (None, Some(c)) => registry(c, None)?,
            (None, None) => anyhow::bail!("give --keys FILE (or --config with archiver keys)"),
        };
        let trusted = witnesses(config.as_ref(), witness_keys, quorum)?;
        let text = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let proof: verify::proof::Proof = match serde_json::from_slice(&text) {
            Ok(p) => p,
            Err(e) => return Ok(Err(vec![format!("{} is not a proof: {e}", file.display())])),
        };
        Ok(verify::proof::check_witnessed(&proof, &registry, &trusted))
    };
    let verdict = run().and_then(|checked| {
        let bad = match checked {
            Ok(logged) => {
                let log = match logged {
                    Some((origin, size)) => format!(
                        "; the record is leaf of log {origin} at its checkpoint of size {size}, with the trusted witnesses' cosignatures"
                    ),
                    None => String::new(),
                };
                outln!(
                    "proof {} holds: record, Merkle path, seal and manifest signatures all verify{log}",
                    file.display()
                )?;
                return Ok(CLEAN);
            }
            Err(bad) => bad,
        };
        let lines: Vec<String> = bad.iter().map(|b| format!("  {b}\n")).collect();
        print(&format!(
            "proof {} FAILS:\n{}",
            file.display(),
            lines.concat()
        ))?;
        Ok(FINDINGS)
    });
    match verdict {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(CANNOT)
        }
    }
}
