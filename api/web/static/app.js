// Progressive enhancement only: the pages work without it.
// Polls the number of postings matching the current filters and, when it grows while the
// stream is running, offers to show them (announced politely to screen readers). The
// notice's words come from the page (data-one / data-many, in the page's language).
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
        var text = box.getAttribute(n === 1 ? "data-one" : "data-many") || "{n}";
        a.textContent = text.replace("{n}", n.toLocaleString(document.documentElement.lang));
        box.appendChild(a);
      })
      .catch(function () {});
  }
  window.setInterval(poll, 5000);
})();
