//! Recordings people can play. rtpengine 10.5 in user space captures a recorded session
//! as pcap (`--recording-method=pcap`; its WAV/MP3 recording daemon needs the kernel
//! module, which a user-space rtpengine has not). When a recorded session ends, this
//! thread turns its captures (`<dir>/pcaps/<session>-*.pcap`, one per recording segment)
//! into one mono WAV file (`<dir>/wav/<session>.wav`, 8 kHz 16-bit): every RTP stream in
//! the capture (both parties) is decoded (G.711 u-law and A-law; other codecs are left
//! out and logged) and mixed at its place in time. The captures are removed once the WAV
//! file is written. It runs on its own thread, never on the site's; the same thread
//! deletes recordings older than `keep_recordings_days`, at start and every hour.
//!
//! Written here rather than with a pcap crate: the captures are rtpengine's own (raw IPv4
//! or IPv6 frames, linktype 101), and reading them is a loop over 16-byte record headers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::time::Duration;

/// Sessions waiting for conversion before new ones are dropped (and logged).
const QUEUE: usize = 4096;
/// How long after a session's end its capture is read (rtpengine closes it at delete).
const SETTLE: Duration = Duration::from_millis(1000);
/// Samples per second of the WAV files (G.711).
const RATE: i64 = 8000;
/// The longest recording made (a capture's timestamps that say more are broken).
const MAX_SECONDS: i64 = 4 * 3600;
/// How often old recordings are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// The converter: sessions in, WAV files out.
pub(crate) struct Recordings {
    tx: SyncSender<String>,
    /// False when rtpengine's recording daemon writes the files (the thread only keeps
    /// `keep_recordings_days`).
    convert: bool,
}

impl Recordings {
    /// Starts the converter for rtpengine's recording directory `dir` (`convert` false:
    /// the daemon writes the files), deleting what is older than `keep` when set.
    pub(crate) fn start(dir: PathBuf, keep: Option<Duration>, convert: bool) -> Self {
        let (tx, rx) = sync_channel::<String>(QUEUE);
        let spawned = std::thread::Builder::new().name("recordings".into()).spawn(move || {
            let mut next_sweep = crate::clock::now();
            loop {
                if let Some(keep) = keep.filter(|_| crate::clock::now() >= next_sweep) {
                    sweep_logged(&dir, keep);
                    next_sweep = crate::clock::now() + SWEEP_EVERY;
                }
                match rx.recv_timeout(SWEEP_EVERY) {
                    Ok(session) => convert_logged(&dir, &session),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "no recordings thread: recorded calls stay as captures");
        }
        Self { tx, convert }
    }

    /// Converts `session`'s capture once it is complete.
    pub(crate) fn convert(&self, session: &str) {
        if !self.convert {
            return;
        }
        if self.tx.try_send(session.to_owned()).is_err() {
            tracing::warn!(session, "recordings queue full: the capture stays as pcap");
        }
    }
}

fn convert_logged(dir: &Path, session: &str) {
    std::thread::sleep(SETTLE);
    match convert_session(dir, session) {
        Ok(Some(wav)) => tracing::info!(session, file = %wav.display(), "recording written"),
        Ok(None) => tracing::warn!(session, "no capture found for a recorded session"),
        Err(e) => tracing::error!(session, error = %e, "recording could not be written"),
    }
}

fn sweep_logged(dir: &Path, keep: Duration) {
    let now = std::time::UNIX_EPOCH + Duration::from_millis(crate::clock::unix_ms());
    let cutoff = now.checked_sub(keep).unwrap_or(std::time::UNIX_EPOCH);
    match sweep(dir, cutoff) {
        Ok(0) => {}
        Ok(n) => tracing::info!(files = n, days = keep.as_secs() / 86_400, "old recordings deleted"),
        Err(e) => tracing::warn!(error = %e, "old recordings could not be looked for"),
    }
}

/// Deletes the recordings (`wav/*.wav`) and captures (`pcaps/*.pcap`, their metadata)
/// last written before `cutoff`; how many. Nothing else in `dir` is touched.
pub(crate) fn sweep(dir: &Path, cutoff: std::time::SystemTime) -> std::io::Result<usize> {
    let mut deleted = 0;
    for (sub, ext) in [("wav", "wav"), ("pcaps", "pcap"), ("metadata", "txt")] {
        let entries = match std::fs::read_dir(dir.join(sub)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let meta = entry.metadata()?;
            let old = meta.modified().is_ok_and(|t| t < cutoff);
            if meta.is_file() && old && path.extension().is_some_and(|e| e == ext) {
                std::fs::remove_file(&path)?;
                deleted += 1;
            }
        }
    }
    Ok(deleted)
}

/// Where `session`'s recording is written.
pub(crate) fn wav_path(dir: &Path, session: &str) -> PathBuf {
    dir.join("wav").join(format!("{session}.wav"))
}

/// Converts every capture of `session` in `dir` into its WAV file; None when there is none.
pub(crate) fn convert_session(dir: &Path, session: &str) -> std::io::Result<Option<PathBuf>> {
    let prefix = format!("{session}-");
    let mut captures: Vec<PathBuf> = std::fs::read_dir(dir.join("pcaps"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".pcap"))
        })
        .collect();
    if captures.is_empty() {
        return Ok(None);
    }
    captures.sort();
    let mut packets = Vec::new();
    for capture in &captures {
        packets.extend(rtp_packets(&std::fs::read(capture)?));
    }
    // Segments (a pause) are separate files whose names do not tell their order: each
    // stream is placed from its earliest packet.
    packets.sort_by_key(|p| p.at_us);
    let samples = mix(&packets);
    let wav = wav_path(dir, session);
    std::fs::create_dir_all(dir.join("wav"))?;
    std::fs::write(&wav, wav_bytes(&samples))?;
    for capture in &captures {
        std::fs::remove_file(capture)?;
    }
    Ok(Some(wav))
}

/// One RTP packet of a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rtp {
    /// When it was captured, microseconds.
    at_us: i64,
    ssrc: u32,
    payload_type: u8,
    timestamp: u32,
    payload: Vec<u8>,
}

/// The RTP packets of a pcap file (raw IP frames, or Ethernet); anything else is skipped.
fn rtp_packets(file: &[u8]) -> Vec<Rtp> {
    let Some(header) = file.get(..24) else { return Vec::new() };
    let little = header[..4] == [0xd4, 0xc3, 0xb2, 0xa1];
    let word = |b: &[u8]| {
        let w = [b[0], b[1], b[2], b[3]];
        if little {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    let link = word(&header[20..24]);
    let mut out = Vec::new();
    let mut at = 24;
    while let Some(record) = file.get(at..at + 16) {
        let (secs, micros, len) = (word(&record[..4]), word(&record[4..8]), word(&record[8..12]) as usize);
        let Some(frame) = file.get(at + 16..at + 16 + len) else { break };
        at += 16 + len;
        let ip = match link {
            1 => frame.get(14..),
            113 => frame.get(16..),
            _ => Some(frame),
        };
        let at_us = i64::from(secs) * 1_000_000 + i64::from(micros);
        if let Some(rtp) = ip.and_then(udp_payload).and_then(|p| rtp_of(p, at_us)) {
            out.push(rtp);
        }
    }
    out
}

/// The UDP payload of an IPv4 or IPv6 packet.
fn udp_payload(ip: &[u8]) -> Option<&[u8]> {
    let (next, header) = match ip.first()? >> 4 {
        4 => (*ip.get(9)?, usize::from(ip[0] & 0x0f) * 4),
        6 => (*ip.get(6)?, 40),
        _ => return None,
    };
    (next == 17).then_some(())?;
    ip.get(header + 8..)
}

fn rtp_of(p: &[u8], at_us: i64) -> Option<Rtp> {
    if p.len() < 12 || p[0] >> 6 != 2 {
        return None;
    }
    let skip = 12 + usize::from(p[0] & 0x0f) * 4;
    let payload_type = p[1] & 0x7f;
    if (72..=76).contains(&payload_type) {
        return None; // RTCP on the same port
    }
    let timestamp = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
    let ssrc = u32::from_be_bytes([p[8], p[9], p[10], p[11]]);
    Some(Rtp { at_us, ssrc, payload_type, timestamp, payload: p.get(skip..)?.to_vec() })
}

/// Every stream decoded and mixed at its place: a stream starts where its first packet
/// was captured (relative to the first packet of all), its packets follow by timestamp.
fn mix(packets: &[Rtp]) -> Vec<i16> {
    let Some(t0) = packets.iter().map(|p| p.at_us).min() else { return Vec::new() };
    // No sample lies past the capture's own span (plus slack): a party that jumps its RTP
    // timestamps cannot make the file (and this thread's memory) hours long.
    let span = packets.iter().map(|p| p.at_us).max().unwrap_or(t0) - t0;
    let limit = ((span / 1_000_000 + 10) * RATE).min(MAX_SECONDS * RATE);
    let mut first: BTreeMap<u32, (i64, u32)> = BTreeMap::new();
    for p in packets {
        first.entry(p.ssrc).or_insert((p.at_us, p.timestamp));
    }
    let mut mixed: Vec<i32> = Vec::new();
    let mut skipped = 0usize;
    for p in packets {
        let decode: fn(u8) -> i16 = match p.payload_type {
            0 => ulaw,
            8 => alaw,
            _ => {
                skipped += 1;
                continue;
            }
        };
        let (start_us, start_ts) = first[&p.ssrc];
        let offset = (start_us - t0) * RATE / 1_000_000 + i64::from(p.timestamp.wrapping_sub(start_ts));
        if !(0..limit).contains(&offset) {
            continue;
        }
        let offset = offset as usize;
        if mixed.len() < offset + p.payload.len() {
            mixed.resize(offset + p.payload.len(), 0);
        }
        for (i, b) in p.payload.iter().enumerate() {
            mixed[offset + i] += i32::from(decode(*b));
        }
    }
    if skipped > 0 {
        tracing::warn!(packets = skipped, "recording: packets of a codec other than G.711 left out");
    }
    mixed.into_iter().map(|s| s.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16).collect()
}

/// G.711 u-law to linear (ITU-T G.711).
fn ulaw(b: u8) -> i16 {
    let b = !b;
    let magnitude = (((i32::from(b & 0x0f) << 3) + 0x84) << ((b >> 4) & 0x07)) - 0x84;
    (if b & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

/// G.711 A-law to linear (ITU-T G.711).
fn alaw(b: u8) -> i16 {
    let b = b ^ 0x55;
    let exponent = (b >> 4) & 0x07;
    let mantissa = i32::from(b & 0x0f);
    let magnitude = match exponent {
        0 => (mantissa << 4) + 8,
        e => ((mantissa << 4) + 0x108) << (e - 1),
    };
    (if b & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

/// An 8 kHz, 16-bit mono WAV file of `samples`.
fn wav_bytes(samples: &[i16]) -> Vec<u8> {
    let data = (samples.len() * 2) as u32;
    let mut wav = Vec::with_capacity(44 + samples.len() * 2);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    // fmt: size 16, PCM, mono, 8000 Hz, 16000 bytes/s, block 2, 16 bits.
    for field in [16u32, 1 | (1 << 16), 8000, 16_000, 2 | (16 << 16)] {
        wav.extend_from_slice(&field.to_le_bytes());
    }
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data.to_le_bytes());
    wav.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
    wav
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pcap (raw IPv4, as rtpengine writes) of `packets`: (microseconds, ssrc, seq, PT, payload byte).
    fn capture(packets: &[(u32, u32, u16, u8, u8)]) -> Vec<u8> {
        let mut f = Vec::new();
        for w in [0xa1b2_c3d4u32, 2 | (4 << 16), 0, 0, 65535, 101] {
            f.extend_from_slice(&w.to_le_bytes());
        }
        for &(us, ssrc, seq, pt, byte) in packets {
            let mut rtp = vec![0x80, pt];
            rtp.extend_from_slice(&seq.to_be_bytes());
            rtp.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
            rtp.extend_from_slice(&ssrc.to_be_bytes());
            rtp.extend(std::iter::repeat_n(byte, 160));
            let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1];
            ip.extend_from_slice(&[0x9c, 0x40, 0x9c, 0x42, 0, 0, 0, 0]);
            ip.extend(rtp);
            for w in [us / 1_000_000, us % 1_000_000, ip.len() as u32, ip.len() as u32] {
                f.extend_from_slice(&w.to_le_bytes());
            }
            f.extend(ip);
        }
        f
    }

    #[test]
    fn two_parties_are_decoded_and_mixed_at_their_place_in_time() {
        // Party 1 from 0 s, party 2 from 0.5 s, 1 s of 20 ms packets each.
        let mut packets = Vec::new();
        for i in 0..50u16 {
            packets.push((u32::from(i) * 20_000, 1, i, 0, 0x80)); // u-law: loud
            packets.push((500_000 + u32::from(i) * 20_000, 2, i, 8, 0xd5)); // A-law: near zero
        }
        let rtp = rtp_packets(&capture(&packets));
        assert_eq!(rtp.len(), 100);
        let samples = mix(&rtp);
        assert_eq!(samples.len(), (RATE as usize * 3) / 2, "1.5 s: the second party ends half a second later");
        assert_eq!(samples[0], ulaw(0x80), "only party 1 at the start");
        assert_eq!(samples[samples.len() - 1], alaw(0xd5), "only party 2 at the end");
        assert_eq!(samples[RATE as usize * 3 / 4], ulaw(0x80) + alaw(0xd5), "both mixed in the middle");
    }

    #[test]
    fn a_paused_stream_is_silent_over_the_pause_whatever_order_its_segments_files_are_read_in() {
        // One stream: packets 0-49 in one segment, 100-149 (2 s later) in another file
        // whose name sorts first.
        let dir = std::env::temp_dir().join(format!("tandem-segments-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("pcaps")).expect("dir");
        let segment =
            |from: u16| -> Vec<_> { (from..from + 50).map(|i| (u32::from(i) * 20_000, 7, i, 0, 0x80)).collect() };
        std::fs::write(dir.join("pcaps/s.1-b.pcap"), capture(&segment(0))).expect("write");
        std::fs::write(dir.join("pcaps/s.1-a.pcap"), capture(&segment(100))).expect("write");
        let wav = convert_session(&dir, "s.1").expect("io").expect("a file");
        let bytes = std::fs::read(wav).expect("read");
        let samples: Vec<i16> = bytes[44..].chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
        assert_eq!(samples.len(), 3 * RATE as usize, "three seconds of the stream's clock");
        assert_eq!(samples[100], ulaw(0x80), "the first segment at the start");
        assert!(samples[8_000..16_000].iter().all(|s| *s == 0), "the pause is silence");
        assert_eq!(samples[20_000], ulaw(0x80), "the second segment two seconds on");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn g711_decodes_to_the_standard_values() {
        assert_eq!((ulaw(0xff), ulaw(0x7f), ulaw(0x00), ulaw(0x80)), (0, 0, -32124, 32124));
        assert_eq!((alaw(0xd5), alaw(0x55), alaw(0xaa), alaw(0x2a)), (8, -8, 32256, -32256));
    }

    #[test]
    fn a_session_s_captures_become_one_wav_and_are_removed() {
        let dir = std::env::temp_dir().join(format!("tandem-recording-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("pcaps")).expect("dir");
        let one: Vec<_> = (0..50u16).map(|i| (u32::from(i) * 20_000, 7, i, 0, 0x10)).collect();
        std::fs::write(dir.join("pcaps/u1.0-aaaa.pcap"), capture(&one)).expect("capture");
        std::fs::write(dir.join("pcaps/u1.01-bbbb.pcap"), capture(&one)).expect("another session's");
        let wav = convert_session(&dir, "u1.0").expect("converted").expect("a file");
        let bytes = std::fs::read(&wav).expect("wav");
        assert_eq!(bytes.len(), 44 + 8000 * 2, "1 s of 8 kHz 16-bit audio");
        assert!(!dir.join("pcaps/u1.0-aaaa.pcap").exists(), "the capture is removed");
        assert!(dir.join("pcaps/u1.01-bbbb.pcap").exists(), "another session's capture stays");
        assert_eq!(convert_session(&dir, "u9.0").expect("read"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // files' times are the wall clock's
    fn recordings_older_than_the_cutoff_are_deleted_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("tandem-sweep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["wav", "pcaps", "metadata"] {
            std::fs::create_dir_all(dir.join(sub)).expect("dir");
        }
        let week_ago = std::time::SystemTime::now() - Duration::from_secs(7 * 86_400);
        let write = |path: &str, at: Option<std::time::SystemTime>| {
            let file = std::fs::File::create(dir.join(path)).expect("file");
            if let Some(at) = at {
                file.set_modified(at).expect("mtime");
            }
        };
        write("wav/old.wav", Some(week_ago));
        write("pcaps/old-1.pcap", Some(week_ago));
        write("metadata/old.txt", Some(week_ago));
        write("wav/new.wav", None);
        write("wav/notes.md", Some(week_ago));
        let cutoff = std::time::SystemTime::now() - Duration::from_secs(86_400);
        assert_eq!(sweep(&dir, cutoff).expect("sweep"), 3);
        assert!(!dir.join("wav/old.wav").exists() && !dir.join("pcaps/old-1.pcap").exists());
        assert!(dir.join("wav/new.wav").exists(), "a recent recording stays");
        assert!(dir.join("wav/notes.md").exists(), "only recordings are deleted");
        assert_eq!(sweep(&dir.join("absent"), cutoff).expect("no directory is no error"), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn broken_captures_give_what_they_can_and_never_panic() {
        assert!(rtp_packets(b"").is_empty());
        assert!(rtp_packets(&[0u8; 23]).is_empty());
        let mut truncated = capture(&[(0, 1, 0, 0, 0x10)]);
        truncated.truncate(truncated.len() - 10);
        assert!(rtp_packets(&truncated).is_empty());
        // A timestamp before the stream's first (wrapped): left out, not a 4-hour file.
        let back = [(0, 1, 100, 0, 0x10), (20_000, 1, 0, 0, 0x10)];
        assert_eq!(mix(&rtp_packets(&capture(&back))).len(), 160);
        // A timestamp 7.5 minutes ahead within a 20 ms capture: left out too.
        let jump = [(0, 1, 0, 0, 0x10), (20_000, 1, 22_500, 0, 0x10)];
        assert_eq!(mix(&rtp_packets(&capture(&jump))).len(), 160);
    }
}
