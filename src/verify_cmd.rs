//! `auditlog verify`: exit 0 clean, 1 findings, 2 usage, IO or credential error.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use auditlog_config::Config;
use verify::{Registry, Role, State};

/// Exit codes of `verify`.
const CLEAN: u8 = 0;
const FINDINGS: u8 = 1;
const CANNOT: u8 = 2;

/// What `verify` was asked.
#[derive(Debug)]
pub struct Args {
    pub prefix: Option<String>,
    pub topics: Vec<String>,
    pub partitions: Vec<i32>,
    pub keys: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub json: bool,
    pub concurrency: usize,
}

/// Runs `verify`; any error is exit 2 (verification could not run).
pub async fn verify(config: Config, args: Args) -> ExitCode {
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

async fn run(config: Config, args: Args) -> Result<u8> {
    let s3 = config
        .s3
        .as_ref()
        .context("config field s3.bucket: verify needs the archive's bucket")?;
    let registry = registry(&config, args.keys.as_deref())?;
    let state = args.state.as_deref().map(State::load).transpose()?;
    let prefix = args
        .prefix
        .unwrap_or_else(|| config.archiver.prefix.clone());
    let store = archiver::store::Store::connect(
        s3.endpoint.as_deref(),
        &s3.region,
        &s3.bucket,
        s3.force_path_style,
    )
    .await;
    let opts = verify::Options {
        prefix: prefix.clone(),
        topics: args.topics,
        partitions: args.partitions,
        retention: config.archiver.retention,
        retention_by_topic: config.archiver.retention_by_topic.clone(),
        concurrency: args.concurrency,
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
    let (report, next) =
        verify::verify(&store, &registry, &opts, state.as_ref(), &progress).await?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!(
            "{}",
            report.to_text(&format!("s3://{}/{prefix}", s3.bucket))
        );
    }
    if !report.is_clean() {
        return Ok(FINDINGS);
    }
    if let Some(path) = &args.state {
        next.save(path)?;
    }
    Ok(CLEAN)
}
