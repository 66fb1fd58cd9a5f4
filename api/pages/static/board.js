// Live gritting board: route cards updated in place from /board/events, changes announced.
// The page works without this script (it has a Refresh link); this only keeps it current.
(function () {
  "use strict";
  var RESYNC_MS = 60000; // ages ("12 min ago") and anything missed, once a minute
  var list = document.getElementById("board");
  var live = document.getElementById("board-live");
  var status = document.getElementById("board-live-status");
  var announcer = document.getElementById("board-announcer");
  if (!list || !live) {
    return;
  }

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function announce(text) {
    if (!announcer) {
      return;
    }
    var line = document.createElement("p");
    line.textContent = text;
    announcer.appendChild(line);
    while (announcer.childNodes.length > 3) {
      announcer.removeChild(announcer.firstChild);
    }
  }

  function fromHtml(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  function byRank(a, b) {
    var x = a.getAttribute("data-rank") || "";
    var y = b.getAttribute("data-rank") || "";
    return x < y ? -1 : x > y ? 1 : 0;
  }

  function reorder() {
    var cards = Array.prototype.slice.call(list.children);
    var sorted = cards.slice().sort(byRank);
    var changed = sorted.some(function (card, i) { return card !== cards[i]; });
    if (!changed) {
      return;
    }
    var focused = document.activeElement;
    sorted.forEach(function (card) { list.appendChild(card); });
    if (focused && list.contains(focused) && focused.focus) {
      focused.focus(); // moving a card must not lose the keyboard user's place
    }
  }

  // Put `card` on the board unless what is there is newer; returns true when the verdict changed.
  function upsert(card) {
    var id = card.getAttribute("id");
    var old = id ? document.getElementById(id) : null;
    if (!old) {
      list.appendChild(card);
      return true;
    }
    var oldAt = old.getAttribute("data-at") || "";
    var newAt = card.getAttribute("data-at") || "";
    if (oldAt && newAt && newAt < oldAt) {
      return false; // a slower copy of an older decision
    }
    var focusedLink = old.contains(document.activeElement);
    var verdictChanged = old.getAttribute("data-verdict") !== card.getAttribute("data-verdict");
    old.replaceWith(card);
    if (focusedLink) {
      var link = card.querySelector("a");
      if (link) {
        link.focus();
      }
    }
    return verdictChanged;
  }

  function onRoute(event) {
    var data;
    try {
      data = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    var card = fromHtml(data.html || "");
    if (!card) {
      return;
    }
    if (upsert(card)) {
      announce(data.announcement);
    }
    reorder();
  }

  var syncing = false;
  function resync() {
    if (syncing || !window.fetch || !window.DOMParser) {
      return;
    }
    syncing = true;
    fetch("/board", { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          throw new Error("signed out");
        }
        return response.text();
      })
      .then(function (text) {
        var page = new DOMParser().parseFromString(text, "text/html");
        var fresh = page.getElementById("board");
        if (!fresh) {
          return;
        }
        Array.prototype.slice.call(fresh.children).forEach(function (card) {
          var name = card.querySelector("h2");
          if (upsert(document.importNode(card, true)) && name) {
            announce(name.textContent.trim() + ": " + card.getAttribute("data-verdict"));
          }
        });
        reorder();
      })
      .catch(function () {
        say("This board could not be brought up to date: you may need to sign in again.");
      })
      .then(function () { syncing = false; });
  }

  window.setInterval(function () {
    if (!document.hidden) {
      resync();
    }
  }, RESYNC_MS);

  if (live.getAttribute("data-live") !== "on" || !window.EventSource) {
    return;
  }
  var source = new EventSource("/board/events");
  source.addEventListener("open", function () {
    say("Live: routes update here as decisions change.");
    resync(); // anything decided between loading the page and connecting
  });
  source.addEventListener("route", onRoute);
  source.addEventListener("dropped", resync);
  source.addEventListener("signed_out", function () {
    source.close();
    say("Live updates stopped: your key no longer signs you in. Sign in again.");
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) {
      say("Live updates stopped. Use Refresh to see new decisions.");
    } else {
      say("Connection lost: reconnecting…");
    }
  });
})();
