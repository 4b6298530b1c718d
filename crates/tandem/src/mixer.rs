//! The site's client of its conference mixer: Janus's AudioBridge plugin over Janus's
//! WebSocket API (`ws://host:8188`, subprotocol `janus-protocol`; Debian 12's `janus`
//! 1.1.2). The engine's [`MediaOp::MixerJoin`], `MixerLeave` and `MixerClose` become
//! Janus requests: one Janus session per site, one plugin handle per participant (it
//! joins as a plain-RTP participant, G.711 u-law, at the address its phone's own
//! description names, and Janus answers with the port it sends from and takes at), and
//! one handle that creates and destroys rooms. A join's answer is the mixer's session
//! description for that party; the engine re-INVITEs the party with it.
//!
//! Requests go one at a time, each awaited (conferences are made a few parties at a
//! time; Janus answers on loopback in well under a millisecond): events for other
//! transactions that arrive meanwhile are read and dropped. A request Janus does not
//! answer within [`ANSWER`] drops the connection (its rooms with it; Janus ends its
//! participants when the session goes) and the command gets [`MediaReply::Unreachable`].
//!
//! Janus's AudioBridge needs, for plain-RTP participants, `local_ip` set to the address
//! phones can reach it at and a free `rtp_port_range` (measured: without `local_ip` it
//! names an address of its own choosing); it sends to a participant only after that
//! participant's first packet (phones send all the time).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use engine::media::{MediaCommand, MediaOp, MediaReply};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// How long one Janus request may take.
const ANSWER: Duration = Duration::from_secs(3);
/// Janus ends a session after 60 s without a request: keep-alives go more often.
const KEEPALIVE: Duration = Duration::from_secs(25);
/// Commands queued before new ones are answered Unreachable.
const QUEUE: usize = 1024;
/// Rooms and participants remembered at most (a bound against a flood of conferences).
const MAX_HANDLES: usize = 10_000;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Starts the client of the Janus at `url`; answers go to `replies`.
pub(crate) fn start(url: String, replies: mpsc::Sender<(u64, MediaReply)>) -> mpsc::Sender<MediaCommand> {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(run(Janus::new(url), rx, replies));
    tx
}

async fn run(mut janus: Janus, mut commands: mpsc::Receiver<MediaCommand>, replies: mpsc::Sender<(u64, MediaReply)>) {
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    loop {
        tokio::select! {
            command = commands.recv() => {
                let Some(command) = command else { return };
                if let Some(reply) = janus.handle(&command.op).await {
                    let _ = replies.try_send((command.id, reply));
                }
            }
            _ = keepalive.tick() => janus.keepalive().await,
        }
    }
}

/// What one Janus connection holds.
struct Janus {
    url: String,
    ws: Option<Ws>,
    session: Option<u64>,
    /// The handle that creates and destroys rooms.
    admin: Option<u64>,
    /// Room (the call's UUID) -> Janus's numeric room.
    rooms: HashMap<String, u64>,
    /// (room, participant) -> its handle.
    handles: BTreeMap<(String, String), u64>,
    next: u64,
}

/// Why a request got no useful answer.
enum Failure {
    /// Janus is not there, or did not answer in time.
    Unreachable,
    /// Janus said no (its reason).
    Refused(String),
}

impl Janus {
    fn new(url: String) -> Self {
        let next = crate::clock::seed() % 1_000_000_000;
        Self { url, ws: None, session: None, admin: None, rooms: HashMap::new(), handles: BTreeMap::new(), next }
    }

    async fn handle(&mut self, op: &MediaOp) -> Option<MediaReply> {
        let result = match op {
            MediaOp::MixerJoin { room, participant, rtp } => self.join(room, participant, *rtp).await.map(Some),
            MediaOp::MixerLeave { room, participant } => self.leave(room, participant).await.map(|()| None),
            MediaOp::MixerClose { room } => self.close(room).await.map(|()| None),
            _ => return Some(MediaReply::Refused("not a mixer command".into())),
        };
        match result {
            Ok(Some(sdp)) => Some(MediaReply::Sdp(sdp.into_bytes())),
            Ok(None) => Some(MediaReply::Done(None)),
            Err(Failure::Refused(why)) => {
                tracing::warn!(reason = %why, "the conference mixer refused a request");
                Some(MediaReply::Refused(why))
            }
            Err(Failure::Unreachable) => {
                tracing::warn!(url = %self.url, "the conference mixer does not answer");
                self.reset();
                Some(MediaReply::Unreachable)
            }
        }
    }

    /// `participant` joins `room`: the mixer's description for it.
    async fn join(&mut self, room: &str, participant: &str, rtp: std::net::SocketAddr) -> Result<String, Failure> {
        let number = self.room(room).await?;
        if self.handles.len() >= MAX_HANDLES {
            return Err(Failure::Refused("too many conference participants".into()));
        }
        let handle = self.attach().await?;
        self.handles.insert((room.to_owned(), participant.to_owned()), handle);
        let body = json!({
            "request": "join", "room": number, "display": participant, "codec": "pcmu",
            "rtp": {"ip": rtp.ip().to_string(), "port": rtp.port(), "payload_type": 0},
        });
        let answer = self.request(json!({"janus": "message", "handle_id": handle, "body": body}), true).await?;
        let data = plugin_data(&answer)?;
        let (Some(ip), Some(port)) = (data["rtp"]["ip"].as_str(), data["rtp"]["port"].as_u64()) else {
            return Err(Failure::Refused("the mixer named no RTP address".into()));
        };
        Ok(mixer_sdp(ip, port))
    }

    async fn leave(&mut self, room: &str, participant: &str) -> Result<(), Failure> {
        let Some(handle) = self.handles.remove(&(room.to_owned(), participant.to_owned())) else { return Ok(()) };
        self.request(json!({"janus": "detach", "handle_id": handle}), false).await.map(|_| ())
    }

    async fn close(&mut self, room: &str) -> Result<(), Failure> {
        let gone: Vec<(String, String)> = self.handles.keys().filter(|(r, _)| r == room).cloned().collect();
        for (r, p) in gone {
            self.leave(&r, &p).await?;
        }
        let (Some(number), Some(admin)) = (self.rooms.remove(room), self.admin) else { return Ok(()) };
        let body = json!({"request": "destroy", "room": number});
        self.request(json!({"janus": "message", "handle_id": admin, "body": body}), false).await.map(|_| ())
    }

    /// Janus's number for `room`, created on first use.
    async fn room(&mut self, room: &str) -> Result<u64, Failure> {
        if let Some(number) = self.rooms.get(room) {
            return Ok(*number);
        }
        if self.rooms.len() >= MAX_HANDLES {
            return Err(Failure::Refused("too many conferences".into()));
        }
        let admin = match self.admin {
            Some(admin) => admin,
            None => {
                let admin = self.attach().await?;
                self.admin = Some(admin);
                admin
            }
        };
        self.next += 1;
        let number = self.next;
        let body = json!({
            "request": "create", "room": number, "allow_rtp_participants": true, "sampling_rate": 8000,
            "description": format!("tandem {room}"),
        });
        let answer = self.request(json!({"janus": "message", "handle_id": admin, "body": body}), false).await?;
        plugin_data(&answer)?;
        self.rooms.insert(room.to_owned(), number);
        Ok(number)
    }

    /// A new AudioBridge handle.
    async fn attach(&mut self) -> Result<u64, Failure> {
        let answer = self.request(json!({"janus": "attach", "plugin": "janus.plugin.audiobridge"}), false).await?;
        answer["data"]["id"].as_u64().ok_or(Failure::Refused("no handle".into()))
    }

    async fn keepalive(&mut self) {
        if self.session.is_some() && self.request(json!({"janus": "keepalive"}), false).await.is_err() {
            self.reset();
        }
    }

    /// Sends `message` (with a new transaction, in the session) and waits for its answer:
    /// for an asynchronous plugin request (`event`), the event after Janus's `ack`.
    async fn request(&mut self, mut message: Value, event: bool) -> Result<Value, Failure> {
        if self.session.is_none() {
            self.open().await?;
        }
        message["session_id"] = json!(self.session);
        let answer = self.exchange(message, event).await?;
        match answer["janus"].as_str() {
            Some("success" | "event" | "ack") => Ok(answer),
            _ => Err(Failure::Refused(answer["error"]["reason"].as_str().unwrap_or("an error").to_owned())),
        }
    }

    /// Connects and creates the session.
    async fn open(&mut self) -> Result<(), Failure> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
        let mut request = self.url.as_str().into_client_request().map_err(|_| Failure::Unreachable)?;
        let protocol = tokio_tungstenite::tungstenite::http::HeaderValue::from_static("janus-protocol");
        request.headers_mut().insert("sec-websocket-protocol", protocol);
        let connect = tokio_tungstenite::connect_async(request);
        let (ws, _) = tokio::time::timeout(ANSWER, connect).await.map_err(|_| Failure::Unreachable)?.map_err(|e| {
            tracing::debug!(error = %e, "conference mixer connection failed");
            Failure::Unreachable
        })?;
        self.ws = Some(ws);
        let answer = self.exchange(json!({"janus": "create"}), false).await?;
        self.session = Some(answer["data"]["id"].as_u64().ok_or(Failure::Unreachable)?);
        Ok(())
    }

    /// One request and its answer, within [`ANSWER`].
    async fn exchange(&mut self, mut message: Value, event: bool) -> Result<Value, Failure> {
        self.next += 1;
        let transaction = format!("t{}", self.next);
        message["transaction"] = json!(transaction);
        let ws = self.ws.as_mut().ok_or(Failure::Unreachable)?;
        ws.send(Message::Text(message.to_string())).await.map_err(|_| Failure::Unreachable)?;
        let answer = tokio::time::timeout(ANSWER, read_answer(ws, &transaction, event)).await;
        answer.map_err(|_| Failure::Unreachable)?.ok_or(Failure::Unreachable)
    }

    /// Forgets the connection and all it held (Janus ends the session's handles).
    fn reset(&mut self) {
        self.ws = None;
        self.session = None;
        self.admin = None;
        self.rooms.clear();
        self.handles.clear();
    }
}

/// Reads until the answer to `transaction` (its event, when `event`); None when the
/// connection ends.
async fn read_answer(ws: &mut Ws, transaction: &str, event: bool) -> Option<Value> {
    while let Some(next) = ws.next().await {
        let Ok(Message::Text(text)) = next else {
            if next.is_err() {
                return None;
            }
            continue;
        };
        let Ok(value) = serde_json::from_str::<Value>(&text) else { continue };
        if value["transaction"].as_str() != Some(transaction) {
            continue;
        }
        if event && value["janus"].as_str() == Some("ack") {
            continue;
        }
        return Some(value);
    }
    None
}

/// The AudioBridge's answer inside a Janus message, or its error.
fn plugin_data(answer: &Value) -> Result<&Value, Failure> {
    let data = &answer["plugindata"]["data"];
    if let Some(error) = data["error"].as_str() {
        return Err(Failure::Refused(error.to_owned()));
    }
    match data["audiobridge"].as_str() {
        Some(_) => Ok(data),
        None => Err(Failure::Refused("not an AudioBridge answer".into())),
    }
}

/// The session description a party gets for the mixer: G.711 u-law at `ip`:`port`.
fn mixer_sdp(ip: &str, port: u64) -> String {
    let family = if ip.contains(':') { "IP6" } else { "IP4" };
    format!(
        "v=0\r\no=tandem-mixer 1 1 IN {family} {ip}\r\ns=Tandem conference\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mixers_description_names_its_address_and_g711() {
        let sdp = mixer_sdp("127.0.0.1", 44500);
        assert!(sdp.contains("c=IN IP4 127.0.0.1\r\n") && sdp.contains("m=audio 44500 RTP/AVP 0\r\n"), "{sdp}");
        assert!(mixer_sdp("::1", 1).contains("c=IN IP6 ::1"));
    }

    #[test]
    fn an_audiobridge_error_is_a_refusal() {
        let error =
            json!({"plugindata": {"data": {"audiobridge": "event", "error_code": 485, "error": "No such room"}}});
        assert!(matches!(plugin_data(&error), Err(Failure::Refused(r)) if r == "No such room"));
        let joined = json!({"plugindata": {"data": {"audiobridge": "joined", "rtp": {"ip": "127.0.0.1", "port": 5}}}});
        assert!(plugin_data(&joined).is_ok());
        assert!(plugin_data(&json!({"janus": "success"})).is_err());
    }
}
