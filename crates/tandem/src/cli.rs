//! The `tandem` command line.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio::sync::{mpsc, watch};
use tracing::Instrument as _;

use crate::config::{self, SiteConfig};
use crate::site;

/// The embedded default deployment: two sites on loopback.
const DEFAULT_CONFIG: &str = include_str!("../../../examples/two-sites.toml");
/// The second embedded example: two peer groups (four sites) behind two Network SIP Servers.
const FOUR_SITES: &str = include_str!("../../../examples/four-sites.toml");

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
        /// Only the call with this UUID, at every site.
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
        Command::Cti { url, token, wait, schema, requests } => {
            if schema {
                #[allow(clippy::print_stdout)]
                {
                    println!("{}", serde_json::to_string_pretty(&cti::schema())?);
                }
                return Ok(());
            }
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(crate::cti_client::run(
                &url,
                &token,
                &requests,
                std::time::Duration::from_secs_f64(wait.max(0.0)),
            ))
        }
        Command::Shutdown { url, token } => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let request = vec!["RequestPrivateService ServiceID=3019 ReferenceID=1".to_owned()];
            runtime.block_on(crate::cti_client::run(&url, &token, &request, std::time::Duration::from_secs(1)))
        }
        Command::Router { config, site } => {
            let (deployment, home) = deployment_and_site(&config, &site)?;
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(async move {
                let (stop_tx, stop_rx) = watch::channel(false);
                let router = tokio::spawn(crate::router_service::run(deployment, home, stop_rx));
                Signals::new()?.until_stop().await;
                let _ = stop_tx.send(true);
                router.await?
            })
        }
        Command::StatServer { config, site } => {
            let (deployment, home) = deployment_and_site(&config, &site)?;
            let addr = deployment.sites[home].stats.with_context(|| format!("site `{site}` has no `stats` address"))?;
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
                site::announce(&site, "stats", listener.local_addr()?);
                let (stop_tx, stop_rx) = watch::channel(false);
                let service = tokio::spawn(crate::stats_service::run(deployment, home, listener, stop_rx));
                Signals::new()?.until_stop().await;
                let _ = stop_tx.send(true);
                service.await?
            })
        }
        Command::Stats { url, token, watch, names } => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(crate::stats_client::run(&url, token.as_deref(), &names, watch))
        }
        Command::Cdr { config, db, last, agent, uuid, states, json } => {
            let paths = if db.is_empty() { store_paths(config.as_ref())? } else { db };
            let query = crate::store::query::Query { last, agent, uuid, states, json };
            let paths: Vec<&std::path::Path> = paths.iter().map(PathBuf::as_path).collect();
            let text = crate::store::query::run(&paths, &query)?;
            #[allow(clippy::print_stdout)]
            {
                print!("{text}");
            }
            Ok(())
        }
        Command::Passwd { dn, realm, agent } => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password).context("reading the password from stdin")?;
            let password = password.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(!password.is_empty(), "no password on stdin (echo 'password' | tandem passwd ...)");
            let entry = match (agent, dn, realm) {
                (Some(agent), _, _) => {
                    format!("# agent {agent}\npassword_hash = \"{}\"", crate::cti_access::hash_password(password)?)
                }
                (None, Some(dn), Some(realm)) => passwd_entry(&dn, &realm, password),
                _ => anyhow::bail!("give --dn and --realm, or --agent"),
            };
            #[allow(clippy::print_stdout)]
            {
                println!("{entry}");
            }
            Ok(())
        }
        Command::Check { config } => {
            let sites = load_file(&config)?;
            tracing::info!(sites = sites.len(), "configuration is valid");
            Ok(())
        }
        Command::Up { config, example } => {
            let deployment = match (&config, example.as_deref()) {
                (Some(path), _) => {
                    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                    config::load_deployment(&text, &path.display().to_string())?
                }
                (None, None | Some("two-sites")) => {
                    config::load_deployment(DEFAULT_CONFIG, "examples/two-sites.toml (embedded)")?
                }
                (None, Some("four-sites")) => {
                    config::load_deployment(FOUR_SITES, "examples/four-sites.toml (embedded)")?
                }
                (None, Some(other)) => anyhow::bail!("no embedded example `{other}` (two-sites, four-sites)"),
            };
            serve(deployment.runnable(), config, Some(deployment))
        }
        Command::Nss { config, name: site } | Command::Peer { config, site } => {
            let sites = load_file(&config)?;
            let names: Vec<String> = sites.iter().map(|s| s.node.site.clone()).collect();
            let chosen = sites
                .into_iter()
                .find(|s| s.node.site == site)
                .with_context(|| format!("no site `{site}` in {} (sites: {})", config.display(), names.join(", ")))?;
            serve(vec![chosen], Some(config), None)
        }
    }
}

/// The `[[site.auth.user]]` table for `dn` with `password` in `realm`.
fn passwd_entry(dn: &str, realm: &str, password: &str) -> String {
    use engine::auth::Algorithm;
    format!(
        "[[site.auth.user]]\ndn = \"{dn}\"\nmd5 = \"{}\"\nsha256 = \"{}\"",
        Algorithm::Md5.ha1(dn, realm, password),
        Algorithm::Sha256.ha1(dn, realm, password)
    )
}

/// A router for every site, and a stat service for every site with a `stats` address.
async fn start_services(deployment: &config::Deployment, stop: &watch::Receiver<bool>) -> anyhow::Result<()> {
    for (home, site) in deployment.sites.iter().enumerate() {
        let span = tracing::info_span!("router", site = %site.node.site);
        let router = crate::router_service::run(deployment.clone(), home, stop.clone()).instrument(span);
        tokio::spawn(async move {
            if let Err(e) = router.await {
                tracing::error!(error = %e, "router failed");
            }
        });
        if let Some(addr) = site.stats {
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
            site::announce(&site.node.site, "stats", listener.local_addr()?);
            let span = tracing::info_span!("stats", site = %site.node.site);
            let service = crate::stats_service::run(deployment.clone(), home, listener, stop.clone()).instrument(span);
            tokio::spawn(async move {
                if let Err(e) = service.await {
                    tracing::error!(error = %e, "stat service failed");
                }
            });
        }
    }
    Ok(())
}

/// Loads a deployment and finds `site` in it (by name); returns its index too.
fn deployment_and_site(path: &PathBuf, site: &str) -> anyhow::Result<(config::Deployment, usize)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let deployment = config::load_deployment(&text, &path.display().to_string())?;
    let names = deployment.site_names();
    let home = names
        .iter()
        .position(|n| n == site)
        .with_context(|| format!("no site `{site}` in {} (sites: {})", path.display(), names.join(", ")))?;
    Ok((deployment, home))
}

/// The store files of a deployment's sites (the embedded example's by default).
fn store_paths(config: Option<&PathBuf>) -> anyhow::Result<Vec<PathBuf>> {
    let sites = match config {
        Some(path) => load_file(path)?,
        None => config::load(DEFAULT_CONFIG, "examples/two-sites.toml (embedded)")?,
    };
    let mut paths = Vec::new();
    for store in sites.into_iter().filter_map(|s| s.store) {
        match store.target {
            crate::store::Target::Sqlite(path) => paths.push(path),
            crate::store::Target::Postgres(_) => {
                anyhow::bail!("a site's store is PostgreSQL: query it with psql (the tables are in docs/cdr.md)")
            }
        }
    }
    paths.dedup();
    anyhow::ensure!(!paths.is_empty(), "no site of the configuration has a [site.store]");
    Ok(paths)
}

fn load_file(path: &PathBuf) -> anyhow::Result<Vec<SiteConfig>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(config::load(&text, &path.display().to_string())?)
}

/// Runs `sites` in this process; with `services` (a deployment with `[routing]`), also a
/// router per site and a stat service per site that has a `stats` address.
fn serve(sites: Vec<SiteConfig>, source: Option<PathBuf>, services: Option<config::Deployment>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let mut bound = Vec::new();
        for site in sites {
            bound.push(site::bind(site).await?);
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        if let Some(deployment) = services.filter(|d| d.routing.is_some()) {
            start_services(&deployment, &stop_rx).await?;
        }
        let mut tasks = Vec::new();
        let mut reloaders = Vec::new();
        let (admin_tx, mut admin_rx) = mpsc::channel::<site::AdminRequest>(16);
        for site in bound {
            let (tx, rx) = mpsc::channel(4);
            reloaders.push((site.name().to_owned(), tx));
            // Every log line of the site's task names the site.
            let span = tracing::info_span!("site", site = %site.name());
            tasks.push(tokio::spawn(site.run(stop_rx.clone(), rx, admin_tx.clone()).instrument(span)));
        }
        let mut signals = Signals::new()?;
        let mut running = tasks.len();
        let (done_tx, mut done_rx) = mpsc::channel::<()>(tasks.len().max(1));
        let tasks: Vec<_> = tasks
            .into_iter()
            .map(|task| {
                let done = done_tx.clone();
                tokio::spawn(async move {
                    let result = task.await;
                    let _ = done.send(()).await;
                    result
                })
            })
            .collect();
        loop {
            tokio::select! {
                Some(()) = done_rx.recv() => {
                    // A site ended on its own (graceful shutdown drained it).
                    running -= 1;
                    if running == 0 {
                        break;
                    }
                }
                signal = signals.next() => match signal {
                    Signal::Stop => break,
                    Signal::Reload => {
                        let _ = reload(source.as_deref(), &reloaders).await;
                    }
                },
                Some(site::AdminRequest::Reload(reply)) = admin_rx.recv() => {
                    let _ = reply.send(reload(source.as_deref(), &reloaders).await);
                }
            }
        }
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
        for task in tasks {
            task.await???;
        }
        Ok(())
    })
}

/// Re-reads the configuration file and hands each running site its new configuration.
/// An invalid file is refused with its errors and the running configuration stays.
async fn reload(
    source: Option<&std::path::Path>,
    sites: &[(String, mpsc::Sender<site::Reloaded>)],
) -> Result<(), String> {
    let refuse = |text: String| {
        tracing::warn!("reload refused, keeping the running configuration: {text}");
        Err(text)
    };
    let Some(path) = source else {
        return refuse("the embedded configuration cannot change; start with --config FILE".into());
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return refuse(format!("reading {}: {e}", path.display())),
    };
    let new = match config::load(&text, &path.display().to_string()) {
        Ok(n) => n,
        Err(e) => return refuse(e.to_string()),
    };
    for (name, tx) in sites {
        match new.iter().find(|s| &s.node.site == name) {
            Some(site) => {
                let reloaded = site::Reloaded { node: site.node.clone(), cti: site.cti_table() };
                let _ = tx.send(reloaded).await;
            }
            None => tracing::warn!(site = %name, "site missing from the new configuration; it keeps its old one"),
        }
    }
    Ok(())
}

enum Signal {
    Stop,
    Reload,
}

/// The process signals Tandem answers: Ctrl-C / SIGTERM stop, SIGHUP reloads.
struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self { term: signal(SignalKind::terminate())?, hup: signal(SignalKind::hangup())? })
    }

    /// Waits for Ctrl-C or SIGTERM (SIGHUP is ignored here).
    async fn until_stop(&mut self) {
        loop {
            if let Signal::Stop = self.next().await {
                return;
            }
        }
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => Signal::Stop,
            _ = self.term.recv() => Signal::Stop,
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}
