//! The HTML page for a directory without `index.html`.

use chorus_protocol::unixfs::DirEntry;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// Characters escaped in a path segment of a link (RFC 3986 pchar complement, plus `%`).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Escapes text for HTML content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes one path segment for use in a link.
pub fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// Renders the listing of `path` (the `/ipfs/…/` URL path, ending in `/`).
pub fn render(path: &str, entries: &[DirEntry]) -> String {
    let title = html_escape(path);
    let mut rows = String::new();
    if path.trim_end_matches('/').matches('/').count() > 2 {
        rows.push_str("<tr><td><a href=\"../\">..</a></td><td></td><td></td></tr>\n");
    }
    for e in entries {
        let href = html_escape(&encode_segment(&e.name));
        let name = html_escape(&e.name);
        let cid = e.cid.to_string();
        rows.push_str(&format!(
            "<tr><td><a href=\"./{href}\">{name}</a></td>\
             <td><a href=\"/ipfs/{cid}\"><code>{cid}</code></a></td>\
             <td>{}</td></tr>\n",
            e.tsize
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body>\n<h1>Index of {title}</h1>\n<table>\n\
         <tr><th>Name</th><th>CID</th><th>Size</th></tr>\n{rows}</table>\n</body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_names() {
        let cid = "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"
            .parse()
            .unwrap();
        let entries = vec![DirEntry {
            name: "<b>a \"b\" #1.mp3".to_owned(),
            cid,
            tsize: 7,
        }];
        let html = render("/ipfs/x/dir/", &entries);
        assert!(
            html.contains("href=\"./%3Cb%3Ea%20%22b%22%20%231.mp3\""),
            "{html}"
        );
        assert!(html.contains("&lt;b&gt;a &quot;b&quot; #1.mp3"));
        assert!(!html.contains("<b>a"));
        assert!(html.contains("href=\"../\""));
        assert!(!render("/ipfs/x/", &entries).contains("href=\"../\""));
    }
}
