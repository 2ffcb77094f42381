//! Query-string arguments the way go-ipfs-cmds reads them: positional `arg=` values (repeatable)
//! and named options; unknown options are ignored, booleans accept Go's `ParseBool` spellings.

use std::convert::Infallible;
use std::str::FromStr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chorus_storage::Cid;

use super::error::ApiError;

/// The parsed query string of an RPC call.
#[derive(Debug, Clone, Default)]
pub struct Args {
    positional: Vec<String>,
    options: Vec<(String, String)>,
}

impl Args {
    /// Parses a raw (still percent-encoded) query string.
    pub fn parse(query: &str) -> Self {
        let mut args = Args::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if key == "arg" {
                args.positional.push(value.into_owned());
            } else {
                args.options.push((key.into_owned(), value.into_owned()));
            }
        }
        args
    }

    /// Every positional argument, in order.
    pub fn positional(&self) -> &[String] {
        &self.positional
    }

    /// The first positional argument, or kubo's "argument is required" error.
    pub fn required(&self, name: &'static str) -> Result<&str, ApiError> {
        self.positional
            .first()
            .map(String::as_str)
            .ok_or(ApiError::MissingArgument { name })
    }

    /// The last value of option `name` (later values win, as with repeated CLI flags).
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean option: `true/false/True/False/TRUE/FALSE/t/f/1/0`; a bare `?name` is true.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.option(name) {
            None => Ok(default),
            Some(v) => parse_bool(v)
                .ok_or_else(|| ApiError::invalid(name, v, "expected true/false/True/False/1/0")),
        }
    }

    /// A numeric (or other `FromStr`) option.
    pub fn parsed<T>(&self, name: &str) -> Result<Option<T>, ApiError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.option(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|e| ApiError::invalid(name, v, e)),
        }
    }
}

/// Go's `strconv.ParseBool` spellings, plus the empty value of a bare flag.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "" | "1" | "t" | "T" | "true" | "True" | "TRUE" => Some(true),
        "0" | "f" | "F" | "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// Parses a CID argument, accepting `/ipfs/<cid>` as kubo does for most commands.
pub fn parse_cid_arg(name: &str, value: &str) -> Result<Cid, ApiError> {
    let trimmed = value.trim();
    let bare = trimmed.strip_prefix("/ipfs/").unwrap_or(trimmed);
    let bare = bare.trim_end_matches('/');
    Cid::try_from(bare).map_err(|e| ApiError::invalid(name, value, e))
}

impl<S: Send + Sync> FromRequestParts<S> for Args {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Args::parse(parts.uri.query().unwrap_or("")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positional_and_options() {
        let a = Args::parse("arg=a%2Fb&arg=c+d&pin=True&stream=true&offset=10&quiet");
        assert_eq!(a.positional(), ["a/b", "c d"]);
        assert_eq!(a.required("key").unwrap(), "a/b");
        assert!(a.bool("pin", false).unwrap());
        assert!(a.bool("quiet", false).unwrap());
        assert!(!a.bool("absent", false).unwrap());
        assert_eq!(a.parsed::<u64>("offset").unwrap(), Some(10));
        assert_eq!(a.parsed::<u64>("length").unwrap(), None);
    }

    #[test]
    fn bool_spellings() {
        for t in ["true", "True", "TRUE", "1", "t", "T", ""] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["false", "False", "FALSE", "0", "f", "F"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("yes"), None);
        let a = Args::parse("pin=yes");
        assert!(matches!(
            a.bool("pin", true),
            Err(ApiError::InvalidArgument { .. })
        ));
    }

    #[test]
    fn missing_and_bad_values() {
        let a = Args::parse("offset=-1");
        assert!(matches!(
            a.required("key"),
            Err(ApiError::MissingArgument { name: "key" })
        ));
        assert!(a.parsed::<u64>("offset").is_err());
    }

    #[test]
    fn cid_args() {
        let cid = "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am";
        assert_eq!(parse_cid_arg("key", cid).unwrap().to_string(), cid);
        assert_eq!(
            parse_cid_arg("key", &format!("/ipfs/{cid}"))
                .unwrap()
                .to_string(),
            cid
        );
        assert!(parse_cid_arg("key", "not-a-cid").is_err());
    }
}
