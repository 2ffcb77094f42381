//! The built-in player page: `GET /player/<cid>` plays a track made by `chorus track add`
//! (`master.m3u8` + `track.json` under `/ipfs/<cid>/`) in any browser, with nothing loaded from
//! outside this node.
//!
//! Operators run one self-contained binary on machines without internet access, so hls.js is
//! not fetched from a CDN: the npm release file is vendored byte for byte into
//! `node/assets/player/` (by `scripts/update-hlsjs.sh`) and embedded here. Assets live under
//! `/player/assets/<digest>/<name>`, where the digest is that file's content hash, so they can
//! be cached forever; the page itself is tiny and always revalidated (ETag).

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chorus_storage::Cid;

use super::conditional::{IMMUTABLE_CACHE_CONTROL, fnv1a, if_none_match_matches};
use super::error::GatewayError;

/// File name of the vendored hls.js build, as in the npm package's `dist/` directory. The light
/// build is enough: chorus tracks are variant streams of AAC-LC in MPEG-TS, with no alternate
/// audio, subtitles or DRM (the features the light build leaves out).
pub const HLSJS_BUNDLE_NAME: &str = "hls.light.min.js";

/// The vendored hls.js release file, byte for byte as published on npm (a test compares it
/// with the npm-installed package).
pub static HLSJS_BUNDLE: &[u8] = include_bytes!("../../assets/player/hls.light.min.js");

/// hls.js' licence (Apache-2.0), shipped with the code it covers.
const HLSJS_LICENSE: &[u8] = include_bytes!("../../assets/player/hls.js-LICENSE.txt");

/// `hls.js-version.txt`, written by `scripts/update-hlsjs.sh` next to the bundle.
const HLSJS_VERSION_FILE: &str = include_str!("../../assets/player/hls.js-version.txt");

/// The page, with `{{...}}` placeholders filled in per request.
const PAGE_TEMPLATE: &str = include_str!("../../assets/player/player.html");

/// `Cache-Control` of the page: cheap to revalidate, and it must pick up new asset digests after
/// an upgrade of the binary.
const PAGE_CACHE_CONTROL: &str = "no-cache";

/// What the page may load: only this origin, plus the `blob:` URLs hls.js makes for Media Source
/// Extensions and for its transmuxing worker. It also makes the browser refuse any external URL.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; media-src 'self' blob:; worker-src blob:; img-src 'self' data:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

/// The version of the vendored hls.js release (e.g. `1.7.4`).
pub fn hlsjs_version() -> &'static str {
    HLSJS_VERSION_FILE.trim()
}

/// One embedded file under `/player/assets/`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: [Asset; 4] = [
    Asset {
        name: HLSJS_BUNDLE_NAME,
        content_type: "text/javascript; charset=utf-8",
        bytes: HLSJS_BUNDLE,
    },
    Asset {
        name: "hls.js-LICENSE.txt",
        content_type: "text/plain; charset=utf-8",
        bytes: HLSJS_LICENSE,
    },
    Asset {
        name: "player.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/player/player.js"),
    },
    Asset {
        name: "player.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/player/player.css"),
    },
];

/// Content digests of [`ASSETS`], in the same order (computed once; about 1 ms).
static DIGESTS: LazyLock<Vec<String>> =
    LazyLock::new(|| ASSETS.iter().map(|a| digest(a.bytes)).collect());

fn digest(bytes: &[u8]) -> String {
    format!("{:016x}", fnv1a(&[&String::from_utf8_lossy(bytes)]))
}

/// `/player/assets/<digest>/<name>` of the asset called `name`.
fn asset_url(name: &str) -> String {
    let digest = ASSETS
        .iter()
        .position(|a| a.name == name)
        .map(|i| DIGESTS[i].as_str())
        .unwrap_or_default();
    format!("/player/assets/{digest}/{name}")
}

/// Called with a track's CID when its player page is served by GET: the gateway's HLS
/// look-ahead starts on the track while the browser loads the page and hls.js.
pub(super) type PageHook = Arc<dyn Fn(Cid) + Send + Sync>;

/// The routes, merged into the gateway router (they need no state; `on_page` is the hook).
pub(super) fn routes<S: Clone + Send + Sync + 'static>(on_page: Option<PageHook>) -> Router<S> {
    Router::new()
        .route("/player/assets/{digest}/{name}", get(asset))
        .route(
            "/player/{cid}",
            get(move |method: Method, path: Path<String>, req: HeaderMap| {
                page(method, path, req, on_page.clone())
            }),
        )
        .route("/player", get(missing_cid))
        .route("/player/", get(missing_cid))
}

async fn missing_cid() -> GatewayError {
    GatewayError::BadRequest(
        "missing track CID: use /player/<cid> with the CID printed by `chorus track add`"
            .to_owned(),
    )
}

async fn page(
    method: Method,
    Path(raw): Path<String>,
    req: HeaderMap,
    on_page: Option<PageHook>,
) -> Result<Response, GatewayError> {
    let cid = Cid::try_from(raw.as_str()).map_err(|e| {
        GatewayError::BadRequest(format!(
            "invalid track CID {raw:?}: {e}; use /player/<cid> with the CID printed by \
             `chorus track add`"
        ))
    })?;
    if let Some(hook) = on_page.filter(|_| method == Method::GET) {
        hook(cid);
    }
    // A canonical CID string is base32/base58 letters and digits only: safe in HTML and URLs.
    let cid = cid.to_string();
    let digests = DIGESTS.join(",");
    let etag = format!(
        "\"player-{:016x}\"",
        fnv1a(&[PAGE_TEMPLATE, &digests, &cid])
    );
    let mut r = if not_modified(&req, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        render(&cid).into_response()
    };
    let h = r.headers_mut();
    set(h, header::ETAG, &etag);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(PAGE_CACHE_CONTROL),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(r)
}

/// The page for `cid` (already canonical, so it needs no escaping).
fn render(cid: &str) -> String {
    PAGE_TEMPLATE
        .replace("{{PLAYER_CSS}}", &asset_url("player.css"))
        .replace("{{PLAYER_JS}}", &asset_url("player.js"))
        .replace("{{HLS_JS}}", &asset_url(HLSJS_BUNDLE_NAME))
        .replace("{{HLS_LICENSE}}", &asset_url("hls.js-LICENSE.txt"))
        .replace("{{HLS_VERSION}}", hlsjs_version())
        .replace("{{CID}}", cid)
}

async fn asset(
    Path((digest, name)): Path<(String, String)>,
    req: HeaderMap,
) -> Result<Response, GatewayError> {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return Err(GatewayError::NotFound(format!(
            "no player asset called {name:?}"
        )));
    };
    let asset = &ASSETS[i];
    if DIGESTS[i] != digest {
        // An old page of a previous binary: its digest names bytes this node no longer has.
        return Err(GatewayError::NotFound(format!(
            "player asset {name:?} has changed: reload the player page"
        )));
    }
    let etag = format!("\"{digest}\"");
    let mut r = if not_modified(&req, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = asset.bytes.into_response();
        set(
            r.headers_mut(),
            header::CONTENT_LENGTH,
            &asset.bytes.len().to_string(),
        );
        r
    };
    let h = r.headers_mut();
    set(h, header::ETAG, &etag);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(IMMUTABLE_CACHE_CONTROL),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(r)
}

fn not_modified(req: &HeaderMap, etag: &str) -> bool {
    req.get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| if_none_match_matches(v, etag))
}

fn set<K: header::IntoHeaderName>(h: &mut HeaderMap, name: K, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    const CID: &str = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";

    async fn get(uri: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
        let mut req = Request::get(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = routes::<()>(None)
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let body = to_bytes(r.into_body(), usize::MAX).await.unwrap();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_page_served_by_get_calls_the_hook_with_its_track() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let hook: PageHook = {
            let seen = seen.clone();
            Arc::new(move |cid: Cid| seen.lock().unwrap().push(cid.to_string()))
        };
        for (method, uri) in [
            ("GET", format!("/player/{CID}")),
            ("HEAD", format!("/player/{CID}")),
            ("GET", "/player/not-a-cid".to_owned()),
            ("GET", "/player/assets/none/none".to_owned()),
        ] {
            let req = Request::builder().method(method).uri(&uri);
            routes::<()>(Some(hook.clone()))
                .oneshot(req.body(Body::empty()).unwrap())
                .await
                .unwrap();
        }
        assert_eq!(*seen.lock().unwrap(), [CID]);
    }

    fn asset_links(page: &str) -> Vec<String> {
        page.split('"')
            .filter(|s| s.starts_with("/player/assets/"))
            .map(str::to_owned)
            .collect()
    }

    #[tokio::test]
    async fn page_embeds_the_cid_and_versioned_local_assets() {
        let (status, h, page) = get(&format!("/player/{CID}"), &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(h[header::CACHE_CONTROL], PAGE_CACHE_CONTROL);
        assert!(
            h[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        assert!(page.contains(&format!("data-cid=\"{CID}\"")), "{page}");
        assert!(page.contains(&format!("/ipfs/{CID}/master.m3u8")), "{page}");
        assert!(page.contains(hlsjs_version()));
        assert!(!page.contains("{{"), "unfilled placeholder: {page}");
        let links = asset_links(&page);
        assert_eq!(links.len(), 4, "{links:?}");
        for name in [
            "player.css",
            "player.js",
            HLSJS_BUNDLE_NAME,
            "hls.js-LICENSE.txt",
        ] {
            assert!(
                links.iter().any(|l| l.ends_with(&format!("/{name}"))),
                "{name}"
            );
        }
        // The page is revalidated with its ETag.
        let etag = h[header::ETAG].to_str().unwrap().to_owned();
        let (status, h, body) = get(&format!("/player/{CID}"), &[("if-none-match", &etag)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert_eq!(h[header::ETAG], etag.as_str());
        assert!(body.is_empty());
    }

    #[tokio::test]
    async fn our_files_name_no_external_url() {
        let (_, _, page) = get(&format!("/player/{CID}"), &[]).await;
        let ours = [
            page.as_str(),
            include_str!("../../assets/player/player.js"),
            include_str!("../../assets/player/player.css"),
        ];
        for text in ours {
            assert!(!text.contains("://"), "external URL in {text}");
            assert!(!text.contains("//cdn"), "{text}");
        }
    }

    #[tokio::test]
    async fn assets_are_served_with_types_and_immutable_caching() {
        let (_, _, page) = get(&format!("/player/{CID}"), &[]).await;
        for link in asset_links(&page) {
            let (status, h, body) = get(&link, &[]).await;
            assert_eq!(status, StatusCode::OK, "{link}");
            assert_eq!(h[header::CACHE_CONTROL], IMMUTABLE_CACHE_CONTROL);
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            let ct = h[header::CONTENT_TYPE].to_str().unwrap();
            let want = if link.ends_with(".js") {
                "text/javascript; charset=utf-8"
            } else if link.ends_with(".css") {
                "text/css; charset=utf-8"
            } else {
                "text/plain; charset=utf-8"
            };
            assert_eq!(ct, want, "{link}");
            assert_eq!(
                h[header::CONTENT_LENGTH].to_str().unwrap(),
                body.len().to_string()
            );
            let etag = h[header::ETAG].to_str().unwrap().to_owned();
            let (status, _, body) = get(&link, &[("if-none-match", &etag)]).await;
            assert_eq!(status, StatusCode::NOT_MODIFIED, "{link}");
            assert!(body.is_empty());
        }
        let hls = asset_url(HLSJS_BUNDLE_NAME);
        let (_, _, body) = get(&hls, &[]).await;
        assert_eq!(body.len(), HLSJS_BUNDLE.len());
    }

    #[tokio::test]
    async fn stale_or_unknown_assets_are_404() {
        let (status, _, body) = get("/player/assets/0000000000000000/player.js", &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("reload the player page"), "{body}");
        let (status, _, body) = get("/player/assets/0000000000000000/secret.txt", &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("no player asset"), "{body}");
    }

    #[tokio::test]
    async fn junk_cids_are_a_clear_400() {
        for uri in ["/player/notacid", "/player/%3Cscript%3E", "/player/Qm123"] {
            let (status, h, body) = get(uri, &[]).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            assert_eq!(h[header::CONTENT_TYPE], "text/plain; charset=utf-8");
            assert!(body.starts_with("invalid track CID"), "{body}");
        }
        for uri in ["/player", "/player/"] {
            let (status, _, body) = get(uri, &[]).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            assert!(body.contains("/player/<cid>"), "{body}");
        }
    }

    #[test]
    fn version_file_names_a_release() {
        let v = hlsjs_version();
        assert!(
            v.split('.').count() == 3 && v.split('.').all(|p| p.parse::<u32>().is_ok()),
            "{v:?}"
        );
        // The bundle is the minified UMD build (it inlines its own worker).
        assert!(HLSJS_BUNDLE.starts_with(b"!function"));
    }
}
