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

  function start() {
    var elements = document.querySelectorAll("[data-refresh-url]");
    for (var i = 0; i < elements.length; i++) {
      liveFragment(elements[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
