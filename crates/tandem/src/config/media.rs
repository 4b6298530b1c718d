//! `[site.media]`: the media partner (rtpengine) every call's media is anchored at.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use engine::media::{MediaConfig, MediaFailure, Sounds};
use serde::Deserialize;
use toml::Spanned;

/// `[site.media]` as written. Absent: media flows endpoint to endpoint and Tandem only
/// relays SDP.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MediaFile {
    /// rtpengine control (ng protocol over UDP) addresses, `["127.0.0.1:22222"]`. A call's
    /// commands all go to one of them, picked by its session.
    ng: Spanned<Vec<SocketAddr>>,
    /// Milliseconds to wait for rtpengine's answer to one command (retransmitted inside
    /// it). Default 1000.
    #[serde(default = "default_timeout_ms")]
    timeout_ms: Spanned<u64>,
    /// When rtpengine does not answer: `"continue"` (the call goes on unanchored, the
    /// alarm `tandem_media_partner_down` is raised) or `"refuse"` (new calls get 503).
    /// Default "continue".
    #[serde(default)]
    on_failure: OnFailure,
    /// Seconds new calls do not wait for an rtpengine that failed to answer. Default 5.
    #[serde(default = "default_retry_after")]
    retry_after: u64,
    /// The directory of the sound files below (WAV or anything ffmpeg reads), on the
    /// host rtpengine runs on; relative to the working directory. Needed by any of them.
    sounds: Option<Spanned<PathBuf>>,
    /// The file a held party hears (a desktop's hold). Optional.
    hold_music: Option<Spanned<String>>,
    /// The file calls waiting on a Routing Point hear (as early media). Optional.
    queue_music: Option<Spanned<String>>,
    /// A caller waiting with music is answered (200 OK) instead of hearing it as early
    /// media (183); the agent then reaches it in a re-INVITE. Default false.
    #[serde(default)]
    answer_waiting: bool,
    /// Per Routing Point: `{ "5000" = "sales.wav" }`. Optional.
    #[serde(default)]
    rp_music: BTreeMap<String, Spanned<String>>,
    /// Record every anchored call from its answer: rtpengine captures it (it must run with
    /// `--recording-method=pcap --recording-dir=` this `recordings`), and Tandem makes each
    /// capture a WAV file in `recordings/wav/` when the call ends. Default false.
    #[serde(default)]
    record: bool,
    /// Record the calls of these DNs from their answer: a Routing Point's calls that
    /// waited there, an Extension's or ACD Position's calls it answered. Default none.
    #[serde(default)]
    record_dns: Vec<String>,
    /// Record the calls these agents (AgentIDs) answer. Default none.
    #[serde(default)]
    record_agents: Vec<String>,
    /// rtpengine's `--recording-dir` (on this host). Needed by `record`, `record_dns` and
    /// `record_agents`; without it desktops cannot record calls either.
    recordings: Option<Spanned<PathBuf>>,
    /// rtpengine's recording daemon writes the WAV files (hosts with its kernel module:
    /// `--recording-method=proc`, and `rtpengine-recording --spool-dir=` `recordings`
    /// `--output-dir=` `recordings`/wav `--output-pattern=%c --output-mixed
    /// --output-format=wav`): Tandem converts nothing, and names and keeps the daemon's
    /// files as its own. Default false (Tandem converts rtpengine's pcap captures).
    #[serde(default)]
    recording_daemon: bool,
    /// Days a recording (WAV file, or capture not yet converted) is kept; older ones are
    /// deleted (checked at start and every hour). Default: kept for ever.
    keep_recordings_days: Option<Spanned<u32>>,
    /// The conference mixer: Janus's WebSocket API, `"ws://127.0.0.1:8188"` (its
    /// AudioBridge plugin with `local_ip` and `rtp_port_range` set). Without it,
    /// conference requests get EventError.
    mixer: Option<Spanned<String>>,
    /// Treatments a router may name in RequestApplyTreatment (TreatmentType):
    /// `{ Music = "queue.wav", RingBack = "ringback.wav" }`. Optional.
    #[serde(default)]
    treatments: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Default, Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum OnFailure {
    #[default]
    Continue,
    Refuse,
}

fn default_timeout_ms() -> Spanned<u64> {
    Spanned::new(0..0, 1000)
}

fn default_retry_after() -> u64 {
    5
}

/// A site's media partner: where the shell sends commands, and what the engine does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MediaPartnerConfig {
    pub(crate) ng: Vec<SocketAddr>,
    pub(crate) engine: MediaConfig,
    /// rtpengine's recording directory, when calls are recorded.
    pub(crate) recordings: Option<PathBuf>,
    /// How long recordings are kept (None: for ever).
    pub(crate) keep_recordings: Option<Duration>,
    /// Tandem makes the WAV files from rtpengine's captures (false: its recording daemon
    /// writes them).
    pub(crate) convert_recordings: bool,
    /// The conference mixer's WebSocket URL (Janus), if any.
    pub(crate) mixer: Option<String>,
}

impl MediaFile {
    /// Checked: byte offset and message on error.
    pub(super) fn into_config(mut self) -> Result<MediaPartnerConfig, (usize, String)> {
        if self.ng.get_ref().is_empty() {
            return Err((self.ng.span().start, "`media.ng` needs at least one rtpengine address".into()));
        }
        let timeout = *self.timeout_ms.get_ref();
        if !(50..=10_000).contains(&timeout) {
            return Err((self.timeout_ms.span().start, "`media.timeout_ms` must be 50..10000".into()));
        }
        let on_failure = match self.on_failure {
            OnFailure::Continue => MediaFailure::Continue,
            OnFailure::Refuse => MediaFailure::Refuse,
        };
        let sounds = self.sounds()?;
        let mixer = match self.mixer.take() {
            Some(url) if !url.get_ref().starts_with("ws://") || url.get_ref().len() <= 5 => {
                return Err((url.span().start, "`media.mixer`: Janus's WebSocket API, `ws://host:port`".into()));
            }
            url => url.map(Spanned::into_inner),
        };
        let (recordings, keep) = self.recordings()?;
        let engine = MediaConfig {
            timeout: Duration::from_millis(timeout),
            on_failure,
            retry_after: Duration::from_secs(self.retry_after.max(1)),
            sounds,
            answer_waiting: self.answer_waiting,
            record: self.record,
            record_dns: self.record_dns.into_iter().collect(),
            record_agents: self.record_agents.into_iter().collect(),
            can_record: recordings.is_some(),
            mixer: mixer.is_some(),
        };
        let convert_recordings = !self.recording_daemon;
        Ok(MediaPartnerConfig {
            ng: self.ng.into_inner(),
            engine,
            recordings,
            keep_recordings: keep,
            convert_recordings,
            mixer,
        })
    }

    /// rtpengine's recording directory (checked to exist, made absolute) when recordings
    /// are kept, and how long they are.
    fn recordings(&self) -> Result<(Option<PathBuf>, Option<Duration>), (usize, String)> {
        let records = self.record || !self.record_dns.is_empty() || !self.record_agents.is_empty();
        let keep = match &self.keep_recordings_days {
            Some(days) if *days.get_ref() == 0 => {
                return Err((days.span().start, "`media.keep_recordings_days` must be at least 1".into()))
            }
            Some(days) if self.recordings.is_none() => {
                return Err((days.span().start, "`media.keep_recordings_days` needs `media.recordings`".into()))
            }
            Some(days) => Some(Duration::from_secs(u64::from(*days.get_ref()) * 86_400)),
            None => None,
        };
        let needed = if self.recording_daemon {
            "`media.recording_daemon`"
        } else {
            "`media.record`, `record_dns` and `record_agents`"
        };
        let dir = match (records || self.recording_daemon, &self.recordings) {
            (true, None) => return Err((self.ng.span().start, format!("{needed} need `media.recordings`"))),
            (_, Some(dir)) => {
                let at = dir.span().start;
                Some(
                    std::fs::canonicalize(dir.get_ref())
                        .map_err(|e| (at, format!("`media.recordings` {}: {e}", dir.get_ref().display())))?,
                )
            }
            (false, None) => None,
        };
        Ok((dir, keep))
    }

    /// The sound files, each checked to be a plain name of a file in `sounds` and made an
    /// absolute path (rtpengine opens it, from its own working directory).
    fn sounds(&self) -> Result<Sounds, (usize, String)> {
        let named = self.hold_music.iter().chain(&self.queue_music).chain(self.rp_music.values());
        let mut named = named.chain(self.treatments.values()).peekable();
        let Some(dir) = &self.sounds else {
            return match named.peek() {
                Some(first) => Err((first.span().start, "sound files need `media.sounds`, their directory".into())),
                None => Ok(Sounds::default()),
            };
        };
        let dir_at = dir.span().start;
        let dir = std::fs::canonicalize(dir.get_ref())
            .map_err(|e| (dir_at, format!("`media.sounds` {}: {e}", dir.get_ref().display())))?;
        let file = |name: &Spanned<String>| sound_file(&dir, name);
        Ok(Sounds {
            hold: self.hold_music.as_ref().map(file).transpose()?,
            queue: self.queue_music.as_ref().map(file).transpose()?,
            per_rp: self.rp_music.iter().map(|(rp, f)| Ok((rp.clone(), file(f)?))).collect::<Result<_, _>>()?,
            treatments: self.treatments.iter().map(|(t, f)| Ok((t.clone(), file(f)?))).collect::<Result<_, _>>()?,
        })
    }
}

/// `name` in `dir`, as a path string: a plain file name of an existing file.
fn sound_file(dir: &Path, name: &Spanned<String>) -> Result<String, (usize, String)> {
    let at = name.span().start;
    let plain = !name.get_ref().is_empty() && Path::new(name.get_ref()).file_name() == Some(name.get_ref().as_ref());
    if !plain || name.get_ref().starts_with('.') {
        return Err((at, format!("sound file `{}`: a plain file name in `media.sounds`", name.get_ref())));
    }
    let path = dir.join(name.get_ref());
    if !path.is_file() {
        return Err((at, format!("sound file {} does not exist", path.display())));
    }
    path.to_str().map(str::to_owned).ok_or((at, "sound file path is not UTF-8".into()))
}
