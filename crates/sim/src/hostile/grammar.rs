//! The grammar of hostile input: realistic SIP messages and CTI requests whose fields a
//! fuzzer mutates (huge, empty, odd bytes, wrong tags), in any order with time passing.

use arbitrary::Arbitrary;

/// One step of a hostile sequence.
#[derive(Debug, Clone, Arbitrary)]
pub enum Op {
    /// A REGISTER from a phone.
    Register { site: u8, from: Src, dn: u8, contact: Field, expires: Expires, cseq: u8, star: bool },
    /// A new INVITE (out of dialog), `call` naming its Call-ID and branch.
    Invite { site: u8, from: Src, dn: u8, call: u8, mutations: Vec<(Header, Field)> },
    /// CANCEL of the INVITE `call`.
    Cancel { site: u8, from: Src, call: u8, wrong_branch: bool },
    /// ACK, BYE, re-INVITE, INFO... from the gateway in the dialog the site answered `call` in.
    CallerInDialog { site: u8, call: u8, method: InDialog, tag: Tag },
    /// A response to the `pick`-th request a site sent to a phone or trunk.
    Respond { pick: u8, code: Code, tag: Tag, sdp: bool, contact: Field },
    /// A request from a phone in the dialog of the `pick`-th INVITE it received.
    CalleeInDialog { pick: u8, method: InDialog, tag: Tag },
    /// A CTI request from desktop `desk`.
    Desk { site: u8, desk: u8, request: DeskOp },
    /// Desktop `desk` disconnects.
    DeskClosed { site: u8, desk: u8 },
    /// Time passes: milliseconds.
    Wait { millis: u16 },
    /// Time passes: seconds (timers B/F/H, no-answer, router, queue, expiry).
    WaitLong { seconds: u8 },
    /// Arbitrary bytes as a datagram.
    Raw { site: u8, from: Src, bytes: Vec<u8> },
    /// Arbitrary bytes as one framed stream message.
    Stream { site: u8, conn: u8, bytes: Vec<u8> },
    /// The site starts its graceful shutdown.
    Shutdown { site: u8 },
    /// The media partner answers the `pick`-th command a site gave it (the second site
    /// anchors its calls), or a command no site gave.
    Media { pick: u8, answer: MediaAnswer },
}

/// What a (hostile) media partner answers.
#[derive(Debug, Clone, Arbitrary)]
pub enum MediaAnswer {
    /// A well-formed rewritten description.
    Rewritten,
    /// Any bytes as the description.
    Bytes(Vec<u8>),
    /// `result: ok`, nothing more.
    Done,
    /// `result: error`.
    Refused,
    /// Not reachable.
    Unreachable,
}

/// Who sends: the gateway, one of four phones, the other site's address (spoofed or
/// real), or a stranger.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Src {
    /// The gateway trunk.
    Gateway,
    /// Phone 0-3.
    Phone(u8),
    /// The DR peer's address.
    Peer,
    /// An address nobody configured.
    Stranger,
}

/// A header of a new INVITE that a mutation replaces.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Header {
    /// The Request-URI.
    RequestUri,
    /// Via.
    Via,
    /// From (value before the tag).
    From,
    /// To.
    To,
    /// Call-ID.
    CallId,
    /// CSeq.
    CSeq,
    /// Contact.
    Contact,
    /// Max-Forwards.
    MaxForwards,
    /// Content-Type.
    ContentType,
    /// The body (Content-Length follows it).
    Body,
    /// X-Genesys-CallUUID (trusted from the DR peer only).
    CallUuid,
    /// X-Tandem-UserData (trusted from the DR peer only).
    UserData,
    /// Authorization (digest credentials; the first site asks for them).
    Authorization,
    /// X-Tandem-Seal (the DR peer's seal).
    Seal,
    /// An extra header named by the field.
    Extra,
}

/// What a field becomes.
#[derive(Debug, Clone, Arbitrary)]
pub enum Field {
    /// What a real peer sends.
    Normal,
    /// Nothing.
    Empty,
    /// `n` copies of a character (up to 64 KiB).
    Huge(u16),
    /// Bytes that are not UTF-8.
    NotUtf8,
    /// Anything, up to 64 bytes.
    Bytes(Vec<u8>),
}

/// Expires values a phone may ask for.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Expires {
    /// No Expires header.
    Absent,
    /// Zero (unregister).
    Zero,
    /// Too brief (423).
    Brief,
    /// An hour.
    Hour,
    /// More than `u32`.
    Overflow,
}

/// The To tag (or From tag) a message carries.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Tag {
    /// The right one.
    Right,
    /// None at all.
    Missing,
    /// One nobody gave out.
    Wrong,
}

/// Requests inside a dialog.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum InDialog {
    /// ACK.
    Ack,
    /// BYE.
    Bye,
    /// re-INVITE.
    Invite,
    /// UPDATE.
    Update,
    /// INFO.
    Info,
    /// NOTIFY.
    Notify,
}

/// Status codes a callee answers with.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Code {
    /// 100.
    Trying,
    /// 180.
    Ringing,
    /// 183.
    Progress,
    /// 200.
    Ok,
    /// 302.
    Moved,
    /// 486.
    Busy,
    /// 487.
    Terminated,
    /// 500.
    ServerError,
    /// 603.
    Decline,
    /// Any number.
    Other(u16),
}

impl Code {
    /// The status number.
    pub fn number(self) -> u16 {
        match self {
            Self::Trying => 100,
            Self::Ringing => 180,
            Self::Progress => 183,
            Self::Ok => 200,
            Self::Moved => 302,
            Self::Busy => 486,
            Self::Terminated => 487,
            Self::ServerError => 500,
            Self::Decline => 603,
            Self::Other(n) => n,
        }
    }
}

/// CTI requests a desktop sends; DNs and ConnIDs are picked from what exists.
#[derive(Debug, Clone, Arbitrary)]
pub enum DeskOp {
    /// RequestRegisterAddress.
    Register { dn: u8 },
    /// RequestAgentLogin.
    Login { dn: u8, agent: u8 },
    /// RequestAgentReady.
    Ready { dn: u8 },
    /// RequestAgentNotReady.
    NotReady { dn: u8 },
    /// RequestAgentLogout.
    Logout { dn: u8 },
    /// RequestRouteCall of a seen ConnID.
    Route { conn: u8, rp: u8, target: u8 },
    /// RequestMakeCall, with UserData of `data` bytes.
    MakeCall { dn: u8, target: u8, data: u16 },
    /// RequestAnswerCall of a seen ConnID.
    Answer { conn: u8, dn: u8 },
    /// RequestReleaseCall of a seen ConnID.
    Release { conn: u8, dn: u8 },
    /// RequestQueryAddress.
    Query { dn: u8 },
    /// RequestRouteCall to the other site (ISCC), `Location` picked from real and bogus names.
    RouteRemote { conn: u8, rp: u8, target: u8, location: u8 },
    /// RequestReserveAgent, any priority and duration (negative, zero, huge).
    Reserve { dn: u8, priority: i8, duration: i16 },
    /// RequestApplyTreatment of a seen ConnID.
    Treat { conn: u8, rp: u8 },
    /// RequestRegisterAddress in monitor mode.
    Monitor { dn: u8 },
    /// RequestPrivateService 3013-3017 (the recording services and one unknown) on a
    /// seen ConnID.
    Record { conn: u8, dn: u8, service: u8 },
}
