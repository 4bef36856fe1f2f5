// bludash's own script, vendored with the app (no CDN). Each feature is opt-in by data attribute.
(function () {
  "use strict";

  // Live fragments: <section data-refresh-url="..." data-refresh-seconds="30"> has its content
  // replaced by whatever the URL answers, every so many seconds, while the tab is visible.
  // The server renders the fragment; this script only fetches and swaps it.
  var MIN_SECONDS = 5;

  function liveFragment(element) {
    var url = element.getAttribute("data-refresh-url");
    var seconds = parseInt(element.getAttribute("data-refresh-seconds"), 10);
    var delay = Math.max(MIN_SECONDS, isNaN(seconds) ? 30 : seconds) * 1000;
    var timer = null;
    var inFlight = false;

    function schedule() {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, delay);
    }

    function markStale(reason) {
      element.classList.add("stale");
      element.setAttribute("data-stale-reason", reason);
    }

    function refresh() {
      // A hidden tab asks nothing; becoming visible again refreshes at once (below).
      if (document.visibilityState === "hidden" || inFlight) {
        return;
      }
      inFlight = true;
      fetch(url, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { "X-Requested-With": "fetch" },
      })
        .then(function (response) {
          // A redirect means the session ended (the sign-in page): keep the last numbers.
          if (response.status !== 200 || response.redirected) {
            throw new Error(response.redirected ? "signed out" : "HTTP " + response.status);
          }
          return response.text();
        })
        .then(function (html) {
          element.innerHTML = html;
          element.classList.remove("stale");
          element.removeAttribute("data-stale-reason");
        })
        .catch(function (error) {
          markStale(
            "Could not refresh (" + (error && error.message ? error.message : "network error") +
              "): showing the last figures received."
          );
        })
        .then(function () {
          inFlight = false;
          schedule();
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") {
        refresh();
      } else {
        window.clearTimeout(timer);
      }
    });
    schedule();
  }

  // A background export's page: <section data-export-status-url="..."> asks the job's status
  // (JSON) every second until it is finished, and shows it: the progress bar (rows written of
  // rows matched), the figures, the message and, once done, the download link.
  var EXPORT_POLL_MS = 1000;

  function exportProgress(element) {
    var url = element.getAttribute("data-export-status-url");
    var bar = element.querySelector("progress");
    var download = element.querySelector("#export-download");
    var link = element.querySelector("#export-download-link");

    function figure(number) {
      return number === null ? "\u2026" : number.toLocaleString("en-US");
    }

    function show(status) {
      element.setAttribute("data-state", status.state);
      element.querySelector('[data-export="rows_written"]').textContent = figure(
        status.rows_written
      );
      element.querySelector('[data-export="rows_matched"]').textContent = figure(
        status.rows_matched
      );
      var message = element.querySelector('[data-export="message"]');
      message.textContent = status.message;
      message.className =
        status.state === "failed" ? "message error" : status.state === "expired" ? "message" : "";
      if (status.rows_matched === null) {
        bar.removeAttribute("value"); // not counted yet: the bar says "working"
      } else {
        bar.max = Math.max(status.rows_matched, 1);
        bar.value = status.rows_matched === 0 && status.finished ? 1 : status.rows_written;
      }
      if (status.download_url) {
        link.href = status.download_url;
        download.hidden = false;
      } else {
        download.hidden = true;
      }
    }

    function poll() {
      fetch(url, { credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (response.status !== 200 || response.redirected) {
            throw new Error(response.redirected ? "signed out" : "HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (status) {
          show(status);
          if (!status.finished) {
            window.setTimeout(poll, EXPORT_POLL_MS);
          }
        })
        .catch(function (error) {
          // Keep asking: a restarting server or a dropped connection is no failed export.
          element.setAttribute("data-stale-reason", String(error && error.message));
          window.setTimeout(poll, EXPORT_POLL_MS * 5);
        });
    }

    window.setTimeout(poll, EXPORT_POLL_MS);
  }

  function start() {
    var elements = document.querySelectorAll("[data-refresh-url]");
    for (var i = 0; i < elements.length; i++) {
      liveFragment(elements[i]);
    }
    var exports = document.querySelectorAll("[data-export-status-url]");
    for (var j = 0; j < exports.length; j++) {
      exportProgress(exports[j]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
