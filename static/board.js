// Drag and drop for boards and the backlog. A card (`.card[data-key]`) dragged onto a list
// (`[data-drop]`) posts the same form its own controls post without JavaScript, to
// /issues/KEY/move: the list's status (`data-status`) or sprint (`data-sprint`), and the card
// it now sits before or after. The server decides; the card moves only when it agrees, and a
// refusal (a transition the workflow forbids) is shown in #board-message. Pointer events, not
// HTML5 drag and drop, so that mouse, touch and pen all work.
(function () {
  "use strict";
  var root = document.querySelector("[data-board]");
  if (!root) return;
  var message = document.getElementById("board-message");
  var drag = null;

  function say(text) {
    if (!message) return;
    message.textContent = text;
    message.hidden = !text;
  }

  function listAt(x, y) {
    var element = document.elementFromPoint(x, y);
    return element && element.closest ? element.closest("[data-drop]") : null;
  }

  // The card in `list` that the dragged card should go before, from the pointer's height.
  function cardAfter(list, y, dragged) {
    var cards = Array.prototype.filter.call(list.querySelectorAll(".card[data-key]"), function (card) {
      return card !== dragged;
    });
    for (var i = 0; i < cards.length; i++) {
      var box = cards[i].getBoundingClientRect();
      if (y < box.top + box.height / 2) return cards[i];
    }
    return null;
  }

  function send(card, list, before) {
    var body = new URLSearchParams();
    body.set("csrf_token", root.dataset.csrf || "");
    body.set("view", root.dataset.view || "");
    if (list.dataset.status) body.set("status", list.dataset.status);
    if (list.dataset.sprint) body.set("sprint", list.dataset.sprint);
    var others = Array.prototype.filter.call(list.querySelectorAll(".card[data-key]"), function (c) {
      return c !== card;
    });
    if (before) {
      body.set("before", before.dataset.key);
    } else if (others.length) {
      body.set("after", others[others.length - 1].dataset.key);
    }
    return fetch("/issues/" + encodeURIComponent(card.dataset.key) + "/move", {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString(),
    }).then(function (response) {
      return response.json().then(function (reply) {
        if (!response.ok) throw new Error((reply.error && reply.error.message) || "The move was refused.");
        return reply;
      });
    });
  }

  function recount() {
    document.querySelectorAll("[data-count]").forEach(function (counter) {
      var name = counter.dataset.count;
      var n = root.querySelectorAll('[data-drop][data-status="' + CSS.escape(name) + '"] .card').length;
      counter.firstChild.nodeValue = String(n) + counter.firstChild.nodeValue.replace(/^\d+/, "");
    });
  }

  function finish(event) {
    var state = drag;
    drag = null;
    if (!state || !state.moving) return;
    state.card.classList.remove("dragging");
    state.ghost.remove();
    document.querySelectorAll(".drop-target").forEach(function (l) { l.classList.remove("drop-target"); });
    var list = listAt(event.clientX, event.clientY);
    if (!list) return;
    var before = cardAfter(list, event.clientY, state.card);
    if (list === state.card.parentElement && (before === state.card.nextElementSibling)) return;
    state.card.classList.add("saving");
    send(state.card, list, before)
      .then(function (reply) {
        list.insertBefore(state.card, before);
        if (reply.status) {
          state.card.dataset.status = reply.status;
          var select = state.card.querySelector('select[name="status"]');
          if (select) select.value = reply.status;
        }
        say("");
        recount();
      })
      .catch(function (error) { say(error.message); })
      .then(function () { state.card.classList.remove("saving"); });
  }

  root.addEventListener("pointerdown", function (event) {
    var card = event.target.closest(".card[data-key]");
    if (!card || event.button !== 0 || event.target.closest("a, button, select, input, label")) return;
    // Otherwise the press starts a text selection, and the next press drags that text
    // natively, which cancels the pointer events.
    event.preventDefault();
    var selection = window.getSelection && window.getSelection();
    if (selection) selection.removeAllRanges();
    drag = { card: card, x: event.clientX, y: event.clientY, moving: false, ghost: null };
  });

  document.addEventListener("pointermove", function (event) {
    if (!drag) return;
    if (!drag.moving) {
      if (Math.abs(event.clientX - drag.x) + Math.abs(event.clientY - drag.y) < 6) return;
      drag.moving = true;
      drag.ghost = drag.card.cloneNode(true);
      drag.ghost.classList.add("drag-ghost");
      drag.ghost.setAttribute("aria-hidden", "true");
      document.body.appendChild(drag.ghost);
      drag.card.classList.add("dragging");
    }
    event.preventDefault();
    drag.ghost.style.left = event.clientX + 8 + "px";
    drag.ghost.style.top = event.clientY + 8 + "px";
    var list = listAt(event.clientX, event.clientY);
    document.querySelectorAll(".drop-target").forEach(function (l) {
      if (l !== list) l.classList.remove("drop-target");
    });
    if (list) list.classList.add("drop-target");
  });

  document.addEventListener("pointerup", finish);
  document.addEventListener("pointercancel", function () {
    if (drag && drag.moving) {
      drag.card.classList.remove("dragging");
      drag.ghost.remove();
    }
    document.querySelectorAll(".drop-target").forEach(function (l) { l.classList.remove("drop-target"); });
    drag = null;
  });
})();
