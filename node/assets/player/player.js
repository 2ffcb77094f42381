// chorus player: shows a track's track.json and plays its master.m3u8 with the hls.js the node
// serves itself, or with the browser's own HLS (Safari) when Media Source Extensions are missing.
// Everything it loads comes from this origin: /player/assets/... and /ipfs/<cid>/...
(function () {
  'use strict';

  var body = document.body;
  var cid = body.getAttribute('data-cid');
  var base = '/ipfs/' + cid + '/';
  var audio = document.getElementById('audio');
  var statusEl = document.getElementById('status');
  var HLS_MIME = 'application/vnd.apple.mpegurl';

  // State for scripts and tests: which engine plays, what went wrong, the parsed track.json.
  var player = {
    cid: cid,
    engine: null,
    hls: null,
    info: null,
    errors: []
  };
  window.chorusPlayer = player;

  function setState(state, message) {
    body.setAttribute('data-state', state);
    statusEl.textContent = message;
  }

  function fail(message) {
    player.errors.push(message);
    setState('error', message);
    console.error('chorus player: ' + message);
  }

  function clock(seconds) {
    var s = Math.max(0, Math.round(seconds));
    var m = Math.floor(s / 60);
    var h = Math.floor(m / 60);
    var ss = String(s % 60).padStart(2, '0');
    if (h > 0) {
      return h + ':' + String(m % 60).padStart(2, '0') + ':' + ss;
    }
    return m + ':' + ss;
  }

  function channels(n) {
    if (n === 1) return 'mono';
    if (n === 2) return 'stereo';
    return n + ' channels';
  }

  function isTrack(info) {
    return info !== null && typeof info === 'object' &&
      typeof info.duration === 'number' && Array.isArray(info.renditions) &&
      info.renditions.length > 0;
  }

  function show(info) {
    var named = typeof info.title === 'string' && info.title !== '';
    var title = named ? info.title : 'Track ' + cid.slice(0, 12) + '\u2026';
    document.title = title + ' \u2014 chorus';
    document.getElementById('title').textContent = title;
    var parts = [clock(info.duration)];
    var names = info.renditions.map(function (r) { return r.name; });
    parts.push('AAC ' + names.join(', '));
    if (info.sample_rate) {
      parts.push(info.sample_rate / 1000 + ' kHz ' + channels(info.channels));
    }
    document.getElementById('meta').textContent = parts.join(' \u00b7 ');
    if (info.download && typeof info.download.path === 'string') {
      var link = document.getElementById('download');
      var name = (named ? title.replace(/[\\/:*?"<>|]/g, '_') : cid) + '.mp3';
      link.href = base + info.download.path.split('/').map(encodeURIComponent).join('/') +
        '?filename=' + encodeURIComponent(name) + '&download=true';
      link.hidden = false;
    }
  }

  function playWithHlsJs(src) {
    var Hls = window.Hls;
    var hls = new Hls();
    var recoveredMedia = false;
    player.engine = 'hls.js';
    player.hls = hls;
    hls.on(Hls.Events.ERROR, function (_event, data) {
      var what = data.type + '/' + data.details;
      if (!data.fatal) {
        console.warn('chorus player: hls.js recovered from ' + what);
        return;
      }
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !recoveredMedia) {
        // hls.js' documented recovery for a decoder hiccup: one retry, then give up.
        recoveredMedia = true;
        console.warn('chorus player: recovering from ' + what);
        hls.recoverMediaError();
        return;
      }
      var status = data.response && data.response.code ? ' (HTTP ' + data.response.code + ')' : '';
      fail('playback failed: ' + what + status);
      hls.destroy();
    });
    hls.on(Hls.Events.MANIFEST_PARSED, function (_event, data) {
      setState('ready', 'Ready: ' + data.levels.length + ' rendition(s). Press play.');
    });
    hls.loadSource(src);
    hls.attachMedia(audio);
  }

  function start(info) {
    var src = base + 'master.m3u8';
    if (window.Hls && window.Hls.isSupported()) {
      playWithHlsJs(src);
    } else if (audio.canPlayType(HLS_MIME) !== '') {
      player.engine = 'native';
      audio.src = src;
      setState('ready', 'Ready (native HLS). Press play.');
    } else {
      fail('this browser can play neither HLS nor Media Source Extensions; ' +
        'open the HLS playlist in a media player instead');
      return;
    }
    audio.addEventListener('playing', function () {
      setState('playing', 'Playing (' + player.engine + ')');
    });
    audio.addEventListener('pause', function () {
      if (body.getAttribute('data-state') === 'playing') setState('ready', 'Paused');
    });
    audio.addEventListener('ended', function () { setState('ready', 'Ended'); });
    audio.addEventListener('error', function () {
      // hls.js reports its own failures; this catches the native engine's.
      if (player.engine === 'native' && audio.error) {
        fail('playback failed: media error ' + audio.error.code +
          (audio.error.message ? ' (' + audio.error.message + ')' : ''));
      }
    });
    return info;
  }

  fetch(base + 'track.json', { headers: { Accept: 'application/json' } })
    .then(function (response) {
      if (response.status === 404) {
        throw new Error(cid + ' is not a chorus track: it has no track.json ' +
          '(or this node cannot find it)');
      }
      if (!response.ok) {
        return response.text().then(function (text) {
          throw new Error('could not load track.json: HTTP ' + response.status +
            (text ? ': ' + text.trim() : ''));
        });
      }
      return response.json().catch(function () {
        throw new Error(cid + ' is not a chorus track: its track.json is not JSON');
      });
    })
    .then(function (info) {
      if (!isTrack(info)) {
        throw new Error(cid + ' is not a chorus track: its track.json describes no renditions');
      }
      player.info = info;
      show(info);
      start(info);
    })
    .catch(function (err) {
      fail(err && err.message ? err.message : String(err));
    });
}());
