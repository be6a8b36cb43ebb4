// Staff UI behaviour that htmx attributes cannot express. No inline scripts (CSP).
(function () {
  "use strict";
  // Upload progress: htmx reports XHR upload progress for the form that sent it.
  document.addEventListener("htmx:xhr:progress", function (event) {
    var bar = document.getElementById("upload-progress");
    if (!bar || !event.detail.lengthComputable) { return; }
    bar.hidden = false;
    bar.value = Math.round((event.detail.loaded / event.detail.total) * 100);
  });
  document.addEventListener("htmx:afterRequest", function () {
    var bar = document.getElementById("upload-progress");
    if (bar) { bar.hidden = true; bar.value = 0; }
  });
})();

// Counter console shortcuts: a key presses the button marked data-key (or focuses the
// field marked data-key-focus), unless the person is typing in a field.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) { return; }
    var target = event.target;
    if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) { return; }
    var key = (event.key || "").toLowerCase();
    if (key.length !== 1) { return; }
    var button = document.querySelector('#console [data-key="' + key + '"]');
    if (button && !button.disabled) {
      event.preventDefault();
      button.click();
      return;
    }
    var field = document.querySelector('#console [data-key-focus="' + key + '"]');
    if (field) { event.preventDefault(); field.focus(); }
  });
})();
