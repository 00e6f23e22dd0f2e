// The timeline's filters: a toggle per source and a text filter. The page
// is complete without this script; it only hides and shows entries. It
// reads the DOM, never inserts markup, and fetches nothing.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var list = document.getElementById("tl-list");
  if (!list) return;
  var entries = Array.prototype.slice.call(list.querySelectorAll("li.ev"));
  var days = Array.prototype.slice.call(list.querySelectorAll("li.day"));
  var marks = Array.prototype.slice.call(document.querySelectorAll(".overview .mark"));
  var buttons = Array.prototype.slice.call(document.querySelectorAll("button[data-filter]"));
  var query = document.getElementById("tl-q");
  var status = document.getElementById("tl-status");
  var empty = document.getElementById("tl-empty");
  var texts = entries.map(function (e) { return e.textContent.toLowerCase(); });
  var on = {};
  buttons.forEach(function (b) { on[b.getAttribute("data-filter")] = true; });

  function apply() {
    var q = query ? query.value.trim().toLowerCase() : "";
    var shown = 0;
    entries.forEach(function (e, i) {
      var visible = on[e.getAttribute("data-source")] === true && (q === "" || texts[i].indexOf(q) >= 0);
      e.hidden = !visible;
      if (visible) shown++;
    });
    // A day heading shows while one of its entries does.
    days.forEach(function (d) {
      var any = false;
      for (var s = d.nextElementSibling; s && !s.classList.contains("day"); s = s.nextElementSibling) {
        if (!s.hidden) { any = true; break; }
      }
      d.hidden = !any;
    });
    marks.forEach(function (m) {
      m.classList.toggle("off", on[m.getAttribute("data-source")] !== true);
    });
    if (empty) empty.hidden = shown !== 0;
    if (status) {
      status.textContent = shown === entries.length
        ? "Showing all " + shown + " entries"
        : "Showing " + shown + " of " + entries.length + " entries";
    }
  }

  buttons.forEach(function (b) {
    b.addEventListener("click", function () {
      var s = b.getAttribute("data-filter");
      on[s] = !on[s];
      b.setAttribute("aria-pressed", on[s] ? "true" : "false");
      apply();
    });
  });
  var all = document.getElementById("tl-all");
  if (all) {
    all.addEventListener("click", function () {
      buttons.forEach(function (b) {
        on[b.getAttribute("data-filter")] = true;
        b.setAttribute("aria-pressed", "true");
      });
      if (query) query.value = "";
      apply();
    });
  }
  if (query) query.addEventListener("input", apply);
  // Following a mark in the overview shows its entry even when filtered.
  window.addEventListener("hashchange", function () {
    var e = document.getElementById(location.hash.slice(1));
    if (e && e.classList.contains("ev") && e.hidden) {
      on[e.getAttribute("data-source")] = true;
      buttons.forEach(function (b) {
        if (b.getAttribute("data-filter") === e.getAttribute("data-source")) b.setAttribute("aria-pressed", "true");
      });
      if (query) query.value = "";
      apply();
      e.scrollIntoView();
    }
  });
  apply();
})();
