// The browser player (docs/protocol.md). Plain JavaScript for old kiosk Chromium: no
// framework, no build step. It plays the manifest it has by its own clock, keeps it in
// localStorage (and media in a Cache, where the browser allows), and reconnects with
// exponential backoff and full jitter. The playback rule is the one in
// content/playback.py, so the staff preview shows exactly what plays here.
(function () {
  "use strict";

  var PROTOCOL = 1;
  var VERSION = "1";
  var KEYS = { token: "signage.token", manifest: "signage.manifest", epoch: "signage.epoch", seq: "signage.seq" };
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
    offset: 0, // server time minus local time, in ms
    heartbeat: 30
  };

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
      state.offset = new Date(data.server_time).getTime() - Date.now();
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
    } else if (event.kind === "identify") {
      var box = $("identify");
      box.textContent = state.manifest ? state.manifest.screen.name : "";
      box.hidden = false;
      setTimeout(function () { box.hidden = true; }, (event.seconds || 10) * 1000);
    }
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
        var index = Math.min(Math.floor(offset / Math.max(1, live[i].duration | 0)), itemViews.length - 1);
        return { item: live[i], languages: itemViews[index] };
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
          block.appendChild(element("h2", null, text.title));
          var body = element("div", "body");
          // The server rendered the body from escaped text with only p/br/strong/ul/ol/li.
          body.innerHTML = text.html;
          block.appendChild(body);
          texts.appendChild(block);
        });
      });
      article.appendChild(texts);
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
      if (state.shown[zone.name] === next) { return; }
      state.shown[zone.name] = next;
      state.labels[zone.name] = label(zone, showing, manifest);
      var view = render(zone, showing, manifest, at);
      box.appendChild(view);
      // Crossfade: the new view fades in over the old, which is then removed.
      setTimeout(function () { view.className += " shown"; }, 20);
      setTimeout(function () {
        while (box.firstChild && box.firstChild !== view) { box.removeChild(box.firstChild); }
      }, 800);
    });
  }

  function beat() {
    send({ type: "heartbeat", seq: state.seq, manifest_version: state.manifest ? state.manifest.version : 0, playing: describePlaying() });
  }

  function label(zone, showing, manifest) {
    // What staff see in the fleet view for this zone.
    if (zone.kind === "header") { return manifest.site.name; }
    if (!showing) { return "-"; }
    var item = showing.item;
    if (item.type === "notice") {
      var notice = manifest.notices[String(item.notice)];
      var first = notice && notice.texts.length ? notice.texts[0].title : "";
      return first + (showing.languages.length ? " [" + showing.languages.join("+") + "]" : "");
    }
    if (item.type === "image") { return "image " + item.file.slice(0, 12); }
    if (item.type === "ticker") { return item.text; }
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
    setInterval(show, 1000);
    setInterval(beat, 30000);
    var ready = state.token ? Promise.resolve() : startPairing();
    ready.then(connect, function () { retry(backoff()); });
  }

  window.signagePlayer = { state: state, shownAt: shownAt };
  start();
})();
