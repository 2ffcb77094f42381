//! HLS look-ahead: when the gateway serves a playlist or a segment of an HLS stream (a chorus
//! track: `master.m3u8`, `<rendition>/index.m3u8`, `<rendition>/segNNNNN.ts`), it fetches
//! the next segments into the store before the player asks for them, so a listener whose
//! node does not hold the track never waits a round trip per block at a segment boundary.
//!
//! - A master playlist starts on its first variant (the one players pick first): that
//!   variant's playlist and its first segments.
//! - A media playlist starts on its first segments.
//! - Segment `k` moves the window to `k + 1 ..= k + segments_ahead`. A request far outside
//!   the window (a seek) starts a new window there, which first waits for segment `k` with
//!   the player (joining its fetch: the next ones must not compete with it for the link);
//!   what the old window had fetched stays.
//!
//! One session per stream directory (listeners of the same rendition share it), each fetching
//! one segment at a time through the node's fetcher, which stores what it fetches (and joins
//! the wants of a player's own request for the same blocks). Bounded: [`MAX_SESSIONS`] at
//! once, and as many starts (reading a playlist to begin one) each within the retrieval
//! timeout (past either, no look-ahead), playlists read up to [`MAX_PLAYLIST_BYTES`] and
//! [`MAX_PLAYLIST_ENTRIES`], each segment fetch within the retrieval timeout. A session ends
//! when nobody requested anything of its stream for [`IDLE`]: a listener who leaves stops the
//! look-ahead after at most the window it had asked for, and a session waiting for the next
//! request ends then (its fetch in progress is dropped, which withdraws its wants).
//!
//! Everything is best effort: an error ends the session quietly (the player's own request
//! reports its own error).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chorus_protocol::unixfs::{
    BlockSource, ListLimits, ReadError, UnixfsFile, list_directory, lookup,
};
use chorus_storage::Cid;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::fetch::{BlockFetcher, FetcherSource};
use crate::metrics::HlsMetrics;

/// Segments fetched ahead of the one a player asked for: 5 of chorus's 6-second segments are
/// 30 s of audio, hls.js's default buffer target (`maxBufferLength`), so the look-ahead keeps
/// what a player will ask for next at hand and no more (at 320 kbps, 1.2 MB per listener).
pub const DEFAULT_SEGMENTS_AHEAD: usize = 5;

/// Streams looked ahead at once, node-wide: 256 listeners of different tracks each keep at
/// most one segment fetch running, a few MB in flight in all. Past it a new stream plays
/// without look-ahead (as every stream did before it existed).
pub const MAX_SESSIONS: usize = 256;

/// A session ends when its stream had no request for this long: a player requests a segment
/// per segment duration (6 s for chorus tracks) once its buffer is full, so 20 s without one
/// means the listener paused for long or left.
pub const IDLE: Duration = Duration::from_secs(20);

/// The largest playlist read: a chorus media playlist takes ~40 bytes per 6-second segment
/// (a 10-hour track is 240 KB).
pub const MAX_PLAYLIST_BYTES: u64 = 256 * 1024;

/// The most entries kept from one playlist (16 hours of 6-second segments). With
/// [`MAX_PLAYLIST_BYTES`], a session's playlist takes at most ~0.5 MB, so [`MAX_SESSIONS`]
/// of hostile playlists ~125 MB; a chorus track of 4 minutes takes 2 KB.
pub const MAX_PLAYLIST_ENTRIES: usize = 10_000;

/// The media playlist's name in a chorus rendition directory (the transcoder's
/// `MEDIA_PLAYLIST`): where a segment requested first finds its playlist.
const MEDIA_PLAYLIST: &str = "index.m3u8";

/// The master playlist's name in a chorus track's root (the transcoder's `MASTER_PLAYLIST`).
/// Serving it, the look-ahead also asks for the first block of the root's other entries (the
/// rendition directories among them) while the master itself is on its way, which takes a
/// round trip off the player's next request.
const MASTER_PLAYLIST: &str = "master.m3u8";

/// The most root entries hinted that way (a chorus track has five or six).
const MAX_ROOT_HINTS: usize = 16;

/// File extensions of HLS media segments.
const SEGMENT_EXTENSIONS: [&str; 5] = [".ts", ".aac", ".m4s", ".mp4", ".m4a"];

/// The gateway's look-ahead (cheap to clone).
#[derive(Clone)]
pub(super) struct LookAhead {
    inner: Arc<Inner>,
}

struct Inner {
    fetcher: Arc<dyn BlockFetcher>,
    /// Starts in progress (reading a playlist to begin a session): at most
    /// [`MAX_SESSIONS`], each within the retrieval timeout, so requests for many different
    /// playlists cannot pile up background work.
    starting: Arc<tokio::sync::Semaphore>,
    metrics: HlsMetrics,
    ahead: usize,
    timeout: Duration,
    sessions: Mutex<HashMap<Cid, Session>>,
    next_id: AtomicU64,
}

/// One stream's look-ahead.
struct Session {
    id: u64,
    entries: Arc<Vec<String>>,
    window: watch::Sender<Window>,
    task: tokio::task::AbortHandle,
}

/// What a session fetches: segments `from..until`; `touched` is the last request's time.
#[derive(Clone, Copy, Debug)]
struct Window {
    from: usize,
    until: usize,
    touched: Instant,
}

impl LookAhead {
    /// Looks `ahead` segments ahead through `fetcher`; each segment's fetch gives up after
    /// `timeout`. Counts on `metrics`.
    pub(super) fn new(
        fetcher: Arc<dyn BlockFetcher>,
        metrics: HlsMetrics,
        ahead: usize,
        timeout: Duration,
    ) -> Self {
        LookAhead {
            inner: Arc::new(Inner {
                fetcher,
                starting: Arc::new(tokio::sync::Semaphore::new(MAX_SESSIONS)),
                metrics,
                ahead,
                timeout,
                sessions: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
            }),
        }
    }

    /// Called for every file the gateway serves: `names` is the request's path below the
    /// root and `roots` the CIDs it resolved through (the root first, the file last).
    pub(super) fn on_request(&self, names: &[String], roots: &[Cid]) {
        let (Some(name), [.., dir, file]) = (names.last(), roots) else {
            return;
        };
        if !self.inner.fetcher.is_online() {
            return;
        }
        let (dir, file) = (*dir, *file);
        let is_playlist = name.ends_with(".m3u8");
        if !is_playlist && !SEGMENT_EXTENSIONS.iter().any(|e| name.ends_with(e)) {
            return;
        }
        if !is_playlist && self.advance(dir, name) {
            return;
        }
        let name = name.clone();
        self.spawn_start(move |this| async move {
            if is_playlist {
                this.start_from_playlist(dir, &name, file).await;
            } else {
                this.start_from_segment(dir, &name).await;
            }
        });
    }

    /// Called when the gateway serves the player page of `root`: the listener's browser is
    /// about to load the page and hls.js, then ask for `track.json` and `master.m3u8`. Starts
    /// as a request for the master playlist would, so the track's beginning (the root, its
    /// entries, the first variant's playlist and first segment) arrives while the page loads
    /// (measured in Chromium: 305 ms from navigation to the first request for the track). For
    /// a CID without a master playlist only the root is fetched, which the page's own request
    /// would fetch anyway.
    pub(super) fn on_player_page(&self, root: Cid) {
        if !self.inner.fetcher.is_online() {
            return;
        }
        self.spawn_start(move |this| async move {
            let source = FetcherSource::new(this.inner.fetcher.clone());
            if let Ok(master) = lookup(&source, &root, MASTER_PLAYLIST).await {
                this.start_from_playlist(root, MASTER_PLAYLIST, master)
                    .await;
            }
        });
    }

    /// Runs `start` in the background, holding one of [`MAX_SESSIONS`] start permits and
    /// within the retrieval timeout; past that many starts in progress, nothing is started.
    fn spawn_start<F, Fut>(&self, start: F)
    where
        F: FnOnce(LookAhead) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let Ok(permit) = self.inner.starting.clone().try_acquire_owned() else {
            return;
        };
        let (this, timeout) = (self.clone(), self.inner.timeout);
        tokio::spawn(async move {
            let _permit = permit;
            let _ = tokio::time::timeout(timeout, start(this)).await;
        });
    }

    /// Starts a session for a stream whose segment `name` (of `dir`) was asked for first:
    /// the playlist is `dir`'s [`MEDIA_PLAYLIST`].
    async fn start_from_segment(&self, dir: Cid, name: &str) {
        let source = FetcherSource::new(self.inner.fetcher.clone());
        let Ok(playlist) = lookup(&source, &dir, MEDIA_PLAYLIST).await else {
            return;
        };
        if let Ok(Playlist::Media(entries)) = self.read_playlist(playlist).await {
            let entries = Arc::new(entries);
            if let Some(k) = entries.iter().position(|e| e == name) {
                self.start(dir, entries, self.window_at(k), Vec::new());
            }
        }
    }

    /// Moves the window of `dir`'s session past segment `name`; false when there is no
    /// session or `name` lies outside it (a seek: the caller starts a new one).
    fn advance(&self, dir: Cid, name: &str) -> bool {
        let mut sessions = self.inner.lock();
        let Some(session) = sessions.get(&dir) else {
            return false;
        };
        let Some(k) = session.entries.iter().position(|e| e == name) else {
            return false;
        };
        let ahead = self.inner.ahead;
        let current = *session.window.borrow();
        // Within the window, or a little behind it (a player re-requesting): keep going.
        if k + 1 + ahead >= current.from && k <= current.until {
            session.window.send_modify(|w| {
                w.until = w.until.max(k + 1 + ahead);
                w.touched = Instant::now();
            });
            return true;
        }
        // A seek: a new window from there (what the old one fetched stays stored).
        let entries = session.entries.clone();
        if let Some(old) = sessions.remove(&dir) {
            old.task.abort();
        }
        drop(sessions);
        self.start(dir, entries, self.window_at(k), Vec::new());
        true
    }

    /// Reads the playlist `file`, `name` in `dir`, and starts there: a media playlist at its
    /// first segment, a master playlist at its first variant's. For a chorus track's master
    /// playlist, the root's other entries are hinted first.
    async fn start_from_playlist(&self, dir: Cid, name: &str, file: Cid) {
        // Sources of hinted wants, kept by the session: dropping one withdraws its wants.
        let mut hinted = Vec::new();
        if name == MASTER_PLAYLIST {
            hinted.extend(self.hint_entries(dir).await);
        } else if !self.has_session(dir) {
            hinted.extend(self.hint_segments(dir, name).await);
        }
        let mut dir = dir;
        let mut playlist = self.read_playlist(file).await;
        if let Ok(Playlist::Master(variants)) = &playlist {
            let Some(first) = variants.first() else {
                return;
            };
            let source = FetcherSource::new(self.inner.fetcher.clone());
            let mut names: Vec<&str> = first.split('/').collect();
            let Some(last) = names.pop() else {
                return;
            };
            for name in names {
                match lookup(&source, &dir, name).await {
                    Ok(next) => dir = next,
                    Err(_) => return,
                }
            }
            if self.has_session(dir) {
                return;
            }
            hinted.extend(self.hint_segments(dir, last).await);
            let Ok(file) = lookup(&source, &dir, last).await else {
                return;
            };
            playlist = self.read_playlist(file).await;
        }
        if let Ok(Playlist::Media(entries)) = playlist {
            // The player asks for segment 0 next: the window is 0..ahead.
            self.start(dir, Arc::new(entries), (0, self.inner.ahead), hinted);
        }
    }

    /// The window of a session started by a request for segment `k`: `k` itself first, which
    /// joins the player's own fetch instead of competing with it for the link, then the
    /// `ahead` after it.
    fn window_at(&self, k: usize) -> (usize, usize) {
        (k, k + 1 + self.inner.ahead)
    }

    fn has_session(&self, dir: Cid) -> bool {
        self.inner.lock().contains_key(&dir)
    }

    /// Asks for the media playlist `playlist` of `dir` and, right behind it, the first
    /// segment by name order (chorus names them `seg00000.ts`, … in playlist order): the
    /// directory lists the segments' CIDs, so the first segment need not wait until the
    /// playlist has arrived and been read. In that order, and only the first segment: the peer
    /// sends blocks in the order asked, and the small playlist the player needs first must not
    /// queue behind segments (measured at 20 Mbit/s: the playlist took 619 ms instead of
    /// 102 with five segments asked for ahead of it). Returns the source holding the wants.
    async fn hint_segments(&self, dir: Cid, playlist: &str) -> Option<FetcherSource> {
        let source = FetcherSource::new(self.inner.fetcher.clone());
        let entries = list_directory(&source, &dir, ListLimits::default())
            .await
            .ok()?;
        let first = entries
            .iter()
            .filter(|e| e.name == playlist)
            .chain(
                entries
                    .iter()
                    .filter(|e| SEGMENT_EXTENSIONS.iter().any(|x| e.name.ends_with(x)))
                    .take(1),
            )
            .map(|e| e.cid)
            .collect::<Vec<_>>();
        source.prefetch(&first);
        Some(source)
    }

    /// Asks for the first block of up to [`MAX_ROOT_HINTS`] dag-pb entries of directory
    /// `dir` (at hand: the request resolved through it) at once; returns the source whose
    /// queue holds those wants.
    async fn hint_entries(&self, dir: Cid) -> Option<FetcherSource> {
        let block = self.inner.fetcher.fetch_at_hand(dir).await?;
        let entries: Vec<Cid> = chorus_storage::dagpb::links(&block)
            .ok()?
            .into_iter()
            .filter(|c| c.codec() == chorus_storage::codec::DAG_PB)
            .take(MAX_ROOT_HINTS)
            .collect();
        let source = FetcherSource::new(self.inner.fetcher.clone());
        source.prefetch(&entries);
        Some(source)
    }

    /// Starts a session on `dir` fetching segments `from..until`, unless one runs there or
    /// the node runs [`MAX_SESSIONS`] (see [`LookAhead::window_at`]). The session keeps
    /// `hinted` (sources whose wants it will join).
    fn start(
        &self,
        dir: Cid,
        entries: Arc<Vec<String>>,
        (from, until): (usize, usize),
        hinted: Vec<FetcherSource>,
    ) {
        let mut sessions = self.inner.lock();
        if sessions.contains_key(&dir) || sessions.len() >= MAX_SESSIONS {
            return;
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (window, rx) = watch::channel(Window {
            from,
            until,
            touched: Instant::now(),
        });
        let this = self.clone();
        let run_entries = entries.clone();
        let counted = SessionCount::new(&self.inner.metrics);
        let task = tokio::spawn(async move {
            let _kept = (counted, hinted);
            this.run(dir, run_entries, rx).await;
            let mut sessions = this.inner.lock();
            if sessions.get(&dir).is_some_and(|s| s.id == id) {
                sessions.remove(&dir);
            }
        })
        .abort_handle();
        sessions.insert(
            dir,
            Session {
                id,
                entries,
                window,
                task,
            },
        );
    }

    /// Fetches the window's segments in order, following the window as requests move it,
    /// until the stream has been idle for [`IDLE`].
    async fn run(&self, dir: Cid, entries: Arc<Vec<String>>, mut rx: watch::Receiver<Window>) {
        let mut next = rx.borrow().from;
        loop {
            let window = *rx.borrow_and_update();
            if window.touched.elapsed() >= IDLE {
                return;
            }
            next = next.max(window.from);
            if next < window.until.min(entries.len()) {
                let fetch = self.fetch_segment(dir, &entries[next]);
                match tokio::time::timeout(self.inner.timeout, fetch).await {
                    Ok(Ok(())) => {
                        self.inner.metrics.segments.inc();
                        next += 1;
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(%dir, segment = %entries[next], error = %e, "HLS look-ahead stopped");
                        return;
                    }
                    Err(_) => return,
                }
                continue;
            }
            let idle_left = IDLE.saturating_sub(window.touched.elapsed());
            match tokio::time::timeout(idle_left, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
    }

    /// Fetches every block of segment `name` of `dir` (the fetcher stores them).
    async fn fetch_segment(&self, dir: Cid, name: &str) -> Result<(), ReadError> {
        let source = FetcherSource::new(self.inner.fetcher.clone());
        let cid = lookup(&source, &dir, name).await?;
        let file = UnixfsFile::open(&source, &cid).await?;
        let mut body = std::pin::pin!(file.read(source, 0, None));
        while body.next().await.transpose()?.is_some() {}
        Ok(())
    }

    /// Reads and parses a playlist, within [`MAX_PLAYLIST_BYTES`].
    async fn read_playlist(&self, cid: Cid) -> Result<Playlist, ReadError> {
        let source = FetcherSource::new(self.inner.fetcher.clone());
        let file = UnixfsFile::open(&source, &cid).await?;
        if file.size() > MAX_PLAYLIST_BYTES {
            return Ok(Playlist::Other);
        }
        let chunks: Vec<axum::body::Bytes> = file.read(source, 0, None).try_collect().await?;
        Ok(parse_playlist(&String::from_utf8_lossy(&chunks.concat())))
    }
}

/// Counts a session on the sessions gauge until its task ends or is aborted.
struct SessionCount(HlsMetrics);

impl SessionCount {
    fn new(metrics: &HlsMetrics) -> Self {
        metrics.sessions.inc();
        SessionCount(metrics.clone())
    }
}

impl Drop for SessionCount {
    fn drop(&mut self) {
        self.0.sessions.dec();
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Cid, Session>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A parsed playlist: what the look-ahead needs of it.
#[derive(Debug, PartialEq)]
pub(super) enum Playlist {
    /// A master playlist's variant playlists, in order.
    Master(Vec<String>),
    /// A media playlist's segments, in order.
    Media(Vec<String>),
    /// Neither, or with URIs the look-ahead does not follow.
    Other,
}

/// Parses an HLS playlist (RFC 8216): URI lines after `#EXT-X-STREAM-INF` make a master
/// playlist, after `#EXTINF` a media playlist. Only relative paths below the playlist's
/// directory are kept (no scheme, no query, no `..`, not absolute): the look-ahead never
/// follows a playlist out of its stream. At most [`MAX_PLAYLIST_ENTRIES`].
pub(super) fn parse_playlist(text: &str) -> Playlist {
    let mut master = Vec::new();
    let mut media = Vec::new();
    let mut pending: Option<bool> = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            continue;
        }
        if let Some(tag) = line.strip_prefix('#') {
            if tag.starts_with("EXT-X-STREAM-INF") {
                pending = Some(true);
            } else if tag.starts_with("EXTINF") {
                pending = Some(false);
            }
            continue;
        }
        let Some(is_master) = pending.take() else {
            continue;
        };
        if !is_plain_relative(line) {
            return Playlist::Other;
        }
        let list = if is_master { &mut master } else { &mut media };
        if list.len() < MAX_PLAYLIST_ENTRIES {
            list.push(line.to_owned());
        }
    }
    match (master.is_empty(), media.is_empty()) {
        (false, true) => Playlist::Master(master),
        (true, false) => Playlist::Media(media),
        _ => Playlist::Other,
    }
}

fn is_plain_relative(uri: &str) -> bool {
    !uri.starts_with('/')
        && !uri.contains(':')
        && !uri.contains('?')
        && !uri.contains('#')
        && uri
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use chorus_storage::{Block, HashAlg, codec};
    use futures::future::BoxFuture;

    use super::*;
    use crate::fetch::FetchError;

    /// A network that never answers, counting what it is asked.
    #[derive(Default)]
    struct Silent {
        asked: AtomicUsize,
    }

    impl BlockFetcher for Silent {
        fn fetch(&self, _cid: Cid) -> BoxFuture<'static, Result<Block, FetchError>> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            Box::pin(std::future::pending())
        }

        fn is_online(&self) -> bool {
            true
        }
    }

    fn cid(n: u32) -> Cid {
        let block = Block::from_data(codec::DAG_PB, HashAlg::Sha2_256, n.to_be_bytes().to_vec());
        *block.unwrap().cid()
    }

    /// Requests for ever more playlists nobody delivers start at most MAX_SESSIONS reads;
    /// the rest go without look-ahead, and the retrieval timeout frees the starts.
    #[tokio::test(start_paused = true)]
    async fn starts_are_bounded_and_time_out() {
        let silent = Arc::new(Silent::default());
        let timeout = Duration::from_secs(30);
        let la = LookAhead::new(silent.clone(), HlsMetrics::default(), 5, timeout);
        let names = ["320k".to_owned(), "index.m3u8".to_owned()];
        for n in 0..(MAX_SESSIONS as u32 + 50) {
            la.on_request(&names, &[cid(0), cid(2 * n + 1), cid(2 * n + 2)]);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(silent.asked.load(Ordering::SeqCst), MAX_SESSIONS);
        assert_eq!(la.inner.starting.available_permits(), 0);
        tokio::time::sleep(timeout).await;
        assert_eq!(la.inner.starting.available_permits(), MAX_SESSIONS);
        assert_eq!(la.inner.lock().len(), 0);
    }

    #[test]
    fn playlists_parse_into_variants_or_segments() {
        let master = "#EXTM3U\n#EXT-X-VERSION:3\n\
                      #EXT-X-STREAM-INF:BANDWIDTH=331000,CODECS=\"mp4a.40.2\"\n320k/index.m3u8\n\
                      #EXT-X-STREAM-INF:BANDWIDTH=133000\n128k/index.m3u8\n";
        assert_eq!(
            parse_playlist(master),
            Playlist::Master(vec!["320k/index.m3u8".into(), "128k/index.m3u8".into()])
        );
        let media = "#EXTM3U\n#EXT-X-TARGETDURATION:7\n#EXTINF:6.016,\nseg00000.ts\n\
                     #EXTINF:2.5,\r\nseg00001.ts\r\n#EXT-X-ENDLIST\n";
        assert_eq!(
            parse_playlist(media),
            Playlist::Media(vec!["seg00000.ts".into(), "seg00001.ts".into()])
        );
    }

    #[test]
    fn playlists_leading_out_of_their_directory_are_not_followed() {
        for uri in [
            "/ipfs/bafy/seg.ts",
            "../other/seg.ts",
            "http://example.com/seg.ts",
            "seg.ts?x=1",
            "a//b.ts",
        ] {
            let media = format!("#EXTM3U\n#EXTINF:6,\nseg0.ts\n#EXTINF:6,\n{uri}\n");
            assert_eq!(parse_playlist(&media), Playlist::Other, "{uri}");
        }
        assert_eq!(parse_playlist("not a playlist"), Playlist::Other);
        assert_eq!(parse_playlist(""), Playlist::Other);
    }
}
