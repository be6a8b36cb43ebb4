// Service worker of the browser player: the page, its scripts, fonts and every media file
// stay available when the CMS cannot be reached, so a reload while offline still plays.
"use strict";
var SHELL = "signage-shell-v1";
var MEDIA = "signage-media-v1";
var SHELL_URLS = ["/player/", "/player/static/player.js", "/player/static/player.css", "/layouts.css",
  "/fonts/fonts.css"];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL).then(function (cache) { return cache.addAll(SHELL_URLS); }));
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", function (event) {
  var url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin) { return; }
  if (url.pathname.indexOf("/media/files/") === 0 || url.pathname.indexOf("/voice/") === 0) {
    // Named by their SHA-256: a cached copy is always right.
    event.respondWith(caches.open(MEDIA).then(function (cache) {
      return cache.match(event.request).then(function (hit) {
        return hit || fetch(event.request).then(function (response) {
          if (response.ok) { cache.put(event.request, response.clone()); }
          return response;
        });
      });
    }));
  } else if (SHELL_URLS.indexOf(url.pathname) !== -1 || url.pathname.indexOf("/fonts/") === 0) {
    // Network first, so updates arrive; the cached copy when the server is down.
    event.respondWith(fetch(event.request).then(function (response) {
      if (response.ok) {
        var copy = response.clone();
        caches.open(SHELL).then(function (cache) { cache.put(event.request, copy); });
      }
      return response;
    }).catch(function () {
      return caches.match(event.request, { ignoreSearch: true });
    }));
  }
});
