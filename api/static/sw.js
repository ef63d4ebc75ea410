// panen's service worker (issue 39): a farmer's pages stay readable without signal, marked with
// the time they were fetched. Records typed offline are queued by panen.js, not here.
"use strict";
var CACHE = "panen-halaman-1";
var KEEP = "x-panen-disimpan";

self.addEventListener("install", function (e) {
  e.waitUntil(caches.open(CACHE).then(function (c) { return c.add("/f/panen.js"); })
    .then(function () { return self.skipWaiting(); }));
});
self.addEventListener("activate", function (e) { e.waitUntil(self.clients.claim()); });

function page(text, status) {
  return new Response(text, {status: status, headers: {"content-type": "text/html; charset=utf-8"}});
}

function offline(words) {
  return page("<!doctype html><html lang=id><meta charset=utf-8><meta name=viewport " +
    "content='width=device-width,initial-scale=1'><title>panen</title><body style='font:16px " +
    "system-ui;margin:1em'><h1>Tidak ada sinyal</h1><p>" + words + "</p><p><a href=/f>Lahan saya</a>" +
    "</p></body></html>", 503);
}

function keep(path, response) {
  return response.text().then(function (text) {
    var headers = {"content-type": "text/html; charset=utf-8"};
    headers[KEEP] = String(Date.now());
    return caches.open(CACHE).then(function (c) { return c.put(path, new Response(text, {headers: headers})); });
  });
}

function kept(path) {
  return caches.match(path).then(function (hit) {
    if (!hit) return offline("Halaman ini belum pernah dibuka di HP ini, jadi belum tersimpan.");
    var when = new Date(Number(hit.headers.get(KEEP))).toLocaleString("id-ID",
      {day: "numeric", month: "short", hour: "2-digit", minute: "2-digit"});
    return hit.text().then(function (text) {
      return page(text.replace("<main>", "<main><section class=\"warn\" id=\"luring\"><strong>Tidak ada " +
        "sinyal.</strong> Halaman ini disimpan " + when + "; angkanya bisa sudah berubah.</section>"), 200);
    });
  });
}

self.addEventListener("fetch", function (e) {
  var req = e.request, url = new URL(req.url);
  if (url.origin !== location.origin || url.pathname.indexOf("/f") !== 0) return;
  if (req.method !== "GET") {
    // Signing out forgets the kept pages: the next person on a shared phone does not read them.
    if (url.pathname === "/f/keluar") e.waitUntil(caches.delete(CACHE));
    // A form sent without signal (the page's script queues the harvest form; this is the rest).
    if (req.mode === "navigate") {
      e.respondWith(fetch(req).catch(function () {
        return offline("Formulir belum terkirim. Kembali, lalu kirim lagi saat ada sinyal.");
      }));
    }
    return;
  }
  // Sign-in pages are never kept: a link or a code is for one moment.
  if (/^\/f\/(masuk|pastikan|sw\.js)/.test(url.pathname)) return;
  e.respondWith(fetch(req).then(function (r) {
    var type = r.headers.get("content-type") || "";
    if (r.ok && !r.redirected && !url.search && type.indexOf("text/html") === 0) {
      e.waitUntil(keep(url.pathname, r.clone()));
    } else if (r.ok && url.pathname === "/f/panen.js") {
      var copy = r.clone();
      e.waitUntil(caches.open(CACHE).then(function (c) { return c.put(url.pathname, copy); }));
    }
    return r;
  }, function () {
    if (url.pathname === "/f/panen.js") return caches.match(url.pathname);
    return kept(url.pathname);
  }));
});
