//! `Content-Type` of gateway responses: by file extension first (with the media types
//! streaming players need), then by sniffing the first bytes.

/// How many leading bytes [`sniff`] looks at (the WHATWG sniffing window).
pub const SNIFF_LEN: usize = 512;

/// Types mime_guess gets wrong or lacks for audio/HLS/DASH work (`.ts` would be TypeScript).
fn override_for(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "m3u8" | "m3u" => "application/vnd.apple.mpegurl",
        "ts" => "video/mp2t",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "flac" => "audio/flac",
        "opus" => "audio/ogg",
        "oga" | "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        "m4s" => "video/iso.segment",
        "mpd" => "application/dash+xml",
        "json" => "application/json",
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" | "md" => "text/plain; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "wasm" => "application/wasm",
        "car" => "application/vnd.ipld.car",
        _ => return None,
    })
}

/// The content type implied by `name`'s extension, if it has a known one.
pub fn from_extension(name: &str) -> Option<String> {
    let (_, ext) = name.rsplit_once('.')?;
    if ext.is_empty() {
        return None;
    }
    let ext = ext.to_ascii_lowercase();
    if let Some(t) = override_for(&ext) {
        return Some(t.to_owned());
    }
    mime_guess::from_ext(&ext).first().map(|m| {
        if m.type_() == mime_guess::mime::TEXT {
            format!("{m}; charset=utf-8")
        } else {
            m.to_string()
        }
    })
}

/// The content type of `head` (the first bytes of a file) by its magic numbers, falling back to
/// text for printable UTF-8 and to `application/octet-stream`.
pub fn sniff(head: &[u8]) -> &'static str {
    let starts = |m: &[u8]| head.starts_with(m);
    if starts(b"\x89PNG\r\n\x1a\n") {
        return "image/png";
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return "image/gif";
    }
    if starts(b"\xFF\xD8\xFF") {
        return "image/jpeg";
    }
    if head.len() >= 12 && starts(b"RIFF") {
        match &head[8..12] {
            b"WAVE" => return "audio/wav",
            b"WEBP" => return "image/webp",
            b"AVI " => return "video/x-msvideo",
            _ => {}
        }
    }
    if starts(b"ID3") {
        return "audio/mpeg";
    }
    if starts(b"fLaC") {
        return "audio/flac";
    }
    if starts(b"OggS") {
        return "audio/ogg";
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return match &head[8..12] {
            b"M4A " | b"M4B " => "audio/mp4",
            _ => "video/mp4",
        };
    }
    if starts(b"\x1A\x45\xDF\xA3") {
        return "video/webm";
    }
    // MPEG-TS: sync byte every 188 bytes.
    if head.len() > 188 && head[0] == 0x47 && head[188] == 0x47 {
        return "video/mp2t";
    }
    if head.len() >= 2 && head[0] == 0xFF {
        // ADTS (AAC) has layer bits 00; MPEG audio frames have layer bits set.
        if head[1] & 0xF6 == 0xF0 {
            return "audio/aac";
        }
        if head[1] & 0xE0 == 0xE0 && head[1] & 0x06 != 0 {
            return "audio/mpeg";
        }
    }
    if starts(b"%PDF-") {
        return "application/pdf";
    }
    if starts(b"\x1F\x8B\x08") {
        return "application/gzip";
    }
    if starts(b"PK\x03\x04") {
        return "application/zip";
    }
    if starts(b"\0asm") {
        return "application/wasm";
    }
    if starts(b"#EXTM3U") {
        return "application/vnd.apple.mpegurl";
    }
    let text = trim_utf8_tail(head);
    if std::str::from_utf8(text).is_ok() && !text.iter().any(|&b| is_binary_byte(b)) {
        let lower: Vec<u8> = text
            .iter()
            .skip_while(|b| b.is_ascii_whitespace())
            .take(16)
            .map(u8::to_ascii_lowercase)
            .collect();
        if lower.starts_with(b"<!doctype html") || lower.starts_with(b"<html") {
            return "text/html; charset=utf-8";
        }
        if lower.starts_with(b"<?xml") {
            return "text/xml; charset=utf-8";
        }
        return "text/plain; charset=utf-8";
    }
    "application/octet-stream"
}

/// Drops a UTF-8 sequence cut off by the sniffing window.
fn trim_utf8_tail(head: &[u8]) -> &[u8] {
    match std::str::from_utf8(head) {
        Ok(_) => head,
        Err(e) if e.error_len().is_none() => &head[..e.valid_up_to()],
        Err(_) => head,
    }
}

/// Control bytes that never occur in text (WHATWG "binary data byte").
fn is_binary_byte(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        let ct = |n| from_extension(n);
        assert_eq!(
            ct("a.m3u8").as_deref(),
            Some("application/vnd.apple.mpegurl")
        );
        assert_eq!(ct("seg00001.ts").as_deref(), Some("video/mp2t"));
        assert_eq!(ct("song.MP3").as_deref(), Some("audio/mpeg"));
        assert_eq!(ct("x.json").as_deref(), Some("application/json"));
        assert_eq!(
            ct("index.html").as_deref(),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(ct("pic.png").as_deref(), Some("image/png"));
        assert_eq!(ct("noext"), None);
        assert_eq!(ct("trailingdot."), None);
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), "image/png");
        assert_eq!(sniff(b"ID3\x04\0\0"), "audio/mpeg");
        assert_eq!(sniff(&[0xFF, 0xFB, 0x90, 0x00]), "audio/mpeg");
        assert_eq!(sniff(&[0xFF, 0xF1, 0x50, 0x80]), "audio/aac");
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), "audio/wav");
        assert_eq!(sniff(b"\0\0\0\x20ftypM4A \0\0"), "audio/mp4");
        assert_eq!(sniff(b"\0\0\0\x20ftypisom\0\0"), "video/mp4");
        let mut ts = vec![0u8; 400];
        ts[0] = 0x47;
        ts[188] = 0x47;
        assert_eq!(sniff(&ts), "video/mp2t");
        assert_eq!(
            sniff(b"#EXTM3U\n#EXT-X-VERSION:3\n"),
            "application/vnd.apple.mpegurl"
        );
        assert_eq!(sniff(b"  <!DOCTYPE html><p>"), "text/html; charset=utf-8");
        assert_eq!(sniff(b"hello world\n"), "text/plain; charset=utf-8");
        assert_eq!(sniff("héllo".as_bytes()), "text/plain; charset=utf-8");
        // A multi-byte character cut by the window is still text.
        assert_eq!(sniff(&"é".as_bytes()[..1]), "text/plain; charset=utf-8");
        assert_eq!(sniff(b"\0\x01\x02binary"), "application/octet-stream");
        assert_eq!(sniff(b""), "text/plain; charset=utf-8");
    }
}
