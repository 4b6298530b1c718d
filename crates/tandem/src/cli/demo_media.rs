//! `tandem up --media`: the embedded deployment with a media partner per site, for a
//! newcomer to hear queue music and hold music with nothing to configure. Each site
//! anchors its calls at an rtpengine on loopback (site1 at 127.0.0.1:22222, site2 at
//! :22223, started by `examples/media/rtpengine.sh`); the two sounds are written as WAV
//! files under `tandem-data/sounds/`.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use engine::media::{MediaConfig, Sounds};

use crate::config::{MediaPartnerConfig, SiteConfig};

/// Where the demo's rtpengines listen for ng commands: one per site, in site order.
const NG: [&str; 2] = ["127.0.0.1:22222", "127.0.0.1:22223"];

/// Gives every SIP site of `sites` (not a Network SIP Server) its demo media partner.
pub(super) fn add_media(sites: &mut [SiteConfig], dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = std::fs::canonicalize(dir)?;
    let queue = write_tune(&dir.join("queue.wav"), &[523.0, 659.0, 784.0, 659.0])?;
    let hold = write_tune(&dir.join("hold.wav"), &[440.0, 494.0, 440.0, 392.0])?;
    let sounds = Sounds { hold: Some(hold), queue: Some(queue), ..Sounds::default() };
    let sip_sites = sites.iter_mut().filter(|s| s.node.nss.is_none());
    for (site, ng) in sip_sites.zip(NG) {
        let ng: SocketAddr = ng.parse()?;
        let engine = MediaConfig { sounds: sounds.clone(), ..MediaConfig::default() };
        site.node.media = Some(engine.clone());
        site.media = Some(MediaPartnerConfig {
            ng: vec![ng],
            engine,
            recordings: None,
            keep_recordings: None,
            convert_recordings: true,
            mixer: None,
        });
        tracing::info!(site = %site.node.site, %ng, "media anchored at rtpengine (tandem up --media)");
    }
    Ok(())
}

/// Writes a tune of `notes` (Hz, half a second each, twice over) as an 8 kHz 16-bit
/// mono WAV file; returns its path.
fn write_tune(path: &Path, notes: &[f64]) -> anyhow::Result<String> {
    const RATE: usize = 8000;
    let samples: Vec<i16> = notes
        .iter()
        .chain(notes)
        .flat_map(|hz| {
            (0..RATE / 2).map(move |i| {
                let fade = (i.min(RATE / 2 - i) as f64 / 400.0).min(1.0);
                ((i as f64 * hz * std::f64::consts::TAU / RATE as f64).sin() * 6000.0 * fade) as i16
            })
        })
        .collect();
    let data = u32::try_from(samples.len() * 2)?;
    let mut wav = Vec::with_capacity(44 + samples.len() * 2);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    // fmt chunk: size 16, PCM, 1 channel, 8000 Hz, 16000 bytes/s, block 2, 16 bits.
    for field in [16u32, 1 | (1 << 16), RATE as u32, RATE as u32 * 2, 2 | (16 << 16)] {
        wav.extend_from_slice(&field.to_le_bytes());
    }
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data.to_le_bytes());
    wav.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
    std::fs::write(path, wav).with_context(|| format!("writing {}", path.display()))?;
    path.to_str().map(str::to_owned).context("a sound path that is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_gives_each_sip_site_its_rtpengine_and_two_playable_sounds() {
        let dir = std::env::temp_dir().join(format!("tandem-demo-media-{}", std::process::id()));
        let text = include_str!("../../../../examples/two-sites.toml");
        let mut sites = crate::config::load_deployment(text, "two-sites.toml").expect("valid").runnable();
        add_media(&mut sites, &dir).expect("demo media");
        let ng: Vec<String> = sites.iter().filter_map(|s| s.media.as_ref()).map(|m| m.ng[0].to_string()).collect();
        assert_eq!(ng, NG);
        let sounds = &sites[0].node.media.as_ref().expect("media").sounds;
        let queue = std::fs::read(sounds.queue.as_deref().expect("queue music")).expect("written");
        assert!(queue.starts_with(b"RIFF") && &queue[8..16] == b"WAVEfmt ");
        assert_eq!(queue.len(), 44 + 8 * 4000 * 2, "eight half-second notes of 8 kHz 16-bit audio");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
