// Keyboard shortcuts: an element with data-shortcut="x" is activated by pressing x (links are
// followed, inputs focused), unless the user is typing in a field.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    var target = event.target;
    var typing = target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
    if (typing) return;
    var element = document.querySelector('[data-shortcut="' + CSS.escape(event.key) + '"]');
    if (!element) return;
    event.preventDefault();
    if (element.tagName === "A") {
      element.click();
    } else {
      element.focus();
    }
  });
})();
