//! What each `tandem` command does (the arguments are in `mod.rs`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tokio::sync::watch;

use super::serve::{serve, Signals};
use super::{block_on, Threads, DEFAULT_CONFIG, FOUR_SITES};
use crate::config::{self, SiteConfig};
use crate::site;

/// `tandem cti`: sends requests, prints events; `--schema` prints the protocol's schema.
pub(super) fn cti(url: &str, token: &str, wait: f64, schema: bool, requests: &[String]) -> anyhow::Result<()> {
    if schema {
        #[allow(clippy::print_stdout)]
        {
            println!("{}", serde_json::to_string_pretty(&cti::schema())?);
        }
        return Ok(());
    }
    let wait = std::time::Duration::from_secs_f64(wait.max(0.0));
    block_on(Threads::One, crate::cti_client::run(url, token, requests, wait))
}

/// `tandem shutdown`: asks a site for a graceful shutdown (RequestPrivateService 3019).
pub(super) fn shutdown(url: &str, token: &str) -> anyhow::Result<()> {
    let request = vec!["RequestPrivateService ServiceID=3019 ReferenceID=1".to_owned()];
    block_on(Threads::One, crate::cti_client::run(url, token, &request, std::time::Duration::from_secs(1)))
}

/// `tandem router`: one site's router, until Ctrl-C or SIGTERM.
pub(super) fn router(config: &Path, site: &str) -> anyhow::Result<()> {
    let (deployment, home) = deployment_and_site(config, site)?;
    block_on(Threads::All, async move {
        let (stop_tx, stop_rx) = watch::channel(false);
        let router = tokio::spawn(crate::router_service::run(deployment, home, stop_rx));
        Signals::new()?.until_stop().await;
        let _ = stop_tx.send(true);
        router.await?
    })
}

/// `tandem stat-server`: one site's stat service on its `stats` address.
pub(super) fn stat_server(config: &Path, site: &str) -> anyhow::Result<()> {
    let (deployment, home) = deployment_and_site(config, site)?;
    let addr = deployment.sites[home].stats.with_context(|| format!("site `{site}` has no `stats` address"))?;
    let site = site.to_owned();
    block_on(Threads::All, async move {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        site::announce(&site, "stats", listener.local_addr()?);
        let (stop_tx, stop_rx) = watch::channel(false);
        let service = tokio::spawn(crate::stats_service::run(deployment, home, listener, stop_rx));
        Signals::new()?.until_stop().await;
        let _ = stop_tx.send(true);
        service.await?
    })
}

/// `tandem cdr`: prints call detail records or the agent state log from site stores.
pub(super) fn cdr(
    config: Option<&PathBuf>,
    db: Vec<PathBuf>,
    query: &crate::store::query::Query,
) -> anyhow::Result<()> {
    let paths = if db.is_empty() { store_paths(config)? } else { db };
    let paths: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let text = crate::store::query::run(&paths, query)?;
    #[allow(clippy::print_stdout)]
    {
        print!("{text}");
    }
    Ok(())
}

/// `tandem passwd`: the configuration entry for a password read from stdin.
pub(super) fn passwd(
    dn: Option<String>,
    realm: Option<String>,
    agent: Option<String>,
    md5: bool,
) -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin().read_line(&mut password).context("reading the password from stdin")?;
    let password = password.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(!password.is_empty(), "no password on stdin (echo 'password' | tandem passwd ...)");
    let entry = match (agent, dn, realm) {
        (Some(agent), _, _) => {
            format!("# agent {agent}\npassword_hash = \"{}\"", crate::cti_access::hash_password(password)?)
        }
        (None, Some(dn), Some(realm)) => passwd_entry(&dn, &realm, password, md5),
        _ => anyhow::bail!("give --dn and --realm, or --agent"),
    };
    #[allow(clippy::print_stdout)]
    {
        println!("{entry}");
    }
    Ok(())
}

/// `tandem up`: every site of a deployment (a file, or an embedded example) with its
/// routers and stat services.
pub(super) fn up(config: Option<PathBuf>, example: Option<&str>, media: bool) -> anyhow::Result<()> {
    let deployment = match (&config, example) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            config::load_deployment(&text, &path.display().to_string())?
        }
        (None, None | Some("two-sites")) => {
            config::load_deployment(DEFAULT_CONFIG, "examples/two-sites.toml (embedded)")?
        }
        (None, Some("four-sites")) => config::load_deployment(FOUR_SITES, "examples/four-sites.toml (embedded)")?,
        (None, Some(other)) => anyhow::bail!("no embedded example `{other}` (two-sites, four-sites)"),
    };
    let mut sites = deployment.runnable();
    if media {
        super::demo_media::add_media(&mut sites, Path::new("tandem-data/sounds"))?;
    }
    serve(sites, config, Some(deployment))
}

/// `tandem peer` / `tandem nss`: one site (or Network SIP Server) of a file.
pub(super) fn one_site(config: PathBuf, site: &str) -> anyhow::Result<()> {
    let sites = load_file(&config)?;
    let names: Vec<String> = sites.iter().map(|s| s.node.site.clone()).collect();
    let chosen = sites
        .into_iter()
        .find(|s| s.node.site == site)
        .with_context(|| format!("no site `{site}` in {} (sites: {})", config.display(), names.join(", ")))?;
    serve(vec![chosen], Some(config), None)
}

/// The `[[site.auth.user]]` table for `dn` with `password` in `realm`.
fn passwd_entry(dn: &str, realm: &str, password: &str, md5: bool) -> String {
    use engine::auth::Algorithm;
    let (name, algorithm, note) = if md5 {
        ("md5", Algorithm::Md5, "MD5 alone: for phones that answer MD5 only")
    } else {
        ("sha256", Algorithm::Sha256, "SHA-256 (RFC 8760); phones that answer MD5 only need --md5")
    };
    format!("# {note}\n[[site.auth.user]]\ndn = \"{dn}\"\n{name} = \"{}\"", algorithm.ha1(dn, realm, password))
}

/// Loads a deployment and finds `site` in it (by name); returns its index too.
fn deployment_and_site(path: &Path, site: &str) -> anyhow::Result<(config::Deployment, usize)> {
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

pub(super) fn load_file(path: &Path) -> anyhow::Result<Vec<SiteConfig>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(config::load(&text, &path.display().to_string())?)
}
