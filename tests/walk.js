// Helpers the staff-UI walk (tests/test_browser_walk.py) installs in every page it opens.
// They record what htmx answers and read, fill and check the page's forms.
(() => {
  const w = {
    mark: 0,
    requests: [],
    settled: 0,
    msgids: new Set(),
  };
  window.__walk = w;
  window.confirm = () => true;
  // The request of the form being used is followed on the XHR itself: its form may be
  // swapped out of the page before htmx's own events fire, and those would not bubble.
  document.addEventListener("htmx:beforeRequest", (e) => {
    const elt = e.detail.elt;
    if (!(elt && elt.closest && elt.closest("[data-walk-active]"))) {
      // No refresh (e.g. the console's lists every 5 s) swaps a form while it is used.
      if (w.busy) e.preventDefault();
      return;
    }
    const xhr = e.detail.xhr;
    xhr.addEventListener("loadend", () => {
      w.requests.push({
        status: xhr.status,
        redirect: Boolean(xhr.getResponseHeader("HX-Redirect")),
        mine: true,
        path: e.detail.pathInfo ? e.detail.pathInfo.requestPath : "",
      });
    });
  });
  document.addEventListener("htmx:afterSettle", () => {
    w.settled += 1;
  });

  const visible = (el) => Boolean(el.offsetWidth || el.offsetHeight || el.getClientRects().length);

  // The forms a person can use on the page (the header's language and logout forms apart).
  w.forms = () => [...document.querySelectorAll("main form")];

  w.describe = () =>
    w.forms().map((form, index) => ({
      index,
      method: (form.getAttribute("hx-get") ? "get" : form.method || "get").toLowerCase(),
      action: form.getAttribute("hx-post") || form.getAttribute("hx-get") || form.getAttribute("action") || location.pathname,
      htmx: Boolean(form.getAttribute("hx-post") || form.getAttribute("hx-get")),
      fields: [...form.elements].filter((el) => el.name && el.type !== "hidden").map((el) => el.name).sort(),
      files: [...form.elements].filter((el) => el.type === "file").length,
      buttons: [...form.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]")].map(
        (b, i) => ({ i, text: (b.innerText || b.value || "").trim(), name: b.name || "", value: b.value || "", disabled: b.disabled }),
      ),
    }));

  // A valid value for every field that needs one; `n` makes names unique.
  w.fillValid = (index, n, overrides) => {
    w.busy = true;
    const form = w.forms()[index];
    const day = new Date(Date.now() + (40 + n) * 86400000).toISOString().slice(0, 10);
    for (const el of form.elements) {
      if (!el.name || el.disabled || el.type === "hidden" || el.type === "submit" || el.type === "button") continue;
      if (el.name in overrides) {
        if (el.type === "checkbox" || el.type === "radio") el.checked = Boolean(overrides[el.name]);
        else el.value = String(overrides[el.name]).replace("{n}", n);
        continue;
      }
      if (el.tagName === "SELECT") {
        if (el.value === "" && !w.keepEmpty.includes(el.name)) {
          const option = [...el.options].find((o) => o.value !== "");
          if (option) el.value = option.value;
        }
        continue;
      }
      if (el.value !== "" || !el.required) continue;
      switch (el.type) {
        case "number": el.value = String(50 + n); break;
        case "date": el.value = day; break;
        case "time": el.value = "09:00"; break;
        case "datetime-local": el.value = day + "T09:00"; break;
        case "password": el.value = "a long walk password " + n; break;
        case "file": break; // set by the walk through DevTools
        default: el.value = "歩行テスト" + n;
      }
    }
  };
  w.allowedEnglish = new Set(["CSV", "SHA-256"]); // and the languages' own names (set by the walk)
  w.keepEmpty = ["screen_id", "site_id", "default_playlist_id", "image_id", "target"];

  // One invalid value: an emptied required field, or else a number out of range.
  w.makeInvalid = (index) => {
    const form = w.forms()[index];
    form.noValidate = true;
    const fields = [...form.elements].filter((el) => el.name && !el.disabled && visible(el));
    const required = fields.find(
      (el) => el.required && ["text", "password", "date", "time", "number", "textarea", "search"].includes(el.type),
    );
    if (required) {
      required.value = "";
      return required.name + " = ''";
    }
    const number = fields.find((el) => el.type === "number");
    if (number) {
      number.value = "-5";
      return number.name + " = -5";
    }
    return null;
  };

  w.click = (index, button) => {
    const form = w.forms()[index];
    form.setAttribute("data-walk-active", "1");
    w.mark = Math.random();
    w.before = { requests: w.requests.length, settled: w.settled, text: document.body.innerText, url: location.href };
    const buttons = [...form.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]")];
    if (buttons[button]) buttons[button].click();
    else form.requestSubmit();
    return w.mark;
  };

  // Done when a new document is loaded, or htmx answered the form (and swapped, if it does).
  w.done = (mark) => {
    if (w.mark !== mark) return document.readyState === "complete" ? "page" : false;
    const mine = w.requests.slice(w.before.requests).filter((r) => r.mine);
    if (!mine.length) return false;
    const last = mine[mine.length - 1];
    if (last.redirect) return false;
    const done = last.status === 204 || w.settled > w.before.settled;
    if (done) w.busy = false;
    return done ? "htmx" : false;
  };

  w.lastStatus = () => {
    const mine = w.requests.filter((r) => r.mine);
    return mine.length ? mine[mine.length - 1].status : null;
  };

  // What the page shows as a problem with the input or the request.
  w.errorsShown = () =>
    [...document.querySelectorAll("[aria-invalid=true], .banner.error, .field .error, #messages .error")]
      .filter(visible)
      .map((el) => (el.innerText || el.getAttribute("name") || el.id || el.tagName).trim());

  // English message ids left on a page shown in Japanese: exact texts of elements and of
  // the attributes a person reads or hears.
  w.untranslated = () => {
    const found = new Set();
    const check = (text) => {
      const t = (text || "").replace(/\s+/g, " ").trim();
      if (t && w.msgids.has(t)) found.add(t);
    };
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode;
      const parent = node.parentElement;
      // What a screen shows (a preview's zones, an alert as screens show it) is content.
      if (parent && !["SCRIPT", "STYLE"].includes(parent.tagName) && !parent.closest("[data-zone]")) check(node.nodeValue);
    }
    for (const el of document.querySelectorAll("[title], [placeholder], [aria-label], [alt]")) {
      for (const a of ["title", "placeholder", "aria-label", "alt"]) check(el.getAttribute(a));
    }
    for (const el of document.querySelectorAll("h1, h2, h3, label, button, th, legend, summary, option, .hint, .banner, a")) {
      check(el.innerText);
    }
    check(document.title.split(" · ")[0]);
    // English words in the UI's own labels that are no message id at all (never wrapped);
    // what a screen shows (the preview's zones) is content, not the UI.
    for (const el of document.querySelectorAll("label, button, th, legend, summary, h2, h3, .hint, .banner, nav a")) {
      if (el.closest("[data-zone]")) continue;
      const t = (el.innerText || "").replace(/\s+/g, " ").trim();
      if (/^[A-Za-z][A-Za-z ,.'’!?:-]*[a-z][A-Za-z ,.'’!?:-]*$/.test(t) && !w.allowedEnglish.has(t)) found.add(t);
    }
    // Codes instead of words in the audit diff: a field's name as in the code, or a value
    // that is a code (no_show); one-word values may be people's own (a site code "kita").
    for (const el of document.querySelectorAll(".diff .key")) {
      if (/^[a-z][a-z_0-9]*$/.test(el.innerText.trim())) found.add(el.innerText.trim());
    }
    for (const el of document.querySelectorAll(".diff ins, .diff del")) {
      if (/^[a-z]+(_[a-z]+)+$/.test(el.innerText.trim())) found.add(el.innerText.trim());
    }
    return [...found];
  };

  w.links = () =>
    [
      ...[...document.querySelectorAll("a[href]")].map((a) => a.href),
      ...[...document.querySelectorAll("img[src]")].map((i) => i.src),
    ].filter((href) => href.startsWith(location.origin));

  // Status of each address (fetched as the browser would, with the session).
  w.statuses = async (urls) =>
    Promise.all(
      urls.map(async (u) => {
        try {
          const r = await fetch(u, { credentials: "same-origin" });
          return [u, r.status, new URL(r.url).pathname];
        } catch (e) {
          return [u, 0, String(e)];
        }
      }),
    );
})();
