// Progressive enhancement only: the pages work without it.
// Polls the number of postings matching the current filters and, when it grows while the
// stream is running, offers to show them (announced politely to screen readers).
(function () {
  "use strict";
  var box = document.getElementById("live");
  if (!box || !window.fetch) return;
  var shown = parseInt(box.getAttribute("data-count"), 10);
  var url = box.getAttribute("data-poll");
  if (isNaN(shown) || !url) return;
  function poll() {
    if (document.hidden) return;
    fetch(url, { headers: { accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body || typeof body.count !== "number" || body.count <= shown) return;
        var n = body.count - shown;
        box.textContent = "";
        var a = document.createElement("a");
        a.href = window.location.href;
        a.textContent = n.toLocaleString("en") + " new posting" + (n === 1 ? "" : "s") +
          " landed: show them";
        box.appendChild(a);
      })
      .catch(function () {});
  }
  window.setInterval(poll, 5000);
})();
