//! HLS playlist text (RFC 8216): one VOD media playlist per rendition and a master playlist.

use std::fmt::Write;

use crate::track::RenditionInfo;

/// Protocol version 3 is the lowest that allows decimal `EXTINF`; every player supports it.
const HLS_VERSION: u32 = 3;

/// Renders a VOD media playlist. `segments` are (URI relative to the playlist, duration in s).
///
/// `TARGETDURATION` is the largest `EXTINF` rounded to the nearest integer, as RFC 8216 §4.3.3.1
/// requires.
pub fn media_playlist<'a>(segments: impl IntoIterator<Item = (&'a str, f64)> + Clone) -> String {
    let target = segments
        .clone()
        .into_iter()
        .map(|(_, duration)| duration.round() as u64)
        .max()
        .unwrap_or(0)
        .max(1);
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:{HLS_VERSION}\n#EXT-X-TARGETDURATION:{target}\n\
         #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    );
    for (uri, duration) in segments {
        let _ = write!(out, "#EXTINF:{duration:.6},\n{uri}\n");
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// Renders the master playlist listing every rendition's media playlist, in the given order.
pub fn master_playlist(renditions: &[RenditionInfo]) -> String {
    let mut out = format!("#EXTM3U\n#EXT-X-VERSION:{HLS_VERSION}\n");
    for rendition in renditions {
        let _ = write!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}\"\n{}\n",
            rendition.peak_bandwidth,
            rendition.average_bandwidth,
            rendition.codecs,
            rendition.playlist
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::AAC_LC_CODECS;

    #[test]
    fn media_playlist_layout() {
        let text = media_playlist([("seg00000.ts", 6.016), ("seg00001.ts", 2.5)]);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:6.016000,\nseg00000.ts\n#EXTINF:2.500000,\n\
             seg00001.ts\n#EXT-X-ENDLIST\n"
        );
    }

    #[test]
    fn target_duration_rounds_up_past_half() {
        let text = media_playlist([("a.ts", 6.6), ("b.ts", 1.0)]);
        assert!(text.contains("#EXT-X-TARGETDURATION:7\n"));
    }

    #[test]
    fn master_lists_renditions_in_order() {
        let rendition = |name: &str, peak| RenditionInfo {
            name: name.into(),
            bitrate: 0,
            peak_bandwidth: peak,
            average_bandwidth: peak - 1,
            codecs: AAC_LC_CODECS.into(),
            playlist: format!("{name}/index.m3u8"),
            segments: vec![],
        };
        let text = master_playlist(&[rendition("320k", 340_000), rendition("128k", 140_000)]);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:3\n\
             #EXT-X-STREAM-INF:BANDWIDTH=340000,AVERAGE-BANDWIDTH=339999,CODECS=\"mp4a.40.2\"\n\
             320k/index.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=140000,AVERAGE-BANDWIDTH=139999,CODECS=\"mp4a.40.2\"\n\
             128k/index.m3u8\n"
        );
    }
}
