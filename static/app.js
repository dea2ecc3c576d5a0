// Keyboard shortcuts, for people who live in the tracker all day. Nothing here is needed to
// use a page; each key only does what a click would.
//   c  create an issue        e  edit the issue        /  jump to the search box
//   j  next issue             k  previous issue        o  open the selected issue
// An element with data-shortcut="x" is activated by pressing x (links are followed, inputs
// focused). On lists (rows or cards with data-key), j and k move the selection; the list's
// order is remembered for this tab, so on an issue page j and k step through the same list.
(function () {
  "use strict";
  var LIST = "outpost.list";
  var rows = Array.prototype.slice.call(document.querySelectorAll("[data-list] [data-key], [data-board] [data-key]"));
  var current = -1;

  if (rows.length) {
    try {
      sessionStorage.setItem(LIST, JSON.stringify(rows.map(function (row) { return row.dataset.key; })));
    } catch (e) { /* private mode: j/k on issue pages just do nothing */ }
  }

  function select(index) {
    if (!rows.length) return;
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach(function (row, i) { row.classList.toggle("selected", i === current); });
    var row = rows[current];
    var link = row.querySelector("a[href^='/issues/']");
    (link || row).focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  // On an issue page: the neighbour of this issue in the remembered list.
  function step(offset) {
    var match = location.pathname.match(/^\/issues\/([^/]+)$/);
    if (!match) return false;
    var keys;
    try { keys = JSON.parse(sessionStorage.getItem(LIST) || "[]"); } catch (e) { keys = []; }
    var here = keys.indexOf(decodeURIComponent(match[1]).toUpperCase());
    var next = here < 0 ? null : keys[here + offset];
    if (next) location.href = "/issues/" + encodeURIComponent(next);
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    var target = event.target;
    var typing = target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
    if (typing) return;
    if (event.key === "j" || event.key === "k") {
      var offset = event.key === "j" ? 1 : -1;
      if (rows.length) {
        event.preventDefault();
        select(current < 0 ? (offset > 0 ? 0 : rows.length - 1) : current + offset);
      } else if (step(offset)) {
        event.preventDefault();
      }
      return;
    }
    // Enter follows the selected row's link by itself; o does the same from anywhere.
    if (event.key === "o" && current >= 0) {
      var open = rows[current].querySelector("a[href^='/issues/']");
      if (open) { event.preventDefault(); open.click(); }
      return;
    }
    // The page's own box wins over the header's: it comes later in the document.
    var matches = document.querySelectorAll('[data-shortcut="' + CSS.escape(event.key) + '"]');
    var element = matches[matches.length - 1];
    if (!element) return;
    event.preventDefault();
    if (element.tagName === "A") {
      element.click();
    } else {
      element.focus();
    }
  });
})();

// Drag-and-drop upload: files dropped on an attachment form are put in its file field and the
// form is sent, exactly as if they had been chosen with the button (which keeps working).
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("form[data-dropzone]"), function (form) {
    var input = form.querySelector("input[type=file]");
    var hint = form.querySelector(".drop-hint");
    if (!input || typeof DataTransfer === "undefined") return;
    if (hint) hint.hidden = false;
    function over(event) {
      event.preventDefault();
      form.classList.add("dragging");
    }
    form.addEventListener("dragenter", over);
    form.addEventListener("dragover", over);
    form.addEventListener("dragleave", function () { form.classList.remove("dragging"); });
    form.addEventListener("drop", function (event) {
      event.preventDefault();
      form.classList.remove("dragging");
      if (!event.dataTransfer || !event.dataTransfer.files.length) return;
      input.files = event.dataTransfer.files;
      form.requestSubmit ? form.requestSubmit() : form.submit();
    });
  });
})();
