// The browser player (docs/protocol.md). Plain JavaScript for old kiosk Chromium: no
// framework, no build step. It plays the manifest it has by its own clock, keeps it in
// localStorage (and media in a Cache, where the browser allows), and reconnects with
// exponential backoff and full jitter. The playback rule is the one in
// content/playback.py, so the staff preview shows exactly what plays here.
(function () {
  "use strict";

  var PROTOCOL = 1;
  var VERSION = "1";
  var KEYS = { token: "signage.token", manifest: "signage.manifest", epoch: "signage.epoch", seq: "signage.seq", board: "signage.board", alerts: "signage.alerts", alertsRevision: "signage.alerts.revision", offset: "signage.offset" };
  var MEDIA_CACHE = "signage-media-v1";
  var SIDE_BY_SIDE_WIDTH = 0.6;

  var state = {
    token: localStorage.getItem(KEYS.token),
    manifest: readJSON(KEYS.manifest),
    epoch: localStorage.getItem(KEYS.epoch),
    seq: Number(localStorage.getItem(KEYS.seq) || 0),
    socket: null,
    attempt: 0,
    seenEvents: {},
    shown: {},
    labels: {},
    brokenFiles: {},
    // Server time minus local time, in ms: measured at each welcome and kept, so a player
    // reloaded while its server is down still goes by the server's clock (alert expiry).
    offset: Number(localStorage.getItem(KEYS.offset) || 0) || 0,
    heartbeat: 30,
    board: readJSON(KEYS.board), // the site's queue board (latest wins)
    boardVersion: 0,
    newest: null, // the newest queue call received (shown at once)
    lastCalls: {}, // each counter's newest call event, listed until a board state includes it
    voice: { order: [], waiting: {}, speaking: null, awaiting: null }, // counters to be said, in turn
    lastAudio: [], // the files of the last announcement
    announced: [], // the last announcements: {counter, labels said, started, ended} (ms)
    received: [], // the last calls received: {counter, ticket, label, at} (ms; tests read it)
    played: [] // each clip that played: {counter, label, part, file, asked, at} (ms; tests read it)
  };
  // Emergency alerts (the `alerts` state message): the whole list, kept like the manifest
  // so a player whose server is down shows them until they expire.
  state.alerts = readJSON(KEYS.alerts) || [];
  // The revision of that list: an `alerts` message older than it is ignored (another
  // server process may send a list it read before the one this player has).
  state.alertsRevision = Number(localStorage.getItem(KEYS.alertsRevision) || 0) || 0;
  state.alert = { key: "", since: 0, takeover: false, acked: null, sounded: {}, expiry: null, sounds: [] };

  function readJSON(key) {
    try { return JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { return null; }
  }

  function $(id) { return document.getElementById(id); }

  function now() { return new Date(Date.now() + state.offset); }

  function randomToken() {
    var bytes = new Uint8Array(24);
    window.crypto.getRandomValues(bytes);
    var text = "";
    for (var i = 0; i < bytes.length; i++) { text += String.fromCharCode(bytes[i]); }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // --- pairing ---------------------------------------------------------------------

  function showPairing(code) {
    $("pairing-code").textContent = code;
    $("pairing").hidden = false;
    $("stage").hidden = true;
  }

  function startPairing() {
    state.token = randomToken();
    localStorage.setItem(KEYS.token, state.token);
    return fetch("/player/pair", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: state.token })
    }).then(function (response) {
      return response.json();
    }).then(function (body) {
      if (body.code) { showPairing(body.code); }
    });
  }

  function forgetToken() {
    localStorage.removeItem(KEYS.token);
    localStorage.removeItem(KEYS.manifest);
    state.token = null;
    state.manifest = null;
  }

  // --- the socket ------------------------------------------------------------------

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + "/player/ws");
    state.socket = socket;
    socket.onopen = function () {
      socket.send(JSON.stringify({
        type: "hello", token: state.token, protocol: PROTOCOL, epoch: state.epoch,
        seq: state.seq, manifest_version: state.manifest ? state.manifest.version : 0,
        player: { kind: "browser", version: VERSION }
      }));
    };
    socket.onmessage = function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      handle(data);
    };
    socket.onclose = function (event) { closed(event.code); };
  }

  function setOnline(online) {
    $("status").className = online ? "status" : "status offline";
  }

  function closed(code) {
    state.socket = null;
    setOnline(false);
    if (code === 4003) { return; } // a foreign origin: retrying cannot help
    if (code === 4001 || code === 4002) {
      forgetToken();
      startPairing().then(connect, function () { retry(1000); });
      return;
    }
    var delay = code === 1012 ? Math.random() * 10000 : 0;
    retry(delay + backoff());
  }

  function backoff() {
    // Full jitter: a random wait up to min(60 s, 1 s * 2^attempt).
    var cap = Math.min(60000, 1000 * Math.pow(2, state.attempt));
    state.attempt += 1;
    return Math.random() * cap;
  }

  function retry(delay) { setTimeout(connect, delay); }

  function handle(data) {
    if (data.type === "pairing") {
      showPairing(data.code);
    } else if (data.type === "paired") {
      $("pairing").hidden = true;
    } else if (data.type === "welcome") {
      state.attempt = 0;
      setOnline(true);
      var serverTime = new Date(data.server_time).getTime();
      if (!isNaN(serverTime)) {
        state.offset = serverTime - Date.now();
        localStorage.setItem(KEYS.offset, String(Math.round(state.offset)));
      }
      state.alert.acked = null; // this connection has not been told what shows yet
      // The server sends the alerts right after the welcome (an empty list too): kept ones
      // it does not send again were cleared while this player was away. A server that
      // sends nothing within ALERT_CONFIRM_MS is taken to show none.
      clearTimeout(state.alert.confirm);
      state.alert.confirm = setTimeout(function () { receiveAlerts([], state.alertsRevision); }, ALERT_CONFIRM_MS);
      if (data.epoch !== state.epoch) {
        // The server restarted: its event numbers start again.
        state.seenEvents = {};
        state.seq = 0;
      }
      state.epoch = data.epoch;
      localStorage.setItem(KEYS.epoch, state.epoch);
      state.heartbeat = data.heartbeat || 30;
      $("pairing").hidden = true;
      if (state.manifest) { show(); beat(); }
    } else if (data.type === "manifest") {
      receiveManifest(data);
    } else if (data.type === "event") {
      receiveEvent(data);
    } else if (data.type === "queue") {
      receiveBoard(data.board);
    } else if (data.type === "alerts") {
      receiveAlerts(data.alerts, data.revision);
    }
  }

  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify(message));
    }
  }

  // --- manifests and media ---------------------------------------------------------

  function mediaUrl(file) { return "/media/files/" + file; }

  function cacheMedia(manifest) {
    if (!window.caches) { return Promise.resolve(); }
    return caches.open(MEDIA_CACHE).then(function (cache) {
      return Promise.all(manifest.media.map(function (file) {
        var url = mediaUrl(file.file);
        return cache.match(url).then(function (hit) {
          if (hit) { return null; }
          return fetch(url).then(function (response) {
            if (response.ok) { return cache.put(url, response); }
            state.brokenFiles[file.file] = true;
            return null;
          });
        });
      }));
    });
  }

  var VOICE_KEPT = 100; // the newest spoken clips kept for a replay while offline

  function pruneMedia(manifest) {
    // Once a manifest plays, files it no longer lists leave the cache (they are named by
    // their SHA-256: one that comes back is fetched again); voice clips keep the newest.
    if (!window.caches) { return Promise.resolve(); }
    var wanted = {};
    manifest.media.forEach(function (file) { wanted[mediaUrl(file.file)] = true; });
    return caches.open(MEDIA_CACHE).then(function (cache) {
      return cache.keys().then(function (requests) {
        var voices = [];
        var gone = requests.filter(function (request) {
          var path = new URL(request.url).pathname;
          if (path.indexOf("/voice/") === 0) { voices.push(request); return false; }
          return path.indexOf("/media/files/") === 0 && !wanted[path];
        }).concat(voices.slice(0, Math.max(0, voices.length - VOICE_KEPT)));
        return Promise.all(gone.map(function (request) { return cache.delete(request); }));
      });
    });
  }

  function receiveManifest(data) {
    var manifest = data.manifest;
    manifest.version = data.version;
    cacheMedia(manifest).then(function () { return manifest; }, function () { return manifest; })
      .then(function () {
        state.manifest = manifest;
        try { localStorage.setItem(KEYS.manifest, JSON.stringify(manifest)); } catch (e) { /* full */ }
        send({ type: "ack", manifest_version: manifest.version });
        show();
        beat(); // the fleet view shows the new version and what plays at once
        pruneMedia(manifest).catch(function () { /* the cache may be busy; next time */ });
      });
  }

  function receiveEvent(data) {
    if (state.seenEvents[data.id]) { return; }
    state.seenEvents[data.id] = true;
    state.seq = Math.max(state.seq, data.seq);
    localStorage.setItem(KEYS.seq, String(state.seq));
    var event = data.event || {};
    if (event.kind === "reload") {
      location.reload();
    } else if (event.kind === "queue.call") {
      receiveCall(event);
    } else if (event.kind === "identify") {
      var box = $("identify");
      box.textContent = state.manifest ? state.manifest.screen.name : "";
      box.hidden = false;
      setTimeout(function () { box.hidden = true; }, (event.seconds || 10) * 1000);
    }
  }


  // --- queue calls and the board ---------------------------------------------------
  // What is on screen never waits for sound: a call shows the moment it arrives (a board
  // highlights the newest call and lists the recent ones; other screens show it over what
  // they play), and the voice takes the counters in turn. A counter's turn says its latest
  // call: one its counter has moved past is not spoken (when the counter moves on while
  // its call is being said, the rest is said for the new number), and recalls of a ticket
  // that wait together are said once. A call older than a minute (caught up after an
  // outage) is never announced late: the board shows it in the recent calls.

  var STALE_CALL_MS = 60000;
  var CLIP_LIMIT_MS = 20000;

  function receiveBoard(board) {
    state.board = board;
    state.boardVersion += 1;
    try { localStorage.setItem(KEYS.board, JSON.stringify(board)); } catch (e) { /* full */ }
    show();
  }

  function queueSettings() {
    return (state.manifest && state.manifest.queue) || { silent: false, counter: null };
  }

  function stale(call) { return now() - new Date(call.at) > STALE_CALL_MS; }

  function receiveCall(call) {
    var counter = queueSettings().counter;
    if (counter && call.counter_id !== counter.id) { return; } // a counter screen: its own calls
    if (stale(call)) { return; }
    state.received.push({ counter: call.counter, ticket: call.ticket, label: call.label, at: Date.now() });
    if (state.received.length > 200) { state.received.shift(); }
    var before = state.lastCalls[call.counter_id];
    if (!before || new Date(call.at) >= new Date(before.at)) { state.lastCalls[call.counter_id] = call; }
    if (!state.newest || new Date(call.at) >= new Date(state.newest.at)) {
      state.newest = call;
      state.boardVersion += 1;
      show();
    }
    queueVoice(call);
  }

  function highlightMs(call) {
    return (call.highlight_seconds || (state.board && state.board.highlight_seconds) || 10) * 1000;
  }

  function knownCalls() {
    // The board's recent calls, and each counter's call events newer than the board's
    // snapshot that it does not list yet (boards are rebuilt a moment after calls), newest
    // first: a counter's latest call never drops off the board while a rebuild is on its way.
    var board = state.board || {};
    var calls = (board.calls || []).slice();
    var taken = {};
    calls.forEach(function (c) { taken[c.counter_id + ":" + c.ticket] = true; });
    var since = board.at ? new Date(board.at) : null;
    Object.keys(state.lastCalls).forEach(function (key) {
      var call = state.lastCalls[key];
      if (taken[call.counter_id + ":" + call.ticket] || stale(call)) { return; }
      if (!since || new Date(call.at) > since) { calls.push(call); }
    });
    return calls.sort(function (a, b) { return new Date(b.at) - new Date(a.at); });
  }

  function head(counterId) {
    // The newest call (of one counter, on a screen above it) and whether it is highlighted:
    // the newest call event, or the board's newest call when the board knows a newer one.
    var calls = knownCalls().filter(function (c) { return !counterId || c.counter_id === counterId; });
    var latest = calls[0] || null;
    var event = state.newest;
    if (event && (!latest || new Date(event.at) >= new Date(latest.at))) { latest = event; }
    if (!latest) { return { call: null, calling: false, calls: calls }; }
    var speaking = state.voice.speaking;
    var calling = now() - new Date(latest.at) < highlightMs(latest) ||
      !!(speaking && speaking.ticket === latest.ticket && speaking.counter_id === latest.counter_id);
    return { call: latest, calling: calling, calls: calls };
  }

  function boardText(key, n, language) {
    var board = state.board || {};
    var texts = (board.texts || {})[language] || {};
    return (texts[key] || "").replace("{n}", n);
  }

  function boardLanguages() {
    var languages = (state.board && state.board.languages) || ["ja", "en"];
    return languages.slice(0, 2);
  }

  function counterWords(number) {
    return boardLanguages().map(function (code) { return boardText("counter", number, code); }).join(" / ");
  }

  // --- the voice: one counter at a time ----------------------------------------------

  function sayable(call) {
    return (call.audio && call.audio.length) || Object.keys(call.texts || {}).length;
  }

  function queueVoice(call) {
    var voice = state.voice;
    if (queueSettings().silent) { return; }
    var speaking = voice.speaking;
    if (speaking && speaking.counter_id === call.counter_id && speaking.ticket === call.ticket) {
      return; // being said right now: a recall is not said twice
    }
    if (alertHolds()) {
      // Said when the alert ends (however long it lasted): only the counter's latest.
      call = Object.assign({}, call, { heldByAlert: true });
    }
    // The counter's newest call takes the place of the one it had waiting.
    voice.waiting[call.counter_id] = call;
    if (voice.order.indexOf(call.counter_id) < 0) { voice.order.push(call.counter_id); }
    if (voice.awaiting && voice.awaiting.counter === call.counter_id) {
      voice.awaiting.resolve(true);
      return;
    }
    speakNext();
  }

  function takeNewer(call) {
    // A newer call of the same counter, waiting while `call` is being said (taken out of
    // the queue: it is said now instead); a recall of the same ticket is simply dropped.
    var voice = state.voice;
    var newer = voice.waiting[call.counter_id];
    if (!newer) { return null; }
    delete voice.waiting[call.counter_id];
    voice.order = voice.order.filter(function (id) { return id !== call.counter_id; });
    return newer.ticket === call.ticket ? null : newer;
  }

  function nextCallOf(counterId) {
    // Resolves true when the counter's next call arrives, false if none does in time.
    return new Promise(function (resolve) {
      var voice = state.voice;
      var timer = setTimeout(function () { voice.awaiting = null; resolve(false); }, CLIP_LIMIT_MS);
      voice.awaiting = {
        counter: counterId,
        resolve: function (ok) { clearTimeout(timer); voice.awaiting = null; resolve(ok); }
      };
    });
  }

  function loadAudio(files) {
    // Resolves with Audio objects, once the first can play (at most 1.5 s), or [] when
    // sound cannot be had.
    return new Promise(function (resolve) {
      if (!files.length) { resolve([]); return; }
      var clips = files.map(function (file) {
        var audio = new Audio("/voice/" + file.file);
        audio.preload = "auto";
        audio.signageFile = file;
        return audio;
      });
      var done = false;
      var finish = function (ready) { if (!done) { done = true; resolve(ready ? clips : []); } };
      clips[0].oncanplaythrough = function () { finish(true); };
      clips[0].onerror = function () { finish(false); };
      setTimeout(function () { finish(true); }, 1500); // never hold the voice back for long
      clips.forEach(function (clip) { clip.load(); });
    });
  }

  function playClip(clip, call, record) {
    // Resolves true when the clip has played (or stalled: skipped), false if refused.
    return new Promise(function (resolve) {
      var moved = false;
      var watchdog = null;
      var advance = function () {
        if (moved) { return; }
        moved = true;
        clearTimeout(watchdog);
        if (state.voice.stopClip === stop) { state.voice.stopClip = null; }
        resolve(true);
      };
      // A takeover alert stops the clip at once (the call is said again after the alert).
      var stop = function () { clip.pause(); advance(); };
      state.voice.stopClip = stop;
      // A clip that stalls (a half-loaded file) must not hold up every later call.
      watchdog = setTimeout(advance, CLIP_LIMIT_MS);
      clip.onended = advance;
      clip.onerror = advance;
      var asked = Date.now();
      clip.onplaying = function () {
        var file = clip.signageFile;
        if (file.part !== "chime" && record.labels.indexOf(call.label) < 0) { record.labels.push(call.label); }
        state.played.push({ counter: call.counter, label: call.label, part: file.part || file.language, file: file.file, asked: asked, at: Date.now() });
        if (state.played.length > 200) { state.played.shift(); }
      };
      var playing = clip.play();
      if (playing && playing.catch) {
        playing.catch(function () { if (!moved) { moved = true; clearTimeout(watchdog); resolve(false); } }); // autoplay refused
      }
    });
  }

  function sayCall(call, record, withChime) {
    // Plays the call's clips in order; between two clips, a newer call of the same counter
    // takes over (its number and counter, no second chime). Resolves with the call said
    // last and whether sound played.
    var files = (call.audio || []).filter(function (f) { return withChime || f.part !== "chime"; });
    return loadAudio(files).then(function (clips) {
      var index = 0;
      var step = function (ok) {
        if (!ok) { return { call: call, ok: false }; }
        if (alertHolds()) {
          // A takeover alert came up: the call waits for its end (unless its counter has
          // a newer one waiting, which is then said instead).
          var voice = state.voice;
          if (!voice.waiting[call.counter_id]) { voice.waiting[call.counter_id] = Object.assign({}, call, { heldByAlert: true }); }
          if (voice.order.indexOf(call.counter_id) < 0) { voice.order.unshift(call.counter_id); }
          return { call: call, ok: false, held: true };
        }
        if (index > 0 || !withChime) {
          var newer = takeNewer(call);
          if (newer && sayable(newer) && !stale(newer)) {
            state.voice.speaking = newer;
            return sayCall(newer, record, false);
          }
          if (newer) {
            // The counter moved on again (the server sent this one without sound): the
            // rest of `call` is not said; its next call, on its way, is said instead.
            return nextCallOf(call.counter_id).then(function (arrived) {
              return arrived ? step(true) : { call: call, ok: true };
            });
          }
        }
        if (index >= clips.length) { return { call: call, ok: clips.length > 0 }; }
        var clip = clips[index];
        index += 1;
        return playClip(clip, call, record).then(step);
      };
      return step(true);
    });
  }

  function speakNext() {
    var voice = state.voice;
    if (voice.speaking || !voice.order.length || alertHolds()) { return; }
    var id = voice.order.shift();
    var call = voice.waiting[id];
    delete voice.waiting[id];
    if (!call || !sayable(call) || (stale(call) && !call.heldByAlert)) { speakNext(); return; }
    voice.speaking = call;
    var record = { counter: call.counter, labels: [], started: Date.now(), ended: null };
    state.announced.push(record);
    if (state.announced.length > 20) { state.announced.shift(); }
    state.lastAudio = (call.audio || []).map(function (f) { return f.file; });
    var box = $("call");
    box.setAttribute("data-audio", state.lastAudio.join(" "));
    box.removeAttribute("data-played");
    sayCall(call, record, true).then(function (said) {
      if (!said.held) { speakWithBrowser(said.call); } // languages the server had no voice for, if any
      box.setAttribute("data-played", said.ok ? "yes" : "no");
      record.ended = Date.now();
      voice.speaking = null;
      state.boardVersion += 1;
      show();
      speakNext();
    });
  }

  function speakWithBrowser(call) {
    // Languages the server could not speak, said by a voice of this machine's browser.
    var synth = window.speechSynthesis;
    if (!synth || queueSettings().silent) { return; }
    var spoken = {};
    (call.audio || []).forEach(function (file) { if (file.language) { spoken[file.language] = true; } });
    var voices = synth.getVoices ? synth.getVoices() : [];
    Object.keys(call.texts || {}).forEach(function (language) {
      if (spoken[language]) { return; }
      var voice = voices.filter(function (v) { return v.localService && v.lang.indexOf(language) === 0; })[0];
      if (!voice) { return; }
      var utterance = new SpeechSynthesisUtterance(call.texts[language]);
      utterance.voice = voice;
      utterance.lang = voice.lang;
      synth.speak(utterance);
    });
  }

  // --- showing calls -------------------------------------------------------------------

  function boardVisible() {
    return document.querySelectorAll("[data-board]").length > 0;
  }

  function showCall() {
    // The overlay, for screens without a board in view (boards highlight the call
    // themselves): the newest call while it is highlighted or said.
    var box = $("call");
    var counter = queueSettings().counter;
    var top = head(counter ? counter.id : null);
    var call = top.calling && !boardVisible() ? top.call : null;
    var shown = call ? call.label + " " + call.counter : "";
    if (box.getAttribute("data-shown") === shown) { return; }
    box.setAttribute("data-shown", shown);
    if (!call) { box.hidden = true; box.removeAttribute("data-label"); return; }
    box.innerHTML = "";
    box.setAttribute("data-label", call.label);
    box.setAttribute("data-counter", call.counter);
    var caption = boardLanguages().map(function (code) { return boardText("now_calling", "", code); }).join(" / ");
    box.appendChild(element("p", "call-caption", caption));
    var line = element("p", "call-line");
    line.appendChild(element("span", "call-number", call.label));
    line.appendChild(element("span", "call-arrow", "→"));
    line.appendChild(element("span", "call-counter", String(call.counter)));
    box.appendChild(line);
    box.appendChild(element("p", "call-words", counterWords(call.counter)));
    box.className = "call";
    box.hidden = false;
  }

  function servingHere() {
    // Above a counter: the counter's own entry on the board while it calls or serves.
    var counter = queueSettings().counter;
    if (!counter || !state.board) { return null; }
    var mine = (state.board.counters || []).filter(function (c) { return c.id === counter.id; })[0];
    return mine && mine.current ? mine : null;
  }

  function renderServing(view, serving) {
    var holder = element("div", "board counter-board");
    holder.setAttribute("data-board", "1");
    var top = head(serving.id);
    var calling = top.calling && top.call;
    var now_ = element("div", "board-now" + (calling ? " calling" : ""));
    var label = calling ? top.call.label : serving.current;
    now_.setAttribute("data-label", label);
    var line = element("span", "board-line");
    line.appendChild(element("span", "board-number", label));
    line.appendChild(element("span", "board-arrow", "→"));
    line.appendChild(element("span", "board-counter", counterWords(serving.number)));
    now_.appendChild(line);
    holder.appendChild(now_);
    view.appendChild(holder);
  }

  function renderBoard(view) {
    var board = state.board;
    var holder = element("div", "board");
    holder.setAttribute("data-board", "1");
    view.appendChild(holder);
    if (!board) { holder.appendChild(element("p", "board-empty", "")); return; }
    var counter = queueSettings().counter;
    var top = head(counter ? counter.id : null);
    var latest = top.call;
    var now_ = element("div", "board-now" + (top.calling ? " calling" : ""));
    if (latest) {
      now_.setAttribute("data-label", latest.label);
      now_.appendChild(element("span", "board-caption", boardLanguages().map(function (code) { return boardText("now_calling", "", code); }).join(" / ")));
      var line = element("span", "board-line");
      line.appendChild(element("span", "board-number", latest.label));
      line.appendChild(element("span", "board-arrow", "→"));
      line.appendChild(element("span", "board-counter", counterWords(latest.counter)));
      now_.appendChild(line);
    }
    holder.appendChild(now_);
    var lists = element("div", "board-lists");
    var recent = element("div", "board-recent");
    recent.appendChild(element("h3", null, boardLanguages().map(function (code) { return boardText("recent_calls", "", code); }).join(" / ")));
    var list = element("ol");
    top.calls.filter(function (c) { return !latest || c.ticket !== latest.ticket; }).slice(0, 6).forEach(function (c) {
      var item = element("li", null, c.label + "  →  " + c.counter);
      item.setAttribute("data-label", c.label);
      list.appendChild(item);
    });
    recent.appendChild(list);
    lists.appendChild(recent);
    if (!counter) {
      var services = element("div", "board-services");
      var table = element("table");
      var language = boardLanguages();
      (board.services || []).forEach(function (s) {
        var row = element("tr");
        row.setAttribute("data-service", s.prefix);
        var name = element("td", "service");
        name.appendChild(element("strong", null, s.prefix + " "));
        name.appendChild(document.createTextNode(language.map(function (code) { return s.names[code] || s.names.ja; }).join(" / ")));
        row.appendChild(name);
        row.appendChild(element("td", "waiting", boardText("waiting", s.waiting, language[0])));
        row.appendChild(element("td", "wait", s.waiting ? boardText("about_minutes", s.wait_minutes, language[0]) : ""));
        table.appendChild(row);
      });
      services.appendChild(table);
      services.appendChild(element("p", "board-note", boardText("estimate_note", "", language[0])));
      lists.appendChild(services);
    }
    holder.appendChild(lists);
  }

  // --- emergency alerts ------------------------------------------------------------
  // The `alerts` state message carries the whole list (latest wins; empty clears). A
  // takeover alert covers every zone (queue board and call included) in high contrast,
  // each of its languages in turn; a banner alert is a band below the stage, which moves
  // up to make room, so it never hides a queue call. An alert is never shown past its
  // expiry, by the server's clock (the welcome's server_time corrects this one's). The
  // picture never waits for sound: the alarm and the voice follow when they can.

  var ALERT_PAGE_MS = 5000; // each language (and each takeover alert) in turn
  var ALERT_CONFIRM_MS = 5000; // after a welcome: kept alerts not sent again are dropped
  var ALERT_LEVELS = { extreme: 4, severe: 3, moderate: 2, minor: 1 };
  var ISSUED = { ja: "{t} 発表", en: "Issued at {t}", "ja-easy": "{t} に でました" };

  function receiveAlerts(list, revision) {
    if (!Array.isArray(list)) { return; }
    clearTimeout(state.alert.confirm);
    revision = typeof revision === "number" && revision >= 0 ? revision : 0;
    if (revision < state.alertsRevision) { return; } // older than the list shown
    state.alertsRevision = revision;
    state.alerts = list.filter(function (alert) {
      return alert && typeof alert.id === "string" && Array.isArray(alert.texts);
    });
    try {
      localStorage.setItem(KEYS.alerts, JSON.stringify(state.alerts));
      localStorage.setItem(KEYS.alertsRevision, String(revision));
    } catch (e) { /* full */ }
    showAlerts();
  }

  function liveAlerts() {
    var at = now().getTime();
    return state.alerts.filter(function (alert) {
      var expires = new Date(alert.expires_at).getTime();
      return !isNaN(expires) && at < expires && alert.texts.length > 0;
    });
  }

  function alertOrder(a, b) {
    // The gravest first, then the newest.
    return (ALERT_LEVELS[b.level] || 0) - (ALERT_LEVELS[a.level] || 0) ||
      new Date(b.issued_at) - new Date(a.issued_at);
  }

  function alertHolds() { return state.alert.takeover; }

  function issuedText(alert, language) {
    var at = new Date(alert.issued_at);
    if (isNaN(at.getTime())) { return ""; }
    var time;
    try {
      var zone = state.manifest && state.manifest.site ? state.manifest.site.timezone : undefined;
      time = at.toLocaleString("ja-JP", { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone: zone });
    } catch (e) {
      time = at.toTimeString().slice(0, 5);
    }
    return (ISSUED[language] || "{t} 発表 / Issued").replace("{t}", time);
  }

  function alertPages(alerts) {
    var pages = [];
    alerts.forEach(function (alert) {
      alert.texts.forEach(function (text) { pages.push({ alert: alert, text: text }); });
    });
    return pages;
  }

  function drillMark() { return element("div", "alert-drill", "訓練 / DRILL"); }

  function renderAlertPage(page, banner) {
    var alert = page.alert;
    var text = page.text || {};
    var node = element("div", "alert-page level-" + alert.level + (alert.drill ? " drill" : ""));
    node.setAttribute("data-alert", alert.id);
    node.setAttribute("data-language", text.language || "");
    node.lang = text.language === "ja-easy" ? "ja" : (text.language || "");
    if (alert.drill) { node.appendChild(drillMark()); }
    node.appendChild(element(banner ? "strong" : "h1", "alert-headline", text.headline || ""));
    if (text.body) { node.appendChild(element(banner ? "span" : "p", "alert-body", text.body)); }
    node.appendChild(element(banner ? "span" : "p", "alert-issued", issuedText(alert, text.language)));
    return node;
  }

  function fillAlertBox(box, pages, key, banner) {
    if (box.getAttribute("data-key") === key) { return; }
    box.setAttribute("data-key", key);
    box.removeAttribute("data-page");
    box.innerHTML = "";
    pages.forEach(function (page) { box.appendChild(renderAlertPage(page, banner)); });
    box.hidden = pages.length === 0;
  }

  function turnAlertPages(box) {
    var pages = box.children;
    if (!pages.length) { return; }
    var index = Math.floor((Date.now() - state.alert.since) / ALERT_PAGE_MS) % pages.length;
    if (box.getAttribute("data-page") === String(index)) { return; }
    box.setAttribute("data-page", String(index));
    for (var i = 0; i < pages.length; i++) {
      pages[i].className = pages[i].className.replace(/ current/g, "") + (i === index ? " current" : "");
    }
    if (box.id === "alert") { fitAlert(box, pages[index]); }
  }

  function fitAlert(box, page) {
    // A long text gets smaller type (down to a third) until the whole of it is in view.
    var room = box.clientHeight * 0.92;
    var fits = function () { return page.scrollHeight <= room && page.scrollWidth <= box.clientWidth; };
    page.style.setProperty("--fit", "1");
    if (fits()) { return; }
    var low = 0.33, high = 1;
    for (var round = 0; round < 7; round++) {
      var middle = (low + high) / 2;
      page.style.setProperty("--fit", middle.toFixed(3));
      if (fits()) { low = middle; } else { high = middle; }
    }
    page.style.setProperty("--fit", low.toFixed(3));
  }

  function showAlerts() {
    var live = liveAlerts().sort(alertOrder);
    var takeovers = live.filter(function (a) { return a.mode === "takeover"; });
    var banners = takeovers.length ? [] : live.filter(function (a) { return a.mode !== "takeover"; });
    var shown = takeovers.length ? takeovers : banners;
    var key = JSON.stringify(shown.map(function (a) { return [a.id, a.drill, a.issued_at, a.texts]; }));
    if (key !== state.alert.key) {
      state.alert.key = key;
      state.alert.since = Date.now();
    }
    var holding = takeovers.length > 0;
    var wasHolding = state.alert.takeover;
    state.alert.takeover = holding;
    fillAlertBox($("alert"), alertPages(takeovers), holding ? key : "", false);
    fillAlertBox($("alert-banner"), alertPages(banners), banners.length ? key : "", true);
    turnAlertPages($("alert"));
    turnAlertPages($("alert-banner"));
    document.body.className = document.body.className.replace(/ ?(alert-takeover|alert-banner)/g, "") +
      (holding ? " alert-takeover" : "") + (banners.length ? " alert-banner" : "");
    if (holding && !wasHolding && state.voice.stopClip) { state.voice.stopClip(); }
    if (!holding && wasHolding) { speakNext(); } // each counter's latest call, in turn
    if (banners.length !== Number($("alert-banner").getAttribute("data-count") || 0)) {
      $("alert-banner").setAttribute("data-count", String(banners.length));
      refit(); // the stage got shorter (or taller again)
    }
    ackAlerts(shown);
    soundAlerts(shown);
    scheduleExpiry(live);
  }

  function ackAlerts(shown) {
    if (!state.socket || state.socket.readyState !== WebSocket.OPEN) { return; }
    // Every alert on screen, whenever that changes (an empty list once they are gone).
    var ids = shown.map(function (a) { return a.id; }).sort();
    var said = ids.join("\n");
    if (said === state.alert.acked || (state.alert.acked === null && !ids.length)) { return; }
    state.alert.acked = said;
    send({ type: "alert_ack", ids: ids });
  }

  function scheduleExpiry(live) {
    // Gone the moment it expires, not at the next tick.
    clearTimeout(state.alert.expiry);
    var soonest = Infinity;
    live.forEach(function (a) { soonest = Math.min(soonest, new Date(a.expires_at).getTime()); });
    if (soonest < Infinity) {
      state.alert.expiry = setTimeout(showAlerts, Math.max(0, soonest - now().getTime()) + 5);
    }
  }

  function voiceUrl(url) {
    // Only this server's sound files: /voice/<file>.
    return typeof url === "string" && /^\/voice\/[A-Za-z0-9._-]+$/.test(url) ? url : null;
  }

  function soundAlerts(shown) {
    // The alarm, then the spoken clips in order, once per alert; the picture is already up.
    if (queueSettings().silent) { return; }
    // Each file once per alert: clips made after the alert went out (the server sends the
    // list again when they are ready) follow the alarm, which is not sounded again.
    shown.forEach(function (alert) {
      var urls = [voiceUrl(alert.alarm)].concat((alert.voice || []).map(function (v) { return voiceUrl(v && v.url); }));
      urls.filter(Boolean).forEach(function (url) {
        var key = alert.id + " " + url;
        if (state.alert.sounded[key]) { return; }
        state.alert.sounded[key] = true;
        state.alert.sounds.push({ alert: alert.id, url: url });
      });
    });
    playAlertSounds();
  }

  function playAlertSounds() {
    var queue = state.alert.sounds;
    if (state.alert.playing || !queue.length) { return; }
    var next = queue.shift();
    var stillShown = liveAlerts().some(function (a) { return a.id === next.alert; });
    if (!stillShown) { playAlertSounds(); return; }
    state.alert.playing = next;
    var clip = new Audio(next.url);
    var done = false;
    var finish = function () {
      if (done) { return; }
      done = true;
      clearTimeout(watchdog);
      state.alert.playing = null;
      playAlertSounds();
    };
    var watchdog = setTimeout(finish, CLIP_LIMIT_MS);
    clip.onended = finish;
    clip.onerror = finish;
    clip.onplaying = function () {
      state.played.push({ alert: next.alert, part: "alert", file: next.url, at: Date.now() });
      if (state.played.length > 200) { state.played.shift(); }
    };
    var playing = clip.play();
    if (playing && playing.catch) { playing.catch(finish); }
  }

  // --- playback (mirrors content/playback.py) --------------------------------------

  function valid(item, at) {
    if (item.from && new Date(item.from) > at) { return false; }
    if (item.until && new Date(item.until) <= at) { return false; }
    if (item.file && state.brokenFiles[item.file]) { return false; }
    return true;
  }

  function views(item, notices, wide) {
    if (item.type !== "notice") { return [[]]; }
    var notice = notices[String(item.notice)] || { texts: [] };
    var codes = notice.texts.map(function (t) { return t.language; });
    if (!codes.length) { return [[]]; }
    if (wide && codes.length > 1) {
      return codes.slice(1).map(function (other) { return [codes[0], other]; });
    }
    return codes.map(function (code) { return [code]; });
  }

  function length(item, notices, wide) {
    return Math.max(1, item.duration | 0) * views(item, notices, wide).length;
  }

  function itemAt(start, items, at, notices, wide) {
    var live = items.filter(function (item) { return valid(item, at); });
    if (!live.length) { return null; }
    var lengths = live.map(function (item) { return length(item, notices, wide); });
    var cycle = lengths.reduce(function (a, b) { return a + b; }, 0);
    var offset = ((at - new Date(start)) / 1000) % cycle;
    if (offset < 0) { offset += cycle; }
    for (var i = 0; i < live.length; i++) {
      if (offset < lengths[i]) {
        var itemViews = views(live[i], notices, wide);
        var duration = Math.max(1, live[i].duration | 0);
        var index = Math.min(Math.floor(offset / duration), itemViews.length - 1);
        // When this view began and how long it stays: a long text turns pages in it.
        var since = at.getTime() - (offset - index * duration) * 1000;
        return { item: live[i], languages: itemViews[index], since: since, duration: duration };
      }
      offset -= lengths[i];
    }
    return { item: live[live.length - 1], languages: views(live[live.length - 1], notices, wide)[0] };
  }

  function shownAt(zone, manifest, at) {
    var wide = manifest.layout.orientation === "landscape" && zone.kind === "main" && zone.width >= SIDE_BY_SIDE_WIDTH;
    var slots = manifest.timeline[zone.name] || [];
    var showing = null;
    for (var i = 0; i < slots.length; i++) {
      if (new Date(slots[i].start) <= at && at < new Date(slots[i].end)) {
        showing = itemAt(slots[i].start, slots[i].items, at, manifest.notices, wide);
        break;
      }
    }
    var fallback = (manifest.fallback || {})[zone.name] || [];
    if (!showing && fallback.length) {
      showing = itemAt("2000-01-01T00:00:00+00:00", fallback, at, manifest.notices, wide);
    }
    return showing;
  }

  // --- rendering -------------------------------------------------------------------

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function clockText(at, manifest) {
    try {
      return at.toLocaleTimeString("ja-JP", { hour: "2-digit", minute: "2-digit", timeZone: manifest.site.timezone });
    } catch (e) {
      return at.toTimeString().slice(0, 5);
    }
  }

  function picture(file) {
    var img = element("img", "picture");
    img.alt = "";
    img.onerror = function () { state.brokenFiles[file] = true; img.remove(); };
    img.src = mediaUrl(file);
    return img;
  }

  function render(zone, showing, manifest, at) {
    var view = element("div", "view");
    var serving = zone.kind === "main" ? servingHere() : null;
    if (serving) {
      renderServing(view, serving);
      return view;
    }
    if (zone.kind === "queue" || (showing && showing.item.type === "queue_board")) {
      if (state.board) {
        renderBoard(view);
        return view;
      }
      showing = null; // no queue at this site (yet): the clock and the site, never blank
    }
    if (zone.kind === "header") {
      view.appendChild(element("span", "site-name", manifest.site.name));
      view.appendChild(element("span", "clock", clockText(at, manifest)));
      return view;
    }
    if (!showing) {
      // Nothing scheduled here now: never a blank area, show the site and the time.
      if (zone.kind === "ticker") {
        view.appendChild(element("span", "ticker-text", manifest.site.name));
      } else {
        view.appendChild(element("span", "big-clock", clockText(at, manifest)));
        view.appendChild(element("span", "idle-site", manifest.site.name));
      }
      return view;
    }
    var item = showing.item;
    if (item.type === "notice") {
      var notice = manifest.notices[String(item.notice)];
      var article = element("article", "notice style-" + notice.style + (showing.languages.length > 1 ? " side-by-side" : ""));
      article.setAttribute("data-notice", item.notice);
      if (notice.image && !state.brokenFiles[notice.image]) {
        var img = picture(notice.image);
        img.className = "notice-image";
        article.appendChild(img);
      }
      var texts = element("div", "notice-texts");
      showing.languages.forEach(function (code) {
        notice.texts.forEach(function (text) {
          if (text.language !== code) { return; }
          var block = element("div", "notice-text");
          block.lang = code;
          var flow = element("div", "notice-flow"); // its columns are the pages
          flow.appendChild(element("h2", null, text.title));
          var body = element("div", "body");
          // The server rendered the body from escaped text with only p/br/strong/ul/ol/li.
          body.innerHTML = text.html;
          flow.appendChild(body);
          block.appendChild(flow);
          texts.appendChild(block);
        });
      });
      article.appendChild(texts);
      article.setAttribute("data-since", String(showing.since || 0));
      article.setAttribute("data-duration", String(showing.duration || 1));
      view.appendChild(article);
    } else if (item.type === "image") {
      view.appendChild(picture(item.file));
    } else if (item.type === "ticker") {
      // Long text (more than fits across the zone) scrolls; short text stays put.
      view.appendChild(element("span", "ticker-text" + (item.text.length > 40 ? " moving" : ""), item.text));
    } else if (item.type === "clock") {
      view.appendChild(element("span", "big-clock", clockText(at, manifest)));
    }
    return view;
  }

  function key(zone, showing, at, manifest) {
    var counter = queueSettings().counter;
    var calling = state.board && head(counter ? counter.id : null).calling ? " calling" : "";
    if (zone.kind === "main" && servingHere()) {
      return "serving " + manifest.version + " " + state.boardVersion + calling;
    }
    if (state.board && (zone.kind === "queue" || (showing && showing.item.type === "queue_board"))) {
      return "board " + manifest.version + " " + state.boardVersion + calling;
    }
    if (zone.kind === "queue" || (showing && showing.item.type === "queue_board")) { showing = null; }
    if (zone.kind === "header") { return "header " + clockText(at, manifest); }
    if (!showing) { return "idle " + clockText(at, manifest); }
    var item = showing.item;
    var extra = item.type === "clock" ? clockText(at, manifest) : "";
    return [manifest.version, JSON.stringify(item), showing.languages.join(","), extra].join("|");
  }

  function build(manifest) {
    var stage = $("stage");
    stage.innerHTML = "";
    stage.className = "stage layout-" + manifest.layout.key;
    manifest.layout.zones.forEach(function (zone) {
      var box = element("div", "zone zone-" + zone.name + " kind-" + zone.kind);
      box.setAttribute("data-zone", zone.name);
      stage.appendChild(box);
    });
    state.built = manifest.version + ":" + manifest.layout.key;
    state.shown = {};
    state.labels = {};
  }

  function show() {
    var manifest = state.manifest;
    if (!manifest) { return; }
    if (state.built !== manifest.version + ":" + manifest.layout.key) { build(manifest); }
    $("stage").hidden = false;
    var at = now();
    manifest.layout.zones.forEach(function (zone) {
      var box = document.querySelector('[data-zone="' + zone.name + '"]');
      var showing = shownAt(zone, manifest, at);
      var next = key(zone, showing, at, manifest);
      if (state.shown[zone.name] === next) { turnPages(box.lastChild, at); return; }
      state.shown[zone.name] = next;
      state.labels[zone.name] = label(zone, showing, manifest);
      var view = render(zone, showing, manifest, at);
      var board = !!view.querySelector("[data-board]");
      var before = Array.prototype.slice.call(box.children);
      var fading = null;
      before.forEach(function (old, index) {
        // A board replaces a board at once, so there is exactly one at any moment; other
        // views crossfade over the last one shown, never over a pile of earlier ones.
        if (index === before.length - 1 && !(board && old.querySelector("[data-board]"))) {
          fading = old;
        } else {
          box.removeChild(old);
        }
      });
      box.appendChild(view);
      fitNotice(view);
      turnPages(view, at);
      if (!fading) {
        view.className += " shown";
        return;
      }
      // Crossfade: the new view fades in over the old, which is then removed.
      setTimeout(function () { view.className += " shown"; }, 20);
      setTimeout(function () {
        if (fading.parentNode === box) { box.removeChild(fading); }
      }, 800);
    });
    showCall();
  }

  // --- fitting notices to their zone ----------------------------------------------
  // A notice never loses lines: its type shrinks to fit (down to MIN_FIT of its size, a
  // body of 2.5vmin), and what still does not fit flows into further pages (CSS columns
  // the width of the text, beside each other) that take turns within the item's time.

  var MIN_FIT = 0.55;

  function flowPages(flow) {
    var step = flow.clientWidth + columnGap(flow);
    if (step <= 0) { return 1; }
    return Math.max(1, Math.round((flow.scrollWidth + columnGap(flow)) / step));
  }

  function columnGap(flow) {
    return parseFloat(getComputedStyle(flow).columnGap) || 0;
  }

  function fitNotice(view) {
    var article = view && view.querySelector ? view.querySelector("article.notice") : null;
    if (!article) { return; }
    var flows = article.querySelectorAll(".notice-flow");
    var pages = function () {
      var most = 1;
      for (var i = 0; i < flows.length; i++) { most = Math.max(most, flowPages(flows[i])); }
      return most;
    };
    // Largest type that fits, by halving the interval (a few layouts, not one per step).
    var low = MIN_FIT, high = 1, fit = 1;
    article.style.setProperty("--fit", "1");
    if (pages() > 1) {
      article.style.setProperty("--fit", String(MIN_FIT));
      fit = MIN_FIT;
      if (pages() === 1) {
        for (var round = 0; round < 7; round++) {
          var middle = (low + high) / 2;
          article.style.setProperty("--fit", middle.toFixed(4));
          if (pages() > 1) { high = middle; } else { low = middle; }
        }
        fit = low;
        article.style.setProperty("--fit", fit.toFixed(4));
      }
    }
    for (var f = 0; f < flows.length; f++) { flows[f].setAttribute("data-pages", String(flowPages(flows[f]))); }
    article.setAttribute("data-fit", fit.toFixed(4));
    article.setAttribute("data-pages", String(pages()));
    article.removeAttribute("data-page");
  }

  function turnPages(view, at) {
    var article = view && view.querySelector ? view.querySelector("article.notice") : null;
    if (!article || !article.hasAttribute("data-pages")) { return; }
    var pages = Number(article.getAttribute("data-pages"));
    var duration = Number(article.getAttribute("data-duration")) * 1000;
    var elapsed = at.getTime() - Number(article.getAttribute("data-since"));
    var page = Math.max(0, Math.min(pages - 1, Math.floor(elapsed / (duration / pages))));
    if (article.getAttribute("data-page") === String(page)) { return; }
    article.setAttribute("data-page", String(page));
    var flows = article.querySelectorAll(".notice-flow");
    for (var i = 0; i < flows.length; i++) {
      // Side by side, a shorter text stays on its last page while the other turns on.
      var own = Math.min(page, Number(flows[i].getAttribute("data-pages") || 1) - 1);
      var shift = own * (flows[i].clientWidth + columnGap(flows[i]));
      flows[i].style.transform = own ? "translateX(-" + shift + "px)" : "";
    }
  }

  function refit() {
    // Web fonts arrive after the first layout, and a window can be resized: fit again.
    var views = document.querySelectorAll(".zone .view");
    for (var i = 0; i < views.length; i++) {
      fitNotice(views[i]);
      turnPages(views[i], now());
    }
  }

  function beat() {
    send({ type: "heartbeat", seq: state.seq, manifest_version: state.manifest ? state.manifest.version : 0, playing: describePlaying() });
  }

  function label(zone, showing, manifest) {
    // What a zone shows, in the heartbeat's `playing` form (docs/protocol.md), which the
    // fleet view puts into words; the headless player reports the same form.
    if (zone.kind === "header") { return "clock"; }
    if (zone.kind === "queue") { return "queue board"; }
    var serving = zone.kind === "main" ? servingHere() : null;
    if (serving) { return "serving " + serving.current; }
    if (!showing) { return "idle"; }
    var item = showing.item;
    if (item.type === "notice") {
      var notice = manifest.notices[String(item.notice)];
      var titles = (notice ? notice.texts : []).filter(function (text) {
        return showing.languages.indexOf(text.language) >= 0;
      }).map(function (text) { return text.title; });
      return "notice " + item.notice + " " + showing.languages.join("+") + ": " + titles.join(" / ");
    }
    if (item.type === "image") { return "image " + item.file; }
    if (item.type === "ticker") { return "ticker: " + item.text; }
    if (item.type === "queue_board") { return "queue board"; }
    return item.type;
  }

  function describePlaying() {
    var playing = {};
    Object.keys(state.labels).forEach(function (zone) { playing[zone] = String(state.labels[zone]).slice(0, 120); });
    return playing;
  }

  function tokenFromLink() {
    // A provisioning link (/player/#token=...) pairs this browser in advance. The token is
    // in the fragment, which browsers never send to servers or write to their logs.
    var match = /[#&]token=([A-Za-z0-9_-]{22,128})/.exec(location.hash);
    if (!match) { return; }
    if (match[1] !== state.token) {
      localStorage.removeItem(KEYS.manifest);
      state.manifest = null;
    }
    state.token = match[1];
    localStorage.setItem(KEYS.token, state.token);
    history.replaceState(null, "", location.pathname);
  }

  function start() {
    tokenFromLink();
    if ("serviceWorker" in navigator && window.isSecureContext) {
      navigator.serviceWorker.register("/player/sw.js").catch(function () { /* optional */ });
    }
    if (state.manifest) { show(); }
    showAlerts();
    setInterval(function () { show(); showAlerts(); }, 1000);
    if (document.fonts && document.fonts.addEventListener) {
      document.fonts.addEventListener("loadingdone", refit);
    }
    window.addEventListener("resize", refit);
    setInterval(beat, 30000);
    var ready = state.token ? Promise.resolve() : startPairing();
    ready.then(connect, function () { retry(backoff()); });
  }

  window.signagePlayer = { state: state, shownAt: shownAt, receiveCall: receiveCall, show: show, showAlerts: showAlerts };
  start();
})();
