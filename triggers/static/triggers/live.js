/* Live updates of the trigger session pages: plain JavaScript, no build step.
 *
 * The session page (#content-main[data-live-url]) polls its JSON endpoint and updates instance
 * statuses, durations, errors, the counts and the graph's node colours; elapsed times tick every
 * second. The session list (#tg-live-list[data-live-url]) updates its counts. Polling stops once
 * the session is resolved (nothing can change without an operator), and slows down when idle.
 */
(function () {
  "use strict";
  var ORDER = ["failed", "running", "scheduled", "unstarted", "finished", "skipped", "replayed", "abandoned"];
  var FAST = 2000, SLOW = 10000;

  function formatDuration(seconds) {
    seconds = Math.max(seconds, 0);
    if (seconds < 10) return seconds.toFixed(3) + " s";
    if (seconds < 60) return seconds.toFixed(1) + " s";
    var m = Math.floor(Math.round(seconds) / 60), s = Math.round(seconds) % 60;
    if (m < 60) return m + " min " + (s < 10 ? "0" : "") + s + " s";
    var h = Math.floor(m / 60); m = m % 60;
    return h + " h " + (m < 10 ? "0" : "") + m + " min";
  }

  function countsText(counts) {
    var parts = [];
    ORDER.forEach(function (s) { if (counts[s]) parts.push(counts[s] + " " + s); });
    var text = parts.join(" \u00b7 ");
    if (text.length > 28) {
      parts = [];
      ORDER.forEach(function (s) { if (counts[s]) parts.push(counts[s] + s.slice(0, 4)); });
      text = parts.join(" ");
    }
    return text || "no instance yet";
  }

  function taskState(counts) {
    var present = ORDER.filter(function (s) { return counts[s]; });
    if (!present.length) return "none";
    var pressing = ["failed", "running", "scheduled", "unstarted"];
    for (var i = 0; i < pressing.length; i++) if (counts[pressing[i]]) return pressing[i];
    var rank = ["abandoned", "skipped", "replayed", "finished"];
    return present.sort(function (a, b) { return rank.indexOf(b) - rank.indexOf(a); })[0];
  }

  function setBadge(el, status) {
    el.className = el.className.replace(/\btg-[a-z]+\b/g, "").trim() + " tg-" + status;
  }

  function tickElapsed() {
    var now = Date.now();
    document.querySelectorAll("tr[data-instance]").forEach(function (row) {
      var status = row.getAttribute("data-status");
      var since = row.getAttribute("data-since");
      var cell = row.querySelector('[data-role="elapsed"]');
      if (!cell) return;
      if ((status === "running" || status === "scheduled") && since) {
        cell.textContent = status + " for " + formatDuration((now - Date.parse(since)) / 1000);
      } else {
        cell.textContent = "";
      }
    });
  }

  function updateSession(root, data) {
    data.instances.forEach(function (inst) {
      var row = root.querySelector('tr[data-instance="' + CSS.escape(inst.name) + '"]');
      if (!row) return;
      row.setAttribute("data-status", inst.status);
      row.setAttribute("data-since", inst.since || "");
      var badge = row.querySelector('[data-role="status"]');
      badge.textContent = inst.status;
      setBadge(badge, inst.status);
      var duration = row.querySelector('[data-role="duration"]');
      if (duration && inst.duration) duration.textContent = inst.duration;
      var outcome = row.querySelector('[data-role="outcome"]');
      if (outcome && inst.error && !outcome.querySelector(".tg-error-text")) {
        var div = document.createElement("div");
        div.className = "tg-fold tg-error-text";
        div.textContent = inst.error;
        outcome.insertBefore(div, outcome.firstChild);
      }
    });
    var counts = root.querySelector("#session-counts");
    if (counts) {
      counts.textContent = "";
      ORDER.forEach(function (s) {
        if (!data.counts[s]) return;
        var span = document.createElement("span");
        span.className = "tg-badge tg-" + s;
        span.setAttribute("data-count", s);
        span.textContent = data.counts[s] + " " + s;
        counts.appendChild(span);
        counts.appendChild(document.createTextNode(" "));
      });
    }
    Object.keys(data.tasks).forEach(function (task) {
      var node = root.querySelector('g.node[data-node="' + CSS.escape(task) + '"]');
      if (!node) return;
      var state = taskState(data.tasks[task]);
      node.setAttribute("class", "node tg-" + state);
      var text = node.querySelector(".tg-counts");
      if (text) text.textContent = countsText(data.tasks[task]);
      var title = node.querySelector("title");
      if (title) title.textContent = task + ": " + countsText(data.tasks[task]);
    });
    tickElapsed();
  }

  function updateList(root, data) {
    Object.keys(data.sessions).forEach(function (pk) {
      var s = data.sessions[pk];
      root.querySelectorAll('[data-session="' + pk + '"]').forEach(function (el) {
        var col = el.getAttribute("data-col");
        if (col === "unresolved") el.textContent = s.unresolved;
        else if (col === "counts") {
          el.textContent = "";
          ORDER.forEach(function (st) {
            if (!s.counts[st]) return;
            var span = document.createElement("span");
            span.className = "tg-badge tg-" + st;
            span.textContent = s.counts[st] + " " + st;
            el.appendChild(span);
            el.appendChild(document.createTextNode(" "));
          });
        }
      });
    });
  }

  function poll(root, url, update) {
    var state = root.querySelector("#live-state") || document.getElementById("live-state");
    function run() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (data) {
          update(root, data);
          if (data.resolved) {
            if (state) state.textContent = "(resolved: live updates stopped)";
            return;
          }
          if (state) state.textContent = "(live, updated " + new Date().toLocaleTimeString() + ")";
          setTimeout(run, data.in_flight === 0 ? SLOW : FAST);
        })
        .catch(function (err) {
          if (state) state.textContent = "(live updates paused: " + err.message + "; retrying)";
          setTimeout(run, SLOW);
        });
    }
    setTimeout(run, FAST);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var session = document.querySelector("#content-main[data-live-url]");
    if (session) {
      tickElapsed();
      setInterval(tickElapsed, 1000);
      if (session.getAttribute("data-resolved") !== "true") {
        poll(session, session.getAttribute("data-live-url"), updateSession);
      } else {
        var state = document.getElementById("live-state");
        if (state) state.textContent = "(resolved)";
      }
    }
    var list = document.getElementById("tg-live-list");
    if (list) poll(document, list.getAttribute("data-live-url"), updateList);
  });
})();
