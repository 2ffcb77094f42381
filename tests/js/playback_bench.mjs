// The Chromium + hls.js listener of scripts/bench-playback.sh: opens the gateway's own player
// page for a track in Debian's headless Chromium (driven by playwright-core), lets it play as a
// listener would (autoplay, muted: no sound device), and measures with the media element's own
// events, timed by the page's clock:
//   - time to first audio: navigation start until the first `playing` event (page,
//     track.json, master and media playlists, first segment, the browser's media pipeline),
//     and until currentTime is seen advancing (`timeupdate`, every ~250 ms);
//   - the same page opened again afterwards in a fresh browser context, the track now in the
//     node's store: the browser's own part of the time to first audio (page, scripts, media
//     pipeline), so that the cold figure minus this one is what the network path costs;
//   - stalls: `waiting` events after playback started, with their durations;
//   - seek-to-play: after PLAY_SECONDS of audio, a seek to SEEK_FRACTION of the track, until
//     currentTime advances past the seek target.
// Every request that is not to 127.0.0.1 is blocked. Prints one JSON line.
// Usage: node playback_bench.mjs GATEWAY_URL TRACK_CID CHROMIUM PLAY_SECONDS SEEK_FRACTION
import { chromium } from 'playwright-core'

const [gateway, cid, executablePath, playArg, seekArg] = process.argv.slice(2)
if (!seekArg) {
  console.error('usage: playback_bench.mjs GATEWAY TRACK_CID CHROMIUM PLAY_SECONDS SEEK_FRACTION')
  process.exit(2)
}
const playSeconds = Number(playArg)
const seekFraction = Number(seekArg)
// Bounds failures only (a run plays PLAY_SECONDS in real time on top of this).
const STEP_TIMEOUT_MS = 120_000
const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
  // Timers of a headless page are not throttled while it plays.
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding'
]

// Runs in the page before its own scripts: media events with the page's clock, and autoplay.
function instrument () {
  const events = []
  window.__bench = { events }
  document.addEventListener('DOMContentLoaded', () => {
    const audio = document.getElementById('audio')
    audio.muted = true
    audio.autoplay = true
    for (const type of ['playing', 'waiting', 'seeking', 'seeked', 'timeupdate', 'stalled']) {
      audio.addEventListener(type, () => {
        events.push({ type, t: performance.now(), pos: audio.currentTime })
      })
    }
  })
}

const blocked = []
const browser = await chromium.launch({ executablePath, headless: true, args: ARGS, timeout: STEP_TIMEOUT_MS })
try {
  // A context whose every request not to 127.0.0.1 is blocked (and recorded).
  async function newContext () {
    const context = await browser.newContext()
    context.setDefaultTimeout(STEP_TIMEOUT_MS)
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url())
      if (url.protocol === 'http:' && url.hostname === '127.0.0.1') return route.continue()
      blocked.push(url.href)
      return route.abort('blockedbyclient')
    })
    return context
  }
  const errors = []
  // Opens the player page and waits until it plays: a `playing` event and currentTime past 0.
  async function play (context) {
    const page = await context.newPage()
    await page.addInitScript(instrument)
    page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`))
    page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()) })
    await page.goto(`${gateway}/player/${cid}`)
    await page.waitForFunction(() => {
      const ev = window.__bench.events
      const played = ev.findIndex((e) => e.type === 'playing')
      return (played >= 0 && ev.slice(played).some((e) => e.type === 'timeupdate' && e.pos > 0)) ||
        document.body.dataset.state === 'error'
    }, null, { polling: 20 })
    if (await page.evaluate(() => document.body.dataset.state) === 'error') {
      throw new Error(`player error: ${await page.evaluate(() => window.chorusPlayer.errors.join('; '))}`)
    }
    return page
  }
  const page = await play(await newContext())
  // Play PLAY_SECONDS of audio (or the track, if shorter).
  await page.waitForFunction((s) => {
    const a = document.getElementById('audio')
    return a.currentTime >= Math.min(s, a.duration - 1) || document.body.dataset.state === 'error'
  }, playSeconds, { polling: 100, timeout: (playSeconds * 3 + 120) * 1000 })

  const seek = await page.evaluate((fraction) => {
    const a = document.getElementById('audio')
    const target = fraction * a.duration
    const from = a.currentTime
    const t = performance.now()
    window.__bench.seek = { target, t, from }
    a.currentTime = target
    return { target, from }
  }, seekFraction)
  await page.waitForFunction(() => {
    const s = window.__bench.seek
    return window.__bench.events.some((e) => e.t > s.t && e.type === 'timeupdate' && e.pos > s.target + 0.05)
  }, null, { polling: 20 })

  const result = await page.evaluate(() => {
    const ev = window.__bench.events
    const seek = window.__bench.seek
    const hls = window.chorusPlayer.hls
    const firstPlaying = ev.find((e) => e.type === 'playing')
    const firstProgress = ev.find((e) => e.type === 'timeupdate' && e.pos > 0 && e.t >= firstPlaying.t)
    // Stalls: `waiting` while playing, before the seek, until the next `playing`.
    const stalls = []
    for (let i = 0; i < ev.length; i++) {
      const e = ev[i]
      if (e.type !== 'waiting' || e.t <= firstPlaying.t || e.t >= seek.t) continue
      const resumed = ev.slice(i).find((x) => x.type === 'playing')
      stalls.push({ pos: e.pos, s: ((resumed ? resumed.t : seek.t) - e.t) / 1000 })
    }
    const seekPlay = ev.find((e) => e.t > seek.t && e.type === 'timeupdate' && e.pos > seek.target + 0.05)
    const seeked = ev.find((e) => e.t > seek.t && e.type === 'seeked')
    const level = hls && hls.levels[hls.currentLevel]
    const requests = performance.getEntriesByType('resource')
      .filter((r) => r.name.includes('/ipfs/'))
      .map((r) => ({
        path: new URL(r.name).pathname.split('/').slice(3).join('/'),
        start_ms: r.startTime,
        ms: r.responseEnd - r.startTime,
        ttfb_ms: r.responseStart - r.startTime,
        bytes: r.encodedBodySize
      }))
    return {
      engine: window.chorusPlayer.engine,
      variant: level ? String(level.uri || [].concat(level.url)[0]).split('/').slice(-2).join('/') : null,
      bandwidth: level ? level.bitrate : null,
      ttfa_ms: firstPlaying.t,
      clock_moving_ms: firstProgress.t,
      stalls: stalls.length,
      stall_s: stalls.reduce((a, s) => a + s.s, 0),
      stall_list: stalls.map((s) => [s.pos, s.s]),
      played_s: seek.from,
      seek_pos_s: seek.target,
      seek_t_ms: seek.t,
      seek_ms: seekPlay.t - seek.t,
      seeked_ms: seeked ? seeked.t - seek.t : null,
      requests
    }
  })
  await page.close()
  // The browser's own part: the same page again in a fresh context (no HTTP cache), the
  // track's beginning now in the node's store.
  const warmContext = await newContext()
  const warm = await play(warmContext)
  result.warm_ttfa_ms = await warm.evaluate(() => window.__bench.events.find((e) => e.type === 'playing').t)
  result.blocked = blocked
  result.errors = errors
  console.log(JSON.stringify(result))
} finally {
  await browser.close()
}
