// The ticket kiosk. Plain JavaScript for old kiosk browsers: no framework, no build.
// It keeps its device token (from the set-up link's #token=...) in localStorage, shows the
// site's services in the resident's language, and issues one ticket per tap: each tap
// carries its own request id, so a double tap or a retried request gives one ticket.
// Each resident starts afresh: back on the start page (or when a resident walks away from
// it), the language and the priority choice return to the site's first language and "no".
(function () {
  "use strict";

  var KEY = "signage.kiosk.token";
  var BACK_AFTER_MS = 30000;
  var state = {
    token: null, setup: null, language: "ja", priority: false, busy: false, backTimer: null,
    idleTimer: null, idleMs: 45000  // a start page left with a choice made resets after this
  };

  function $(id) { return document.getElementById(id); }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function text(key, values) {
    var texts = (state.setup && state.setup.texts[state.language]) || {};
    var value = texts[key] || "";
    if (values) { value = value.replace("{n}", values.n); }
    return value;
  }

  function requestId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    var out = "";
    for (var i = 0; i < bytes.length; i++) { out += ("0" + bytes[i].toString(16)).slice(-2); }
    return out;
  }

  function api(method, path, body) {
    return fetch(path, {
      method: method,
      headers: { "Authorization": "Bearer " + state.token, "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : undefined
    }).then(function (response) {
      return response.json().then(function (data) { return { status: response.status, data: data }; });
    });
  }

  function show(section) {
    ["kiosk-home", "kiosk-ticket", "kiosk-closed", "kiosk-unpaired"].forEach(function (id) {
      $(id).hidden = id !== section;
    });
  }

  function render() {
    var setup = state.setup;
    $("kiosk-site").textContent = setup.site.name;
    document.documentElement.lang = state.language;
    var nav = $("kiosk-languages");
    nav.innerHTML = "";
    setup.languages.forEach(function (language) {
      var button = element("button", null, language.name);
      button.type = "button";
      button.lang = language.code;
      button.setAttribute("aria-pressed", String(language.code === state.language));
      button.onclick = function () { state.language = language.code; render(); };
      nav.appendChild(button);
    });
    if (!setup.open) {
      $("kiosk-closed-text").textContent = text("closed") + " (" + setup.hours.opens + "–" + setup.hours.closes + ")";
      show("kiosk-closed");
      return;
    }
    $("kiosk-title").textContent = text("take_number");
    $("kiosk-subtitle").textContent = text("choose_service");
    var priority = $("kiosk-priority");
    priority.textContent = text("priority");
    priority.setAttribute("aria-pressed", String(state.priority));
    var list = $("kiosk-services");
    list.innerHTML = "";
    setup.services.forEach(function (service) {
      var button = element("button", "service-button");
      button.type = "button";
      button.setAttribute("data-service", service.id);
      button.disabled = !service.open || state.busy;
      button.appendChild(element("span", "service-prefix", service.prefix));
      var words = element("span");
      words.appendChild(element("span", "service-name", service.names[state.language] || service.names.en || service.names.ja));
      var wait = service.open ? text("waiting", { n: service.waiting }) + " · " + text("about_minutes", { n: service.wait_minutes }) : text("service_closed");
      words.appendChild(element("span", "service-wait", wait));
      button.appendChild(words);
      button.onclick = function () { take(service, requestId()); };
      list.appendChild(button);
    });
    if ($("kiosk-ticket").hidden) { show("kiosk-home"); }
  }

  function load() {
    return api("GET", "/api/kiosk/setup").then(function (reply) {
      if (reply.status === 401) { show("kiosk-unpaired"); return; }
      if (reply.status !== 200) { return; }
      state.setup = reply.data;
      var codes = state.setup.languages.map(function (l) { return l.code; });
      if (codes.indexOf(state.language) < 0) { state.language = codes[0]; }
      if (!state.busy) { render(); }
    }, function () { /* offline: keep what is shown */ });
  }

  function take(service, id) {
    if (state.busy) { return; }
    state.busy = true;
    render();
    var body = { service: service.id, priority: state.priority, language: state.language, request_id: id };
    var attempt = function (tries) {
      return api("POST", "/api/kiosk/tickets", body).then(function (reply) {
        state.busy = false;
        if (reply.status === 200 || reply.status === 201) { showTicket(reply.data.ticket); }
        else { render(); load(); }
      }, function () {
        // The network failed: retrying with the same id cannot make a second ticket.
        if (tries > 0) { setTimeout(function () { attempt(tries - 1); }, 800); }
        else { state.busy = false; render(); }
      });
    };
    attempt(3);
  }

  function showTicket(ticket) {
    state.priority = false;
    $("ticket-caption").textContent = text("your_number");
    $("ticket-number").textContent = ticket.label;
    $("ticket-service").textContent = ticket.service[state.language] || ticket.service.ja;
    $("ticket-wait").textContent = text("ahead", { n: ticket.ahead }) + " · " + text("about_minutes", { n: ticket.wait_minutes }) + " (" + text("estimate_note") + ")";
    $("ticket-qr").src = ticket.qr;
    $("ticket-scan").textContent = text("scan");
    $("print-image").src = ticket.image;
    $("ticket-print").textContent = text("print");
    $("ticket-back").textContent = text("back");
    show("kiosk-ticket");
    clearTimeout(state.backTimer);
    state.backTimer = setTimeout(back, BACK_AFTER_MS);
  }

  function firstLanguage() {
    return state.setup && state.setup.languages.length ? state.setup.languages[0].code : "ja";
  }

  function fresh() {
    // The next resident sees the site's first language and no priority chosen.
    state.language = firstLanguage();
    state.priority = false;
  }

  function back() {
    clearTimeout(state.backTimer);
    fresh();
    show("kiosk-home");
    if (state.setup) { render(); }
    load();
  }

  function touched() {
    clearTimeout(state.idleTimer);
    state.idleTimer = setTimeout(function () {
      var chosen = state.priority || state.language !== firstLanguage();
      if (chosen && !state.busy && !$("kiosk-home").hidden) { fresh(); render(); }
    }, state.idleMs);
  }

  function start() {
    var match = /[#&]token=([A-Za-z0-9_-]{32,128})/.exec(location.hash);
    if (match) {
      localStorage.setItem(KEY, match[1]);
      history.replaceState(null, "", location.pathname);
    }
    state.token = localStorage.getItem(KEY);
    $("ticket-back").onclick = back;
    $("ticket-print").onclick = function () { window.print(); };
    $("kiosk-priority").onclick = function () { state.priority = !state.priority; render(); };
    document.addEventListener("pointerdown", touched, true);
    document.addEventListener("click", touched, true);
    document.addEventListener("keydown", touched, true);
    if (!state.token) { show("kiosk-unpaired"); return; }
    load();
    setInterval(function () { if (!state.busy && $("kiosk-ticket").hidden) { load(); } }, 20000);
  }

  window.signageKiosk = { state: state };
  start();
})();
