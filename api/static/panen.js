// panen's field page, offline (issue 39). Without this script every form works as before.
// A harvest typed without signal is kept on the phone (localStorage: it survives closing the
// browser), listed as "belum terkirim", and sent when the page opens with signal or on
// "Kirim sekarang". Its submission key makes a second sending of it a no-op on the server.
"use strict";
(function () {
  var KEY = "panen-antrean";
  var sending = false;
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/f/sw.js", {scope: "/f/"});

  function queue() { try { return JSON.parse(localStorage.getItem(KEY)) || []; } catch (e) { return []; } }
  function store(q) { localStorage.setItem(KEY, JSON.stringify(q)); }
  function fresh() {
    var a = new Uint8Array(16); crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }
  function here(item) { return item.action.indexOf(location.pathname + "/") === 0; }

  function show(note) {
    var box = document.getElementById("antrean");
    if (!box) return;
    var mine = queue().filter(here), list = box.querySelector("ul");
    box.hidden = !mine.length;
    list.textContent = "";
    mine.forEach(function (item) {
      var li = document.createElement("li"), day = new Date(item.data.harvest_date + "T00:00");
      li.textContent = day.toLocaleDateString("id-ID", {day: "numeric", month: "short"}) + " · " +
        item.data.kg + " kg · mutu " + item.data.grade;
      list.appendChild(li);
    });
    box.querySelector("output").textContent = note || "";
  }

  function send() {
    var q = queue(), mine = q.filter(here), csrf = document.querySelector("input[name=csrf]");
    if (sending || !mine.length) return Promise.resolve();
    sending = true;
    var item = mine[0];
    if (csrf) item.data.csrf = csrf.value;  // this session's: the one typed with may have ended
    return fetch(item.action, {method: "POST", body: new URLSearchParams(item.data), credentials: "same-origin"})
      .then(function (r) {
        sending = false;
        if (/\/f\/masuk/.test(r.url)) { show("Masuk dulu, lalu kirim lagi."); return; }
        if (r.status >= 500) throw new Error(String(r.status));
        store(queue().filter(function (x) { return x.data.submission !== item.data.submission; }));
        if (r.ok) return queue().filter(here).length ? send() : location.assign(r.url);
        // Refused (a weight that cannot be true): the server's page says why, with the form.
        return r.text().then(function (html) { document.open(); document.write(html); document.close(); });
      })
      .catch(function () { sending = false; show("Belum ada sinyal; dicoba lagi saat halaman dibuka."); });
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.hasAttribute("data-antre")) return;
    e.preventDefault();
    var data = {};
    new FormData(form).forEach(function (v, k) { data[k] = v; });
    var q = queue();
    q.push({action: new URL(form.action).pathname, data: data, at: Date.now()});
    store(q);  // kept before anything is sent: nothing typed is lost
    form.querySelector("input[name=submission]").value = fresh();
    form.reset();
    show();
    send();
  });
  document.addEventListener("click", function (e) {
    if (e.target.id === "kirim") send();
  });
  show();
  if (navigator.onLine) send();
})();
