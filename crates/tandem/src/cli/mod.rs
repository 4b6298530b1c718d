//! The `tandem` command line: the arguments (here), what each command does
//! (`commands.rs`), and serving sites in this process (`serve.rs`: sites, routers and
//! stat services, reload, signals).

mod commands;
mod demo_media;
mod serve;

use std::future::Future;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The embedded default deployment: two sites on loopback.
const DEFAULT_CONFIG: &str = include_str!("../../../../examples/two-sites.toml");
/// The second embedded example: two peer groups (four sites) behind two Network SIP Servers.
const FOUR_SITES: &str = include_str!("../../../../examples/four-sites.toml");

/// Tandem: a geo-redundant SIP call-control server for contact centers.
#[derive(Debug, Parser)]
#[command(name = "tandem", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every site of a deployment in this process (default: the embedded two-site example).
    Up {
        /// Configuration file; the embedded examples/two-sites.toml when absent.
        #[arg(long, conflicts_with = "example")]
        config: Option<PathBuf>,
        /// An embedded example instead: `two-sites` (the default) or `four-sites` (two
        /// peer groups behind two Network SIP Servers).
        #[arg(long)]
        example: Option<String>,
        /// Anchor media at rtpengine (site1 at 127.0.0.1:22222, site2 at :22223, started
        /// by examples/media/rtpengine.sh): queue music on Routing Points, hold music.
        #[arg(long)]
        media: bool,
    },
    /// Run one site's peer as its own process.
    Peer {
        /// Configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Which `[[site]]` to run.
        #[arg(long)]
        site: String,
    },
    /// Run one Network SIP Server (`[[nss]]`) as its own process: carriers' INVITEs get a
    /// 302 to the site with the most ready agents (or as its `policy` says).
    Nss {
        /// Configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Which `[[nss]]` to run.
        #[arg(long)]
        name: String,
    },
    /// Run the router of one site: connects to every site's CTI server, routes the calls on
    /// the Routing Points named in `[routing]` to agents at either site.
    Router {
        /// Configuration file (its `[routing]` section and every site's `cti`).
        #[arg(long)]
        config: PathBuf,
        /// The site this router belongs to (it routes that site's calls first).
        #[arg(long)]
        site: String,
    },
    /// Run the stat service of one site: figures from every site on the site's `stats` address.
    StatServer {
        /// Configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The site whose `stats` address to serve on.
        #[arg(long)]
        site: String,
    },
    /// Print a stat service's figures: agents by state per site and group, Routing Points.
    Stats {
        /// The stat service's WebSocket URL.
        #[arg(long, default_value = "ws://127.0.0.1:9070/stats/ws")]
        url: String,
        /// A viewer, client or admin CTI token of the site (needed off loopback).
        #[arg(long)]
        token: Option<String>,
        /// For a `wss://` URL (a site with `stats_tls`): the site's certificate or its CA, PEM.
        #[arg(long)]
        ca: Option<PathBuf>,
        /// Keep printing changes as they happen.
        #[arg(long)]
        watch: bool,
        /// Statistics to show (`total`, `site/site1`, `rp/5000`, `group/sales`, `agent/A1001`); all by default.
        names: Vec<String>,
    },
    /// Gracefully shut a site down (CTI RequestPrivateService 3019): new calls go elsewhere,
    /// agents are logged out as their calls end, the site stops when no call is left.
    Shutdown {
        /// The site's CTI WebSocket URL.
        #[arg(long, default_value = "ws://127.0.0.1:7060/cti")]
        url: String,
        /// The CTI token.
        #[arg(long, default_value = "demo-token")]
        token: String,
    },
    /// Print call detail records or the agent state log from the sites' stores, newest first.
    ///
    /// Reads every site's `[site.store]` file of the configuration (default: the embedded
    /// example's), or the files given with `--db`. Safe while the sites run.
    Cdr {
        /// Configuration file whose sites' stores to read; the embedded example when absent.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Read this SQLite file instead (repeatable).
        #[arg(long)]
        db: Vec<PathBuf>,
        /// How many rows.
        #[arg(long, default_value_t = 20)]
        last: usize,
        /// Only this agent's calls (with --states: its state changes).
        #[arg(long)]
        agent: Option<String>,
        /// Only the call with this UUID (or UUID prefix, as the table shows it), at every site.
        #[arg(long)]
        uuid: Option<String>,
        /// The agent state log (login, ready, not ready, after-call work, logout) instead of calls.
        #[arg(long)]
        states: bool,
        /// One JSON object per line (with every field and the legs) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the `[[site.auth.user]]` entry for a DN's SIP password: its HA1 hashes
    /// (MD5 and SHA-256 of `dn:realm:password`), so the configuration holds no password.
    ///
    /// The password is read from the first line of standard input:
    /// `echo 's3cret' | tandem passwd --dn 1001 --realm tandem`.
    Passwd {
        /// The DN (the phone's SIP user name).
        #[arg(long, required_unless_present = "agent")]
        dn: Option<String>,
        /// The realm (`[site.auth] realm`, the same at both sites of a pair).
        #[arg(long, required_unless_present = "agent")]
        realm: Option<String>,
        /// Instead: an agent's login password, printed as the `password_hash` (argon2id)
        /// of its `[[site.agent]]`.
        #[arg(long, conflicts_with_all = ["dn", "realm"])]
        agent: Option<String>,
        /// Print the MD5 hash alone, for phones that answer MD5 only (sipp 3.6, baresip 1.x);
        /// by default the SHA-256 hash (RFC 8760), which those phones cannot answer.
        #[arg(long, conflicts_with = "agent")]
        md5: bool,
    },
    /// Validate a configuration file; exit non-zero with errors naming field and line.
    Check {
        /// Configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Talk CTI to a site: send requests, print events as JSON lines.
    ///
    /// Requests are JSON objects or shorthand: `RequestAgentLogin ThisDN=1001 AgentID=A1001`.
    /// `-` then sends each stdin line as it arrives (one request per line).
    Cti {
        /// The site's CTI WebSocket URL.
        #[arg(long, default_value = "ws://127.0.0.1:7060/cti")]
        url: String,
        /// The CTI token (`cti_tokens` in the site configuration).
        #[arg(long, default_value = "demo-token")]
        token: String,
        /// Stop after this many seconds without an event (0 = run until Ctrl-C).
        #[arg(long, default_value_t = 1.0)]
        wait: f64,
        /// Print the JSON Schema of the protocol and exit.
        #[arg(long)]
        schema: bool,
        /// Requests to send, in order.
        requests: Vec<String>,
    },
}

/// Parses the command line and runs it.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    crate::listen::raise_open_files_limit();
    match cli.command {
        Command::Cti { url, token, wait, schema, requests } => commands::cti(&url, &token, wait, schema, &requests),
        Command::Shutdown { url, token } => commands::shutdown(&url, &token),
        Command::Router { config, site } => commands::router(&config, &site),
        Command::StatServer { config, site } => commands::stat_server(&config, &site),
        Command::Stats { url, token, ca, watch, names } => {
            let to = crate::stats_client::Endpoint { url: &url, token: token.as_deref(), ca: ca.as_deref() };
            block_on(Threads::One, crate::stats_client::run(to, &names, watch))
        }
        Command::Cdr { config, db, last, agent, uuid, states, json } => {
            let query = crate::store::query::Query { last, agent, uuid, states, json };
            commands::cdr(config.as_ref(), db, &query)
        }
        Command::Passwd { dn, realm, agent, md5 } => commands::passwd(dn, realm, agent, md5),
        Command::Check { config } => {
            let sites = commands::load_file(&config)?;
            tracing::info!(sites = sites.len(), "configuration is valid");
            Ok(())
        }
        Command::Up { config, example, media } => commands::up(config, example.as_deref(), media),
        Command::Nss { config, name: site } | Command::Peer { config, site } => commands::one_site(config, &site),
    }
}

/// How many threads a command's runtime has.
#[derive(Debug, Clone, Copy)]
enum Threads {
    /// A client: one is plenty.
    One,
    /// A server: one per core.
    All,
}

/// Runs `task` to its end on a new tokio runtime (the one place a command builds one).
fn block_on<T>(threads: Threads, task: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let mut builder = match threads {
        Threads::One => tokio::runtime::Builder::new_current_thread(),
        Threads::All => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build()?.block_on(task)
}
