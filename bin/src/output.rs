//! How the CLI reports errors and writes to stdout.

use std::io::ErrorKind;

/// The error and its causes on one line, deduplicating causes that repeat their parent's text.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// True when the failure was writing to a closed pipe.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn joins_causes_once() {
        let e = Err::<(), _>(std::io::Error::new(ErrorKind::NotFound, "no such file"))
            .context("cannot open x")
            .unwrap_err();
        assert_eq!(one_line(&e), "cannot open x: no such file");
    }
}
