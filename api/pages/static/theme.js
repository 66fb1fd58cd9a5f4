// The theme toggle: light or dark, remembered in this browser, the system's choice until then.
// Loaded in <head> without defer, so the stored theme applies before the page is painted.
(function () {
  "use strict";
  var KEY = "wherry-theme";
  var root = document.documentElement;
  var query = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function stored() {
    try {
      var value = window.localStorage.getItem(KEY);
      return value === "dark" || value === "light" ? value : null;
    } catch (e) {
      return null; // storage blocked: follow the system
    }
  }

  function current() {
    return stored() || (query && query.matches ? "dark" : "light");
  }

  function apply(theme) {
    root.setAttribute("data-theme", theme);
    var button = document.getElementById("theme-toggle");
    if (button) {
      button.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
    }
  }

  if (stored()) {
    apply(stored());
  }

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("theme-toggle");
    if (!button) {
      return;
    }
    button.hidden = false; // a button that needs script appears only with script
    apply(current());
    button.addEventListener("click", function () {
      var next = current() === "dark" ? "light" : "dark";
      try {
        window.localStorage.setItem(KEY, next);
      } catch (e) {
        // not remembered, but still applied for this page
      }
      apply(next);
    });
    if (query && query.addEventListener) {
      query.addEventListener("change", function () {
        if (!stored()) {
          apply(current());
        }
      });
    }
  });
})();
