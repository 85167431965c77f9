// supportbot messenger: the one line a store adds to its pages.
//
//   <script src="https://SUPPORT-HOST/widget.js" async
//           data-identity="<signed token for a logged-in shopper, optional>"></script>
//
// It adds one iframe of the support origin in the corner. The launcher, the unread
// badge and the chat all live inside that frame, so the host page's CSS and scripts
// can't reach them and ours never touch the host page. The frame asks to be resized
// (closed: the launcher; open: the panel) with postMessage; nothing else crosses.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__supportbotMessenger) return;
  window.__supportbotMessenger = true;

  var supportOrigin = new URL(script.src, location.href).origin;
  var identity = script.getAttribute("data-identity") || "";
  var frame = null;
  var PHONE = "(max-width: 560px)";

  function place(open) {
    var phone = window.matchMedia(PHONE).matches;
    var s = frame.style;
    s.position = "fixed";
    s.border = "0";
    s.zIndex = "2147483000";
    s.colorScheme = "normal";
    s.background = "transparent";
    s.maxWidth = "100vw";
    s.maxHeight = "100vh";
    if (open && phone) {
      s.right = "0";
      s.bottom = "0";
      s.width = "100vw";
      s.height = "100%";
    } else if (open) {
      s.right = "0";
      s.bottom = "0";
      s.width = "432px";
      s.height = "min(720px, 100vh)";
    } else {
      s.right = "0";
      s.bottom = "0";
      s.width = "96px";
      s.height = "96px";
    }
    frame.dataset.open = open ? "true" : "false";
    // The frame can't see the host's screen size (its own viewport is the frame).
    if (frame.contentWindow) {
      frame.contentWindow.postMessage(
        { source: "supportbot-host", type: "layout", phone: phone },
        supportOrigin
      );
    }
  }

  function mount() {
    frame = document.createElement("iframe");
    var params = new URLSearchParams({ origin: location.origin });
    if (identity) params.set("identity", identity);
    // The token rides in the fragment: never sent to a server or in a Referer.
    frame.src = supportOrigin + "/embed/#" + params.toString();
    frame.title = "Support chat";
    frame.id = "supportbot-messenger";
    frame.setAttribute("allow", "clipboard-write");
    place(false);
    window.addEventListener("message", function (event) {
      if (event.origin !== supportOrigin || event.source !== frame.contentWindow) return;
      var data = event.data;
      if (!data || data.source !== "supportbot" || data.type !== "state") return;
      place(Boolean(data.open));
    });
    frame.addEventListener("load", function () {
      place(frame.dataset.open === "true");
    });
    window.addEventListener("resize", function () {
      place(frame.dataset.open === "true");
    });
    document.body.appendChild(frame);
  }

  function start() {
    // Ask first, so a store that is not allowed learns why in its console; the
    // browser enforces the same answer through frame-ancestors either way.
    fetch(supportOrigin + "/embed/check/", { credentials: "omit", cache: "no-store" })
      .then(function (response) {
        return response.json();
      })
      .then(function (check) {
        if (check && check.allowed === false) {
          console.error(check.message || "supportbot: this site may not embed the support chat.");
          return;
        }
        mount();
      })
      .catch(function () {
        mount(); // the check is advice; a hiccup shouldn't hide the chat
      });
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
