//! `auditlog`: the command-line interface of the sealed audit-log pipeline.
//! This file only parses arguments and dispatches; the work is in the
//! library crates.

mod archive_cmd;
mod commands;
#[cfg(test)]
mod dependency_rules;
mod merge_cmd;
mod output;
mod show_config;
mod telemetry;
mod topics_cmd;
mod verify_cmd;
mod witness_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Sealed audit-log pipeline: ingest, seal, archive and verify audit events.
#[derive(Debug, Parser)]
#[command(name = "auditlog", version, propagate_version = true)]
struct Cli {
    /// Configuration file (TOML). AUDITLOG_<SECTION>__<FIELD> variables
    /// override it.
    #[arg(long, global = true, env = "AUDITLOG_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP ingest gateway.
    Ingest,
    /// Publish NDJSON events from a file (or - for standard input) straight
    /// to Kafka. Nothing is published if any line is invalid.
    Publish {
        /// The NDJSON file, or - for standard input.
        #[arg(default_value = "-")]
        file: String,
    },
    /// Create or describe the events topic.
    Topics {
        #[command(subcommand)]
        action: TopicsAction,
    },
    /// Print deterministic sample events as NDJSON.
    Sample {
        /// How many events.
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// Seed; the same seed gives the same events.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of distinct tenants.
        #[arg(long, default_value_t = 8)]
        tenants: usize,
    },
    /// Validate the configuration and print it as in effect (JSON).
    Config,
    /// Seal the events topics: join the sealer group and chain every
    /// assigned partition into signed seals.
    Seal,
    /// Archive sealed ranges to S3 as Parquet under Object Lock, with signed
    /// manifests (and, with archiver.transparency_log, each partition as a
    /// C2SP transparency log).
    Archive {
        /// Print the note verifier key (vkey) of each partition's transparency
        /// log, one per line (its key name is the log's origin,
        /// <archiver.log_origin>/<topic>/<partition>, for the archiver's topics
        /// and kafka.partitions partitions; key archiver.key_file), and exit.
        #[arg(long)]
        print_log_vkey: bool,
    },
    /// Verify the archive: every manifest, object, seal, signature, chain
    /// link and retention setting. Exit 0 clean, 1 findings, 2 could not run.
    Verify(verify_cmd::VerifyArgs),
    /// Merge the JSON reports of verify runs over shards (--topic,
    /// --partition) into one verdict, offline. Exit 0 clean, 1 findings,
    /// 2 the shards do not cover the archive or could not be read.
    VerifyMerge(merge_cmd::MergeArgs),
    /// Write a self-contained inclusion proof for one archived record: the
    /// record, its Merkle path, the seal and the manifest with signatures.
    Prove(verify_cmd::ProveArgs),
    /// Check a proof offline with only public keys. Exit 0 holds, 1 fails,
    /// 2 could not run.
    VerifyProof {
        /// The proof file.
        file: PathBuf,
        /// Key registry (TOML) [default: from the config, as for verify].
        #[arg(long, value_name = "FILE")]
        keys: Option<PathBuf>,
        /// A trusted witness's cosignature/v1 vkey (repeat for each): the
        /// proof must carry a log checkpoint with their quorum [default: the
        /// keys of [[archiver.witnesses]] when a config is read].
        #[arg(long = "witness-key", value_name = "VKEY", value_parser = verify_cmd::parse_witness_key)]
        witness_keys: Vec<tlog::CosignatureVerifier>,
        /// How many trusted witnesses must have cosigned [default: as for verify].
        #[arg(long, value_name = "K")]
        witness_quorum: Option<usize>,
    },
    /// Run a C2SP tlog witness: cosign checkpoints of the logs in
    /// [witness] that consistently extend what it cosigned before.
    Witness {
        /// Print the witness's cosignature verifier key (vkey) and exit.
        #[arg(long)]
        print_vkey: bool,
    },
    /// Write a new Ed25519 key pair for signing seals or manifests, or
    /// convert a key file of an earlier release (--convert).
    Keygen {
        /// Secret key file to create (mode 0600); the public key goes next to
        /// it with its extension replaced by .pub (sealer.key -> sealer.pub).
        #[arg(long, default_value = "sealer.key", conflicts_with = "convert")]
        out: PathBuf,
        /// Rewrite an earlier release's key file (64 hex digits, no header)
        /// in place in the format that names its kind; give --kind.
        #[arg(long, value_name = "FILE", requires = "kind")]
        convert: Option<PathBuf>,
        /// What the file converted holds: a secret key (also converts and
        /// checks the .pub beside it) or a public key.
        #[arg(long, value_enum, requires = "convert")]
        kind: Option<KeyKindArg>,
    },
}

/// `keygen --kind`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum KeyKindArg {
    /// A secret (signing) key.
    Secret,
    /// A public (verifying) key.
    Public,
}

#[derive(Debug, Subcommand)]
enum TopicsAction {
    /// Create the events topic and its seals topic unless they exist.
    Create {
        /// Topic name [default: kafka.events_topic].
        #[arg(long)]
        topic: Option<String>,
        /// Partitions [default: kafka.partitions].
        #[arg(long)]
        partitions: Option<i32>,
        /// Replication factor [default: kafka.replication_factor].
        #[arg(long)]
        replication_factor: Option<i32>,
    },
    /// Show partitions, leaders and offsets.
    Describe {
        /// Topic name [default: kafka.events_topic].
        #[arg(long)]
        topic: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(commands::exit_code(&e))
        }
    }
}
