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
