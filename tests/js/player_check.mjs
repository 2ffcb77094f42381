// Plays a chorus track in real headless Chromium (Debian's, driven by playwright-core) from the
// gateway's built-in player page, and checks that the page fails cleanly for a CID that is not a
// track. Every request that is not to 127.0.0.1 is blocked and fails the check.
// Usage: node player_check.mjs http://127.0.0.1:PORT TRACK_CID OTHER_CID SCREENSHOT.png CHROMIUM
// Prints one JSON line of findings; exits 1 on failure.
import { chromium } from 'playwright-core'

const [gateway, trackCid, otherCid, screenshot, executablePath] = process.argv.slice(2)
if (!executablePath) {
  console.error('usage: player_check.mjs GATEWAY TRACK_CID OTHER_CID SCREENSHOT CHROMIUM')
  process.exit(2)
}
// Generous: a debug-build daemon on a busy 2-core machine; these bound failures, not success.
const STEP_TIMEOUT_MS = 90_000
// The design's flags for Debian's chromium in a headless test: no sandbox (root), no GPU, and
// none of the browser's own background traffic.
const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required'
]

const blocked = []
const findings = {}

function fail (message) {
  throw new Error(message)
}

// Console errors and uncaught exceptions of a page, collected per page.
function watch (page) {
  const log = { errors: [], warnings: [] }
  page.on('console', (msg) => {
    const line = `${msg.type()}: ${msg.text()}`
    if (msg.type() === 'error') log.errors.push(line)
    else if (msg.type() === 'warning') log.warnings.push(line)
  })
  page.on('pageerror', (err) => log.errors.push(`pageerror: ${err.message}`))
  return log
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ARGS,
  timeout: STEP_TIMEOUT_MS
})
try {
  const context = await browser.newContext()
  context.setDefaultTimeout(STEP_TIMEOUT_MS)
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url())
    if (url.protocol === 'http:' && url.hostname === '127.0.0.1') return route.continue()
    blocked.push(url.href)
    return route.abort('blockedbyclient')
  })

  // The guard must work: a request elsewhere is stopped here, before any lookup or packet.
  const probe = await context.newPage()
  await probe.goto(`${gateway}/player/assets/none/none`)
  await probe.evaluate(() => fetch('http://chorus-guard.invalid/').catch(() => null))
  if (blocked.length !== 1) fail(`the request guard did not see the probe: ${blocked}`)
  blocked.length = 0
  await probe.close()

  // 1. A real track plays.
  const page = await context.newPage()
  const log = watch(page)
  const response = await page.goto(`${gateway}/player/${trackCid}`)
  if (response.status() !== 200) fail(`player page: HTTP ${response.status()}`)
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state))
  const ready = await page.evaluate(() => ({
    state: document.body.dataset.state,
    status: document.getElementById('status').textContent,
    engine: window.chorusPlayer.engine
  }))
  if (ready.state !== 'ready') fail(`player did not get ready: ${JSON.stringify(ready)}`)
  findings.engine = ready.engine
  await page.evaluate(() => {
    const audio = document.getElementById('audio')
    audio.muted = true
    return audio.play()
  })
  await page.waitForFunction(
    () => document.getElementById('audio').currentTime > 2 || document.body.dataset.state === 'error'
  )
  Object.assign(findings, await page.evaluate(() => {
    const audio = document.getElementById('audio')
    const download = document.getElementById('download')
    return {
      state: document.body.dataset.state,
      status: document.getElementById('status').textContent,
      currentTime: audio.currentTime,
      duration: audio.duration,
      title: document.getElementById('title').textContent,
      meta: document.getElementById('meta').textContent,
      download: download.hidden ? null : download.getAttribute('href'),
      playerErrors: window.chorusPlayer.errors
    }
  }))
  if (findings.state === 'error') fail(`playback failed: ${findings.status}`)
  await page.screenshot({ path: screenshot, fullPage: true })
  if (findings.download) {
    findings.downloadResponse = await page.evaluate(async (href) => {
      const r = await fetch(href)
      const bytes = new Uint8Array(await r.arrayBuffer())
      return {
        status: r.status,
        type: r.headers.get('content-type'),
        disposition: r.headers.get('content-disposition'),
        size: bytes.length,
        // MP3 with an ID3v2 tag starts with "ID3", without one with an MPEG frame sync.
        head: Array.from(bytes.slice(0, 3))
      }
    }, findings.download)
  }
  findings.consoleErrors = log.errors
  findings.consoleWarnings = log.warnings
  if (log.errors.length > 0) fail(`console errors while playing: ${log.errors.join(' | ')}`)

  // 2. A CID that is not a track: the page says so instead of hanging.
  const other = await context.newPage()
  const otherLog = watch(other)
  const otherResponse = await other.goto(`${gateway}/player/${otherCid}`)
  if (otherResponse.status() !== 200) fail(`player page (not a track): HTTP ${otherResponse.status()}`)
  await other.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state))
  findings.notTrack = await other.evaluate(() => ({
    state: document.body.dataset.state,
    status: document.getElementById('status').textContent
  }))
  findings.notTrackConsole = otherLog.errors

  // 3. Junk instead of a CID: a plain 400 from the gateway.
  const junk = await context.newPage()
  const junkResponse = await junk.goto(`${gateway}/player/not-a-cid`)
  findings.junk = { status: junkResponse.status(), body: (await junkResponse.text()).trim() }

  findings.blocked = blocked
  if (blocked.length > 0) fail(`requests outside 127.0.0.1 were attempted: ${blocked.join(', ')}`)
  console.log(JSON.stringify(findings))
} catch (err) {
  console.log(JSON.stringify(findings))
  console.error(`FAILED: ${err.message}`)
  process.exitCode = 1
} finally {
  await browser.close()
}
