// Private Integrations settings page: the copy button, and Escape (or a click elsewhere)
// to close a three-dot menu, focus back on its button. Everything else works with
// JavaScript off: select the token and copy it; a menu closes with its button.
(function () {
  "use strict";
  function copy(button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById(button.getAttribute("data-copy-status"));
    if (!field) { return; }
    var done = function (text) { if (status) { status.textContent = text; } };
    var fallback = function () {
      field.focus();
      field.select();
      done("Press Ctrl+C (⌘C on a Mac) to copy the selected token.");
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(field.value).then(function () {
        done("Token copied to the clipboard.");
      }, fallback);
    } else {
      fallback();
    }
  }
  function openMenus() {
    return document.querySelectorAll("details.pi-menu[open]");
  }
  function closeMenus(event) {
    var open = openMenus();
    for (var i = 0; i < open.length; i++) {
      if (event.type === "keydown") {
        open[i].open = false;
        open[i].querySelector("summary").focus();
      } else if (!open[i].contains(event.target)) {
        open[i].open = false;
      }
    }
  }
  function init() {
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" || event.key === "Esc") { closeMenus(event); }
    });
    document.addEventListener("click", closeMenus);
    var buttons = document.querySelectorAll("button[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].hidden = false;
      buttons[i].addEventListener("click", function (event) { copy(event.currentTarget); });
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
